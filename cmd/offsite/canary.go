package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// canaryCommand is the test object of make validate: written into a
// mirrored RGW bucket, checked in the mirror after a run, removed. It is
// here, and not left to an S3 client, because it needs the same RGW_* and
// MINIO_* settings (with their _FILE forms) the jobs and verify read, and
// must never put a secret on a command line.
func (e *env) canaryCommand() *cli.Command {
	canaryFlags := func(flags ...cli.Flag) []cli.Flag {
		return append([]cli.Flag{
			&cli.StringFlag{Name: "bucket", Usage: "required: a mirrored RGW bucket"},
			&cli.StringFlag{Name: "key", Usage: "required: the test object's key, " + mirror.CanaryPrefix + "<name>"},
		}, flags...)
	}
	rgw := remoteFlags(rcloneconf.RGW, "source (Ceph RGW)", "")
	return &cli.Command{
		Name:  "canary",
		Usage: "write, check and remove a test object that proves the mirror end to end (make validate)",
		Subcommands: []*cli.Command{{
			Name:      "put",
			Usage:     "write a small test object into a mirrored RGW bucket",
			UsageText: "offsite canary put --bucket B --key " + mirror.CanaryPrefix + "NAME",
			Flags:     canaryFlags(rgw...),
			Action:    e.action(e.canaryPut),
		}, {
			Name:      "check",
			Usage:     "the test object is in the mirror, same size and MD5 as in RGW (exit 4 when not)",
			UsageText: "offsite canary check --bucket B --key " + mirror.CanaryPrefix + "NAME",
			Flags: canaryFlags(append(append(rgw, remoteFlags(rcloneconf.MinIO, "destination (MinIO)", "us-east-1")...),
				stringFlag(mirror.EnvDestBucket, mirror.DefaultDestBucket, "the mirror's bucket"))...),
			Action: e.action(e.canaryCheck),
		}, {
			Name:      "remove",
			Usage:     "remove the test object from RGW (nothing else: only keys under " + mirror.CanaryPrefix + ")",
			UsageText: "offsite canary remove --bucket B --key " + mirror.CanaryPrefix + "NAME",
			Flags:     canaryFlags(rgw...),
			Action:    e.action(e.canaryRemove),
		}},
	}
}

// canaryArgs reads the test object and the RGW remote.
func canaryArgs(c *cli.Context) (mirror.Canary, rcloneconf.Remote, error) {
	cn := mirror.Canary{Bucket: c.String("bucket"), Key: c.String("key")}
	if err := cn.Validate(); err != nil {
		return cn, rcloneconf.Remote{}, err
	}
	src, err := remote(c, rcloneconf.RGW, rgwRemote, rcloneconf.ProviderCeph)
	return cn, src, err
}

func (e *env) canaryPut(c *cli.Context) error {
	cn, src, err := canaryArgs(c)
	if err != nil {
		return err
	}
	size, err := mirror.PutCanary(c.Context, src, cn, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "put %s/%s (%d bytes) on %s\n", cn.Bucket, cn.Key, size, src.Endpoint)
	return err
}

func (e *env) canaryCheck(c *cli.Context) error {
	cn, src, err := canaryArgs(c)
	if err != nil {
		return err
	}
	dst, err := remote(c, rcloneconf.MinIO, minioRemote, rcloneconf.ProviderMinio)
	if err != nil {
		return err
	}
	scope := mirror.Scope{Source: src, Dest: dst, DestBucket: c.String(flagName(mirror.EnvDestBucket))}
	where, err := mirror.CheckCanary(c.Context, scope, cn)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "mirrored: %s on %s has the size and MD5 of %s/%s\n", where, dst.Endpoint, cn.Bucket, cn.Key)
	return err
}

func (e *env) canaryRemove(c *cli.Context) error {
	cn, src, err := canaryArgs(c)
	if err != nil {
		return err
	}
	existed, err := mirror.RemoveCanary(c.Context, src, cn)
	if err != nil {
		return err
	}
	if !existed {
		_, err = fmt.Fprintf(e.stdout, "not there: %s/%s (never written, or already removed)\n", cn.Bucket, cn.Key)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "removed %s/%s from %s\n", cn.Bucket, cn.Key, src.Endpoint)
	return err
}
