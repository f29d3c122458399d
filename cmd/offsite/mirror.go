package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// rclone remote names of the mirror's two ends.
const (
	rgwRemote   = "offsite-rgw"
	minioRemote = "offsite-minio"
)

// rgwMirrorFlags are the flags mirror and verify rgw share: both ends and
// the bucket selection.
func rgwMirrorFlags() []cli.Flag {
	d := mirror.DefaultConfig()
	flags := append(remoteFlags(rcloneconf.RGW, "source (Ceph RGW)", ""), remoteFlags(rcloneconf.MinIO, "destination (MinIO)", "us-east-1")...)
	return append(flags,
		stringFlag(mirror.EnvBuckets, "", "required: comma-separated allow-list of source buckets (a,b), or "+mirror.AllBuckets+" for every bucket the credentials list"),
		stringFlag(mirror.EnvExcludeBuckets, "", "comma-separated deny-list of source buckets"),
		stringFlag(mirror.EnvDestBucket, mirror.DefaultDestBucket, "destination bucket (must exist; offsite never creates buckets)"),
		stringFlag(mirror.EnvReportPrefix, d.ReportPrefix, "where run reports go in the destination bucket"),
		intFlag(mirror.EnvCheckers, d.Checkers, "parallel comparisons"),
	)
}

// tuningFlags are the flags of how hard mirror and restore work, beyond
// the checkers and the listing of rgwMirrorFlags, and how they show it.
func tuningFlags() []cli.Flag {
	d := mirror.DefaultTuning()
	return []cli.Flag{
		intFlag(mirror.EnvTransfers, d.Transfers, "parallel transfers"),
		intFlag(mirror.EnvLowLevelRetries, d.LowLevelRetries, "retries of one request"),
		intFlag(mirror.EnvRetries, d.Retries, "tries of a whole bucket after errors"),
		durationFlag(mirror.EnvRetriesSleep, d.RetriesSleep, "pause between tries of a bucket (longer when the server asks)"),
		durationFlag(mirror.EnvProgressInterval, d.ProgressInterval, "how often each bucket logs its progress (0: never; 10s on a terminal unless set, none under the live display)"),
		progressFlag(),
	}
}

// terminalProgressInterval is how often a bucket's progress line comes
// when a person watches; the CronJob's JSON logs get one a minute.
const terminalProgressInterval = 10 * time.Second

// tuning reads the flags of tuningFlags and rgwMirrorFlags' checkers and
// listing. Under a live display there are no progress lines, unless asked.
func (e *env) tuning(c *cli.Context, sink livebar.Sink) mirror.Tuning {
	t := mirror.Tuning{
		Transfers:        c.Int(flagName(mirror.EnvTransfers)),
		Checkers:         c.Int(flagName(mirror.EnvCheckers)),
		LowLevelRetries:  c.Int(flagName(mirror.EnvLowLevelRetries)),
		Retries:          c.Int(flagName(mirror.EnvRetries)),
		RetriesSleep:     c.Duration(flagName(mirror.EnvRetriesSleep)),
		ProgressInterval: c.Duration(flagName(mirror.EnvProgressInterval)),
		Display:          sink,
	}
	switch {
	case c.IsSet(flagName(mirror.EnvProgressInterval)):
	case sink != nil:
		t.ProgressInterval = 0 // the display shows it
	case livebar.IsTerminal(e.stderr):
		t.ProgressInterval = terminalProgressInterval // someone is watching
	}
	return t
}

func (e *env) mirrorCommand() *cli.Command {
	d := mirror.DefaultConfig()
	return &cli.Command{
		Name:  "mirror",
		Usage: "copy (or sync) the allow-listed RGW buckets (RGW_BUCKETS) to <MINIO_BUCKET>/<bucket>/ and write a run report there",
		Flags: append(append(append(rgwMirrorFlags(), tuningFlags()...),
			stringFlag(mirror.EnvMode, string(d.Mode), "copy (never deletes), sync (deletes after all transfers), or auto (sync a bucket once a report shows a clean copy)"),
			boolFlag(mirror.EnvDryRun, false, "report what would be copied and deleted; change nothing"),
			stringFlag(mirror.EnvMaxDelete, d.MaxDelete.String(), "per-bucket cap on deletions in sync mode: a count (500) or a share of the mirror (10%)"),
			boolFlag(mirror.EnvAllowEmptySource, false, "let a source bucket that lists empty empty its mirror"),
			bwLimitFlag(), tpsLimitFlag(),
			stringFlag(mirror.EnvShard, "", "mirror only shard i of n (0-based) of the buckets: i/n; each bucket goes to shard hash(name) mod n"),
			intFlag(mirror.EnvShards, 0, "the shard count in an Indexed Job, whose "+mirror.EnvJobCompletionIndex+" is the shard index"),
			stringFlag(mirror.EnvJobCompletionIndex, "", "the pod's index in an Indexed Job (Kubernetes sets it); used with "+mirror.EnvShards),
			stringFlag(mirror.EnvAudit, "5%", "share of each bucket whose headers and tags a run reads again on both sides, a rotating slice (no listing shows a change of tags alone): a percentage, 0% for none"),
			durationFlag(mirror.EnvMaxDuration, 0, "deadline of the run (5h): then no new transfer starts, running ones finish, unfinished buckets are incomplete (exit 1); 0 for none"),
		), monitorFlags()...),
		Action: e.action(e.mirror),
	}
}

