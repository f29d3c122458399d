package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/walk"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// ModeRestore is the mode of a restore's report: the mirror copied back
// into the RGW. Its reports are named <start>-restore.json.
const ModeRestore Mode = "restore"

// Flags of restore rgw, and their env var twins; errors name both.
const (
	FlagBucket       = "--bucket"
	FlagAll          = "--all"
	FlagAt           = "--at"
	FlagToBucket     = "--to-bucket"
	FlagCreateBucket = "--create-bucket"

	EnvRestoreBuckets      = "OFFSITE_RESTORE_BUCKETS"
	EnvRestoreAll          = "OFFSITE_RESTORE_ALL"
	EnvRestoreAt           = "OFFSITE_RESTORE_AT"
	EnvRestoreToBucket     = "OFFSITE_RESTORE_TO_BUCKET"
	EnvRestoreOverwrite    = "OFFSITE_RESTORE_OVERWRITE"
	EnvRestoreCreateBucket = "OFFSITE_RESTORE_CREATE_BUCKET"
	EnvRestoreVerify       = "OFFSITE_RESTORE_VERIFY"
)

// flagVar is how a configuration error names a restore flag: the flag
// and its env var, whichever the operator used.
func flagVar(flag string) string {
	env := map[string]string{FlagBucket: EnvRestoreBuckets, FlagAll: EnvRestoreAll, FlagAt: EnvRestoreAt,
		FlagToBucket: EnvRestoreToBucket, FlagCreateBucket: EnvRestoreCreateBucket}[flag]
	return flag + " (" + env + ")"
}

// RestoreConfig is one restore: mirror -> RGW, reversed for the data only.
// Scope.Source is still the RGW (where objects are restored to) and
// Scope.Dest the MinIO holding the mirror (where they are read from, and
// where the report goes). Scope.Buckets are the buckets to restore;
// Scope.Exclude is not used.
type RestoreConfig struct {
	Scope
	All          bool      // every bucket the mirror holds (at At)
	At           time.Time // read the mirror as it was then; zero: as it is
	ToBucket     string    // restore the one bucket into this RGW bucket
	Overwrite    bool      // replace RGW objects that differ from the mirror
	CreateBucket bool      // create a missing RGW bucket
	DryRun       bool      // list what would be restored; change nothing
	Verify       bool      // then prove each restored bucket equals the mirror (at At)

	Transfers       int
	Checkers        int
	LowLevelRetries int
	Retries         int
	RetriesSleep    time.Duration
	FastList        bool

	ProgressInterval time.Duration
	// Display, if set, is fed each running bucket's counters for a live
	// display (as Config.Display).
	Display livebar.Sink
	Version string
}

// DefaultRestoreConfig returns mirror's defaults for the shared settings.
func DefaultRestoreConfig() RestoreConfig {
	d := DefaultConfig()
	return RestoreConfig{
		Scope:     Scope{DestBucket: d.DestBucket, ReportPrefix: d.ReportPrefix},
		Transfers: d.Transfers, Checkers: d.Checkers, LowLevelRetries: d.LowLevelRetries,
		Retries: d.Retries, RetriesSleep: d.RetriesSleep, FastList: d.FastList,
		ProgressInterval: d.ProgressInterval, Version: d.Version,
	}
}

// ParseAt parses --at: an RFC 3339 time, a date (its start, UTC), or a
// duration before now ("36h", "2d"). Empty is the zero time: the current
// mirror. Errors are configuration errors naming --at.
func ParseAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		at, err = time.Parse("2006-01-02", s)
	}
	if err != nil {
		var d time.Duration
		// A bare number would be rclone's seconds, or someone's Unix time:
		// a duration needs its unit.
		unit := s[len(s)-1] >= 'a' && s[len(s)-1] <= 'z' || s[len(s)-1] >= 'A' && s[len(s)-1] <= 'Z'
		if d, err = fs.ParseDuration(s); err == nil && d > 0 && unit && !strings.ContainsAny(s, ":-") {
			at = now.Add(-d)
		} else {
			err = errors.New("not a duration")
		}
	}
	switch {
	case err != nil:
		return time.Time{}, exitcode.Configf(flagVar(FlagAt), "%q is not an RFC 3339 time (2026-12-01T04:00:00Z), a date (2026-12-01) or a duration ago (36h, 2d)", s)
	case at.Before(time.Unix(0, 0)):
		// The zero time would read as no --at at all: the current mirror.
		return time.Time{}, exitcode.Configf(flagVar(FlagAt), "%q is before 1970: no backup is from then", s)
	case at.After(now):
		return time.Time{}, exitcode.Configf(flagVar(FlagAt), "%s is in the future", at.UTC().Format(time.RFC3339))
	}
	return at.UTC(), nil
}

