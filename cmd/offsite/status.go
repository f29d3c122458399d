package main

import (
	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/internal/status"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
)

func (e *env) statusCommand() *cli.Command {
	return &cli.Command{
		Name: "status",
		Usage: "both backups on one screen from reports and listings: last mirror runs, newest snapshots, bucket protection, " +
			"last verifies and drills; exit 4 when something is stale, failed or unprotected",
		UsageText: "offsite [--log-format json] status [--max-age 25h] [--retention-days 14]",
		Flags: append(append(destFlags(),
			stringFlag(mirror.EnvReportPrefix, mirror.DefaultConfig().ReportPrefix, "where the mirror's run reports are in its bucket"),
			durationFlag(offload.EnvMaxAge, offload.DefaultMaxAge, "the last mirror run and each host's newest snapshot must be younger"),
			intFlag(bucketsetup.EnvRetentionDays, bucketsetup.DefaultRetentionDays, "a lifecycle rule must expire noncurrent versions within this many days"),
		), monitorFlags()...),
		Action: e.action(e.status),
	}
}

func (e *env) status(c *cli.Context) error {
	var cfg status.Config
	mon, err := e.startVerify(c, monitor.JobStatus, validateFunc(func() error {
		rgw, etcd, err := destinations(c)
		cfg = status.Config{Mirror: rgw, Etcd: etcd, ReportPrefix: c.String(flagName(mirror.EnvReportPrefix)),
			MaxAge: c.Duration(flagName(offload.EnvMaxAge)), RetentionDays: c.Int(flagName(bucketsetup.EnvRetentionDays))}
		if err != nil {
			return err
		}
		return cfg.Validate()
	}))
	if err != nil {
		return err
	}
	rep, err := status.Run(c.Context, cfg, e.log)
	if e.jsonLogs {
		err = e.printJSON(rep, err)
	} else {
		err = e.printVerifyReport(rep, "table", err)
	}
	return mon.finish(c.Context, monitor.Run{}, err)
}
