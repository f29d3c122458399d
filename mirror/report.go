package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/operations"
)

// Bucket and run statuses.
const (
	StatusOK      = "ok"      // every object checked and copied; in sync mode, deletions done
	StatusFailed  = "failed"  // something failed after every try; nothing was deleted
	StatusAborted = "aborted" // a safety stop refused the bucket's deletions
	StatusSkipped = "skipped" // not attempted: excluded by the deny-list
	// StatusIncomplete is a bucket the run was cancelled in (SIGTERM, a
	// deadline) or before: cut short or not started; nothing was deleted
	// after the cancellation. It fails the run.
	StatusIncomplete = "incomplete"
)

// Report is one run, written as JSON into the destination and read back by
// auto mode, verify rgw and the metrics. Fields are plain and exported.
type Report struct {
	Start           time.Time      `json:"start"`
	End             time.Time      `json:"end"`
	DurationSeconds float64        `json:"duration_seconds"`
	Mode            Mode           `json:"mode"` // as asked; each bucket says what it did
	DryRun          bool           `json:"dry_run"`
	Status          string         `json:"status"` // ok, failed (also: cancelled, no bucket selected) or aborted
	Error           string         `json:"error,omitempty"`
	OffsiteVersion  string         `json:"offsite_version"`
	RcloneVersion   string         `json:"rclone_version"`
	Source          string         `json:"source"`      // endpoint, never credentials
	Destination     string         `json:"destination"` // endpoint/bucket
	MaxDelete       string         `json:"max_delete"`
	Buckets         []BucketReport `json:"buckets"`
	Orphaned        []string       `json:"orphaned"` // mirrors whose source bucket is gone; left untouched
	// At is the time a restore read the mirror as it was; nil for a
	// restore of the current mirror, and for mirror runs.
	At     *time.Time `json:"at,omitempty"`
	Totals Totals     `json:"totals"`
	// Location is the report's key in the destination bucket, empty when
	// it was not written (dry run, or the write failed).
	Location string `json:"-"`
}

// BucketReport is one bucket's outcome. In a dry run, Transferred and
// Deleted count what would have been copied and deleted.
type BucketReport struct {
	Name             string   `json:"name"`
	Mode             Mode     `json:"mode"` // copy or sync, as run
	Status           string   `json:"status"`
	SourceObjects    int64    `json:"source_objects"`
	MirrorObjects    int64    `json:"mirror_objects"` // before this run
	Checked          int64    `json:"checked"`
	Transferred      int64    `json:"transferred"`
	Bytes            int64    `json:"bytes"`
	SizeOnly         int64    `json:"compared_size_only"` // equal sizes, no hash on one side (multipart uploads)
	Extra            int64    `json:"extra"`              // in the mirror only
	Deleted          int64    `json:"deleted"`
	DeletionsRefused int64    `json:"deletions_refused"`
	Errors           int64    `json:"errors"`
	ErrorMessages    []string `json:"error_messages,omitempty"`
	Attempts         int      `json:"attempts"`
	DurationSeconds  float64  `json:"duration_seconds"`

	// A restore's own fields. It reads the mirror (SourceObjects) and
	// writes into the RGW bucket Target (MirrorObjects: objects there
	// before; Extra: objects only there, kept).
	Target           string        `json:"target,omitempty"`
	Differing        int64         `json:"differing,omitempty"`         // kept as they are: no --overwrite
	DifferingObjects []string      `json:"differing_objects,omitempty"` // the first few
	WouldRestore     []string      `json:"would_restore,omitempty"`     // a dry run: the first few it would copy
	Verify           *VerifyBucket `json:"verify,omitempty"`            // restore --verify
}

// Totals add up the buckets.
type Totals struct {
	Buckets          int   `json:"buckets"`
	OK               int   `json:"ok"`
	Failed           int   `json:"failed"`
	Aborted          int   `json:"aborted"`
	Skipped          int   `json:"skipped"`
	Incomplete       int   `json:"incomplete"`
	Checked          int64 `json:"checked"`
	Transferred      int64 `json:"transferred"`
	Bytes            int64 `json:"bytes"`
	SizeOnly         int64 `json:"compared_size_only"`
	Deleted          int64 `json:"deleted"`
	DeletionsRefused int64 `json:"deletions_refused"`
	Errors           int64 `json:"errors"`
}

