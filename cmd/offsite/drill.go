package main

import (
	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/offload"
)

// drillCommand holds the restore drills, one subcommand per kind of backup.
func (e *env) drillCommand() *cli.Command {
	return &cli.Command{
		Name:  "drill",
		Usage: "restore drills: prove the backups restore, not only that they are there (exit 4 when one does not)",
		Subcommands: []*cli.Command{
			e.drillEtcdCommand(),
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
	mon, err := e.startVerify(c, monitor.JobDrillEtcd, validateFunc(func() error {
		var err error
		if output, err = outputFormat(c); err != nil {
			return err
		}
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
