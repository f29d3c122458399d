package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// envEtcdBucket is the etcd bucket in the commands that touch both
// buckets, where MINIO_BUCKET is the mirror's.
var envEtcdBucket = rcloneconf.MinIOEtcd.Var("BUCKET")

// destFlags are the flags of the commands that touch both destination
// buckets (setup minio, verify minio, status): MINIO_* reach the mirror's
// bucket, MINIO_ETCD_* the etcd bucket, falling back to MINIO_*.
func destFlags() []cli.Flag {
	etcd := rcloneconf.MinIOEtcd
	return append(remoteFlags(rcloneconf.MinIO, "destination (MinIO)", "us-east-1"),
		stringFlag(mirror.EnvDestBucket, mirror.DefaultDestBucket, "the mirror's bucket, reached with the MINIO_* keys"),
		stringFlag(envEtcdBucket, offload.DefaultBucket, "the etcd snapshot bucket, reached with the MINIO_ETCD_* keys"),
		stringFlag(etcd.Var("ENDPOINT"), "", "the etcd bucket's endpoint (default: MINIO_ENDPOINT; region and CA file are MINIO_'s)"),
		stringFlag(etcd.Var("ACCESS_KEY_ID"), "", "the etcd bucket's access key id (default: MINIO_ACCESS_KEY_ID, with its secret)"),
		stringFlag(etcd.Var("ACCESS_KEY_ID_FILE"), "", "file holding the etcd bucket's access key id"),
		stringFlag(etcd.Var("SECRET_ACCESS_KEY"), "", "the etcd bucket's secret key (prefer the env var or the _FILE form: flags show in ps)"),
		stringFlag(etcd.Var("SECRET_ACCESS_KEY_FILE"), "", "file holding the etcd bucket's secret key (%d/NAME reads $CREDENTIALS_DIRECTORY/NAME)"),
	)
}

// destinations reads destFlags: the mirror's bucket and the etcd bucket,
// each with the remote whose keys reach it.
func destinations(c *cli.Context) (rgw, etcd bucketsetup.Target, err error) {
	base, err := remote(c, rcloneconf.MinIO, minioRemote, rcloneconf.ProviderMinio)
	if err != nil {
		return rgw, etcd, err
	}
	etcdDest, end, err := settings(c, rcloneconf.MinIOEtcd).Or(base, rcloneconf.MinIO, etcdRemote)
	if err != nil {
		return rgw, etcd, err
	}
	rgw = bucketsetup.Target{Bucket: c.String(flagName(mirror.EnvDestBucket)), Remote: base, End: rcloneconf.MinIO}
	etcd = bucketsetup.Target{Bucket: c.String(flagName(envEtcdBucket)), Remote: etcdDest, End: end}
	if err := rcloneconf.CheckBucketName(mirror.EnvDestBucket, rgw.Bucket); err != nil {
		return rgw, etcd, err
	}
	if err := rcloneconf.CheckBucketName(envEtcdBucket, etcd.Bucket); err != nil {
		return rgw, etcd, err
	}
	if rgw.Bucket == etcd.Bucket {
		return rgw, etcd, exitcode.Configf(envEtcdBucket, "is %s, the mirror's bucket (%s) too: each backup needs a bucket of its own", etcd.Bucket, mirror.EnvDestBucket)
	}
	return rgw, etcd, nil
}

// minioFlags are the flags of setup minio and verify minio.
func minioFlags() []cli.Flag {
	return append(destFlags(),
		&cli.StringSliceFlag{Name: "bucket", EnvVars: []string{bucketsetup.EnvBuckets},
			Usage: "a destination bucket (repeat for more; default: MINIO_BUCKET and MINIO_ETCD_BUCKET); MINIO_ETCD_BUCKET's name is reached with the MINIO_ETCD_* keys, any other with MINIO_*"},
		intFlag(bucketsetup.EnvRetentionDays, bucketsetup.DefaultRetentionDays, "days an overwritten or deleted object's old version is kept (the lifecycle rule's NoncurrentDays)"),
	)
}

