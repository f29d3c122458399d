package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func (e *env) restoreCommand() *cli.Command {
	return &cli.Command{
		Name:        "restore",
		Usage:       "copy a mirror back to where it came from",
		Subcommands: []*cli.Command{e.restoreRGWCommand()},
	}
}

// restoreTargetFlags are what restore rgw and verify rgw after a restore
// share: the buckets, the time and the RGW bucket restored into.
func restoreTargetFlags(use string) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: mirror.FlagBucket, EnvVars: []string{mirror.EnvRestoreBuckets}, Usage: use},
		&cli.StringFlag{Name: mirror.FlagAt, EnvVars: []string{mirror.EnvRestoreAt}, Usage: "the mirror as it was then: an RFC 3339 time, a date (UTC) or a duration ago (36h); needs versioning on MINIO_BUCKET"},
		&cli.StringFlag{Name: mirror.FlagToBucket, EnvVars: []string{mirror.EnvRestoreToBucket}, Usage: "the RGW bucket the one --bucket goes to, instead of its own name"},
	}
}

func (e *env) restoreRGWCommand() *cli.Command {
	d := mirror.DefaultRestoreConfig()
	// Both ends keep their roles in the configuration: RGW_* is the
	// cluster (restored to), MINIO_* the offsite store (read from).
	flags := append(remoteFlags(rcloneconf.RGW, "RGW (restored to)", ""), remoteFlags(rcloneconf.MinIO, "MinIO (the mirror, read from)", "us-east-1")...)
	flags = append(append(flags, restoreTargetFlags("a mirrored bucket to restore (repeat it, or a,b in the env var)")...),
		&cli.BoolFlag{Name: mirror.FlagAll, EnvVars: []string{mirror.EnvRestoreAll}, Usage: "restore every bucket the mirror holds (at --at)"},
		&cli.BoolFlag{Name: mirror.FlagOverwrite, EnvVars: []string{mirror.EnvRestoreOverwrite}, Usage: "replace RGW objects that differ from the mirror (default: keep them and list them)"},
		&cli.BoolFlag{Name: mirror.FlagCreateBucket, EnvVars: []string{mirror.EnvRestoreCreateBucket}, Usage: "create the RGW bucket when it does not exist"},
		&cli.BoolFlag{Name: mirror.FlagVerify, EnvVars: []string{mirror.EnvRestoreVerify}, Usage: "then prove each restored bucket equals the mirror (sizes, hashes, download where a hash is missing); exit 4 if not"},
		boolFlag(mirror.EnvDryRun, false, "list what would be restored, with counts and bytes; change nothing"),
		stringFlag(mirror.EnvDestBucket, mirror.DefaultDestBucket, "the bucket holding the mirror, <bucket>/<name>/ per RGW bucket"),
		stringFlag(mirror.EnvReportPrefix, d.ReportPrefix, "where run reports go in MINIO_BUCKET"),
		intFlag(mirror.EnvCheckers, d.Checkers, "parallel comparisons"),
	)
	return &cli.Command{
		Name:      "rgw",
		Usage:     "copy <MINIO_BUCKET>/<bucket>/ back to the RGW bucket; never deletes, never overwrites unless asked",
		UsageText: "offsite restore rgw --bucket B [--bucket C ...|--all] [--at TIME] [--to-bucket NAME] [--create-bucket] [--overwrite] [--verify] [--dry-run]",
		Flags:     append(append(flags, tuningFlags()...), monitorFlags()...),
		Action:    e.action(e.restoreRGW),
	}
}

// restoreConfig reads restore rgw's flags, its work fed to sink.
func (e *env) restoreConfig(c *cli.Context, sink livebar.Sink) (mirror.RestoreConfig, error) {
	cfg := mirror.DefaultRestoreConfig()
	if err := restoreScope(c, &cfg); err != nil {
		return cfg, err
	}
	cfg.Tuning = e.tuning(c, sink)
	cfg.All = c.Bool(mirror.FlagAll)
	cfg.Overwrite = c.Bool(mirror.FlagOverwrite)
	cfg.CreateBucket = c.Bool(mirror.FlagCreateBucket)
	cfg.Verify = c.Bool(mirror.FlagVerify)
	cfg.DryRun = c.Bool(flagName(mirror.EnvDryRun))
	cfg.Version = Version
	return cfg, cfg.Validate()
}

func (e *env) restoreRGW(c *cli.Context) error {
	mon, err := e.startJob(c, monitor.JobRestore, jobPart{})
	if err != nil {
		return err
	}
	var rep *mirror.RestoreReport
	derr := e.underDisplay(c, func(sink livebar.Sink) {
		var cfg mirror.RestoreConfig
		if cfg, err = e.restoreConfig(c, sink); err == nil {
			rep, err = mirror.Restore(c.Context, cfg, e.log)
		}
	})
	if derr != nil {
		return mon.finish(c.Context, monitor.Run{}, derr)
	}
	if rep != nil {
		e.printSummary(rep, rep.Summary())
		if !e.jsonLogs {
			rep.WriteDetails(e.stdout) // the JSON report holds them
		}
	}
	return mon.finish(c.Context, restoreRun(rep), err)
}

// restoreRun is the monitoring view of a restore: one item per bucket.
func restoreRun(rep *mirror.RestoreReport) monitor.Run {
	if rep == nil {
		return monitor.Run{}
	}
	run := monitor.Run{Start: rep.Start, End: rep.End}
	for _, b := range rep.Buckets {
		run.Items = append(run.Items, monitor.Item{Name: b.Name, Objects: b.Restored, Bytes: b.Bytes,
			Errors: b.Errors, OK: b.Status == mirror.StatusOK})
	}
	return run
}

// restoreScope reads what restore rgw and verify rgw --bucket share: both
// ends, the mirror's bucket, the buckets, --at and --to-bucket.
func restoreScope(c *cli.Context, cfg *mirror.RestoreConfig) error {
	var err error
	if cfg.Target, cfg.Mirror, err = rgwAndMinio(c); err != nil {
		return err
	}
	cfg.MirrorBucket = c.String(flagName(mirror.EnvDestBucket))
	cfg.ReportPrefix = c.String(flagName(mirror.EnvReportPrefix))
	for _, b := range c.StringSlice(mirror.FlagBucket) {
		cfg.Buckets = append(cfg.Buckets, list(b)...)
	}
	if cfg.At, err = mirror.ParseAt(mirror.EnvRestoreAt, c.String(mirror.FlagAt), time.Now()); err != nil {
		return err
	}
	cfg.ToBucket = c.String(mirror.FlagToBucket)
	return nil
}
