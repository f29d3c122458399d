package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// mirrorPolicy is the mirror's side of a pass: what differs is copied
// over, and in sync mode the objects only in the mirror are planned for
// deletion (nil deletions: copy mode, which keeps them).
type mirrorPolicy struct {
	deletions *plannedDeletions
	log       *zap.Logger
}

func (m *mirrorPolicy) extra(dst object) error {
	if m.deletions == nil {
		return nil
	}
	return m.deletions.add(dst.key)
}

func (m *mirrorPolicy) equal(ctx context.Context, src, dst object) (verdict, string, error) {
	return mirrorRule(ctx, src, dst)
}

func (m *mirrorPolicy) differs(object) bool { return true }

func (m *mirrorPolicy) would(src object) {
	m.log.Debug("would copy", zap.String("object", src.key), zap.Int64("size", src.size))
}

// edit records the source's ETag with its copy, for a restore to tell the
// original from another object later.
func (m *mirrorPolicy) edit(meta fs.Metadata, src object) { meta[sourceETagKey] = src.etag }

// mirrorBucket copies (or syncs) one source bucket into its mirror, trying
// the whole bucket again on retryable errors, and returns its report entry
// and an error when it did not end ok.
func (r *runner) mirrorBucket(ctx context.Context, name string, mode Mode) (BucketReport, error) {
	start := time.Now()
	log := r.log.With(zap.String("bucket", name), zap.String("mode", string(mode)))
	br := BucketReport{Name: name, Mode: mode}
	runCtx := ctx // the audit's rotation is written outside the bucket's counters
	ctx, stats, stop := watchBucket(ctx, "mirror/"+name, name, r.cfg.Tuning, log)
	defer stop()
	ctx = withStop(ctx, r.stop) // past the deadline, no new check or transfer starts
	var t tally
	fail := func(err error) (BucketReport, error) {
		status, err := t.fail(ctx, name, err, log)
		br.ended(status, t, start)
		return br, err
	}
	c, err := r.copier(ctx, name, log)
	if err != nil {
		return fail(err)
	}
	audits := newRotation(r.fbucket, r.cfg.ReportPrefix, "audit", name)
	if c.audit, err = audits.slice(runCtx, r.cfg.Audit); err != nil {
		log.Warn("the audit starts again at its first slice", zap.Error(err))
		c.audit = Slice{Count: r.cfg.Audit.Count}
	}
	var last *mirrorPolicy
	res, pol, t := copyBucket(ctx, c, func() *mirrorPolicy {
		last.release()
		last = &mirrorPolicy{log: log}
		if mode == ModeSync {
			last.deletions = newPlannedDeletions()
		}
		return last
	})
	defer pol.release() // a spilled list's temp file
	br.SourceObjects, br.SourceBytes, br.MirrorObjects = res.srcObjects, res.srcBytes, res.dstObjects
	br.ByDate, br.Extra, br.Audited = res.byDate, res.extra, res.audited
	if c.audit.Count > 0 {
		br.AuditSlice = c.audit.String()
	}
	br.Checked, br.Transferred, br.Bytes = stats.GetChecks(), stats.GetTransfers(), stats.GetBytes()
	if r.cfg.DryRun {
		br.Transferred, br.Bytes = res.wouldCopy, res.wouldBytes
	}
	if len(res.errs) > 0 {
		if n := pol.deletions.count(); n > 0 {
			log.Warn("not deleting after errors", zap.Int64("planned_deletions", n))
		}
		return fail(fmt.Errorf("%d errors in the last of %d tries, nothing deleted; last error: %w", len(res.errs), t.attempts, res.errs[len(res.errs)-1]))
	}
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, c.dst, log); errors.Is(err, exitcode.ErrSafetyStop) {
		t.note(err.Error())
		br.ended(StatusAborted, t, start)
		log.Error("safety stop: nothing deleted", zap.Int64("deletions_refused", br.DeletionsRefused), zap.Error(err))
		return br, fmt.Errorf("bucket %s: %w", name, err)
	} else if err != nil {
		t.errors += stats.GetErrors()
		return fail(err)
	}
	br.ended(StatusOK, t, start)
	if !r.cfg.DryRun {
		if err := audits.advance(runCtx, c.audit); err != nil {
			log.Warn("the next run audits this slice again", zap.Error(err))
		}
	}
	log.Info("bucket done", zap.Int64("checked", br.Checked), zap.Int64("transferred", br.Transferred),
		zap.Int64("bytes", br.Bytes), zap.Int64("deleted", br.Deleted), zap.Int64("compared_by_date", br.ByDate),
		zap.Int("attempts", br.Attempts), zap.Bool("dry_run", r.cfg.DryRun))
	return br, nil
}

