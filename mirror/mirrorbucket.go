package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/operations"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// maxErrorMessages bounds the error messages kept per bucket in the report.
const maxErrorMessages = 10

// mirrorBucket copies (or syncs) one source bucket into its mirror, trying
// the whole bucket again on retryable errors, and returns its report entry
// and an error when it did not end ok.
func (r *runner) mirrorBucket(ctx context.Context, name string, mode Mode) (BucketReport, error) {
	start := time.Now()
	log := r.log.With(zap.String("bucket", name), zap.String("mode", string(mode)))
	br := BucketReport{Name: name, Mode: mode}

	// Each bucket has its own counters; groups outlive a run, so reset.
	ctx = accounting.WithStatsGroup(ctx, "mirror/"+name)
	stats := accounting.Stats(ctx)
	stats.ResetCounters()
	defer progress(ctx, stats, log, r.cfg.ProgressInterval, r.cfg.Display, name)()
	ctx = withStop(ctx, r.stop) // past the deadline, no new check or transfer starts

	fail := func(err error) (BucketReport, error) { return failBucket(ctx, br, start, log, err) }
	fsrc, err := r.cfg.Source.Fs(ctx, name)
	if err != nil {
		return fail(err)
	}
	fdst, err := r.cfg.Dest.Fs(ctx, r.cfg.DestBucket+"/"+name)
	if err != nil {
		return fail(err)
	}

	res := tryPasses(ctx, &br, r.cfg.Retries, r.cfg.RetriesSleep, log, func() passResult {
		return runPass(ctx, fsrc, fdst, mode == ModeSync, r.cfg.DryRun, log)
	})
	defer res.planned.discard() // a spilled list's temp file
	br.SourceObjects, br.SourceBytes, br.MirrorObjects = res.srcObjects, res.srcBytes, res.dstObjects
	br.SizeOnly, br.Extra = res.sizeOnly, res.extra
	br.Checked, br.Transferred, br.Bytes = stats.GetChecks(), stats.GetTransfers(), stats.GetBytes()
	if r.cfg.DryRun {
		br.Transferred, br.Bytes = res.wouldCopy, res.wouldBytes
	}
	if len(res.errs) > 0 {
		if n := res.planned.count(); n > 0 {
			log.Warn("not deleting after errors", zap.Int64("planned_deletions", n))
		}
		return fail(fmt.Errorf("%d errors in the last of %d tries, nothing deleted; last error: %w", len(res.errs), br.Attempts, res.errs[len(res.errs)-1]))
	}
	if mode == ModeSync {
		if err := r.deleteMirrorOnly(ctx, &br, res, log); err != nil {
			if errors.Is(err, exitcode.ErrSafetyStop) {
				br.Status = StatusAborted
				br.ErrorMessages = appendMessage(br.ErrorMessages, err.Error())
				br.DurationSeconds = time.Since(start).Seconds()
				log.Error("safety stop: nothing deleted", zap.Int64("deletions_refused", br.DeletionsRefused), zap.Error(err))
				return br, fmt.Errorf("bucket %s: %w", name, err)
			}
			br.Errors += stats.GetErrors()
			return fail(err)
		}
	}
	br.Status = StatusOK
	br.DurationSeconds = time.Since(start).Seconds()
	log.Info("bucket done", zap.Int64("checked", br.Checked), zap.Int64("transferred", br.Transferred),
		zap.Int64("bytes", br.Bytes), zap.Int64("deleted", br.Deleted), zap.Int64("compared_size_only", br.SizeOnly),
		zap.Int("attempts", br.Attempts), zap.Bool("dry_run", r.cfg.DryRun))
	return br, nil
}

// failBucket ends br as failed, or as incomplete when the run was
// cancelled or reached its deadline, and returns it with err named after
// the bucket.
func failBucket(ctx context.Context, br BucketReport, start time.Time, log *zap.Logger, err error) (BucketReport, error) {
	br.Status = StatusFailed
	if br.Errors == 0 {
		br.Errors = 1
	}
	if len(br.ErrorMessages) == 0 {
		br.ErrorMessages = appendMessage(br.ErrorMessages, err.Error())
	}
	br.DurationSeconds = time.Since(start).Seconds()
	if ctx.Err() != nil {
		br.Status = StatusIncomplete
		br.ErrorMessages = appendMessage(br.ErrorMessages, "cut short: the run was cancelled")
		log.Error("bucket cut short: the run was cancelled", zap.Error(err))
		return br, fmt.Errorf("bucket %s: cut short: %w", br.Name, err)
	}
	if cause := context.Cause(stopContext(ctx)); errors.Is(cause, errDeadline) {
		br.Status = StatusIncomplete
		br.ErrorMessages = appendMessage(br.ErrorMessages, "cut short: "+cause.Error())
		log.Error("bucket cut short: the run reached its deadline", zap.Error(err))
		return br, fmt.Errorf("bucket %s: cut short: %w", br.Name, err)
	}
	log.Error("bucket failed", zap.Error(err))
	return br, fmt.Errorf("bucket %s: %w", br.Name, err)
}

