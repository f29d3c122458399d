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

func (e *env) restoreRGWCommand() *cli.Command {
	d := mirror.DefaultRestoreConfig()
	// Both ends keep their roles in the configuration: RGW_* is the
	// cluster (restored to), MINIO_* the offsite store (read from).
	flags := append(remoteFlags(rcloneconf.RGW, "RGW (restored to)", ""), remoteFlags(rcloneconf.MinIO, "MinIO (the mirror, read from)", "us-east-1")...)
	flags = append(flags,
		&cli.StringSliceFlag{Name: "bucket", EnvVars: []string{mirror.EnvRestoreBuckets}, Usage: "a mirrored bucket to restore (repeat it, or a,b in the env var)"},
		&cli.BoolFlag{Name: "all", EnvVars: []string{mirror.EnvRestoreAll}, Usage: "restore every bucket the mirror holds (at --at)"},
		&cli.StringFlag{Name: "at", EnvVars: []string{mirror.EnvRestoreAt}, Usage: "restore the mirror as it was then: an RFC 3339 time, a date (UTC) or a duration ago (36h); needs versioning on MINIO_BUCKET"},
		&cli.StringFlag{Name: "to-bucket", EnvVars: []string{mirror.EnvRestoreToBucket}, Usage: "restore the one --bucket into this RGW bucket instead"},
		&cli.BoolFlag{Name: "overwrite", EnvVars: []string{mirror.EnvRestoreOverwrite}, Usage: "replace RGW objects that differ from the mirror (default: keep them and list them)"},
		&cli.BoolFlag{Name: "create-bucket", EnvVars: []string{mirror.EnvRestoreCreateBucket}, Usage: "create the RGW bucket when it does not exist"},
		&cli.BoolFlag{Name: "verify", EnvVars: []string{mirror.EnvRestoreVerify}, Usage: "then prove each restored bucket equals the mirror (sizes, hashes, download where a hash is missing); exit 4 if not"},
		boolFlag(mirror.EnvDryRun, false, "list what would be restored, with counts and bytes; change nothing"),
		stringFlag(mirror.EnvDestBucket, mirror.DefaultDestBucket, "the bucket holding the mirror, <bucket>/<name>/ per RGW bucket"),
		stringFlag(mirror.EnvReportPrefix, d.ReportPrefix, "where run reports go in MINIO_BUCKET"),
		boolFlag(mirror.EnvFastList, d.FastList, "list whole buckets without a delimiter (RGW's DBStore under-lists with one)"),
		intFlag(mirror.EnvCheckers, d.Checkers, "parallel comparisons"),
		intFlag(mirror.EnvTransfers, d.Transfers, "parallel transfers"),
		intFlag(mirror.EnvLowLevelRetries, d.LowLevelRetries, "retries of one request"),
		intFlag(mirror.EnvRetries, d.Retries, "tries of a whole bucket after errors"),
		durationFlag(mirror.EnvRetriesSleep, d.RetriesSleep, "pause between tries of a bucket"),
		durationFlag(mirror.EnvProgress, d.ProgressInterval, "how often each bucket logs its progress (0: never; 10s on a terminal unless set, none under the live display)"),
		progressFlag(),
	)
	return &cli.Command{
		Name:      "rgw",
		Usage:     "copy <MINIO_BUCKET>/<bucket>/ back to the RGW bucket; never deletes, never overwrites unless asked",
		UsageText: "offsite restore rgw --bucket B [--bucket C ...|--all] [--at TIME] [--to-bucket NAME] [--create-bucket] [--overwrite] [--verify] [--dry-run]",
		Flags:     append(flags, monitorFlags()...),
		Action:    e.action(e.restoreRGW),
	}
}

func (e *env) restoreConfig(c *cli.Context) (mirror.RestoreConfig, error) {
	cfg := mirror.DefaultRestoreConfig()
	if err := restoreScope(c, &cfg); err != nil {
		return cfg, err
	}
	cfg.All = c.Bool("all")
	cfg.Overwrite = c.Bool("overwrite")
	cfg.CreateBucket = c.Bool("create-bucket")
	cfg.Verify = c.Bool("verify")
	cfg.DryRun = c.Bool(flagName(mirror.EnvDryRun))
	cfg.FastList = c.Bool(flagName(mirror.EnvFastList))
	cfg.Transfers = c.Int(flagName(mirror.EnvTransfers))
	cfg.Checkers = c.Int(flagName(mirror.EnvCheckers))
	cfg.LowLevelRetries = c.Int(flagName(mirror.EnvLowLevelRetries))
	cfg.Retries = c.Int(flagName(mirror.EnvRetries))
	cfg.RetriesSleep = c.Duration(flagName(mirror.EnvRetriesSleep))
	cfg.ProgressInterval = c.Duration(flagName(mirror.EnvProgress))
	if !c.IsSet(flagName(mirror.EnvProgress)) && livebar.IsTerminal(e.stderr) {
		cfg.ProgressInterval = terminalProgressInterval
	}
	cfg.Version = Version
	return cfg, cfg.Validate()
}

func (e *env) restoreRGW(c *cli.Context) error {
	mon, err := e.newJobMonitor(c, monitor.JobRestore, jobPart{})
	if err != nil {
		return err
	}
	mon.start(c.Context)
	cfg, err := e.restoreConfig(c)
	if err != nil {
		return mon.finish(c.Context, monitor.Run{}, err)
	}
	var rep *mirror.Report
	if derr := e.underDisplay(c, &cfg.Display, &cfg.ProgressInterval, func() { rep, err = mirror.Restore(c.Context, cfg, e.log) }); derr != nil {
		return mon.finish(c.Context, monitor.Run{}, derr)
	}
	e.printReport(rep)
	if rep != nil && !e.jsonLogs {
		_ = rep.WriteRestoreDetails(e.stdout) // the JSON report holds them
	}
	return mon.finish(c.Context, mirrorRun(rep), err)
}

// restoreScope reads what restore rgw and verify rgw --bucket share: both
// ends, the mirror's bucket, the buckets, --at and --to-bucket.
func restoreScope(c *cli.Context, cfg *mirror.RestoreConfig) error {
	var err error
	if cfg.Source, err = remote(c, rcloneconf.RGW, rgwRemote, rcloneconf.ProviderCeph); err != nil {
		return err
	}
	if cfg.Dest, err = remote(c, rcloneconf.MinIO, minioRemote, rcloneconf.ProviderMinio); err != nil {
		return err
	}
	cfg.DestBucket = c.String(flagName(mirror.EnvDestBucket))
	cfg.ReportPrefix = c.String(flagName(mirror.EnvReportPrefix))
	for _, b := range c.StringSlice("bucket") {
		cfg.Buckets = append(cfg.Buckets, list(b)...)
	}
	if cfg.At, err = mirror.ParseAt(c.String("at"), time.Now()); err != nil {
		return err
	}
	cfg.ToBucket = c.String("to-bucket")
	return nil
}
