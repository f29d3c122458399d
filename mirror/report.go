package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/operations"

	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/internal/retry"
	"github.com/offsite-backup/offsite/rcloneconf"
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

// Report is one mirror run, written as JSON into the destination and read
// back by auto mode, verify rgw and the metrics. Fields are plain and
// exported.
type Report struct {
	Start           time.Time      `json:"start"`
	End             time.Time      `json:"end"`
	DurationSeconds float64        `json:"duration_seconds"`
	Mode            Mode           `json:"mode"`        // as asked; each bucket says what it did
	DeleteMode      string         `json:"delete_mode"` // DeleteMode: when a sync deletes
	DryRun          bool           `json:"dry_run"`
	Status          string         `json:"status"` // ok, failed (also: cancelled, no bucket selected) or aborted
	Error           string         `json:"error,omitempty"`
	OffsiteVersion  string         `json:"offsite_version"`
	RcloneVersion   string         `json:"rclone_version"`
	Source          string         `json:"source"`      // endpoint, never credentials
	Destination     string         `json:"destination"` // endpoint/bucket
	MaxDelete       string         `json:"max_delete"`
	Shard           *Shard         `json:"shard,omitempty"` // this run's part of the buckets, when sharded
	Buckets         []BucketReport `json:"buckets"`
	Orphaned        []string       `json:"orphaned"` // mirrors whose source bucket is gone; left untouched
	Totals          Totals         `json:"totals"`
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
	ByDate           int64    `json:"compared_by_date"` // no common MD5 (multipart uploads): equal by size and date
	Audited          int64    `json:"audited"`          // pairs whose headers and tags were read again
	AuditSlice       string   `json:"audit_slice,omitempty"`
	Extra            int64    `json:"extra"` // in the mirror only
	Deleted          int64    `json:"deleted"`
	DeletionsRefused int64    `json:"deletions_refused"`
	Errors           int64    `json:"errors"`
	ErrorMessages    []string `json:"error_messages,omitempty"`
	Attempts         int      `json:"attempts"`
	DurationSeconds  float64  `json:"duration_seconds"`
}

// newReport starts the report of a run of cfg.
func newReport(cfg Config) *Report {
	rep := &Report{
		Start: time.Now().UTC(), Mode: cfg.Mode, DeleteMode: DeleteMode, DryRun: cfg.DryRun,
		OffsiteVersion: cfg.Version, RcloneVersion: rcloneconf.RcloneVersion(),
		Source: cfg.Source.Endpoint, Destination: cfg.Dest.Endpoint + "/" + cfg.DestBucket,
		MaxDelete: cfg.MaxDelete.String(), Buckets: []BucketReport{}, Orphaned: []string{},
	}
	if cfg.Shard.Sharded() {
		rep.Shard = &cfg.Shard
	}
	return rep
}

// failed ends a report that cannot be written: the run stopped before it
// reached the destination.
func (r *Report) failed(err error) (*Report, error) {
	r.Error = err.Error()
	r.finish(time.Now().UTC())
	return r, err
}

// BucketCounts count a run's buckets by how they ended.
type BucketCounts struct {
	Buckets    int `json:"buckets"`
	OK         int `json:"ok"`
	Failed     int `json:"failed"`
	Aborted    int `json:"aborted"`
	Skipped    int `json:"skipped"`
	Incomplete int `json:"incomplete"`
}

// count counts a bucket that ended with status.
func (c *BucketCounts) count(status string) {
	c.Buckets++
	switch status {
	case StatusOK:
		c.OK++
	case StatusFailed:
		c.Failed++
	case StatusAborted:
		c.Aborted++
	case StatusSkipped:
		c.Skipped++
	case StatusIncomplete:
		c.Incomplete++
	}
}

// status is a run's status from its buckets': failed when any failed or
// was cut short, or the run itself failed (runErr); aborted when a safety
// rule stopped one; ok otherwise.
func (c BucketCounts) status(runErr string) string {
	switch {
	case runErr != "" || c.Failed > 0 || c.Incomplete > 0:
		return StatusFailed
	case c.Aborted > 0:
		return StatusAborted
	}
	return StatusOK
}

// Totals add up the buckets.
type Totals struct {
	BucketCounts
	SourceObjects    int64 `json:"source_objects"`
	SourceBytes      int64 `json:"source_bytes"`
	Checked          int64 `json:"checked"`
	Transferred      int64 `json:"transferred"`
	Bytes            int64 `json:"bytes"`
	ByDate           int64 `json:"compared_by_date"`
	Audited          int64 `json:"audited"`
	Deleted          int64 `json:"deleted"`
	DeletionsRefused int64 `json:"deletions_refused"`
	Errors           int64 `json:"errors"`
}

// Bucket returns the named bucket's entry, or nil.
func (r *Report) Bucket(name string) *BucketReport {
	return named(r.Buckets, func(b BucketReport) bool { return b.Name == name })
}

