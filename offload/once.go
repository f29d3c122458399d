package offload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// Result is what one Once run did.
type Result struct {
	Uploaded []Upload
	Skipped  []string // already uploaded, or covered by their .zip twin
	Failed   []Failure
}

// Failure is a snapshot that was not uploaded, and why.
type Failure struct {
	Name string
	Err  error
}

// Once uploads every snapshot in the directory that is not uploaded yet,
// waiting out the quiet period of files written moments ago, and returns.
// The error is non-nil when any snapshot failed; each failure is in Result.
// A missing snapshot directory is a *exitcode.ConfigError.
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
	e.oneShot = true
	if err := e.scan(time.Now()); err != nil {
		return Result{}, fmt.Errorf("scan %s: %w", cfg.SnapshotDir, err)
	}
	e.loop(ctx, nil)
	r := e.result
	log.Info("offload once finished", zap.Int("uploaded", len(r.Uploaded)),
		zap.Int("skipped", len(r.Skipped)), zap.Int("failed", len(r.Failed)))
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("interrupted: %w", err)
	}
	if len(r.Failed) > 0 {
		errs := make([]error, len(r.Failed))
		for i, f := range r.Failed {
			errs[i] = fmt.Errorf("%s: %w", f.Name, f.Err)
		}
		return r, fmt.Errorf("%d of %d snapshots failed: %w", len(r.Failed), len(r.Failed)+len(r.Uploaded), errors.Join(errs...))
	}
	return r, nil
}
