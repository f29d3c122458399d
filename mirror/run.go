package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rclone/rclone/fs"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// The report write runs even after the run's context was cancelled: the
// report says what happened. After a cancel (SIGTERM) it must leave time,
// within Kubernetes' 30 s grace period, for the pings and metrics after it.
const (
	reportWriteTimeout          = 2 * time.Minute
	reportWriteTimeoutCancelled = 15 * time.Second
)

// DeleteMode is when a sync deletes: after every transfer of the bucket
// succeeded, never before or during (rclone's --delete-after).
const DeleteMode = "after"

type runner struct {
	cfg                  Config
	fbucket              fs.Fs // the destination bucket, where the reports and rotations are
	log                  *zap.Logger
	srcClient, dstClient *s3.Client // list and read both ends
	// stop ends when no new work may start: the run's context, or its
	// deadline (MaxDuration), whose cause is errDeadline.
	stop context.Context
}

// errNotStarted is the message of a bucket the run was cancelled before.
const errNotStarted = "not started: the run was cancelled"

// errDeadline is the cause of the stop context when MaxDuration passed
// (wrapped with the setting, for the messages that quote the cause).
var errDeadline = errors.New("the run reached its deadline")

// deadlineReached reports whether the run's deadline, rather than a
// cancellation, stopped new work.
func (r *runner) deadlineReached() bool {
	return errors.Is(context.Cause(r.stop), errDeadline)
}

// Run mirrors every selected source bucket into the destination bucket and
// writes the run report there (not in a dry run). cfg must have passed
// Validate: Run does not check it again. It always returns the report. The
// error is a *exitcode.ConfigError for the configuration problems only the
// servers reveal, a missing destination bucket and credentials either side
// refuses; it wraps exitcode.ErrSafetyStop when a safety rule refused a
// bucket's deletions; otherwise it is a plain error when any bucket failed
// or the report could not be written.
func Run(ctx context.Context, cfg Config, log *zap.Logger) (*Report, error) {
	if log == nil {
		log = zap.NewNop()
	}
	rep := newReport(cfg)
	if cfg.Shard.Sharded() {
		log = log.With(zap.Stringer("shard", cfg.Shard))
	}
	ctx, ci := cfg.Tuning.rclone(ctx)
	ci.DryRun = cfg.DryRun // a second guard: the pass already skips writes in a dry run
	ci.DeleteMode = fs.DeleteModeAfter
	ci.Metadata = true     // every copy is written with its source's headers, metadata and tags
	ci.MaxDelete = -1      // the cap is enforced before any deletion, in deleteMirrorOnly
	cfg.Dest.NoHead = true // see rcloneconf.Remote.NoHead: the PUT proves the upload
	if err := cfg.Limits.Apply(); err != nil {
		return rep.failed(err)
	}
	if cfg.Limits != (rcloneconf.Limits{}) {
		log.Info("link limits", zap.Stringer("limits", cfg.Limits))
	}
	r := &runner{cfg: cfg, log: log, stop: ctx, srcClient: cfg.Source.DataClient(ctx), dstClient: cfg.Dest.DataClient(ctx)}
	if cfg.MaxDuration > 0 {
		var cancel context.CancelFunc
		r.stop, cancel = context.WithDeadlineCause(ctx, rep.Start.Add(cfg.MaxDuration),
			fmt.Errorf("%w (%s=%v)", errDeadline, EnvMaxDuration, cfg.MaxDuration))
		defer cancel()
	}
	fbucket, mirrors, err := openDestination(ctx, cfg.Dest, cfg.DestBucket)
	if err != nil {
		return rep.failed(err) // nowhere to write the report
	}
	r.fbucket = fbucket
	sourceBuckets, err := listBuckets(ctx, cfg.Source)
	if err != nil {
		rep.Error = err.Error()
		return rep, errors.Join(err, r.finish(ctx, rep, fbucket))
	}
	rep.Orphaned = cfg.Shard.keep(orphaned(mirrors, sourceBuckets, cfg.ReportPrefix))
	for _, o := range rep.Orphaned {
		log.Warn("orphaned mirror: its source bucket is gone; left untouched", zap.String("bucket", o))
	}
	selected, errs := r.selectBuckets(rep, sourceBuckets)
	errs = append(errs, r.mirrorBuckets(ctx, rep, fbucket, selected)...)
	slices.SortStableFunc(rep.Buckets, func(a, b BucketReport) int { return strings.Compare(a.Name, b.Name) })
	errs = append(errs, r.finish(ctx, rep, fbucket))
	return rep, errors.Join(errs...)
}

