package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// EnvVerifyDownload turns on verify rgw's content comparison by download.
// It is not OFFSITE_DOWNLOAD: verify etcd reads that as latest|all|none.
const EnvVerifyDownload = "OFFSITE_VERIFY_DOWNLOAD"

// EnvVerifySample is verify rgw's --sample: the share of each bucket read
// whole, a rotating slice.
const EnvVerifySample = "OFFSITE_VERIFY_SAMPLE"

// maxAgeLimit is the oldest a last run may be and still count as fresh:
// past that, a freshness check checks nothing.
const maxAgeLimit = 90 * 24 * time.Hour

// VerifyConfig is one verify rgw run: a one-way check that every source
// object is in the mirror, plus the newest run report's age and status.
// Of its Tuning, the checkers, the listing and the progress count.
type VerifyConfig struct {
	Scope
	Tuning
	Download bool // compare content where a hash is missing on either side
	// Sample is the share of each bucket whose bytes, headers and tags are
	// read and compared, a rotating slice: every object within its count
	// of runs.
	Sample       Share
	MaxReportAge time.Duration // the newest report must have ended within this
	Now          time.Time     // the time report ages are measured at; zero means the time Verify starts

	fbucket fs.Fs // the destination bucket, once open
}

// DefaultVerifyConfig returns the defaults: a daily mirror plus an hour.
func DefaultVerifyConfig() VerifyConfig {
	d := DefaultConfig()
	return VerifyConfig{Scope: d.Scope, Tuning: d.Tuning, MaxReportAge: 25 * time.Hour}
}

// Validate checks the config; errors are *exitcode.ConfigError.
func (c *VerifyConfig) Validate() error {
	if err := c.validateBuckets(); err != nil {
		return err
	}
	if err := c.Tuning.validate(); err != nil {
		return err
	}
	if err := validateReportPrefix(c.ReportPrefix); err != nil {
		return err
	}
	if c.MaxReportAge <= 0 || c.MaxReportAge > maxAgeLimit {
		return exitcode.Configf(EnvMaxReportAge, "%v is out of range 0..%v", c.MaxReportAge, maxAgeLimit)
	}
	return nil
}

// VerifyReport is what verify rgw found.
type VerifyReport struct {
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	OK         bool           `json:"ok"`
	Problems   []string       `json:"problems"` // why OK is false, for people
	Buckets    []VerifyBucket `json:"buckets"`
	LastReport *LastReport    `json:"last_report"` // nil when there is none
	// Versioning is the destination bucket's versioning status: Enabled,
	// Suspended, Unversioned, or "unknown" when it could not be read.
	// Anything but Enabled is a warning: no point-in-time restore, and a
	// bad sync's deletions are final.
	Versioning string   `json:"versioning"`
	Warnings   []string `json:"warnings,omitempty"`
	// Restored is a check of restored RGW buckets against their mirror
	// (VerifyRestored), at At when not nil; there is no run report to judge.
	Restored bool       `json:"restored,omitempty"`
	At       *time.Time `json:"at,omitempty"`
	// ShardReports, when the newest report is one shard's, are the newest
	// report of every shard of its run that has one; MissingShards are
	// the others, each a problem.
	ShardReports  []*LastReport `json:"shard_reports,omitempty"`
	MissingShards []int         `json:"missing_shards,omitempty"`
}

// VerifyBucket is one bucket's check. Extra objects (in the mirror only)
// are expected after copy runs and do not fail the check.
type VerifyBucket struct {
	Name       string `json:"name"`
	OK         bool   `json:"ok"`
	Matched    int64  `json:"matched"`
	Missing    int64  `json:"missing"`
	Differing  int64  `json:"differing"`
	Extra      int64  `json:"extra"`
	ByDate     int64  `json:"compared_by_date"` // no common MD5, not downloaded: equal by size and date
	Downloaded int64  `json:"compared_by_download"`
	Sampled    int64  `json:"sampled"` // bytes, headers and tags read and compared
	// SampleSlice is the slice of the bucket sampled: "3/20".
	SampleSlice string   `json:"sample_slice,omitempty"`
	Errors      int64    `json:"errors"`
	MissingObj  []string `json:"missing_objects,omitempty"` // the first few
	DifferObj   []string `json:"differing_objects,omitempty"`
	ErrorMsgs   []string `json:"error_messages,omitempty"`
}

