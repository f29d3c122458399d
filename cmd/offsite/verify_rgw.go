package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/internal/runrecord"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func (e *env) verifyRGWCommand() *cli.Command {
	d := mirror.DefaultVerifyConfig()
	return &cli.Command{
		Name:  "rgw",
		Usage: "every RGW object is in the mirror with the same size and hash; the newest run report is fresh and ok",
		UsageText: "offsite verify rgw [--rgw-buckets a,b] [--download] [--sample 5%] [--max-age 25h] [--output table|json]\n" +
			"   offsite verify rgw --bucket B [--at TIME] [--to-bucket NAME]   # after a restore: the RGW bucket holds its mirror (at TIME)",
		Flags: verifyFlags(append(append(rgwMirrorFlags(),
			&cli.StringFlag{Name: "sample", EnvVars: []string{mirror.EnvVerifySample}, Usage: "also read a rotating slice of each bucket whole and compare bytes, headers and tags: a share (5%: every object in 20 runs) or one slice (3/20)"},
			&cli.BoolFlag{Name: "download", EnvVars: []string{mirror.EnvVerifyDownload},
				Usage: "compare content by downloading both sides where a hash is missing (multipart uploads)"},
			durationFlag(mirror.EnvMaxReportAge, d.MaxReportAge, "fail when the newest run report ended longer ago than this"),
		), restoreTargetFlags("check a restore instead: the RGW bucket holds every object of its mirror (download where a hash is missing)")...)...),
		Action: e.action(e.verifyRGW),
	}
}

func (e *env) verifyRGW(c *cli.Context) error {
	if c.IsSet(mirror.FlagBucket) || c.IsSet(mirror.FlagAt) || c.IsSet(mirror.FlagToBucket) {
		return e.verifyRestored(c)
	}
	var output string
	cfg := mirror.DefaultVerifyConfig()
	mon, err := e.startVerify(c, monitor.JobVerifyRGW, withOutput(c, &output, func() (err error) {
		if cfg.Scope, err = rgwScope(c); err != nil {
			return err
		}
		cfg.Tuning = verifyTuning(c)
		cfg.Download = c.Bool("download")
		if cfg.Sample, err = mirror.ParseShare(mirror.EnvVerifySample, c.String("sample")); err != nil {
			return err
		}
		cfg.MaxReportAge = c.Duration(flagName(mirror.EnvMaxReportAge))
		return cfg.Validate()
	}))
	if err != nil {
		return err
	}
	rep, err := mirror.Verify(c.Context, cfg, e.log)
	err = e.printVerifyReport(rep, output, err)
	e.record(c.Context, bucketsetup.Target{Bucket: cfg.DestBucket, Remote: cfg.Dest, End: rcloneconf.MinIO}, cfg.ReportPrefix,
		runrecord.VerifyRGW, mon.started, fmt.Sprintf("buckets: %d", len(rep.Buckets)), err)
	return mon.finish(c.Context, verifyRGWRun(rep, cfg.DestBucket), err)
}

// verifyTuning is how hard verify rgw works: its checkers and listing; no
// progress lines, as the table shows each bucket.
func verifyTuning(c *cli.Context) mirror.Tuning {
	t := mirror.DefaultTuning()
	t.Checkers = c.Int(flagName(mirror.EnvCheckers))
	t.ProgressInterval = 0
	return t
}

// verifyRGWRun is the monitoring view of a verify report: one item per
// bucket, and whether versioning is on in dest, the destination bucket.
func verifyRGWRun(rep *mirror.VerifyReport, dest string) monitor.Run {
	run := monitor.Run{Start: rep.Start, End: rep.End}
	if rep.Versioning != "" {
		run.Versioning = map[string]bool{dest: rep.Versioning == mirror.VersioningEnabled}
	}
	for _, b := range rep.Buckets {
		run.Items = append(run.Items, monitor.Item{Name: b.Name, Objects: b.Matched + b.Missing + b.Differing,
			Errors: b.Missing + b.Differing + b.Errors, OK: b.OK})
	}
	return run
}

// verifyRestored is verify rgw after a restore: each RGW bucket against
// its mirror, as it was at --at.
func (e *env) verifyRestored(c *cli.Context) error {
	var output string
	cfg := mirror.DefaultRestoreConfig()
	mon, err := e.startVerify(c, monitor.JobVerifyRGW, withOutput(c, &output, func() error {
		if err := restoreScope(c, &cfg); err != nil {
			return err
		}
		cfg.Tuning = verifyTuning(c)
		return cfg.Validate()
	}))
	if err != nil {
		return err
	}
	rep, err := mirror.VerifyRestored(c.Context, cfg, e.log)
	err = e.printVerifyReport(rep, output, err)
	return mon.finish(c.Context, verifyRGWRun(rep, cfg.MirrorBucket), err)
}
