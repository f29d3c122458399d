package main

import (
	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/internal/runrecord"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func (e *env) verifyEtcdCommand() *cli.Command {
	return &cli.Command{
		Name:      "etcd",
		Usage:     "every etcd snapshot has a matching sidecar, is not empty, hashes right; the newest is fresh",
		UsageText: "offsite verify etcd [--host H | --all-hosts] [--max-age 25h] [--download latest|all|none] [--identity KEY] [--output table|json]",
		Flags: verifyFlags(append(etcdDestFlags(),
			&cli.BoolFlag{Name: "all-hosts", Usage: "check every host prefix in the bucket"},
			durationFlag(offload.EnvMaxAge, offload.DefaultMaxAge, "fail when the newest snapshot of a host is older than this"),
			stringFlag(offload.EnvDownload, offload.DownloadLatest, "download and hash: latest (each host's newest), all, or none"),
			identityFlag(),
		)...),
		Action: e.action(e.verifyEtcd),
	}
}

func (e *env) verifyEtcd(c *cli.Context) error {
	var output string
	var cfg offload.VerifyConfig
	mon, err := e.startVerify(c, monitor.JobVerifyEtcd, withOutput(c, &output, func() error {
		target, err := readEtcdTarget(c)
		if err != nil {
			return err
		}
		cfg = offload.VerifyConfig{
			Identities: target.ids,
			Dest:       target.dest,
			Bucket:     target.bucket,
			Host:       target.host,
			AllHosts:   target.allHosts,
			MaxAge:     c.Duration(flagName(offload.EnvMaxAge)),
			Download:   c.String(flagName(offload.EnvDownload)),
		}
		return cfg.Validate()
	}))
	if err != nil {
		return err
	}
	report, err := offload.Verify(c.Context, cfg, e.log)
	if report != nil {
		err = e.printVerifyReport(report, output, err)
	}
	e.record(c.Context, bucketsetup.Target{Bucket: cfg.Bucket, Remote: cfg.Dest, End: rcloneconf.MinIO}, "",
		runrecord.VerifyEtcd, mon.started, etcdScope(cfg), err)
	return mon.finish(c.Context, verifyEtcdRun(report), err)
}

func verifyEtcdRun(r *offload.VerifyReport) monitor.Run {
	var run monitor.Run
	if r == nil {
		return run
	}
	for _, h := range r.Hosts {
		run.Items = append(run.Items, monitor.Item{Name: h.Host, Objects: int64(h.Snapshots), Bytes: h.Bytes,
			Errors: int64(len(h.Problems) + len(h.Errors)), OK: len(h.Problems)+len(h.Errors) == 0})
	}
	return run
}

// etcdScope says which hosts a verify etcd covered, for its record.
func etcdScope(cfg offload.VerifyConfig) string {
	if cfg.AllHosts {
		return "all hosts"
	}
	return "host " + cfg.Host
}

// etcdTarget is what verify etcd and drill etcd read: the destination, the
// identities of --identity, and the host prefixes.
type etcdTarget struct {
	dest         rcloneconf.Remote
	ids          []age.Identity
	bucket, host string
	allHosts     bool
}

func readEtcdTarget(c *cli.Context) (etcdTarget, error) {
	dest, ids, err := etcdReader(c)
	return etcdTarget{dest: dest, ids: ids, bucket: c.String(flagName(offload.EnvBucket)),
		host: c.String(flagName(offload.EnvHostname)), allHosts: c.Bool("all-hosts")}, err
}