// tryPasses runs pass until it has no error, or tries times, or the
// errors are not worth another try (rclone's --retries loop, which the
// library leaves to its callers), and counts tries and errors in br. It
// returns the last pass's result.
func tryPasses(ctx context.Context, br *BucketReport, tries int, sleep time.Duration, log *zap.Logger, pass func() passResult) passResult {
	stats := accounting.Stats(ctx)
	stop := stopContext(ctx) // no new try after the deadline either
	for attempt := 1; ; attempt++ {
		br.Attempts = attempt
		res := pass()
		br.Errors += max(stats.GetErrors(), int64(len(res.errs)))
		for _, err := range res.errs {
			br.ErrorMessages = appendMessage(br.ErrorMessages, err.Error())
		}
		if len(res.errs) == 0 || stop.Err() != nil || attempt >= tries || stats.HadFatalError() || (stats.Errored() && !stats.HadRetryError()) {
			return res
		}
		res.planned.discard() // another try plans again
		wait := sleep
		if after := time.Until(stats.RetryAfter()); after > wait {
			wait = after // the server asked for a longer pause
		}
		log.Warn("bucket had errors, trying it again", zap.Int("attempt", attempt), zap.Int("tries", tries),
			zap.Duration("wait", wait), zap.Int("errors", len(res.errs)), zap.Error(res.errs[len(res.errs)-1]))
		stats.ResetErrors()
		select {
		case <-stop.Done():
		case <-time.After(wait):
		}
	}
}

// deleteMirrorOnly deletes the mirror objects whose source is gone, after
// a pass without errors, unless a safety rule refuses them: then nothing is
// deleted at all and the error wraps exitcode.ErrSafetyStop.
func (r *runner) deleteMirrorOnly(ctx context.Context, br *BucketReport, res passResult, log *zap.Logger) error {
	planned := res.planned.count()
	if planned == 0 {
		return nil
	}
	if res.srcObjects == 0 && !r.cfg.AllowEmptySource {
		br.DeletionsRefused = planned
		return fmt.Errorf("%w: the source bucket lists empty while its mirror holds %d objects; refusing to delete them (if the bucket was really emptied, run once with %s=true)",
			exitcode.ErrSafetyStop, res.dstObjects, EnvAllowEmptySource)
	}
	if limit := r.cfg.MaxDelete.Limit(res.dstObjects); planned > limit {
		br.DeletionsRefused = planned
		return fmt.Errorf("%w: %d deletions planned, over the cap of %d (%s=%s of %d mirror objects); nothing deleted",
			exitcode.ErrSafetyStop, planned, limit, EnvMaxDelete, r.cfg.MaxDelete, res.dstObjects)
	}
	if r.cfg.DryRun {
		br.Deleted = planned
		return res.planned.each(func(remote string, _ fs.Object) error {
			log.Debug("would delete", zap.String("object", remote))
			return nil
		})
	}
	ch := make(fs.ObjectsChan, fs.GetConfig(ctx).Checkers)
	found := make(chan error, 1)
	go func() { found <- res.planned.objects(ctx, ch) }()
	err := operations.DeleteFiles(ctx, ch)
	br.Deleted = accounting.Stats(ctx).GetDeletes()
	if err == nil {
		err = <-found
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("delete mirror-only objects: %w", err)
	}
	return nil
}

// appendMessage keeps the first messages, and always the latest one.
func appendMessage(msgs []string, msg string) []string {
	for _, m := range msgs {
		if m == msg {
			return msgs
		}
	}
	if len(msgs) >= maxErrorMessages {
		msgs[len(msgs)-1] = msg
		return msgs
	}
	return append(msgs, msg)
}
