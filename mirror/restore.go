package mirror

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rclone/rclone/fs"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// ModeRestore is the mode of a restore's report, <start>-restore.json:
// readers of mirror runs pass over it.
const ModeRestore Mode = "restore"

// Flags of restore rgw (and of verify rgw after a restore), without their
// dashes, and their env var twins; errors name both.
const (
	FlagBucket       = "bucket"
	FlagAll          = "all"
	FlagAt           = "at"
	FlagToBucket     = "to-bucket"
	FlagOverwrite    = "overwrite"
	FlagCreateBucket = "create-bucket"
	FlagVerify       = "verify"

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
	return "--" + flag + " (" + env + ")"
}

// RestoreConfig is one restore: buckets' mirrors, as they are or as they
// were at a time, copied back into the RGW.
type RestoreConfig struct {
	Tuning
	Mirror       rcloneconf.Remote // the MinIO holding the mirror: read from, and the report goes there
	MirrorBucket string            // bucket B's mirror is MirrorBucket/B/
	ReportPrefix string            // where the report goes in MirrorBucket
	Target       rcloneconf.Remote // the RGW restored into

	Buckets      []string  // the mirrored buckets to restore
	All          bool      // every bucket the mirror holds (at At)
	At           time.Time // read the mirror as it was then; zero: as it is
	ToBucket     string    // restore the one bucket into this RGW bucket
	Overwrite    bool      // replace RGW objects that differ from the mirror
	CreateBucket bool      // create a missing RGW bucket
	DryRun       bool      // list what would be restored; change nothing
	Verify       bool      // then prove each restored bucket equals the mirror (at At)
	Version      string    // offsite's version, for the report
}

// DefaultRestoreConfig returns the mirror's defaults for what they share.
func DefaultRestoreConfig() RestoreConfig {
	return RestoreConfig{Tuning: DefaultTuning(), MirrorBucket: DefaultDestBucket, ReportPrefix: DefaultReportPrefix, Version: "dev"}
}

// ParseAt parses --at of restore rgw (envVar: EnvRestoreAt) or drill rgw
// (EnvDrillAt): an RFC 3339 time, a date (its start, UTC), or a duration
// before now ("36h", "2d"). Empty is the zero time: the current mirror.
// Errors are configuration errors naming --at and envVar.
func ParseAt(envVar, s string, now time.Time) (time.Time, error) {
	name := "--" + FlagAt + " (" + envVar + ")"
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
		return time.Time{}, exitcode.Configf(name, "%q is not an RFC 3339 time (2026-12-01T04:00:00Z), a date (2026-12-01) or a duration ago (36h, 2d)", s)
	case at.Before(time.Unix(0, 0)):
		// The zero time would read as no --at at all: the current mirror.
		return time.Time{}, exitcode.Configf(name, "%q is before 1970: no backup is from then", s)
	case at.After(now):
		return time.Time{}, exitcode.Configf(name, "%s is in the future", at.UTC().Format(time.RFC3339))
	}
	return at.UTC(), nil
}

// Validate checks the config; every error is a *exitcode.ConfigError
// naming the flag or env var at fault.
func (c *RestoreConfig) Validate() error {
	if err := validateEnds(c.Target, c.Mirror, c.MirrorBucket); err != nil {
		return err
	}
	switch {
	case c.All && len(c.Buckets) > 0:
		return exitcode.Configf(flagVar(FlagAll), "--%s and --%s exclude each other: name the buckets, or take every mirrored bucket", FlagAll, FlagBucket)
	case !c.All && len(c.Buckets) == 0:
		return exitcode.Configf(flagVar(FlagBucket), "is required: name the buckets to restore (--%s a --%s b), or --%s for every mirrored bucket", FlagBucket, FlagBucket, FlagAll)
	}
	for _, b := range c.Buckets {
		if err := rcloneconf.CheckBucketName(flagVar(FlagBucket), b); err != nil {
			return err
		}
	}
	if c.ToBucket != "" {
		if c.All || len(c.Buckets) != 1 {
			return exitcode.Configf(flagVar(FlagToBucket), "restores one bucket under another name: give exactly one --%s", FlagBucket)
		}
		if err := rcloneconf.CheckBucketName(flagVar(FlagToBucket), c.ToBucket); err != nil {
			return err
		}
	}
	if into := c.ToBucket; sameServer(c.Target, c.Mirror) && (into == c.MirrorBucket || into == "" && slices.Contains(c.Buckets, c.MirrorBucket)) {
		return exitcode.Configf(flagVar(FlagToBucket), "would restore into %s, the mirror's own bucket: RGW_ENDPOINT and MINIO_ENDPOINT are the same server; restore into another bucket", c.MirrorBucket)
	}
	if err := c.Tuning.validate(); err != nil {
		return err
	}
	if c.At.After(time.Now()) {
		return exitcode.Configf(flagVar(FlagAt), "%s is in the future", c.At.UTC().Format(time.RFC3339))
	}
	return validateReportPrefix(c.ReportPrefix)
}

