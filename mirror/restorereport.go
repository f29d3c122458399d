package mirror

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// RestoreReport is one restore: from the mirror in MinIO to the RGW. It is
// written as JSON into the mirror's bucket as <start>-restore.json.
type RestoreReport struct {
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	DurationSeconds float64   `json:"duration_seconds"`
	Mode            Mode      `json:"mode"` // always restore: readers of mirror runs pass over the report
	DryRun          bool      `json:"dry_run"`
	Status          string    `json:"status"` // ok, or failed
	Error           string    `json:"error,omitempty"`
	OffsiteVersion  string    `json:"offsite_version"`
	RcloneVersion   string    `json:"rclone_version"`
	From            string    `json:"from"` // the mirror: endpoint/bucket, never credentials
	To              string    `json:"to"`   // the RGW endpoint
	// At is the time the mirror was read as it was; nil: as it is.
	At        *time.Time      `json:"at,omitempty"`
	Overwrite bool            `json:"overwrite"`
	Buckets   []RestoreBucket `json:"buckets"`
	Totals    RestoreTotals   `json:"totals"`
	// Location is the report's key in the mirror's bucket, empty when it
	// was not written (dry run, or the write failed).
	Location string `json:"-"`
}

// RestoreBucket is one bucket's restore, from its mirror into Target. In
// a dry run, Restored and Bytes count what would have been restored.
type RestoreBucket struct {
	Name          string `json:"name"`   // the mirrored bucket
	Target        string `json:"target"` // the RGW bucket restored into
	Status        string `json:"status"`
	MirrorObjects int64  `json:"mirror_objects"` // in the mirror (at At)
	MirrorBytes   int64  `json:"mirror_bytes"`
	TargetObjects int64  `json:"target_objects"` // in the RGW bucket before
	Checked       int64  `json:"checked"`
	Restored      int64  `json:"restored"`
	Bytes         int64  `json:"bytes"`
	BySourceETag  int64  `json:"compared_by_source_etag"` // no common MD5: equal as the original the mirror copy recorded
	Extra         int64  `json:"extra"`                   // in the RGW bucket only: kept
	// Differing are objects that differ from their mirror, kept as they
	// are (no --overwrite); the first few are named.
	Differing        int64         `json:"differing"`
	DifferingObjects []string      `json:"differing_objects,omitempty"`
	WouldRestore     []string      `json:"would_restore,omitempty"` // a dry run: the first few it would restore
	Errors           int64         `json:"errors"`
	ErrorMessages    []string      `json:"error_messages,omitempty"`
	Attempts         int           `json:"attempts"`
	DurationSeconds  float64       `json:"duration_seconds"`
	Verify           *VerifyBucket `json:"verify,omitempty"` // --verify
}

// RestoreTotals add up the buckets.
type RestoreTotals struct {
	BucketCounts
	MirrorObjects int64 `json:"mirror_objects"`
	MirrorBytes   int64 `json:"mirror_bytes"`
	Restored      int64 `json:"restored"`
	Bytes         int64 `json:"bytes"`
	Differing     int64 `json:"differing"`
	Errors        int64 `json:"errors"`
}

// newRestoreReport starts the report of a restore of cfg.
func newRestoreReport(cfg RestoreConfig) *RestoreReport {
	rep := &RestoreReport{
		Start: time.Now().UTC(), Mode: ModeRestore, DryRun: cfg.DryRun,
		OffsiteVersion: cfg.Version, RcloneVersion: rcloneconf.RcloneVersion(),
		From: cfg.Mirror.Endpoint + "/" + cfg.MirrorBucket, To: cfg.Target.Endpoint,
		Overwrite: cfg.Overwrite, Buckets: []RestoreBucket{},
	}
	if !cfg.At.IsZero() {
		at := cfg.At.UTC()
		rep.At = &at
	}
	return rep
}

// failed ends a report that cannot be written.
func (r *RestoreReport) failed(err error) (*RestoreReport, error) {
	r.Error = err.Error()
	r.finish(time.Now().UTC())
	return r, err
}

// Bucket returns the named bucket's entry, or nil.
func (r *RestoreReport) Bucket(name string) *RestoreBucket {
	return named(r.Buckets, func(b RestoreBucket) bool { return b.Name == name })
}

