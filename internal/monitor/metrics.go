package monitor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// JobLabel names the job on every series. It is not "job": that label
// belongs to the scrape (node_exporter's own job) and to the Pushgateway's
// grouping key, and would be renamed or refused there.
const JobLabel = "offsite_job"

// Metric names, the contract with dashboards and alert rules.
const (
	MetricRunSuccess         = "offsite_run_success"
	MetricRunExitCode        = "offsite_run_exit_code"
	MetricRunStart           = "offsite_run_start_timestamp_seconds"
	MetricRunEnd             = "offsite_run_end_timestamp_seconds"
	MetricRunDuration        = "offsite_run_duration_seconds"
	MetricRunLastSuccess     = "offsite_run_last_success_timestamp_seconds"
	MetricSuccess            = "offsite_success"
	MetricLastSuccess        = "offsite_last_success_timestamp_seconds"
	MetricObjectsTransferred = "offsite_objects_transferred"
	MetricBytesTransferred   = "offsite_bytes_transferred"
	MetricObjectsDeleted     = "offsite_objects_deleted"
	MetricErrors             = "offsite_errors"
	MetricObjectsPending     = "offsite_objects_pending"
	MetricVersioning         = "offsite_destination_versioning_enabled"
	MetricLifecycle          = "offsite_destination_lifecycle_ok"
	MetricDrillSuccess       = "offsite_drill_success"
	MetricDrillLastSuccess   = "offsite_drill_last_success_timestamp_seconds"
)

// Labels of the drill metrics: what a drill restores (Job.Drill), and
// which host or bucket.
const (
	DrillKindLabel   = "kind"
	DrillTargetLabel = "target"
)

// lastSuccess is when a job, and each of its buckets or hosts, last
// succeeded, in Unix seconds.
type lastSuccess struct {
	run   float64
	items map[string]float64
}

// carry returns the last successes to publish after run, given the ones
// published before it (prev, possibly empty). A success is now; a failure
// keeps the earlier value, or 0 (the epoch: "never", which any freshness
// alert catches) when there is none. A failed run also keeps the items it
// did not reach, so a run that failed early does not hide them.
func carry(run Run, prev lastSuccess) lastSuccess {
	now := seconds(run.End)
	next := lastSuccess{run: prev.run, items: map[string]float64{}}
	if run.OK {
		next.run = now
	}
	if !run.OK {
		for name, v := range prev.items {
			next.items[name] = v
		}
	}
	for _, it := range run.Items {
		switch {
		case it.OK:
			next.items[it.Name] = now
		default:
			next.items[it.Name] = prev.items[it.Name]
		}
	}
	return next
}

// registry holds run's metrics; with last nil, the last-success metrics
// are left out.
func registry(run Run, last *lastSuccess) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	job := string(run.Job)
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append([]string{JobLabel}, labels...))
		reg.MustRegister(g)
		return g
	}
	gauge(MetricRunSuccess, "1 if the last run of the job succeeded, else 0.").WithLabelValues(job).Set(boolValue(run.OK))
	gauge(MetricRunExitCode, "Exit code of the last run of the job (0 ok, 1 failed, 2 configuration, 3 safety stop, 4 verification).").WithLabelValues(job).Set(float64(run.ExitCode))
	gauge(MetricRunStart, "When the last run of the job started, in Unix seconds.").WithLabelValues(job).Set(seconds(run.Start))
	gauge(MetricRunEnd, "When the last run of the job ended (or was last recorded, for offload watch), in Unix seconds.").WithLabelValues(job).Set(seconds(run.End))
	gauge(MetricRunDuration, "How long the last run of the job took, in seconds.").WithLabelValues(job).Set(run.End.Sub(run.Start).Seconds())
	if last != nil {
		gauge(MetricRunLastSuccess, "When the job last succeeded, in Unix seconds; 0 if it never did.").WithLabelValues(job).Set(last.run)
	}
	if len(run.Versioning) > 0 {
		v := gauge(MetricVersioning, "1 if versioning is on in the destination bucket, else 0: without it no point-in-time restore, and a bad sync's deletions are final.", "destination_bucket")
		for name, on := range run.Versioning {
			v.WithLabelValues(job, name).Set(boolValue(on))
		}
	}
	if len(run.Lifecycle) > 0 {
		l := gauge(MetricLifecycle, "1 if a lifecycle rule expires the destination bucket's noncurrent versions within the retention, else 0: without it old versions are kept forever.", "destination_bucket")
		for name, ok := range run.Lifecycle {
			l.WithLabelValues(job, name).Set(boolValue(ok))
		}
	}
	per := func(name, help string) *prometheus.GaugeVec { return gauge(name, help, run.Job.Kind()) }
	success := per(MetricSuccess, "1 if the bucket or host succeeded in the last run, else 0.")
	objects := per(MetricObjectsTransferred, "Objects transferred (checked, for verify) per bucket or host in the last run; offload watch: since it started.")
	bytes := per(MetricBytesTransferred, "Bytes transferred (checked, for verify) per bucket or host in the last run; offload watch: since it started.")
	deleted := per(MetricObjectsDeleted, "Objects deleted per bucket or host in the last run.")
	errs := per(MetricErrors, "Errors per bucket or host in the last run; offload watch: since it started.")
	pending := per(MetricObjectsPending, "Objects waiting to be transferred per bucket or host.")
	for _, it := range run.Items {
		success.WithLabelValues(job, it.Name).Set(boolValue(it.OK))
		objects.WithLabelValues(job, it.Name).Set(float64(it.Objects))
		bytes.WithLabelValues(job, it.Name).Set(float64(it.Bytes))
		deleted.WithLabelValues(job, it.Name).Set(float64(it.Deletions))
		errs.WithLabelValues(job, it.Name).Set(float64(it.Errors))
		pending.WithLabelValues(job, it.Name).Set(float64(it.Pending))
	}
	if last != nil {
		lastItem := per(MetricLastSuccess, "When the bucket or host last succeeded, in Unix seconds; 0 if it never did.")
		for name, v := range last.items {
			lastItem.WithLabelValues(job, name).Set(v)
		}
	}
	if kind := run.Job.Drill(); kind != "" {
		drillMetrics(run, last, kind, gauge)
	}
	return reg
}

// drillMetrics adds a restore drill's own series, per target: whether its
// drill passed, and (with last) when one last did, carried as every last
// success is.
func drillMetrics(run Run, last *lastSuccess, kind string, gauge func(name, help string, labels ...string) *prometheus.GaugeVec) {
	job := string(run.Job)
	success := gauge(MetricDrillSuccess, "1 if the last restore drill of the host or bucket passed, else 0.", DrillKindLabel, DrillTargetLabel)
	for _, it := range run.Items {
		success.WithLabelValues(job, kind, it.Name).Set(boolValue(it.OK))
	}
	if last == nil {
		return
	}
	lastDrill := gauge(MetricDrillLastSuccess, "When a restore drill of the host or bucket last passed, in Unix seconds; 0 if none did.", DrillKindLabel, DrillTargetLabel)
	for name, v := range last.items {
		lastDrill.WithLabelValues(job, kind, name).Set(v)
	}
}

func seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
