package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/internal/runrecord"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// drillCommand holds the restore drills, one subcommand per kind of backup.
func (e *env) drillCommand() *cli.Command {
	return &cli.Command{
		Name:  "drill",
		Usage: "restore drills: prove the backups restore, not only that they are there (exit 4 when one does not)",
		Subcommands: []*cli.Command{
			e.drillEtcdCommand(),
			e.drillRGWCommand(),
		},
	}
}

func (e *env) drillEtcdCommand() *cli.Command {
	return &cli.Command{
		Name: "etcd",
		Usage: "fetch each host's newest snapshot into a temporary file, decrypt it, check its sidecar and trailer, " +
			"read it as etcd does (revision, keys), then remove it",
		UsageText: "offsite drill etcd [--host H | --all-hosts] [--identity KEY] [--output table|json]",
		Flags: verifyFlags(append(etcdDestFlags(),
			&cli.BoolFlag{Name: "all-hosts", Usage: "drill every host prefix in the bucket"},
			identityFlag(),
		)...),
		Action: e.action(e.drillEtcd),
	}
}

func (e *env) drillEtcd(c *cli.Context) error {
	var output string
	var cfg offload.DrillConfig
	mon, err := e.startVerify(c, monitor.JobDrillEtcd, withOutput(c, &output, func() error {
		target, err := readEtcdTarget(c)
		cfg = offload.DrillConfig{Dest: target.dest, Identities: target.ids, Bucket: target.bucket,
			Host: target.host, AllHosts: target.allHosts}
		if err != nil {
			return err
		}
		return cfg.Validate()
	}))
	if err != nil {
		return err
	}
	report, err := offload.Drill(c.Context, cfg, e.log)
	if report != nil {
		err = e.printVerifyReport(report, output, err)
	}
	e.record(c.Context, bucketsetup.Target{Bucket: cfg.Bucket, Remote: cfg.Dest, End: rcloneconf.MinIO}, "",
		runrecord.DrillEtcd, mon.started, etcdScope(offload.VerifyConfig{Host: cfg.Host, AllHosts: cfg.AllHosts}), err)
	return mon.finish(c.Context, drillEtcdRun(report), err)
}

func drillEtcdRun(r *offload.DrillReport) monitor.Run {
	var run monitor.Run
	if r == nil {
		return run
	}
	for _, h := range r.Hosts {
		item := monitor.Item{Name: h.Host, Bytes: h.Bytes, Errors: int64(len(h.Problems) + len(h.Errors)), OK: h.OK()}
		if h.Snapshot != "" {
			item.Objects = 1
		}
		run.Items = append(run.Items, item)
	}
	return run
}

func (e *env) drillRGWCommand() *cli.Command {
	d := mirror.DefaultRestoreConfig()
	flags := append(remoteFlags(rcloneconf.RGW, "RGW (where the scratch bucket is made)", ""), remoteFlags(rcloneconf.MinIO, "MinIO (the mirror, read from)", "us-east-1")...)
	flags = append(flags,
		&cli.StringFlag{Name: "bucket", EnvVars: []string{mirror.EnvDrillBucket}, Usage: "required: the mirrored bucket to restore"},
		&cli.StringFlag{Name: mirror.FlagAt, EnvVars: []string{mirror.EnvDrillAt}, Usage: "the mirror as it was then: an RFC 3339 time, a date (UTC) or a duration ago (36h); needs versioning on MINIO_BUCKET"},
		&cli.IntFlag{Name: "sample", EnvVars: []string{mirror.EnvDrillSample}, Usage: "restore the bucket's first N objects only (0: all of it)"},
		stringFlag(mirror.EnvDestBucket, mirror.DefaultDestBucket, "the bucket holding the mirror, <bucket>/<name>/ per RGW bucket"),
		stringFlag(mirror.EnvReportPrefix, d.ReportPrefix, "where run reports go in MINIO_BUCKET"),
		intFlag(mirror.EnvCheckers, d.Checkers, "parallel comparisons"),
	)
	return &cli.Command{
		Name: "rgw",
		Usage: "restore a bucket's mirror into a new scratch bucket (" + mirror.ScratchPrefix + "<time>) at the RGW, compare every object " +
			"with the mirror (bytes, headers, tags), project a whole restore's time, then remove the scratch bucket",
		UsageText: "offsite drill rgw --bucket B [--at TIME] [--sample N] [--output table|json]",
		Flags:     verifyFlags(append(flags, tuningFlags()...)...),
		Action:    e.action(e.drillRGW),
	}
}

// drillRGWConfig reads drill rgw's flags, its work fed to sink.
func (e *env) drillRGWConfig(c *cli.Context, sink livebar.Sink) (mirror.DrillConfig, error) {
	var cfg mirror.DrillConfig
	var err error
	if cfg.Target, cfg.Mirror, err = rgwAndMinio(c); err != nil {
		return cfg, err
	}
	if cfg.At, err = mirror.ParseAt(mirror.EnvDrillAt, c.String(mirror.FlagAt), time.Now()); err != nil {
		return cfg, err
	}
	cfg.Tuning = e.tuning(c, sink)
	cfg.MirrorBucket = c.String(flagName(mirror.EnvDestBucket))
	cfg.ReportPrefix = c.String(flagName(mirror.EnvReportPrefix))
	cfg.Bucket, cfg.Sample, cfg.Version = c.String("bucket"), c.Int("sample"), Version
	return cfg, cfg.Validate()
}

func (e *env) drillRGW(c *cli.Context) error {
	mon, err := e.startJob(c, monitor.JobDrillRGW, jobPart{})
	if err != nil {
		return err
	}
	var output string
	var cfg mirror.DrillConfig
	var rep *mirror.DrillReport
	derr := e.underDisplay(c, func(sink livebar.Sink) {
		if output, err = outputFormat(c); err != nil {
			return
		}
		if cfg, err = e.drillRGWConfig(c, sink); err == nil {
			rep, err = mirror.Drill(c.Context, cfg, e.log)
		}
	})
	switch {
	case derr != nil:
		return mon.finish(c.Context, monitor.Run{}, derr)
	case rep == nil:
		return mon.finish(c.Context, monitor.Run{}, err)
	}
	err = e.printVerifyReport(rep, output, err)
	e.record(c.Context, bucketsetup.Target{Bucket: cfg.MirrorBucket, Remote: cfg.Mirror, End: rcloneconf.MinIO}, cfg.ReportPrefix,
		runrecord.DrillRGW, mon.started, fmt.Sprintf("bucket %s: %d restored and compared, %d differing", cfg.Bucket, rep.Compared, rep.Differing), err)
	return mon.finish(c.Context, monitor.Run{Start: rep.Start, End: rep.End, Items: []monitor.Item{{Name: rep.Bucket,
		Objects: rep.Restored, Bytes: rep.Bytes, Errors: rep.Differing, OK: rep.OK}}}, err)
}
