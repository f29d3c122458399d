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
	"unicode/utf8"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/operations"

	livebar "github.com/offsite-backup/offsite/internal/progress"
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
	DeleteMode      string         `json:"delete_mode,omitempty"`
	Shard           *Shard         `json:"shard,omitempty"` // this run's part of the buckets, when sharded
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
	SourceBytes      int64    `json:"source_bytes"`   // the size of what was listed on the source side
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
	SourceObjects    int64 `json:"source_objects"`
	SourceBytes      int64 `json:"source_bytes"`
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

// cancelled records that what (the run, the restore) was cancelled by
// cause: a cancelled run is a failed run, whatever the buckets it did finish
// say, so that the report, the exit code and the ping agree. It returns how
// many of total buckets are incomplete, and the error saying so.
func (r *Report) cancelled(cause error, what string, total int) (int, error) {
	n := r.incomplete()
	err := fmt.Errorf("%s was cancelled (%w); %d of %d buckets incomplete: run it again to finish", what, cause, n, total)
	r.Error = joinMessages(r.Error, err.Error())
	return n, err
}

// incomplete counts the buckets cut short or not started.
func (r *Report) incomplete() int {
	n := 0
	for _, b := range r.Buckets {
		if b.Status == StatusIncomplete {
			n++
		}
	}
	return n
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
		t.SourceObjects += b.SourceObjects
		t.SourceBytes += b.SourceBytes
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

// Summary is the report for people: a table with a row per bucket and a
// totals row, then the run's status, the last error of each bucket that
// had one, the orphaned mirrors and where the report is.
func (r *Report) Summary() string {
	var b strings.Builder
	t := table{header: []string{"BUCKET", "MODE", "STATUS", "CHECKED", "TRANSFERRED", "BYTES", "DELETED", "REFUSED", "SIZE-ONLY", "ERRORS", "TRIES", "DURATION"}}
	n := strconv.FormatInt
	for _, k := range r.Buckets {
		t.add(k.Name, string(k.Mode), k.Status, n(k.Checked, 10), n(k.Transferred, 10), humanBytes(k.Bytes),
			n(k.Deleted, 10), n(k.DeletionsRefused, 10), n(k.SizeOnly, 10), n(k.Errors, 10), strconv.Itoa(k.Attempts), seconds(k.DurationSeconds))
	}
	tt := r.Totals
	t.add("TOTAL", "", "", n(tt.Checked, 10), n(tt.Transferred, 10), humanBytes(tt.Bytes),
		n(tt.Deleted, 10), n(tt.DeletionsRefused, 10), n(tt.SizeOnly, 10), n(tt.Errors, 10), "", seconds(r.DurationSeconds))
	t.write(&b)
	dry := ""
	if r.DryRun {
		dry = " (dry run: counts are what would happen)"
	}
	fmt.Fprintf(&b, "%s: %s mode%s, %d buckets (%d ok, %d failed, %d aborted, %d skipped, %d incomplete), %d transferred (%s), %d deleted, %d deletions refused, %d errors\n",
		r.Status, r.Mode, dry, tt.Buckets, tt.OK, tt.Failed, tt.Aborted, tt.Skipped, tt.Incomplete, tt.Transferred, humanBytes(tt.Bytes), tt.Deleted, tt.DeletionsRefused, tt.Errors)
	for _, k := range r.Buckets {
		if len(k.ErrorMessages) > 0 {
			fmt.Fprintf(&b, "%s: last error: %s\n", k.Name, k.ErrorMessages[len(k.ErrorMessages)-1])
		}
	}
	if r.Shard != nil {
		fmt.Fprintf(&b, "shard %s: the buckets whose name hashes to it\n", r.Shard)
	}
	for _, o := range r.Orphaned {
		fmt.Fprintf(&b, "orphaned: %s: the source bucket is gone; its mirror is left untouched\n", o)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	if r.Location != "" {
		fmt.Fprintf(&b, "report: %s\n", r.Location)
	}
	return b.String()
}

// table aligns columns: the first three (names, words) to the left, the
// numbers to the right, two spaces apart.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range append([][]string{t.header}, t.rows...) {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if i < 3 {
				line.WriteString(c + pad)
			} else {
				line.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
	}
}

// humanBytes is a byte count in binary units: 512 B, 1.5 KiB, 27.3 MiB.
func humanBytes(n int64) string { return livebar.Bytes(n) }

// seconds is a duration in seconds for the table: 0.4s, 12.0s, 1h02m03s.
func seconds(s float64) string {
	if s < 60 {
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

// reportTimeLayout sorts lexically in time order (UTC, fixed width), and
// its milliseconds keep two runs in one second from overwriting each other.
const reportTimeLayout = "2006-01-02T15:04:05.000Z"

// reportKey is where the report of a run started at start goes, relative
// to the destination bucket.
func reportKey(prefix string, start time.Time, mode Mode, shard *Shard) string {
	start = start.UTC()
	name := start.Format(reportTimeLayout) + "-" + string(mode)
	if shard != nil && shard.Sharded() {
		name += fmt.Sprintf("-shard-%d-of-%d", shard.Index, shard.Count)
	}
	return path.Join(prefix, start.Format("2006-01-02"), name+".json")
}

// writeAtEnd writes the report as a run ends, with a deadline of its own,
// shorter when the run was cancelled: a SIGTERM's grace period must still
// see it written, or fail.
func (r *Report) writeAtEnd(ctx context.Context, fbucket fs.Fs, prefix string) error {
	timeout := reportWriteTimeout
	if ctx.Err() != nil {
		timeout = reportWriteTimeoutCancelled
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return r.write(wctx, fbucket, prefix)
}

// write stores the report in fbucket (the destination bucket's root).
func (r *Report) write(ctx context.Context, fbucket fs.Fs, prefix string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	key := reportKey(prefix, r.Start, r.Mode, r.Shard)
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
