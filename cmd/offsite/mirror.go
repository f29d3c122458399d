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
		boolFlag(mirror.EnvFastList, d.FastList, "list whole buckets without a delimiter (RGW's DBStore under-lists with one)"),
		intFlag(mirror.EnvCheckers, d.Checkers, "parallel comparisons"),
	)
}

func (e *env) mirrorCommand() *cli.Command {
	d := mirror.DefaultConfig()
	return &cli.Command{
		Name:  "mirror",
		Usage: "copy (or sync) the allow-listed RGW buckets (RGW_BUCKETS) to <MINIO_BUCKET>/<bucket>/ and write a run report there",
		Flags: append(append(rgwMirrorFlags(),
			stringFlag(mirror.EnvMode, string(d.Mode), "copy (never deletes), sync (deletes after all transfers), or auto (sync a bucket once a report shows a clean copy)"),
			boolFlag(mirror.EnvDryRun, false, "report what would be copied and deleted; change nothing"),
			intFlag(mirror.EnvTransfers, d.Transfers, "parallel transfers"),
			intFlag(mirror.EnvLowLevelRetries, d.LowLevelRetries, "retries of one request"),
			intFlag(mirror.EnvRetries, d.Retries, "tries of a whole bucket after errors"),
			durationFlag(mirror.EnvRetriesSleep, d.RetriesSleep, "pause between tries of a bucket (longer when the server asks)"),
			stringFlag(mirror.EnvMaxDelete, d.MaxDelete.String(), "per-bucket cap on deletions in sync mode: a count (500) or a share of the mirror (10%)"),
			boolFlag(mirror.EnvAllowEmptySource, false, "let a source bucket that lists empty empty its mirror"),
			bwLimitFlag(), tpsLimitFlag(),
			stringFlag(mirror.EnvShard, "", "mirror only shard i of n (0-based) of the buckets: i/n; each bucket goes to shard hash(name) mod n"),
			intFlag(mirror.EnvShards, 0, "the shard count in an Indexed Job, whose "+mirror.EnvJobCompletionIndex+" is the shard index"),
			stringFlag(mirror.EnvJobCompletionIndex, "", "the pod's index in an Indexed Job (Kubernetes sets it); used with "+mirror.EnvShards),
			durationFlag(mirror.EnvMaxDuration, 0, "deadline of the run (5h): then no new transfer starts, running ones finish, unfinished buckets are incomplete (exit 1); 0 for none"),
			durationFlag(mirror.EnvProgress, d.ProgressInterval, "how often each bucket logs its progress (0: never; 10s on a terminal unless set, none under the live display)"),
			progressFlag(),
		), monitorFlags()...),
		Action: e.action(e.mirror),
	}
}

// terminalProgressInterval is how often a bucket's progress line comes
// when a person watches; the CronJob's JSON logs get one a minute.
const terminalProgressInterval = 10 * time.Second

// rgwScope reads the scope flags of rgwMirrorFlags: both remotes, the
// bucket selection and where the reports are.
func rgwScope(c *cli.Context) (mirror.Scope, error) {
	var s mirror.Scope
	var err error
	if s.Source, err = remote(c, rcloneconf.RGW, rgwRemote, rcloneconf.ProviderCeph); err != nil {
		return s, err
	}
	if s.Dest, err = remote(c, rcloneconf.MinIO, minioRemote, rcloneconf.ProviderMinio); err != nil {
		return s, err
	}
	s.Buckets = list(c.String(flagName(mirror.EnvBuckets)))
	s.Exclude = list(c.String(flagName(mirror.EnvExcludeBuckets)))
	s.DestBucket = c.String(flagName(mirror.EnvDestBucket))
	s.ReportPrefix = c.String(flagName(mirror.EnvReportPrefix))
	return s, nil
}

func (e *env) mirrorConfig(c *cli.Context) (mirror.Config, error) {
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
	cfg.FastList = c.Bool(flagName(mirror.EnvFastList))
	cfg.DryRun = c.Bool(flagName(mirror.EnvDryRun))
	cfg.Transfers = c.Int(flagName(mirror.EnvTransfers))
	cfg.Checkers = c.Int(flagName(mirror.EnvCheckers))
	cfg.LowLevelRetries = c.Int(flagName(mirror.EnvLowLevelRetries))
	cfg.Retries = c.Int(flagName(mirror.EnvRetries))
	cfg.RetriesSleep = c.Duration(flagName(mirror.EnvRetriesSleep))
	cfg.AllowEmptySource = c.Bool(flagName(mirror.EnvAllowEmptySource))
	cfg.MaxDuration = c.Duration(flagName(mirror.EnvMaxDuration))
	if cfg.Shard, err = shard(c); err != nil {
		return cfg, err
	}
	if cfg.Limits, err = limits(c); err != nil {
		return cfg, err
	}
	cfg.ProgressInterval = c.Duration(flagName(mirror.EnvProgress))
	if !c.IsSet(flagName(mirror.EnvProgress)) && livebar.IsTerminal(e.stderr) {
		cfg.ProgressInterval = terminalProgressInterval // someone is watching
	}
	cfg.Version = Version
	return cfg, cfg.Validate()
}

// runMirror is mirror.Run; tests replace it.
var runMirror = mirror.Run

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
	mon, err := e.newJobMonitor(c, monitor.JobMirror, part)
	if err != nil {
		return err
	}
	mon.start(c.Context)
	cfg, err := e.mirrorConfig(c)
	if err != nil {
		return mon.finish(c.Context, monitor.Run{}, err)
	}
	var rep *mirror.Report
	if derr := e.underDisplay(c, &cfg.Display, &cfg.ProgressInterval, func() { rep, err = runMirror(c.Context, cfg, e.log) }); derr != nil {
		return mon.finish(c.Context, monitor.Run{}, derr)
	}
	e.printReport(rep)
	return mon.finish(c.Context, mirrorRun(rep), err)
}

// printReport prints a run's summary: a table for people, or, with
// --log-format json, the report as one JSON object. Every command that
// ends with a mirror.Report prints it here.
func (e *env) printReport(rep *mirror.Report) {
	if rep == nil {
		return
	}
	if e.jsonLogs {
		if data, err := json.Marshal(rep); err == nil {
			fmt.Fprintf(e.stdout, "%s\n", data)
			return
		}
	}
	fmt.Fprint(e.stdout, rep.Summary())
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
