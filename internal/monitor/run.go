// Package monitor makes offsite's runs visible outside the process:
// healthchecks-style pings and Prometheus metrics, written for
// node_exporter's textfile collector or pushed to a Pushgateway.
//
// It knows nothing of rclone, mirror or offload: callers describe a run
// with the plain Run struct.
package monitor

import (
	"fmt"
	"strings"
	"time"
)

// Kinds of Item: a mirrored bucket, or a host whose snapshots are offloaded.
const (
	KindBucket = "bucket"
	KindHost   = "host"
)

// Job is one of offsite's jobs, as the offsite_job label, the Pushgateway
// grouping and the pings name it.
type Job string

// offsite's jobs.
const (
	JobMirror     Job = "mirror"
	JobRestore    Job = "restore"
	JobVerifyRGW  Job = "verify_rgw"
	JobOffload    Job = "offload"
	JobVerifyEtcd Job = "verify_etcd"
	// JobVerifyMinio checks the destination buckets' protection; its
	// items are the buckets.
	JobVerifyMinio Job = "verify_minio"
	// JobStatus is offsite status, a check of both backups from reports
	// and listings; it has no items, only the run's outcome.
	JobStatus    Job = "status"
	JobDrillEtcd Job = "drill_etcd"
	JobDrillRGW  Job = "drill_rgw"
)

// jobKinds are the item kinds of offsite's jobs: each job's items are
// buckets or hosts.
var jobKinds = map[Job]string{
	JobMirror:      KindBucket,
	JobVerifyRGW:   KindBucket,
	JobRestore:     KindBucket,
	JobOffload:     KindHost,
	JobVerifyEtcd:  KindHost,
	JobVerifyMinio: KindBucket,
	JobStatus:      KindBucket,
	JobDrillEtcd:   KindHost,
	JobDrillRGW:    KindBucket,
}

// Kind is the label of the job's items, KindBucket or KindHost.
func (j Job) Kind() string { return jobKinds[j] }

// drillKinds are what the restore drills restore: the kind label of the
// drill metrics, whose targets are the drill's items.
var drillKinds = map[Job]string{
	JobDrillEtcd: "etcd",
	JobDrillRGW:  "rgw",
}

// Drill is what the job restores when it is a restore drill ("etcd",
// "rgw"), else "".
func (j Job) Drill() string { return drillKinds[j] }

// Run is what one run of a job did, as the metrics and pings show it.
type Run struct {
	Job        Job
	Start, End time.Time
	OK         bool
	ExitCode   int
	Items      []Item
	// Versioning, for jobs that check it (verify_rgw, verify_minio), is
	// whether versioning is on in each destination bucket, by bucket name.
	Versioning map[string]bool
	// Lifecycle, for verify_minio, is whether a lifecycle rule expires
	// each destination bucket's noncurrent versions within the retention.
	Lifecycle map[string]bool
}

// Item is one bucket or host of a run. For a long-running job (offload
// watch) the counts are totals since the process started.
type Item struct {
	Name      string
	Objects   int64 // objects transferred (or checked, for verify)
	Bytes     int64
	Deletions int64
	Errors    int64
	Pending   int64 // objects waiting to be transferred
	OK        bool
}

// validate checks what the metrics depend on: a job of offsite's, and
// each item once.
func (r Run) validate() error {
	if r.Job.Kind() == "" {
		return fmt.Errorf("run of %q: not one of offsite's jobs", r.Job)
	}
	seen := make(map[string]bool, len(r.Items))
	for _, it := range r.Items {
		if seen[it.Name] {
			return fmt.Errorf("run %s: %s %q listed twice", r.Job, r.Job.Kind(), it.Name)
		}
		seen[it.Name] = true
	}
	return nil
}

// maxSummaryFailures is how many failed items a summary names.
const maxSummaryFailures = 10

// Summary is a short plain-text account of the run, the body of its
// success or fail ping; err, if not nil, is the run's error.
func (r Run) Summary(err error) string {
	var b strings.Builder
	status := "ok"
	if !r.OK {
		status = fmt.Sprintf("failed (exit %d)", r.ExitCode)
	}
	fmt.Fprintf(&b, "offsite %s: %s", r.Job, status)
	if !r.Start.IsZero() && !r.End.IsZero() {
		fmt.Fprintf(&b, " in %s", r.End.Sub(r.Start).Round(time.Second))
	}
	b.WriteString("\n")
	var total Item
	var failed []string
	for _, it := range r.Items {
		total.Objects += it.Objects
		total.Bytes += it.Bytes
		total.Deletions += it.Deletions
		total.Errors += it.Errors
		total.Pending += it.Pending
		if !it.OK {
			failed = append(failed, fmt.Sprintf("%s (%d errors)", it.Name, it.Errors))
		}
	}
	if len(r.Items) > 0 {
		fmt.Fprintf(&b, "%ss: %d, failed: %d\n", r.Job.Kind(), len(r.Items), len(failed))
		fmt.Fprintf(&b, "objects: %d, bytes: %d, deletions: %d, errors: %d, pending: %d\n",
			total.Objects, total.Bytes, total.Deletions, total.Errors, total.Pending)
	}
	if len(failed) > maxSummaryFailures {
		failed = append(failed[:maxSummaryFailures], fmt.Sprintf("and %d more", len(failed)-maxSummaryFailures))
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "failed: %s\n", strings.Join(failed, ", "))
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}