// mirrorBuckets mirrors each selected bucket in turn, into rep; a bucket
// the run was cancelled or reached its deadline before is incomplete.
func (r *runner) mirrorBuckets(ctx context.Context, rep *Report, fbucket fs.Fs, selected []string) (errs []error) {
	modes := r.modes(ctx, fbucket, selected)
	for _, name := range selected {
		notStarted := func(msg string) {
			rep.Buckets = append(rep.Buckets, BucketReport{Name: name, Mode: modes[name], Status: StatusIncomplete, ErrorMessages: []string{msg}})
		}
		switch {
		case ctx.Err() != nil:
			notStarted(errNotStarted)
		case r.deadlineReached():
			notStarted(fmt.Sprintf("not started: %v", context.Cause(r.stop)))
		default:
			br, err := r.mirrorBucket(ctx, name, modes[name])
			rep.Buckets = append(rep.Buckets, br)
			errs = append(errs, err)
		}
	}
	if err := ctx.Err(); err != nil {
		n, err := rep.cancelled(err, "the run", len(selected))
		errs = append(errs, err)
		r.log.Error("mirror run cancelled", zap.Int("incomplete", n))
	} else if n := rep.incomplete(); r.deadlineReached() && n > 0 {
		err := fmt.Errorf("%w; %d of %d buckets incomplete", context.Cause(r.stop), n, len(selected))
		rep.Error = joinMessages(rep.Error, err.Error())
		errs = append(errs, err)
		r.log.Error("mirror run reached its deadline", zap.Duration("max_duration", r.cfg.MaxDuration), zap.Int("incomplete", n))
	}
	return errs
}

// joinMessages joins the run's error messages with "; ".
func joinMessages(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// finish completes the report, logs its summary and writes it, unless this
// is a dry run, which changes nothing.
func (r *runner) finish(ctx context.Context, rep *Report, fbucket fs.Fs) error {
	rep.finish(time.Now().UTC())
	var err error
	if !rep.DryRun {
		if err = rep.writeAtEnd(ctx, fbucket, r.cfg.ReportPrefix); err != nil {
			r.log.Error("could not write the run report", zap.Error(err))
		}
	}
	r.log.Info("mirror run finished", zap.String("status", rep.Status), zap.String("mode", string(rep.Mode)),
		zap.String("delete_mode", rep.DeleteMode), zap.Bool("dry_run", rep.DryRun), zap.Int("buckets", rep.Totals.Buckets),
		zap.Int("ok", rep.Totals.OK), zap.Int("failed", rep.Totals.Failed), zap.Int("aborted", rep.Totals.Aborted),
		zap.Int("incomplete", rep.Totals.Incomplete), zap.Int64("transferred", rep.Totals.Transferred),
		zap.Int64("bytes", rep.Totals.Bytes), zap.Int64("deleted", rep.Totals.Deleted),
		zap.Int64("deletions_refused", rep.Totals.DeletionsRefused), zap.Strings("orphaned", rep.Orphaned),
		zap.String("report", rep.Location))
	return err
}

// modes decides copy or sync per bucket; auto syncs the buckets an earlier
// report shows cleanly copied, and copies the others.
func (r *runner) modes(ctx context.Context, fbucket fs.Fs, buckets []string) map[string]Mode {
	modes := map[string]Mode{}
	for _, b := range buckets {
		modes[b] = r.cfg.Mode
	}
	if r.cfg.Mode != ModeAuto {
		return modes
	}
	clean, err := cleanlyCopied(ctx, fbucket, r.cfg.ReportPrefix, buckets)
	if err != nil {
		r.log.Warn("could not read earlier reports; copying every bucket (copy never deletes)", zap.Error(err))
	}
	for _, b := range buckets {
		modes[b] = ModeCopy
		if clean[b] {
			modes[b] = ModeSync
		}
		r.log.Info("auto mode", zap.String("bucket", b), zap.String("mode", string(modes[b])), zap.Bool("earlier_clean_copy", clean[b]))
	}
	return modes
}
