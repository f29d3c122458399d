package mirror

import (
	"context"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// StatusMissing is the status of a shard with no report since the time
// LastRuns looked back to.
const StatusMissing = "missing"

// RunSummary is one mirror run (one shard's, when sharded) as its report
// shows it, for offsite status.
type RunSummary struct {
	Report  string      `json:"report,omitempty"` // its key; empty for a shard with no report
	Shard   *Shard      `json:"shard,omitempty"`
	Start   time.Time   `json:"start,omitzero"`
	End     time.Time   `json:"end,omitzero"`
	Mode    Mode        `json:"mode,omitempty"`
	Status  string      `json:"status"` // ok, failed, aborted; StatusMissing for a shard with no report
	Error   string      `json:"error,omitempty"`
	Buckets []BucketRun `json:"buckets"`
}

// BucketRun is one bucket of a run.
type BucketRun struct {
	Name        string `json:"name"`
	Mode        Mode   `json:"mode"`
	Status      string `json:"status"`
	Objects     int64  `json:"objects"` // as the source listed them
	Transferred int64  `json:"transferred"`
	Errors      int64  `json:"errors"`
}

// LastRuns reads the newest mirror run's report under prefix in bucket,
// the mirror's destination bucket, and when that run is one shard's, the
// newest report of each other shard back to since: a shard with none is a
// run of StatusMissing. It reads reports and a listing, nothing else. It
// returns an error wrapping ErrNoReport when there is no report at all.
func LastRuns(ctx context.Context, dest rcloneconf.Remote, bucket, prefix string, since time.Time) ([]RunSummary, error) {
	ctx, ci := fs.AddConfig(ctx)
	// A screen, not a backup: answer soon when a server is down.
	ci.LowLevelRetries, ci.ConnectTimeout, ci.Timeout = 2, fs.Duration(15*time.Second), fs.Duration(time.Minute)
	fbucket, err := dest.Fs(ctx, bucket)
	if err != nil {
		return nil, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	reports, missing, err := latestRunReports(ctx, fbucket, prefix, since)
	if err != nil {
		return nil, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	runs := make([]RunSummary, 0, len(reports)+len(missing))
	for _, r := range reports {
		run := RunSummary{Report: r.Location, Shard: r.Shard, Start: r.Start, End: r.End, Mode: r.Mode,
			Status: r.Status, Error: r.Error, Buckets: []BucketRun{}}
		for _, b := range r.Buckets {
			if b.Status != StatusSkipped {
				run.Buckets = append(run.Buckets, BucketRun{Name: b.Name, Mode: b.Mode, Status: b.Status,
					Objects: b.SourceObjects, Transferred: b.Transferred, Errors: b.Errors})
			}
		}
		runs = append(runs, run)
	}
	for _, i := range missing {
		runs = append(runs, RunSummary{Shard: &Shard{Index: i, Count: reports[0].Shard.Count}, Status: StatusMissing, Buckets: []BucketRun{}})
	}
	return runs, nil
}

// CheckReportPrefix checks a report prefix (OFFSITE_REPORT_PREFIX) as the
// mirror does, for commands that only read reports.
func CheckReportPrefix(prefix string) error { return validateReportPrefix(prefix) }
