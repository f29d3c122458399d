package main

import (
	"encoding/json"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func (e *env) verifyEtcdCommand() *cli.Command {
	return &cli.Command{
		Name:      "etcd",
		Usage:     "every etcd snapshot has a matching sidecar, is not empty, hashes right; the newest is fresh",
		UsageText: "offsite verify etcd [--host H | --all-hosts] [--max-age 25h] [--download latest|all|none] [--output table|json]",
		Flags: append(append(etcdDestFlags(),
			&cli.BoolFlag{Name: "all-hosts", Usage: "check every host prefix in the bucket"},
			durationFlag(offload.EnvMaxAge, offload.DefaultMaxAge, "fail when the newest snapshot of a host is older than this"),
			stringFlag(offload.EnvDownload, offload.DownloadLatest, "download and hash: latest (each host's newest), all, or none"),
			&cli.StringFlag{Name: "output", Value: "table", Usage: "table or json"},
		), monitorFlags()...),
		Action: e.action(e.verifyEtcd),
	}
}

func (e *env) verifyEtcd(c *cli.Context) error {
	output := c.String("output")
	if output != "table" && output != "json" {
		return exitcode.Configf("--output", "%q is not table or json", output)
	}
	dest, err := remote(c, "MINIO", etcdRemote, rcloneconf.ProviderMinio)
	if err != nil {
		return err
	}
	cfg := offload.VerifyConfig{
		Dest:     dest,
		Bucket:   c.String(flagName(offload.EnvBucket)),
		Host:     c.String(flagName(offload.EnvHostname)),
		AllHosts: c.Bool("all-hosts"),
		MaxAge:   c.Duration(flagName(offload.EnvMaxAge)),
		Download: c.String(flagName(offload.EnvDownload)),
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	mon, err := e.newJobMonitor(c, "verify_etcd", "")
	if err != nil {
		return err
	}
	mon.start(c.Context)
	report, err := offload.Verify(c.Context, cfg, e.log)
	if report != nil {
		if werr := e.writeVerifyReport(report, output); werr != nil && err == nil {
			err = werr
		}
	}
	return mon.finish(c.Context, verifyEtcdRun(report), err)
}

func (e *env) writeVerifyReport(r *offload.VerifyReport, output string) error {
	if output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteTable(e.stdout)
}

func verifyEtcdRun(r *offload.VerifyReport) monitor.Run {
	var run monitor.Run
	if r == nil {
		return run
	}
	for _, h := range r.Hosts {
		run.Items = append(run.Items, monitor.Item{Name: h.Host, Objects: int64(h.Snapshots), Bytes: h.Bytes,
			Errors: int64(len(h.Problems)), OK: len(h.Problems) == 0})
	}
	return run
}