// Validate checks the config; every error is a *exitcode.ConfigError
// naming the flag or env var at fault.
func (c *RestoreConfig) Validate() error {
	if err := validateRemotes(c.Source, c.Dest); err != nil {
		return err
	}
	if err := rcloneconf.CheckBucketName(EnvDestBucket, c.DestBucket); err != nil {
		return err
	}
	switch {
	case c.All && len(c.Buckets) > 0:
		return exitcode.Configf(flagVar(FlagAll), "%s and %s exclude each other: name the buckets, or take every mirrored bucket", FlagAll, FlagBucket)
	case !c.All && len(c.Buckets) == 0:
		return exitcode.Configf(flagVar(FlagBucket), "is required: name the buckets to restore (%s a %s b), or %s for every mirrored bucket", FlagBucket, FlagBucket, FlagAll)
	}
	for _, b := range c.Buckets {
		if err := rcloneconf.CheckBucketName(flagVar(FlagBucket), b); err != nil {
			return err
		}
	}
	if c.ToBucket != "" {
		if c.All || len(c.Buckets) != 1 {
			return exitcode.Configf(flagVar(FlagToBucket), "restores one bucket under another name: give exactly one %s", FlagBucket)
		}
		if err := rcloneconf.CheckBucketName(flagVar(FlagToBucket), c.ToBucket); err != nil {
			return err
		}
	}
	if err := validateTuning(c.Transfers, c.Checkers, c.LowLevelRetries, c.Retries, c.RetriesSleep, c.ProgressInterval); err != nil {
		return err
	}
	if c.At.After(time.Now()) {
		return exitcode.Configf(flagVar(FlagAt), "%s is in the future", c.At.UTC().Format(time.RFC3339))
	}
	return validateReportPrefix(c.ReportPrefix)
}

// restoreTarget is one bucket to restore: its mirror, and the RGW bucket
// it goes to.
type restoreTarget struct {
	name, target string
	create       bool // the RGW bucket is missing and --create-bucket was given
}

type restorer struct {
	cfg        RestoreConfig
	log        *zap.Logger
	mirror     rcloneconf.Remote // MinIO, read-only at cfg.At when set
	verifyOnly bool              // VerifyRestored: the RGW buckets must exist
}

func newRestorer(cfg RestoreConfig, log *zap.Logger) *restorer {
	r := &restorer{cfg: cfg, log: log, mirror: cfg.Dest}
	if !cfg.At.IsZero() {
		// A remote of its own: rclone refuses writes through it, and the
		// report is written through cfg.Dest.
		r.mirror.Name += "-at"
		r.mirror.VersionAt = cfg.At.UTC().Format(time.RFC3339Nano)
	}
	return r
}