// cancelled records that the restore was cancelled: see Report.cancelled.
func (r *RestoreReport) cancelled(cause error, total int) (int, error) {
	n := countStatus(r.Buckets, StatusIncomplete, func(b RestoreBucket) string { return b.Status })
	err := fmt.Errorf("the restore was cancelled (%w); %d of %d buckets incomplete: run it again to finish", cause, n, total)
	r.Error = joinMessages(r.Error, err.Error())
	return n, err
}

// finish computes the totals and the restore's status.
func (r *RestoreReport) finish(end time.Time) {
	r.End = end
	r.DurationSeconds = end.Sub(r.Start).Seconds()
	var t RestoreTotals
	for _, b := range r.Buckets {
		t.count(b.Status)
		t.MirrorObjects, t.MirrorBytes = t.MirrorObjects+b.MirrorObjects, t.MirrorBytes+b.MirrorBytes
		t.Restored, t.Bytes = t.Restored+b.Restored, t.Bytes+b.Bytes
		t.Differing, t.Errors = t.Differing+b.Differing, t.Errors+b.Errors
	}
	r.Totals = t
	r.Status = t.status(r.Error)
}

// Summary is the report for people: a table with a row per bucket and a
// totals row, then the restore's status and what went wrong.
func (r *RestoreReport) Summary() string {
	var b strings.Builder
	t := table{header: []string{"BUCKET", "TARGET", "STATUS", "CHECKED", "RESTORED", "BYTES", "DIFFERING", "ERRORS", "TRIES", "DURATION"}}
	n := strconv.FormatInt
	for _, k := range r.Buckets {
		t.add(k.Name, k.Target, k.Status, n(k.Checked, 10), n(k.Restored, 10), humanBytes(k.Bytes),
			n(k.Differing, 10), n(k.Errors, 10), strconv.Itoa(k.Attempts), seconds(k.DurationSeconds))
	}
	tt := r.Totals
	t.add("TOTAL", "", "", "", n(tt.Restored, 10), humanBytes(tt.Bytes), n(tt.Differing, 10), n(tt.Errors, 10), "", seconds(r.DurationSeconds))
	t.write(&b)
	from := "the mirror " + r.From + " as it is"
	if r.At != nil {
		from = "the mirror " + r.From + " as it was at " + r.At.Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "%s: restore from %s into %s%s, %s (%d ok, %d failed, %d incomplete), %d restored (%s), %d differing kept, %d errors\n",
		r.Status, from, r.To, dryNote(r.DryRun), plural(tt.Buckets, "bucket"), tt.OK, tt.Failed, tt.Incomplete, tt.Restored, humanBytes(tt.Bytes), tt.Differing, tt.Errors)
	for _, k := range r.Buckets {
		writeLastError(&b, k.Name, k.ErrorMessages)
	}
	writeRunEnd(&b, r.Error, r.Location)
	return b.String()
}

// WriteDetails lists, for people, what the summary only counts: the
// objects a dry run would restore, those found differing and kept, and what
// --verify found.
func (r *RestoreReport) WriteDetails(w io.Writer) {
	for _, b := range r.Buckets {
		listed(w, "would restore", b.Target, b.WouldRestore, b.Restored, r.DryRun)
		listed(w, "differing, kept (--overwrite replaces it)", b.Target, b.DifferingObjects, b.Differing, true)
		if v := b.Verify; v != nil {
			fmt.Fprintf(w, "verify %s: ok %v, %d matched, %d missing, %d differing, %d extra kept, %d compared by download\n",
				b.Target, v.OK, v.Matched, v.Missing, v.Differing, v.Extra, v.Downloaded)
			listed(w, "missing", b.Target, v.MissingObj, v.Missing, false)
			listed(w, "differing", b.Target, v.DifferObj, v.Differing, false)
		}
	}
}

// listed writes what: bucket/name for each of names, and, when told to
// count, how many more of total the log names.
func listed(w io.Writer, what, bucket string, names []string, total int64, count bool) {
	for _, o := range names {
		fmt.Fprintf(w, "%s: %s/%s\n", what, bucket, o)
	}
	if n := total - int64(len(names)); count && n > 0 && len(names) > 0 {
		fmt.Fprintf(w, "%s: %d more in %s (each is in the log)\n", what, n, bucket)
	}
}