// release lets go of the policy's planned deletions (their temp file).
func (m *mirrorPolicy) release() {
	if m != nil {
		m.deletions.discard()
	}
}

// ended fills in how the bucket ended, what the tries came to, and how
// long it took.
func (b *BucketReport) ended(status string, t tally, start time.Time) {
	b.Status = status
	b.Attempts, b.Errors, b.ErrorMessages, b.DurationSeconds = t.outcome(start)
}

// watchBucket gives a bucket's work its own stats group (rclone's groups
// outlive a run, so its counters are reset), and shows its progress as
// tuning asks until stop is called.
func watchBucket(ctx context.Context, group, name string, tuning Tuning, log *zap.Logger) (_ context.Context, _ *accounting.StatsInfo, stop func()) {
	ctx = accounting.WithStatsGroup(ctx, group)
	stats := accounting.Stats(ctx)
	stats.ResetCounters()
	return ctx, stats, rcloneconf.ShowProgress(ctx, name, tuning.Display, log, tuning.ProgressInterval, nil)
}

// copier is the copier of bucket name into its mirror.
func (r *runner) copier(ctx context.Context, name string, log *zap.Logger) (copier, error) {
	c, err := r.cfg.copier(ctx, name, r.srcClient, r.dstClient)
	c.dryRun, c.tries, c.sleep, c.log = r.cfg.DryRun, r.cfg.Retries, r.cfg.RetriesSleep, log
	return c, err
}

// copier is what copies and compares bucket name of the scope with its
// mirror, listing and reading them through the two clients.
func (s Scope) copier(ctx context.Context, name string, src, dst *s3.Client) (copier, error) {
	c := copier{src: bucketPlace{client: src, bucket: name}, dst: bucketPlace{client: dst, bucket: s.DestBucket, prefix: name + "/"}}
	var err error
	if c.srcFs, err = s.Source.Fs(ctx, name); err != nil {
		return c, rcloneconf.Classify(rcloneconf.RGW, err)
	}
	if c.dstFs, err = s.Dest.Fs(ctx, s.DestBucket+"/"+name); err != nil {
		return c, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	return c, nil
}

// deleteMirrorOnly deletes the planned deletions, the mirror objects whose
// source is gone, from mirror after a pass without errors, unless a safety
// rule refuses them: then nothing is deleted at all and the error wraps
// exitcode.ErrSafetyStop.
func (r *runner) deleteMirrorOnly(ctx context.Context, br *BucketReport, res passResult, planned *plannedDeletions, mirror bucketPlace, log *zap.Logger) error {
	n := planned.count()
	if n == 0 {
		return nil
	}
	if res.srcObjects == 0 && !r.cfg.AllowEmptySource {
		br.DeletionsRefused = n
		return fmt.Errorf("%w: the source bucket lists empty while its mirror holds %d objects; refusing to delete them (if the bucket was really emptied, run once with %s=true)",
			exitcode.ErrSafetyStop, res.dstObjects, EnvAllowEmptySource)
	}
	if limit := r.cfg.MaxDelete.Limit(res.dstObjects); n > limit {
		br.DeletionsRefused = n
		return fmt.Errorf("%w: %d deletions planned, over the cap of %d (%s=%s of %d mirror objects); nothing deleted",
			exitcode.ErrSafetyStop, n, limit, EnvMaxDelete, r.cfg.MaxDelete, res.dstObjects)
	}
	if r.cfg.DryRun {
		br.Deleted = n
		return planned.each(func(key string) error {
			log.Debug("would delete", zap.String("object", key))
			return nil
		})
	}
	deleted, err := planned.deleteAll(ctx, mirror)
	br.Deleted = deleted
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("delete mirror-only objects: %w", rcloneconf.Classify(rcloneconf.MinIO, err))
	}
	log.Info("deleted mirror objects whose source is gone", zap.Int64("deleted", deleted))
	return nil
}
