package main

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/runrecord"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// recordTimeout bounds writing a record, tries included; after a SIGTERM
// it gets less, so the run still ends within the grace period.
const (
	recordTimeout          = 30 * time.Second
	recordTimeoutCancelled = 5 * time.Second
)

// record leaves the outcome of a check or a drill of kind, started at start
// and ended with err, under prefix in the bucket it checked (offsite status
// shows the newest of each kind): the report prefix in the mirror's bucket,
// "" in the etcd bucket (see runrecord.Key). Every check and drill ends
// with one line:
//
//	e.record(c.Context, bucketsetup.Target{Bucket: b, Remote: dest, End: rcloneconf.MinIO}, "", runrecord.DrillEtcd, mon.started, "host cp1", err)
//
// It never changes the run's outcome: a record that cannot be written
// (read-only keys, a server gone) is a warning in the log.
func (e *env) record(ctx context.Context, where bucketsetup.Target, prefix string, kind runrecord.Kind, start time.Time, summary string, err error) {
	rec := runrecord.New(kind, start, summary, err)
	rec.Version = Version
	rec.Host, _ = os.Hostname()
	timeout := recordTimeout
	if ctx.Err() != nil {
		timeout = recordTimeoutCancelled
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	client, werr := where.Remote.S3Client(timeout / 3)
	if werr == nil {
		werr = rcloneconf.Call(ctx, where.End, func(ctx context.Context) error {
			return runrecord.Put(ctx, client, where.Bucket, prefix, rec)
		})
	}
	if werr != nil {
		e.log.Warn("could not write the run's record: offsite status will not show this run", zap.String("kind", string(kind)), zap.Error(werr))
	}
}