// rgwScope reads the scope flags of rgwMirrorFlags: both remotes, the
// bucket selection and where the reports are.
func rgwScope(c *cli.Context) (mirror.Scope, error) {
	var s mirror.Scope
	var err error
	if s.Source, s.Dest, err = rgwAndMinio(c); err != nil {
		return s, err
	}
	s.Buckets = list(c.String(flagName(mirror.EnvBuckets)))
	s.Exclude = list(c.String(flagName(mirror.EnvExcludeBuckets)))
	s.DestBucket = c.String(flagName(mirror.EnvDestBucket))
	s.ReportPrefix = c.String(flagName(mirror.EnvReportPrefix))
	return s, nil
}

// mirrorConfig reads the flags of a run of shard sh, fed to sink.
func (e *env) mirrorConfig(c *cli.Context, sh mirror.Shard, sink livebar.Sink) (mirror.Config, error) {
	cfg := mirror.DefaultConfig()
	var err error
	if cfg.Scope, err = rgwScope(c); err != nil {
		return cfg, err
	}
	if cfg.Mode, err = mirror.ParseMode(c.String(flagName(mirror.EnvMode))); err != nil {
		return cfg, err
	}
	if cfg.MaxDelete, err = mirror.ParseMaxDelete(c.String(flagName(mirror.EnvMaxDelete))); err != nil {
		return cfg, err
	}
	if cfg.Limits, err = limits(c); err != nil {
		return cfg, err
	}
	if cfg.Audit, err = mirror.ParseShare(mirror.EnvAudit, c.String(flagName(mirror.EnvAudit))); err != nil {
		return cfg, err
	}
	cfg.Tuning = e.tuning(c, sink)
	cfg.DryRun = c.Bool(flagName(mirror.EnvDryRun))
	cfg.AllowEmptySource = c.Bool(flagName(mirror.EnvAllowEmptySource))
	cfg.MaxDuration = c.Duration(flagName(mirror.EnvMaxDuration))
	cfg.Shard = sh
	cfg.Version = Version
	return cfg, cfg.Validate()
}

// shard reads OFFSITE_SHARD, or OFFSITE_SHARDS with JOB_COMPLETION_INDEX.
func shard(c *cli.Context) (mirror.Shard, error) {
	one := c.String(flagName(mirror.EnvShard))
	switch {
	case one != "" && c.IsSet(flagName(mirror.EnvShards)):
		return mirror.Shard{}, exitcode.Configf(mirror.EnvShard, "is set with %s: set %s=i/n, or %s=n in an Indexed Job, not both", mirror.EnvShards, mirror.EnvShard, mirror.EnvShards)
	case one != "":
		return mirror.ParseShard(one)
	case c.IsSet(flagName(mirror.EnvShards)):
		return mirror.IndexedShard(c.String(flagName(mirror.EnvJobCompletionIndex)), c.Int(flagName(mirror.EnvShards)))
	}
	return mirror.Shard{}, nil
}

func (e *env) mirror(c *cli.Context) error {
	// Before the monitor: which shard's check to ping depends on it.
	sh, err := shard(c)
	if err != nil {
		return err
	}
	var part jobPart
	if sh.Sharded() {
		// Shards push their metrics side by side and ping their own checks.
		part = jobPart{instance: fmt.Sprintf("shard-%d-of-%d", sh.Index, sh.Count), shard: sh}
	}
	mon, err := e.startJob(c, monitor.JobMirror, part)
	if err != nil {
		return err
	}
	var rep *mirror.Report
	derr := e.underDisplay(c, func(sink livebar.Sink) {
		var cfg mirror.Config
		if cfg, err = e.mirrorConfig(c, sh, sink); err == nil {
			rep, err = mirror.Run(c.Context, cfg, e.log)
		}
	})
	if derr != nil {
		return mon.finish(c.Context, monitor.Run{}, derr)
	}
	if rep != nil {
		e.printSummary(rep, rep.Summary())
	}
	return mon.finish(c.Context, mirrorRun(rep), err)
}

// printSummary prints a run's summary: for people, or, with --log-format
// json, rep as one JSON object.
func (e *env) printSummary(rep any, summary string) {
	if e.jsonLogs {
		if data, err := json.Marshal(rep); err == nil {
			fmt.Fprintf(e.stdout, "%s\n", data)
			return
		}
	}
	fmt.Fprint(e.stdout, summary)
}

// mirrorRun is the monitoring view of a report: one item per bucket the
// run was to mirror (excluded buckets are not part of it).
func mirrorRun(rep *mirror.Report) monitor.Run {
	if rep == nil {
		return monitor.Run{}
	}
	run := monitor.Run{Start: rep.Start, End: rep.End}
	for _, b := range rep.Buckets {
		if b.Status == mirror.StatusSkipped {
			continue
		}
		run.Items = append(run.Items, monitor.Item{Name: b.Name, Objects: b.Transferred, Bytes: b.Bytes,
			Deletions: b.Deleted, Errors: b.Errors, OK: b.Status == mirror.StatusOK})
	}
	return run
}