// named is the entry of buckets that is, or nil.
func named[B any](buckets []B, is func(B) bool) *B {
	if i := slices.IndexFunc(buckets, is); i >= 0 {
		return &buckets[i]
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
	return countStatus(r.Buckets, StatusIncomplete, func(b BucketReport) string { return b.Status })
}

// countStatus counts the buckets whose status is status.
func countStatus[B any](buckets []B, status string, statusOf func(B) string) int {
	n := 0
	for _, b := range buckets {
		if statusOf(b) == status {
			n++
		}
	}
	return n
}

// finish computes totals and the run's status.
func (r *Report) finish(end time.Time) {
	r.End = end
	r.DurationSeconds = end.Sub(r.Start).Seconds()
	var t Totals
	for _, b := range r.Buckets {
		t.count(b.Status)
		t.SourceObjects += b.SourceObjects
		t.SourceBytes += b.SourceBytes
		t.Checked += b.Checked
		t.Transferred += b.Transferred
		t.Bytes += b.Bytes
		t.ByDate += b.ByDate
		t.Audited += b.Audited
		t.Deleted += b.Deleted
		t.DeletionsRefused += b.DeletionsRefused
		t.Errors += b.Errors
	}
	r.Totals = t
	r.Status = t.status(r.Error)
}

// Summary is the report for people: a table with a row per bucket and a
// totals row, then the run's status, the last error of each bucket that
// had one, the orphaned mirrors and where the report is.
func (r *Report) Summary() string {
	var b strings.Builder
	t := table{header: []string{"BUCKET", "MODE", "STATUS", "CHECKED", "TRANSFERRED", "BYTES", "DELETED", "REFUSED", "BY-DATE", "ERRORS", "TRIES", "DURATION"}}
	n := strconv.FormatInt
	for _, k := range r.Buckets {
		t.add(k.Name, string(k.Mode), k.Status, n(k.Checked, 10), n(k.Transferred, 10), humanBytes(k.Bytes),
			n(k.Deleted, 10), n(k.DeletionsRefused, 10), n(k.ByDate, 10), n(k.Errors, 10), strconv.Itoa(k.Attempts), seconds(k.DurationSeconds))
	}
	tt := r.Totals
	t.add("TOTAL", "", "", n(tt.Checked, 10), n(tt.Transferred, 10), humanBytes(tt.Bytes),
		n(tt.Deleted, 10), n(tt.DeletionsRefused, 10), n(tt.ByDate, 10), n(tt.Errors, 10), "", seconds(r.DurationSeconds))
	t.write(&b)
	mode := string(r.Mode) + " mode"
	if r.DeleteMode != "" && r.Mode != ModeCopy {
		mode += ", delete-" + r.DeleteMode // when a sync deletes: copy never does
	}
	fmt.Fprintf(&b, "%s: %s%s, %s (%d ok, %d failed, %d aborted, %d skipped, %d incomplete), %d transferred (%s), %d deleted, %d deletions refused, %d errors\n",
		r.Status, mode, dryNote(r.DryRun), plural(tt.Buckets, "bucket"), tt.OK, tt.Failed, tt.Aborted, tt.Skipped, tt.Incomplete,
		tt.Transferred, humanBytes(tt.Bytes), tt.Deleted, tt.DeletionsRefused, tt.Errors)
	for _, k := range r.Buckets {
		writeLastError(&b, k.Name, k.ErrorMessages)
	}
	if r.Shard != nil {
		fmt.Fprintf(&b, "shard %s: the buckets whose name hashes to it\n", r.Shard)
	}
	for _, o := range r.Orphaned {
		fmt.Fprintf(&b, "orphaned: %s: the source bucket is gone; its mirror is left untouched\n", o)
	}
	writeRunEnd(&b, r.Error, r.Location)
	return b.String()
}

// dryNote is what a summary adds in a dry run.
func dryNote(dry bool) string {
	if dry {
		return " (dry run: counts are what would happen)"
	}
	return ""
}

// writeLastError writes a bucket's last error, if it had one.
func writeLastError(w io.Writer, bucket string, msgs []string) {
	if len(msgs) > 0 {
		fmt.Fprintf(w, "%s: last error: %s\n", bucket, msgs[len(msgs)-1])
	}
}

// writeRunEnd writes what every summary ends with: the run's error and
// where its report is.
func writeRunEnd(w io.Writer, runErr, location string) {
	if runErr != "" {
		fmt.Fprintf(w, "error: %s\n", runErr)
	}
	if location != "" {
		fmt.Fprintf(w, "report: %s\n", location)
	}
}

// plural is n nouns: "1 bucket", "2 buckets".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
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

// writeAtEnd writes the report as a run ends.
func (r *Report) writeAtEnd(ctx context.Context, fbucket fs.Fs, prefix string) (err error) {
	r.Location, err = writeReport(ctx, fbucket, r, reportKey(prefix, r.Start, r.Mode, r.Shard))
	return err
}

// writeReport stores report, a run's, as JSON at key in fbucket (the
// destination bucket's root) as the run ends, with a deadline of its own,
// shorter when the run was cancelled: a SIGTERM's grace period must still
// see it written, or fail. It returns the key.
func writeReport(ctx context.Context, fbucket fs.Fs, report any, key string) (string, error) {
	timeout := reportWriteTimeout
	if ctx.Err() != nil {
		timeout = reportWriteTimeoutCancelled
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode report: %w", err)
	}
	// rclone tries a streamed upload once: a single 503 must not lose the
	// report of a run whose buckets all made it, so the write is retried.
	err = retry.Do(ctx, reportWriteTries, time.Second, func() (bool, error) {
		_, err := operations.RcatSize(ctx, fbucket, key, io.NopCloser(bytes.NewReader(data)), int64(len(data)), time.Now(), nil)
		return true, err
	})
	if err != nil {
		return "", fmt.Errorf("write report %s: %w", key, err)
	}
	return key, nil
}

// reportWriteTries is how often a report write is tried.
const reportWriteTries = 5