// restorer is one restore (or the verify after it) under way.
type restorer struct {
	cfg                        RestoreConfig
	log                        *zap.Logger
	mirror                     rcloneconf.Remote // cfg.Mirror, read-only at cfg.At when set
	mirrorClient, targetClient *s3.Client        // list and read both ends
	verifyOnly                 bool              // VerifyRestored: the RGW buckets must exist
}

// newRestorer starts a restore (or its verify) of cfg; ctx carries rclone's
// options for it.
func newRestorer(ctx context.Context, cfg RestoreConfig, log *zap.Logger) *restorer {
	if log == nil {
		log = zap.NewNop()
	}
	r := &restorer{cfg: cfg, log: log, mirror: cfg.Mirror, mirrorClient: cfg.Mirror.DataClient(ctx), targetClient: cfg.Target.DataClient(ctx)}
	if !cfg.At.IsZero() {
		// A remote of its own: rclone refuses writes through it, and the
		// report is written through cfg.Mirror.
		r.mirror.Name += "-at"
		r.mirror.VersionAt = cfg.At.UTC().Format(time.RFC3339Nano)
	}
	return r
}

// Restore copies each bucket's mirror, <MirrorBucket>/B/ as it is or as it
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
func Restore(ctx context.Context, cfg RestoreConfig, log *zap.Logger) (*RestoreReport, error) {
	rep := newRestoreReport(cfg)
	ctx, ci := cfg.Tuning.rclone(ctx)
	ci.DryRun = cfg.DryRun
	ci.Metadata = true // every object is restored with its headers, metadata and tags
	ci.MaxDelete = 0   // a restore deletes nothing: rclone refuses any deletion
	// Equal content with another modification time is left alone: setting
	// the time on S3 is a server-side copy, a write the restore never needs.
	ci.NoUpdateModTime = true
	cfg.Target.NoHead = true // as for the mirror: each PUT's answer proves the object restored
	r := newRestorer(ctx, cfg, log)
	fbucket, mirrors, err := openDestination(ctx, cfg.Mirror, cfg.MirrorBucket)
	if err != nil {
		return rep.failed(err) // nowhere to write the report
	}
	targets, err := r.plan(ctx, fbucket, mirrors)
	if err != nil {
		rep.Error = err.Error()
		r.log.Error("restore refused", zap.Error(err))
		return rep, errors.Join(err, r.finish(ctx, rep, fbucket))
	}
	var errs []error
	for _, t := range targets {
		if ctx.Err() != nil {
			rep.Buckets = append(rep.Buckets, RestoreBucket{Name: t.name, Target: t.target, Status: StatusIncomplete, ErrorMessages: []string{errNotStarted}})
			continue
		}
		rb, err := r.restoreBucket(ctx, t)
		rep.Buckets = append(rep.Buckets, rb)
		errs = append(errs, err)
	}
	if err := ctx.Err(); err != nil {
		n, err := rep.cancelled(err, len(targets))
		errs = append(errs, err)
		r.log.Error("restore cancelled", zap.Int("incomplete", n))
	}
	slices.SortStableFunc(rep.Buckets, func(a, b RestoreBucket) int { return strings.Compare(a.Name, b.Name) })
	return rep, errors.Join(append(errs, r.finish(ctx, rep, fbucket))...)
}

// finish completes the report, writes it (not in a dry run) and logs it.
func (r *restorer) finish(ctx context.Context, rep *RestoreReport, fbucket fs.Fs) error {
	rep.finish(time.Now().UTC())
	var err error
	if !rep.DryRun {
		if rep.Location, err = writeReport(ctx, fbucket, rep, reportKey(r.cfg.ReportPrefix, rep.Start, ModeRestore, nil)); err != nil {
			r.log.Error("could not write the restore report", zap.Error(err))
		}
	}
	t := rep.Totals
	r.log.Info("restore finished", zap.String("status", rep.Status), zap.Bool("dry_run", rep.DryRun),
		zap.Int("buckets", t.Buckets), zap.Int("ok", t.OK), zap.Int("failed", t.Failed), zap.Int("incomplete", t.Incomplete),
		zap.Int64("restored", t.Restored), zap.Int64("bytes", t.Bytes), zap.String("report", rep.Location))
	return err
}