// minioConfig reads minioFlags.
func minioConfig(c *cli.Context) (bucketsetup.Config, error) {
	cfg := bucketsetup.Config{RetentionDays: c.Int(flagName(bucketsetup.EnvRetentionDays))}
	rgw, etcd, err := destinations(c)
	if err != nil {
		return cfg, err
	}
	names := c.StringSlice("bucket")
	if len(names) == 0 {
		cfg.Targets = []bucketsetup.Target{rgw, etcd}
	}
	for _, name := range names {
		t := rgw
		if name == etcd.Bucket {
			t = etcd
		}
		t.Bucket = name
		cfg.Targets = append(cfg.Targets, t)
	}
	return cfg, cfg.Validate()
}

func (e *env) setupCommand() *cli.Command {
	return &cli.Command{
		Name:  "setup",
		Usage: "prepare what the backups are written into (once, with keys that may change buckets)",
		Subcommands: []*cli.Command{{
			Name: "minio",
			Usage: "create the destination buckets, turn versioning on, and add a lifecycle rule that expires noncurrent versions " +
				"after --retention-days, beside the bucket's own rules; a second run changes nothing",
			UsageText: "offsite setup minio [--bucket B]... [--retention-days 14] [--dry-run]",
			Flags:     append(minioFlags(), boolFlag(mirror.EnvDryRun, false, "say what would change; change nothing")),
			Action:    e.action(e.setupMinio),
		}},
	}
}

func (e *env) setupMinio(c *cli.Context) error {
	cfg, err := minioConfig(c)
	if err != nil {
		return err
	}
	cfg.DryRun = c.Bool(flagName(mirror.EnvDryRun))
	rep, err := bucketsetup.Setup(c.Context, cfg, e.log)
	if e.jsonLogs {
		return e.printJSON(rep, err)
	}
	if werr := rep.WriteChanges(e.stdout); err == nil {
		err = werr
	}
	return err
}

// printJSON prints v as one JSON document on one line, the summary of a
// command run with --log-format json, and returns err, or else the
// write's error.
func (e *env) printJSON(v any, err error) error {
	data, merr := json.Marshal(v)
	if merr == nil {
		_, merr = fmt.Fprintf(e.stdout, "%s\n", data)
	}
	if err != nil {
		return err
	}
	return merr
}

func (e *env) verifyMinioCommand() *cli.Command {
	return &cli.Command{
		Name:      "minio",
		Usage:     "the destination buckets exist, have versioning Enabled and a lifecycle rule expiring noncurrent versions within the retention",
		UsageText: "offsite verify minio [--bucket B]... [--retention-days 14] [--output table|json]",
		Flags:     verifyFlags(minioFlags()...),
		Action:    e.action(e.verifyMinio),
	}
}

func (e *env) verifyMinio(c *cli.Context) error {
	var output string
	var cfg bucketsetup.Config
	mon, err := e.startVerify(c, monitor.JobVerifyMinio, withOutput(c, &output, func() (err error) {
		cfg, err = minioConfig(c)
		return err
	}))
	if err != nil {
		return err
	}
	rep, err := bucketsetup.Verify(c.Context, cfg, e.log)
	err = e.printVerifyReport(rep, output, err)
	return mon.finish(c.Context, verifyMinioRun(rep), err)
}

// verifyMinioRun is the monitoring view of a verify minio: an item per
// bucket, and its two protections where they could be read.
func verifyMinioRun(rep *bucketsetup.Report) monitor.Run {
	run := monitor.Run{Versioning: map[string]bool{}, Lifecycle: map[string]bool{}}
	for _, b := range rep.Buckets {
		run.Items = append(run.Items, monitor.Item{Name: b.Bucket, Errors: int64(len(b.Problems) + len(b.Errors)), OK: b.OK()})
		if b.Checked {
			run.Versioning[b.Bucket], run.Lifecycle[b.Bucket] = b.VersioningOK(), b.LifecycleOK()
		}
	}
	return run
}