// Restore copies each bucket's mirror, <DestBucket>/B/ as it is or as it
// was at cfg.At, back into the RGW bucket B (or cfg.ToBucket). It never
// deletes on the RGW, and overwrites an object that differs only with
// cfg.Overwrite: otherwise it lists it. cfg must have passed Validate.
//
// It always returns the report, written to the mirror's bucket as
// <start>-restore.json unless a dry run. The error is a
// *exitcode.ConfigError when the restore cannot start as asked (an unknown
// bucket, --at before the bucket's first mirror or on a mirror without
// versioning, a missing RGW bucket without --create-bucket, refused
// credentials); it wraps exitcode.ErrVerifyFailed when --verify found a
// difference; otherwise it is a plain error when a bucket failed, the run
// was cancelled or the report could not be written.
func Restore(ctx context.Context, cfg RestoreConfig, log *zap.Logger) (*Report, error) {
	if log == nil {
		log = zap.NewNop()
	}
	rep := &Report{
		Start: time.Now().UTC(), Mode: ModeRestore, DryRun: cfg.DryRun,
		OffsiteVersion: cfg.Version, RcloneVersion: rcloneconf.RcloneVersion(),
		Source: cfg.Dest.Endpoint + "/" + cfg.DestBucket, Destination: cfg.Source.Endpoint,
		MaxDelete: "0", Buckets: []BucketReport{}, Orphaned: []string{},
	}
	if !cfg.At.IsZero() {
		at := cfg.At.UTC()
		rep.At = &at
	}
	ctx, ci := fs.AddConfig(ctx)
	ci.CheckSum = true
	ci.Transfers = cfg.Transfers
	ci.Checkers = cfg.Checkers
	ci.LowLevelRetries = cfg.LowLevelRetries
	ci.UseListR = cfg.FastList
	ci.DryRun = cfg.DryRun
	ci.MaxDelete = 0 // a restore deletes nothing: rclone refuses any deletion
	// Equal content with another modification time is left alone: setting
	// the time on S3 is a server-side copy, a write the restore never needs.
	ci.NoUpdateModTime = true
	cfg.Source.NoHead = true // as for the mirror: each PUT's answer proves the object restored

	r := newRestorer(cfg, log)
	fbucket, mirrors, err := openDestination(ctx, cfg.Dest, cfg.DestBucket)
	if err != nil {
		rep.Error = err.Error()
		rep.finish(time.Now().UTC())
		return rep, err // nowhere to write the report
	}
	finish := func(errs ...error) (*Report, error) {
		slices.SortStableFunc(rep.Buckets, func(a, b BucketReport) int { return strings.Compare(a.Name, b.Name) })
		rep.finish(time.Now().UTC())
		if !rep.DryRun {
			if err := rep.writeAtEnd(ctx, fbucket, cfg.ReportPrefix); err != nil {
				log.Error("could not write the restore report", zap.Error(err))
				errs = append(errs, err)
			}
		}
		log.Info("restore finished", zap.String("status", rep.Status), zap.Bool("dry_run", rep.DryRun),
			zap.Int("buckets", rep.Totals.Buckets), zap.Int("ok", rep.Totals.OK), zap.Int("failed", rep.Totals.Failed),
			zap.Int("incomplete", rep.Totals.Incomplete), zap.Int64("restored", rep.Totals.Transferred),
			zap.Int64("bytes", rep.Totals.Bytes), zap.String("report", rep.Location))
		return rep, errors.Join(errs...)
	}

	targets, err := r.plan(ctx, fbucket, mirrors)
	if err != nil {
		rep.Error = err.Error()
		log.Error("restore refused", zap.Error(err))
		return finish(err)
	}
	var errs []error
	for _, t := range targets {
		if ctx.Err() != nil {
			rep.Buckets = append(rep.Buckets, BucketReport{Name: t.name, Target: t.target, Mode: ModeRestore, Status: StatusIncomplete, ErrorMessages: []string{errNotStarted}})
			continue
		}
		br, err := r.restoreBucket(ctx, t)
		rep.Buckets = append(rep.Buckets, br)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := ctx.Err(); err != nil {
		n, err := rep.cancelled(err, "the restore", len(targets))
		errs = append(errs, err)
		log.Error("restore cancelled", zap.Int("incomplete", n))
	}
	return finish(errs...)
}

// plan checks, before anything is written, that every bucket can be
// restored as asked, and returns them. Every error is a configuration
// error: nothing has been attempted.
func (r *restorer) plan(ctx context.Context, fbucket fs.Fs, mirrors []string) ([]restoreTarget, error) {
	cfg := r.cfg
	at := "now"
	if !cfg.At.IsZero() {
		at = cfg.At.UTC().Format(time.RFC3339)
		status, err := VersioningStatus(ctx, fbucket)
		if err != nil {
			return nil, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("read the versioning status of %s: %w", cfg.DestBucket, err))
		}
		if status != VersioningEnabled {
			return nil, exitcode.Configf(flagVar(FlagAt), "needs versioning on the mirror's bucket %s, whose versioning is %s: without it the mirror keeps no old versions to restore (enable it: mc version enable ALIAS/%s)", cfg.DestBucket, status, cfg.DestBucket)
		}
	}
	names := cfg.Buckets
	if cfg.All {
		names = nil
		fat, err := r.mirror.Fs(ctx, cfg.DestBucket)
		if err != nil {
			return nil, rcloneconf.Classify(rcloneconf.MinIO, err)
		}
		entries, err := fat.List(ctx, "")
		if err != nil && !rcloneconf.IsNotFound(err) {
			return nil, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list the mirrors in %s: %w", cfg.DestBucket, err))
		}
		for _, e := range entries {
			if _, ok := e.(fs.Directory); ok && e.Remote() != reportRoot(cfg.ReportPrefix) {
				names = append(names, e.Remote())
			}
		}
	}
	var found []string
	for _, name := range names {
		ok, err := r.hasObjects(ctx, name)
		switch {
		case err != nil:
			return nil, err
		case ok:
			found = append(found, name)
		case cfg.All:
			r.log.Info("not restored: its mirror held no object at that time", zap.String("bucket", name), zap.String("at", at))
		case slices.Contains(mirrors, name):
			return nil, exitcode.Configf(flagVar(FlagAt), "%s is before the first mirror of bucket %s: the mirror held none of its objects then", at, name)
		default:
			return nil, exitcode.Configf(flagVar(FlagBucket), "no mirror of bucket %s in %s/%s: it was never mirrored there (check the name and %s)", name, cfg.Dest.Endpoint, cfg.DestBucket, EnvDestBucket)
		}
	}
	if len(found) == 0 {
		return nil, exitcode.Configf(flagVar(FlagAll), "the mirror in %s held no bucket at %s: nothing to restore", cfg.DestBucket, at)
	}
	existing, err := listBuckets(ctx, cfg.Source)
	if err != nil {
		return nil, err
	}
	var targets []restoreTarget
	for _, name := range found {
		t := restoreTarget{name: name, target: name}
		if cfg.ToBucket != "" {
			t.target = cfg.ToBucket
		}
		if !slices.Contains(existing, t.target) {
			if r.verifyOnly {
				return nil, exitcode.Configf(flagVar(FlagBucket), "the RGW bucket %s does not exist: nothing restored there to verify (restored under another name? give it as %s)", t.target, FlagToBucket)
			}
			if !cfg.CreateBucket {
				return nil, exitcode.Configf(flagVar(FlagCreateBucket), "the RGW bucket %s does not exist: create it, or pass %s", t.target, FlagCreateBucket)
			}
			t.create = true
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// errFound stops a listing at its first object.
var errFound = errors.New("found an object")

// hasObjects reports whether the mirror of bucket name held any object at
// the restore's time. A flat listing: a delimited one of old versions
// shows prefixes of objects made later.
func (r *restorer) hasObjects(ctx context.Context, name string) (bool, error) {
	f, err := r.mirror.Fs(ctx, r.cfg.DestBucket+"/"+name)
	if err != nil {
		return false, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	err = walk.ListR(ctx, f, "", true, -1, walk.ListObjects, func(entries fs.DirEntries) error {
		if len(entries) > 0 {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err == nil || rcloneconf.IsNotFound(err):
		return false, nil
	}
	return false, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list the mirror of %s: %w", name, err))
}

// restoreBucket copies one bucket's mirror into its RGW bucket, trying it
// again on retryable errors, then verifies it when asked.
func (r *restorer) restoreBucket(ctx context.Context, t restoreTarget) (BucketReport, error) {
	start := time.Now()
	log := r.log.With(zap.String("bucket", t.name), zap.String("target", t.target))
	br := BucketReport{Name: t.name, Mode: ModeRestore, Target: t.target}
	ctx = accounting.WithStatsGroup(ctx, "restore/"+t.name)
	stats := accounting.Stats(ctx)
	stats.ResetCounters()
	defer progress(ctx, stats, log, r.cfg.ProgressInterval, r.cfg.Display, t.name)()
	fail := func(err error) (BucketReport, error) { return failBucket(ctx, br, start, log, err) }

	if t.create {
		if r.cfg.DryRun {
			log.Info("would create the RGW bucket")
		} else if err := r.createBucket(ctx, t.target); err != nil {
			return fail(err)
		}
	}
	fsrc, err := r.mirror.Fs(ctx, r.cfg.DestBucket+"/"+t.name)
	if err != nil {
		return fail(rcloneconf.Classify(rcloneconf.MinIO, err))
	}
	fdst, err := r.cfg.Source.Fs(ctx, t.target)
	if err != nil {
		return fail(rcloneconf.Classify(rcloneconf.RGW, err))
	}
	res := tryPasses(ctx, &br, r.cfg.Retries, r.cfg.RetriesSleep, log, func() passResult {
		return runRestorePass(ctx, fsrc, fdst, !r.cfg.Overwrite, r.cfg.DryRun, log)
	})
	br.SourceObjects, br.SourceBytes, br.MirrorObjects = res.srcObjects, res.srcBytes, res.dstObjects
	br.SizeOnly, br.Extra = res.sizeOnly, res.extra
	br.Differing, br.DifferingObjects = res.differing, res.differObj
	br.Checked, br.Transferred, br.Bytes = stats.GetChecks(), stats.GetTransfers(), stats.GetBytes()
	if r.cfg.DryRun {
		br.Transferred, br.Bytes, br.WouldRestore = res.wouldCopy, res.wouldBytes, res.wouldObj
	}
	if len(res.errs) > 0 {
		return fail(fmt.Errorf("%d errors in the last of %d tries; last error: %w", len(res.errs), br.Attempts, rcloneconf.Classify(rcloneconf.RGW, res.errs[len(res.errs)-1])))
	}
	if r.cfg.Verify && !r.cfg.DryRun {
		vb, err := verifyPair(ctx, fsrc, fdst, t.name, "the restored bucket", true, log)
		br.Verify = &vb
		if err != nil {
			return fail(fmt.Errorf("verify: %w", err))
		}
		if !vb.OK {
			err := fmt.Errorf("%w: the restored bucket %s differs from its mirror: %d objects missing, %d differing", exitcode.ErrVerifyFailed, t.target, vb.Missing, vb.Differing)
			br.ErrorMessages = appendMessage(br.ErrorMessages, err.Error())
			return fail(err)
		}
	}
	br.Status = StatusOK
	br.DurationSeconds = time.Since(start).Seconds()
	log.Info("bucket restored", zap.Int64("checked", br.Checked), zap.Int64("restored", br.Transferred),
		zap.Int64("bytes", br.Bytes), zap.Int64("differing_kept", br.Differing), zap.Int64("compared_size_only", br.SizeOnly),
		zap.Int("attempts", br.Attempts), zap.Bool("dry_run", r.cfg.DryRun))
	return br, nil
}

// createBucket creates the RGW bucket name (--create-bucket).
func (r *restorer) createBucket(ctx context.Context, name string) error {
	rgw := r.cfg.Source
	rgw.Name += "-create"
	rgw.CreateBucket = true
	f, err := rgw.Fs(ctx, name)
	if err == nil {
		err = f.Mkdir(ctx, "")
	}
	if err != nil {
		return rcloneconf.Classify(rcloneconf.RGW, fmt.Errorf("create bucket %s: %w", name, err))
	}
	r.log.Info("created the RGW bucket", zap.String("bucket", name))
	return nil
}

// VerifyRestored proves that each RGW bucket a restore wrote to (the
// buckets of cfg, or cfg.ToBucket) holds every object of its mirror as it
// was at cfg.At (as it is, without one), with the same size and hash, and
// the same content by download where a hash is missing. Objects only in
// RGW are extra, not a difference: a restore never deletes. cfg must have
// passed Validate; only its scope, buckets, At, ToBucket, Checkers and
// FastList count. Errors are as Verify's; there is no run report to judge.
func VerifyRestored(ctx context.Context, cfg RestoreConfig, log *zap.Logger) (*VerifyReport, error) {
	if log == nil {
		log = zap.NewNop()
	}
	rep := &VerifyReport{Start: time.Now().UTC(), Problems: []string{}, Buckets: []VerifyBucket{}, Restored: true}
	if !cfg.At.IsZero() {
		at := cfg.At.UTC()
		rep.At = &at
	}
	defer func() { rep.End = time.Now().UTC() }()
	ctx, ci := fs.AddConfig(ctx)
	ci.Checkers = cfg.Checkers
	ci.UseListR = cfg.FastList
	r := newRestorer(cfg, log)
	r.verifyOnly = true
	fbucket, mirrors, err := openDestination(ctx, cfg.Dest, cfg.DestBucket)
	if err != nil {
		return rep, err
	}
	rep.Versioning = versioning(ctx, fbucket, cfg.DestBucket, rep, log)
	targets, err := r.plan(ctx, fbucket, mirrors)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, t := range targets {
		if ctx.Err() != nil {
			rep.Buckets = append(rep.Buckets, VerifyBucket{Name: t.target, ErrorMsgs: []string{"not verified: the verify was cancelled"}})
			continue
		}
		log := log.With(zap.String("bucket", t.name), zap.String("target", t.target))
		vb, err := r.verifyTarget(ctx, t, log)
		rep.Buckets = append(rep.Buckets, vb)
		if err != nil {
			errs = append(errs, fmt.Errorf("bucket %s: %w", t.target, err))
		}
		if vb.Missing > 0 || vb.Differing > 0 {
			msg := fmt.Sprintf("RGW bucket %s: %d objects of its mirror missing, %d differing", t.target, vb.Missing, vb.Differing)
			rep.Problems = append(rep.Problems, msg)
			log.Error("verify: " + msg)
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("verify cancelled before every object was compared: %w", err))
	}
	rep.OK = len(rep.Problems) == 0 && len(errs) == 0
	if len(rep.Problems) > 0 {
		errs = append([]error{fmt.Errorf("%w: %d problems, first: %s", exitcode.ErrVerifyFailed, len(rep.Problems), rep.Problems[0])}, errs...)
	}
	return rep, errors.Join(errs...)
}

// verifyTarget compares one bucket's mirror with the RGW bucket it was
// restored to; the entry is named after the RGW bucket.
func (r *restorer) verifyTarget(ctx context.Context, t restoreTarget, log *zap.Logger) (VerifyBucket, error) {
	fsrc, err := r.mirror.Fs(ctx, r.cfg.DestBucket+"/"+t.name)
	if err != nil {
		return VerifyBucket{Name: t.target}, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	fdst, err := r.cfg.Source.Fs(ctx, t.target)
	if err != nil {
		return VerifyBucket{Name: t.target}, rcloneconf.Classify(rcloneconf.RGW, err)
	}
	return verifyPair(ctx, fsrc, fdst, t.target, "the restored bucket", true, log)
}

// Versioning statuses of a bucket, as S3 (and rclone's versioning backend
// command) name them.
const (
	VersioningEnabled     = "Enabled"
	VersioningSuspended   = "Suspended"
	VersioningUnversioned = "Unversioned"
)

// VersioningStatus asks the server for the versioning status of fbucket's
// bucket, through rclone's s3 backend command "versioning".
func VersioningStatus(ctx context.Context, fbucket fs.Fs) (string, error) {
	command := fbucket.Features().Command
	if command == nil {
		return "", fmt.Errorf("%s has no backend commands", fbucket.Name())
	}
	out, err := command(ctx, "versioning", nil, nil)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(out), nil
}

// WriteRestoreDetails lists, for people, what a restore's summary only
// counts: the objects a dry run would restore, those found differing and
// kept, and what --verify found.
func (r *Report) WriteRestoreDetails(w io.Writer) error {
	for _, b := range r.Buckets {
		for _, o := range b.WouldRestore {
			if _, err := fmt.Fprintf(w, "would restore: %s/%s\n", b.Target, o); err != nil {
				return err
			}
		}
		if n := b.Transferred - int64(len(b.WouldRestore)); r.DryRun && n > 0 {
			fmt.Fprintf(w, "would restore: %d more into %s (each is in the log)\n", n, b.Target)
		}
		for _, o := range b.DifferingObjects {
			if _, err := fmt.Fprintf(w, "differing, kept (--overwrite replaces it): %s/%s\n", b.Target, o); err != nil {
				return err
			}
		}
		if n := b.Differing - int64(len(b.DifferingObjects)); n > 0 {
			fmt.Fprintf(w, "differing, kept: %d more in %s (each is in the log)\n", n, b.Target)
		}
		if v := b.Verify; v != nil {
			fmt.Fprintf(w, "verify %s: ok %v, %d matched, %d missing, %d differing, %d extra kept, %d compared by download\n",
				b.Target, v.OK, v.Matched, v.Missing, v.Differing, v.Extra, v.Downloaded)
			for _, o := range v.MissingObj {
				fmt.Fprintf(w, "missing   %s/%s\n", b.Target, o)
			}
			for _, o := range v.DifferObj {
				fmt.Fprintf(w, "differing %s/%s\n", b.Target, o)
			}
		}
	}
	return nil
}