// LastReport is the newest run report, as verify judged it.
type LastReport struct {
	Location   string    `json:"location"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	AgeSeconds float64   `json:"age_seconds"`
	Status     string    `json:"status"`
	Mode       Mode      `json:"mode"`
	Shard      *Shard    `json:"shard,omitempty"`
	Stale      bool      `json:"stale"`
	// Incomplete names the buckets the run was cancelled in or before.
	Incomplete []string `json:"incomplete,omitempty"`
}

// Verify checks every selected source bucket against its mirror and the
// newest run report. cfg must have passed Validate: Verify does not check
// it again. It always returns the report. The error wraps
// exitcode.ErrVerifyFailed when an object is missing or differs, or the
// newest report is missing, stale or not ok; it is a *exitcode.ConfigError
// for the configuration problems only the servers reveal (a missing
// destination bucket, refused credentials); otherwise a plain error when
// something could not be checked.
func Verify(ctx context.Context, cfg VerifyConfig, log *zap.Logger) (*VerifyReport, error) {
	if log == nil {
		log = zap.NewNop()
	}
	rep := &VerifyReport{Start: time.Now().UTC(), Problems: []string{}, Buckets: []VerifyBucket{}}
	defer func() { rep.End = time.Now().UTC() }()
	if cfg.Now.IsZero() {
		cfg.Now = rep.Start
	}
	ctx, _ = cfg.Tuning.rclone(ctx)
	fbucket, _, err := openDestination(ctx, cfg.Dest, cfg.DestBucket)
	if err != nil {
		return rep, err
	}
	cfg.fbucket = fbucket
	rep.Versioning = versioning(ctx, fbucket, cfg.DestBucket, rep, log)
	errs := []error{rep.judgeLastReports(ctx, fbucket, cfg, log)}
	source, err := listBuckets(ctx, cfg.Source)
	if err != nil {
		return rep, errors.Join(append(errs, err)...)
	}
	selected, missing, _, _ := filterBuckets(source, cfg.Buckets, cfg.Exclude, reportRoot(cfg.ReportPrefix))
	for _, b := range missing {
		errs = append(errs, fmt.Errorf("bucket %s: listed in %s but not found in the source", b, EnvBuckets))
	}
	if len(selected) == 0 {
		err := noBuckets(source, cfg.Buckets)
		log.Error("verify: no bucket to check", zap.Error(err))
		errs = append(errs, err)
	}
	for _, name := range selected {
		errs = append(errs, rep.verifyBucket(ctx, cfg, name, log.With(zap.String("bucket", name))))
	}
	return rep, rep.conclude(ctx, errors.Join(errs...), log)
}

// verifyBucket checks one selected bucket against its mirror, into r; the
// error says what could not be checked.
func (r *VerifyReport) verifyBucket(ctx context.Context, cfg VerifyConfig, name string, log *zap.Logger) error {
	if ctx.Err() != nil {
		r.Buckets = append(r.Buckets, VerifyBucket{Name: name, ErrorMsgs: []string{"not verified: the verify was cancelled"}})
		return nil
	}
	c, err := cfg.Scope.copier(ctx, name, cfg.Source.DataClient(ctx), cfg.Dest.DataClient(ctx))
	if err != nil {
		return fmt.Errorf("bucket %s: %w", name, err)
	}
	samples := newRotation(cfg.fbucket, cfg.ReportPrefix, "sample", name)
	if c.audit, err = samples.slice(ctx, cfg.Sample); err != nil {
		return fmt.Errorf("bucket %s: %w", name, err)
	}
	ctx, _, stop := watchBucket(ctx, "verify/"+name, name, cfg.Tuning, log)
	vb, err := verifyPair(ctx, c, name, "the mirror", mirrorRule, cfg.Download, log)
	stop()
	if err == nil {
		err = samples.advance(ctx, c.audit)
	}
	r.Buckets = append(r.Buckets, vb)
	if vb.Missing > 0 || vb.Differing > 0 {
		r.problem(log, "bucket %s: %d objects missing from the mirror, %d differing", name, vb.Missing, vb.Differing)
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", name, err)
	}
	return nil
}

// judgeLastReports judges the newest run report (of each shard), adding
// its problems to r; the error is one of reading the reports.
func (r *VerifyReport) judgeLastReports(ctx context.Context, fbucket fs.Fs, cfg VerifyConfig, log *zap.Logger) error {
	last, missingShards, err := lastReports(ctx, fbucket, cfg)
	switch {
	case errors.Is(err, ErrNoReport):
		r.problem(log, "no run report under %s/%s: the mirror has never reported a run", cfg.DestBucket, cfg.ReportPrefix)
		return nil
	case err != nil:
		return err
	}
	r.LastReport = last[0]
	if last[0].Shard != nil {
		r.ShardReports, r.MissingShards = last, missingShards
	}
	for _, l := range last {
		if l.Stale {
			r.problem(log, "the newest run report %s is %v old, over %v", l.Location, time.Duration(l.AgeSeconds*float64(time.Second)).Round(time.Minute), cfg.MaxReportAge)
		}
		if l.Status != StatusOK {
			r.problem(log, "the newest run report %s says %s", l.Location, l.Status)
		} else if len(l.Incomplete) > 0 {
			r.problem(log, "the newest run report %s was cancelled before buckets %s were mirrored", l.Location, strings.Join(l.Incomplete, ", "))
		}
	}
	for _, i := range missingShards {
		// A shard that never reported may never have run: its buckets
		// are as unmirrored as a failed bucket.
		r.problem(log, "no run report of shard %d/%d within %v (%s): its buckets may not be mirrored", i, last[0].Shard.Count, cfg.MaxReportAge, EnvMaxReportAge)
	}
	return nil
}

// problem records a reason the verify is not ok.
func (r *VerifyReport) problem(log *zap.Logger, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Problems = append(r.Problems, msg)
	log.Error("verify: " + msg)
}

// conclude decides the verify from its problems and errs, the things it
// could not check: ok only with neither, and a problem wraps
// exitcode.ErrVerifyFailed. A cancelled verify checked only part: never ok.
func (r *VerifyReport) conclude(ctx context.Context, err error, log *zap.Logger) error {
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("verify cancelled before every object was compared: %w", ctx.Err()))
		log.Error("verify cancelled: not everything was compared")
	}
	r.OK = len(r.Problems) == 0 && err == nil
	if len(r.Problems) > 0 {
		err = errors.Join(fmt.Errorf("%w: %d problems, first: %s", exitcode.ErrVerifyFailed, len(r.Problems), r.Problems[0]), err)
	}
	return err
}

// versioning reads the destination bucket's versioning status, and adds
// a warning to rep unless it is on.
func versioning(ctx context.Context, fbucket fs.Fs, bucket string, rep *VerifyReport, log *zap.Logger) string {
	status, err := VersioningStatus(ctx, fbucket)
	if err != nil {
		status = "unknown"
		err = rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	if status != VersioningEnabled {
		msg := fmt.Sprintf("versioning on the destination bucket %s is %s: without it there is no point-in-time restore (restore rgw --at), and a bad sync's deletions are final", bucket, status)
		if err != nil {
			msg += fmt.Sprintf(" (%v)", err)
		}
		rep.Warnings = append(rep.Warnings, msg)
		log.Warn("verify: " + msg)
	}
	return status
}

// lastReports judges the newest run report, or, when it is one shard's,
// the newest report of every shard of that count; the missing shards are
// returned apart.
func lastReports(ctx context.Context, fbucket fs.Fs, cfg VerifyConfig) ([]*LastReport, []int, error) {
	reports, missing, err := latestRunReports(ctx, fbucket, cfg.ReportPrefix, cfg.Now.Add(-cfg.MaxReportAge))
	if err != nil {
		return nil, nil, err
	}
	var out []*LastReport
	for _, r := range reports {
		age := cfg.Now.Sub(r.End)
		l := &LastReport{Location: r.Location, Start: r.Start, End: r.End, AgeSeconds: age.Seconds(),
			Status: r.Status, Mode: r.Mode, Shard: r.Shard, Stale: age > cfg.MaxReportAge}
		for _, b := range r.Buckets {
			// Reports of older versions called a bucket the run was
			// cancelled before skipped, and the run ok.
			if b.Status == StatusIncomplete || b.Status == StatusSkipped && slices.Contains(b.ErrorMessages, errNotStarted) {
				l.Incomplete = append(l.Incomplete, b.Name)
			}
		}
		out = append(out, l)
	}
	return out, missing, nil
}

// verifyPair checks that every object at c.src is at c.dst, equal by
// same, through the same streaming comparison as the mirror: memory does
// not grow with the bucket. Where same could only go by the dates (no
// common MD5) and download is set, both sides are downloaded and
// compared. Objects only at c.dst are counted as extra. target names c.dst
// in the log: "the mirror". The error says what could not be checked.
func verifyPair(ctx context.Context, c copier, name, target string, same rule, download bool, log *zap.Logger) (VerifyBucket, error) {
	v := &verifier{c: c, same: same, log: log, target: target, download: download, pairs: make(chan pair, fs.GetConfig(ctx).Checkers*4)}
	var workers sync.WaitGroup
	for range fs.GetConfig(ctx).Checkers {
		workers.Go(func() { v.compare(ctx) })
	}
	err := merge(ctx, c.src.listing("source"), c.dst.listing(target), v)
	close(v.pairs)
	workers.Wait()
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("cut short: %w", ctx.Err())
	}
	vb := VerifyBucket{Name: name, Matched: v.matched.Load(), Missing: v.missing.count(), Differing: v.differing.count(),
		Extra: v.extra.Load(), ByDate: v.byDate.Load(), Downloaded: v.downloaded.Load(), Sampled: v.sampled.Load(), Errors: v.errors.count(),
		MissingObj: v.missing.list(), DifferObj: v.differing.list(), ErrorMsgs: v.errors.list()}
	if c.audit.Count > 0 {
		vb.SampleSlice = c.audit.String()
	}
	if err != nil {
		vb.Errors++
		vb.ErrorMsgs = append(vb.ErrorMsgs, err.Error())
	} else if vb.Errors > 0 {
		err = fmt.Errorf("%d objects could not be compared; first: %s", vb.Errors, vb.ErrorMsgs[0])
	}
	vb.OK = err == nil && vb.Missing == 0 && vb.Differing == 0
	log.Info("bucket verified", zap.Bool("ok", vb.OK), zap.Int64("matched", vb.Matched), zap.Int64("missing", vb.Missing),
		zap.Int64("differing", vb.Differing), zap.Int64("extra", vb.Extra), zap.Int64("compared_by_date", vb.ByDate),
		zap.Int64("compared_by_download", vb.Downloaded), zap.Int64("errors", vb.Errors))
	return vb, err
}

// verifier is the comparison callback of verifyPair.
type verifier struct {
	c        copier
	same     rule
	log      *zap.Logger
	target   string // what c.dst is, for the log
	download bool
	pairs    chan pair

	matched, extra, byDate, downloaded, sampled atomic.Int64
	missing, differing, errors                  names
}

func (v *verifier) srcOnly(src object) {
	v.missing.add(src.key)
	v.log.Error("missing from "+v.target, zap.String("object", src.key))
}

func (v *verifier) dstOnly(object) { v.extra.Add(1) }

func (v *verifier) both(src, dst object) { v.pairs <- pair{src, dst} }

func (v *verifier) compare(ctx context.Context) {
	for p := range v.pairs {
		if ctx.Err() != nil {
			continue
		}
		differ, why, err := v.differ(ctx, p.src, p.dst)
		switch {
		case err != nil:
			v.errors.add(p.src.key + ": " + err.Error())
			v.log.Error("could not compare", zap.String("object", p.src.key), zap.Error(err))
		case differ:
			v.differing.add(p.src.key)
			v.log.Error("differs in "+v.target, zap.String("object", p.src.key), zap.String("why", why))
		default:
			v.matched.Add(1)
		}
	}
}

// differ applies the rule of equality; where it could only go by the
// dates, it downloads both sides when asked to.
func (v *verifier) differ(ctx context.Context, src, dst object) (bool, string, error) {
	tr := accounting.Stats(ctx).NewCheckingTransfer(&sourceObject{place: v.c.src, fs: v.c.srcFs, obj: src, remote: src.key}, "verifying")
	var err error
	defer func() { tr.Done(ctx, err) }()
	verdict, why, err := v.same(ctx, src, dst)
	switch {
	case err != nil:
		return false, "", err
	case verdict == differs:
		return true, why, nil
	case v.c.audit.Has(src.key):
		return v.sample(ctx, src, dst)
	case verdict == sameHash:
		return false, "", nil
	case !v.download:
		v.byDate.Add(1)
		return false, "", nil
	}
	v.downloaded.Add(1)
	equal, err := sameBytes(ctx, v.c.src, v.c.dst, src, dst)
	if err != nil {
		return false, "", fmt.Errorf("download: %w", err)
	}
	return !equal, "content differs", nil
}

// sample reads a pair of the sample slice whole: its bytes, headers and
// tags.
func (v *verifier) sample(ctx context.Context, src, dst object) (bool, string, error) {
	v.sampled.Add(1)
	equal, err := sameBytes(ctx, v.c.src, v.c.dst, src, dst)
	if err != nil || !equal {
		return !equal, "content differs", err
	}
	why, err := sameCarried(ctx, v.c.src, v.c.dst, src, dst)
	return why != "", why, err
}

// sameBytes downloads a from pa and b from pb and compares them, byte for
// byte, as they stream.
func sameBytes(ctx context.Context, pa, pb bucketPlace, a, b object) (bool, error) {
	ra, err := (&sourceObject{place: pa, obj: a}).Open(ctx)
	if err != nil {
		return false, err
	}
	defer ra.Close()
	rb, err := (&sourceObject{place: pb, obj: b}).Open(ctx)
	if err != nil {
		return false, err
	}
	defer rb.Close()
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(ra, bufA)
		nb, errB := io.ReadFull(rb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA, endB := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF), errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		switch {
		case endA && endB:
			return true, nil
		case endA != endB:
			return false, nil
		case errA != nil:
			return false, errA
		case errB != nil:
			return false, errB
		}
	}
}

// WriteTable writes the report for people: a row per bucket, the newest
// run report, and the problems.
func (r *VerifyReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tOK\tMATCHED\tMISSING\tDIFFERING\tEXTRA\tBY-DATE\tDOWNLOADED\tSAMPLED\tERRORS")
	for _, b := range r.Buckets {
		fmt.Fprintf(tw, "%s\t%v\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", b.Name, b.OK, b.Matched, b.Missing, b.Differing, b.Extra, b.ByDate, b.Downloaded, b.Sampled, b.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	last := r.ShardReports
	if last == nil && r.LastReport != nil {
		last = []*LastReport{r.LastReport}
	}
	if r.Restored {
		at := "as it is"
		if r.At != nil {
			at = "as it was at " + r.At.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "compared: the mirror %s -> the restored RGW buckets\n", at)
	}
	for _, l := range last {
		shard := ""
		if l.Shard != nil {
			shard = " of shard " + l.Shard.String()
		}
		fmt.Fprintf(w, "last run report%s: %s, %s, %s mode, ended %s ago (stale: %v)\n", shard, l.Location, l.Status, l.Mode,
			time.Duration(l.AgeSeconds*float64(time.Second)).Round(time.Second), l.Stale)
	}
	if len(last) == 0 && !r.Restored {
		fmt.Fprintln(w, "last run report: none")
	}
	for _, b := range r.Buckets {
		if b.SampleSlice != "" {
			fmt.Fprintf(w, "sample of %s: slice %s read whole (bytes, headers, tags)\n", b.Name, b.SampleSlice)
		}
		for _, o := range b.MissingObj {
			fmt.Fprintf(w, "missing   %s/%s\n", b.Name, o)
		}
		for _, o := range b.DifferObj {
			fmt.Fprintf(w, "differing %s/%s\n", b.Name, o)
		}
	}
	fmt.Fprintf(w, "destination versioning: %s\n", r.Versioning)
	for _, p := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	_, err := fmt.Fprintf(w, "ok: %v\n", r.OK)
	return err
}
