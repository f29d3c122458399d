package main

import (
	"context"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/rcloneconf"
)

const (
	envPingURL        = "OFFSITE_PING_URL"
	envMetricsFile    = "OFFSITE_METRICS_FILE"
	envPushgatewayURL = "OFFSITE_PUSHGATEWAY_URL"
)

// monitorFlags are the flags of a job's pings and metrics: add them to the
// Flags of every command that calls e.newJobMonitor.
func monitorFlags() []cli.Flag {
	return []cli.Flag{
		stringFlag(envPingURL, "", "healthchecks-style ping URL: <url>/start, then <url> on success or <url>/fail (it holds a secret: prefer the env var or the _FILE form); a sharded mirror needs one per shard: {shard} in it, or one URL per shard, one per line"),
		stringFlag(envPingURL+"_FILE", "", "file holding the ping URL (%d/NAME reads $CREDENTIALS_DIRECTORY/NAME)"),
		stringFlag(envMetricsFile, "", "write Prometheus metrics to this .prom file for node_exporter's textfile collector (one file per job)"),
		stringFlag(envPushgatewayURL, "", "push Prometheus metrics to this Pushgateway (http[s]://[user:password@]host:port[/path])"),
		stringFlag(envPushgatewayURL+"_FILE", "", "file holding the Pushgateway URL, when it carries credentials"),
	}
}

// jobMonitor sends one job's pings and metrics. A command wires it so:
//
//	mon, err := e.startJob(c, monitor.JobMirror, jobPart{})
//	if err != nil { return err }
//	... do the work: run, err := ...
//	return mon.finish(c.Context, run, err)
type jobMonitor struct {
	*monitor.Outputs
	job      monitor.Job
	started  time.Time
	finished bool
}

// jobPart tells apart the processes that run one job side by side, so that
// none overwrites another's metrics or pings. Zero for a job that runs once.
type jobPart struct {
	instance string       // the Pushgateway grouping label: offload's host, a mirror shard
	shard    mirror.Shard // a mirror shard, which pings its own URL
}

// newJobMonitor checks the monitoring flags of c for job; mistakes are
// configuration errors (exit 2) before any work starts.
func (e *env) newJobMonitor(c *cli.Context, job monitor.Job, part jobPart) (*jobMonitor, error) {
	log := e.log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("job", string(job)))
	pingURL, err := optionalSecret(c, envPingURL)
	if err != nil {
		return nil, err
	}
	if part.shard.Sharded() {
		if pingURL, err = monitor.ShardPingURL(pingURL, part.shard.Index, part.shard.Count); err != nil {
			return nil, exitcode.Configf(envPingURL, "%v", err)
		}
	} else if monitor.HasShardPlaceholder(pingURL) {
		return nil, exitcode.Configf(envPingURL, "has %s in it, but this run is not sharded (%s or %s unset)", monitor.ShardPlaceholder, mirror.EnvShard, mirror.EnvShards)
	}
	ping, err := monitor.NewPinger(pingURL, log)
	if err != nil {
		return nil, exitcode.Configf(envPingURL, "%v", err)
	}
	file := c.String(flagName(envMetricsFile))
	if file != "" {
		if err := monitor.CheckTextfile(file); err != nil {
			return nil, exitcode.Configf(envMetricsFile, "%v", err)
		}
	}
	pushURL, err := optionalSecret(c, envPushgatewayURL)
	if err != nil {
		return nil, err
	}
	var gateway *monitor.Pushgateway
	if pushURL != "" {
		if gateway, err = monitor.NewPushgateway(pushURL, part.instance); err != nil {
			return nil, exitcode.Configf(envPushgatewayURL, "%v", err)
		}
	}
	// The env holds it, so that a panic still ends the job as failed.
	e.mon = &jobMonitor{
		Outputs: &monitor.Outputs{Ping: ping, Textfile: file, Push: gateway, Log: log},
		job:     job,
	}
	return e.mon, nil
}

// startJob makes job's monitor and pings the job's start.
func (e *env) startJob(c *cli.Context, job monitor.Job, part jobPart) (*jobMonitor, error) {
	mon, err := e.newJobMonitor(c, job, part)
	if err != nil {
		return nil, err
	}
	mon.start(c.Context)
	return mon, nil
}

// optionalSecret is the value of env var name or of the file name_FILE
// points at; neither set gives "".
func optionalSecret(c *cli.Context, name string) (string, error) {
	value, file := c.String(flagName(name)), c.String(flagName(name+"_FILE"))
	if value == "" && file == "" {
		return "", nil
	}
	return rcloneconf.Secret(name, value, file)
}

// start pings the start of the run and starts its clock.
func (m *jobMonitor) start(ctx context.Context) {
	m.started = time.Now()
	m.Start(ctx)
}

// finish publishes the run's metrics and pings success or failure, and
// returns err so an action can end with it. err decides: run's OK and
// ExitCode are set from it, and Job, Start and End are filled in when
// left empty.
func (m *jobMonitor) finish(ctx context.Context, run monitor.Run, err error) error {
	if m.finished {
		return err // once: a panic after the end does not ping again
	}
	m.finished = true
	m.Finish(ctx, m.complete(run, err), err)
	return err
}

// watch starts publishing a long-running job's progress (offload
// watch), off the caller's path:
//
//	progress := mon.watch(c.Context)
//	defer progress.close()
//	cfg.OnUpload = func(offload.Upload) { progress.update(run from the counters, nil) }
//
// Each update records the metrics and pings success (or fail, with an
// error); it never blocks.
func (m *jobMonitor) watch(ctx context.Context) *progress {
	return &progress{job: m, recorder: monitor.NewRecorder(ctx, m.Outputs)}
}

// progress is a long-running job's stream of runs, each the job's totals.
type progress struct {
	job      *jobMonitor
	recorder *monitor.Recorder
}

// update publishes run; err decides as in finish.
func (p *progress) update(run monitor.Run, err error) {
	p.recorder.Update(p.job.complete(run, err), err)
}

// close publishes the last update and stops.
func (p *progress) close() { p.recorder.Close() }

func (m *jobMonitor) complete(run monitor.Run, err error) monitor.Run {
	if run.Job == "" {
		run.Job = m.job
	}
	if run.End.IsZero() {
		run.End = time.Now()
	}
	if run.Start.IsZero() {
		run.Start = m.started
	}
	if run.Start.IsZero() {
		run.Start = run.End
	}
	run.OK = err == nil
	run.ExitCode = exitcode.Of(err)
	return run
}
