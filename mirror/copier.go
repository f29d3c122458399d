package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap"
)

// copier is the bucket copier mirror and restore share: src into dst, one
// pass after another while the errors are worth another try. offsite lists
// and reads both places itself (the keys' own bytes, the ETags and dates,
// every header); rclone uploads.
type copier struct {
	src, dst     bucketPlace
	srcFs, dstFs fs.Fs // the same places through rclone: uploads go to dstFs
	dryRun       bool
	audit        Slice         // pairs whose headers and tags are read again, though the listings say equal
	tries        int           // passes at most, the first included
	sleep        time.Duration // pause between them, longer if the server asks
	log          *zap.Logger
}

// tally is what the tries at one bucket came to, for its report entry.
type tally struct {
	attempts int
	errors   int64
	messages []string // the first maxErrorMessages, and always the latest
}

// maxErrorMessages bounds the error messages kept per bucket in a report.
const maxErrorMessages = 10

// copyBucket runs passes, each with a fresh policy from newPolicy (which
// lets go of the last one's), until
// one has no error, c.tries have run, or the errors are not worth another
// (rclone's --retries loop, which the library leaves to its callers). It
// returns the last pass's result and policy. ctx carries the bucket's
// stats group.
func copyBucket[P policy](ctx context.Context, c copier, newPolicy func() P) (passResult, P, tally) {
	stats := accounting.Stats(ctx)
	stop := stopContext(ctx) // no new try after the deadline either
	var t tally
	for {
		t.attempts++
		pol := newPolicy()
		res := runPass(ctx, c, pol)
		t.errors += max(stats.GetErrors(), int64(len(res.errs)))
		for _, err := range res.errs {
			t.note(err.Error())
		}
		if len(res.errs) == 0 || stop.Err() != nil || t.attempts >= c.tries || stats.HadFatalError() || (stats.Errored() && !stats.HadRetryError()) {
			return res, pol, t
		}
		wait := c.sleep
		if after := time.Until(stats.RetryAfter()); after > wait {
			wait = after // the server asked for a longer pause
		}
		c.log.Warn("bucket had errors, trying it again", zap.Int("attempt", t.attempts), zap.Int("tries", c.tries),
			zap.Duration("wait", wait), zap.Int("errors", len(res.errs)), zap.Error(res.errs[len(res.errs)-1]))
		stats.ResetErrors()
		select {
		case <-stop.Done():
		case <-time.After(wait):
		}
	}
}

// outcome is what a report entry says of the tries at a bucket started at
// start: attempts, errors, their messages, and how long it took.
func (t tally) outcome(start time.Time) (int, int64, []string, float64) {
	return t.attempts, t.errors, t.messages, time.Since(start).Seconds()
}

// note keeps msg among the bucket's error messages.
func (t *tally) note(msg string) { t.messages = appendMessage(t.messages, msg) }

// fail ends a bucket that did not make it: incomplete when the run was
// cancelled or reached its deadline (cut short), failed otherwise. It
// returns the status and err named after the bucket.
func (t *tally) fail(ctx context.Context, bucket string, err error, log *zap.Logger) (status string, _ error) {
	t.errors = max(t.errors, 1)
	if len(t.messages) == 0 {
		t.note(err.Error())
	}
	cut := ""
	switch cause := context.Cause(stopContext(ctx)); {
	case ctx.Err() != nil:
		cut = "the run was cancelled"
	case errors.Is(cause, errDeadline):
		cut = cause.Error()
	}
	if cut == "" {
		log.Error("bucket failed", zap.Error(err))
		return StatusFailed, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	t.note("cut short: " + cut)
	log.Error("bucket cut short: "+cut, zap.Error(err))
	return StatusIncomplete, fmt.Errorf("bucket %s: cut short: %w", bucket, err)
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
