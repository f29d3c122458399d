package offload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Result is what one Once run did.
type Result struct {
	Uploaded []Upload
	Skipped  []string // already uploaded, or covered by their .zip twin
	Failed   []Failure
}

// Failure is a snapshot (or the k3s token, TokenObject) that was not
// uploaded, and why.
type Failure struct {
	Name string
	Err  error
}

// Once uploads every snapshot in the directory that is not uploaded yet,
// waiting out the quiet period of files written moments ago, and returns.
// Each file gets one try. The error is non-nil when any snapshot failed;
// each failure is in Result. A missing snapshot directory is a
// configuration error.
func Once(ctx context.Context, cfg Config, log *zap.Logger) (Result, error) {
	if log == nil {
		log = zap.NewNop()
	}
	info, err := os.Stat(cfg.SnapshotDir)
	switch {
	case err != nil:
		return Result{}, &exitcode.ConfigError{Var: EnvSnapshotDir, Err: err}
	case !info.IsDir():
		return Result{}, exitcode.Configf(EnvSnapshotDir, "%s is not a directory", cfg.SnapshotDir)
	}
	e, err := newEngine(ctx, cfg, log)
	if err != nil {
		return Result{}, err
	}
	r, err := e.once(ctx)
	log.Info("offload once finished", zap.Int("uploaded", len(r.Uploaded)),
		zap.Int("skipped", len(r.Skipped)), zap.Int("failed", len(r.Failed)))
	if err != nil {
		return r, err
	}
	if len(r.Failed) > 0 {
		for _, f := range r.Failed {
			var cfgErr *exitcode.ConfigError
			if err := rcloneconf.Classify(rcloneconf.MinIO, f.Err); errors.As(err, &cfgErr) {
				return r, err // refused keys or a CA that does not fit: the operator's mistake
			}
		}
		errs := make([]error, len(r.Failed))
		for i, f := range r.Failed {
			errs[i] = fmt.Errorf("%s: %w", f.Name, f.Err)
		}
		return r, fmt.Errorf("%d of %d uploads failed: %w", len(r.Failed), len(r.Failed)+len(r.Uploaded), errors.Join(errs...))
	}
	return r, nil
}

// once drives the machine until every file it saw in one scan is uploaded
// or has failed, uploading on the caller's goroutine.
func (e *engine) once(ctx context.Context) (Result, error) {
	var r Result
	e.recheckDest(ctx)
	if err := e.shipToken(ctx); err != nil {
		r.Failed = append(r.Failed, Failure{Name: TokenObject, Err: err})
	}
	uploaded, err := e.scan(time.Now())
	if err != nil {
		return r, fmt.Errorf("scan %s: %w", e.cfg.SnapshotDir, err)
	}
	r.Skipped = uploaded
	uploadCtx := remoteCtx(ctx)
	for ctx.Err() == nil {
		now := time.Now()
		r.Skipped = append(r.Skipped, e.settleDue(now)...)
		if j, ok := e.m.next(now); ok {
			o, err := e.up.upload(uploadCtx, j.name, j.look)
			switch v, u := e.finish(result{j, o, err}, time.Now()); v {
			case verdictUploaded:
				r.Uploaded = append(r.Uploaded, u)
			case verdictPresent:
				r.Skipped = append(r.Skipped, j.name)
			case verdictCorrupt, verdictUnreadable, verdictDestFailed:
				if v == verdictDestFailed {
					e.log.Error("upload failed", zap.String("name", j.name), zap.Error(err))
				}
				r.Failed = append(r.Failed, Failure{Name: j.name, Err: err})
				e.m.forget(j.name)
			}
			continue
		}
		if e.m.pending() == 0 {
			return r, nil
		}
		next := e.m.wake()
		if next.IsZero() {
			// Only files that wait for a change are left: for one try, failed.
			for _, name := range e.m.waiting() {
				r.Failed = append(r.Failed, Failure{Name: name, Err: errors.New("could not be looked at (see the log)")})
				e.m.forget(name)
			}
			return r, nil
		}
		wait := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
		case <-wait.C:
		}
		wait.Stop()
	}
	return r, fmt.Errorf("interrupted: %w", ctx.Err())
}