// Bucket returns the named bucket's entry, or nil.
func (r *Report) Bucket(name string) *BucketReport {
	for i := range r.Buckets {
		if r.Buckets[i].Name == name {
			return &r.Buckets[i]
		}
	}
	return nil
}

// finish computes totals and the run's status.
func (r *Report) finish(end time.Time) {
	r.End = end
	r.DurationSeconds = end.Sub(r.Start).Seconds()
	t := Totals{Buckets: len(r.Buckets)}
	for _, b := range r.Buckets {
		switch b.Status {
		case StatusOK:
			t.OK++
		case StatusFailed:
			t.Failed++
		case StatusAborted:
			t.Aborted++
		case StatusSkipped:
			t.Skipped++
		case StatusIncomplete:
			t.Incomplete++
		}
		t.Checked += b.Checked
		t.Transferred += b.Transferred
		t.Bytes += b.Bytes
		t.SizeOnly += b.SizeOnly
		t.Deleted += b.Deleted
		t.DeletionsRefused += b.DeletionsRefused
		t.Errors += b.Errors
	}
	r.Totals = t
	switch {
	case r.Error != "" || t.Failed > 0 || t.Incomplete > 0:
		r.Status = StatusFailed
	case t.Aborted > 0:
		r.Status = StatusAborted
	default:
		r.Status = StatusOK
	}
}

// Summary is the report for people: one line per bucket, then the totals.
func (r *Report) Summary() string {
	var b strings.Builder
	verb := ""
	if r.DryRun {
		verb = " (dry run: counts are what would happen)"
	}
	for _, k := range r.Buckets {
		fmt.Fprintf(&b, "%-8s %-7s %s: %d checked, %d transferred (%s), %d deleted, %d deletions refused, %d size-only, %d errors, %d attempts, %.1fs\n",
			k.Status, k.Mode, k.Name, k.Checked, k.Transferred, fs.SizeSuffix(k.Bytes).ByteUnit(), k.Deleted, k.DeletionsRefused, k.SizeOnly, k.Errors, k.Attempts, k.DurationSeconds)
		if len(k.ErrorMessages) > 0 {
			fmt.Fprintf(&b, "         last error: %s\n", k.ErrorMessages[len(k.ErrorMessages)-1])
		}
	}
	for _, o := range r.Orphaned {
		fmt.Fprintf(&b, "orphaned         %s: the source bucket is gone; its mirror is left untouched\n", o)
	}
	t := r.Totals
	fmt.Fprintf(&b, "%s: %s mode%s, %d buckets (%d ok, %d failed, %d aborted, %d skipped, %d incomplete), %d transferred (%s), %d deleted, %d deletions refused, %d errors, %.1fs\n",
		r.Status, r.Mode, verb, t.Buckets, t.OK, t.Failed, t.Aborted, t.Skipped, t.Incomplete, t.Transferred, fs.SizeSuffix(t.Bytes).ByteUnit(), t.Deleted, t.DeletionsRefused, t.Errors, r.DurationSeconds)
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	if r.Location != "" {
		fmt.Fprintf(&b, "report: %s\n", r.Location)
	}
	return b.String()
}

// reportTimeLayout sorts lexically in time order (UTC, fixed width), and
// its milliseconds keep two runs in one second from overwriting each other.
const reportTimeLayout = "2006-01-02T15:04:05.000Z"

// reportKey is where the report of a run started at start goes, relative
// to the destination bucket.
func reportKey(prefix string, start time.Time, mode Mode) string {
	start = start.UTC()
	return path.Join(prefix, start.Format("2006-01-02"), start.Format(reportTimeLayout)+"-"+string(mode)+".json")
}

// write stores the report in fbucket (the destination bucket's root).
func (r *Report) write(ctx context.Context, fbucket fs.Fs, prefix string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	key := reportKey(prefix, r.Start, r.Mode)
	// rclone tries a streamed upload once: a single 503 must not lose the
	// report of a run whose buckets all made it, so the write is retried.
	for attempt := 1; ; attempt++ {
		_, err = operations.RcatSize(ctx, fbucket, key, io.NopCloser(bytes.NewReader(data)), int64(len(data)), r.End, nil)
		if err == nil {
			break
		}
		if attempt == reportWriteTries {
			return fmt.Errorf("write report %s (%d tries): %w", key, attempt, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("write report %s: %w", key, err)
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	r.Location = key
	return nil
}

// reportWriteTries is how often a report write is tried.
const reportWriteTries = 5

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
