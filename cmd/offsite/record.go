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

// recordTimeout bounds writing a record, tries included, even after the
// run was cancelled.
const recordTimeout = 30 * time.Second

// record leaves the outcome of a check or a drill of kind, started at start
// and ended with err, in the bucket it checked (offsite status shows the
// newest of each kind). Every check and drill ends with one line:
//
//	e.record(c.Context, bucketsetup.Target{Bucket: b, Remote: dest, End: rcloneconf.MinIO}, runrecord.DrillEtcd, mon.started, "host cp1", err)
//
// It never changes the run's outcome: a record that cannot be written
// (read-only keys, a server gone) is a warning in the log.
func (e *env) record(ctx context.Context, where bucketsetup.Target, kind runrecord.Kind, start time.Time, summary string, err error) {
	rec := runrecord.New(kind, start, summary, err)
	rec.Version = Version
	rec.Host, _ = os.Hostname()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	client, werr := where.Remote.S3Client(recordTimeout / 3)
	if werr == nil {
		werr = rcloneconf.Call(ctx, where.End, func(ctx context.Context) error {
			return runrecord.Put(ctx, client, where.Bucket, rec)
		})
	}
	if werr != nil {
		e.log.Warn("could not write the run's record: offsite status will not show this run", zap.String("kind", string(kind)), zap.Error(werr))
	}
}
