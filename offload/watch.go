package offload

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Watch uploads what the snapshot directory holds, then every snapshot that
// appears in it, until ctx is cancelled; it returns nil on a clean stop. A
// directory that does not exist yet is waited for. An upload in progress
// when ctx ends is aborted, never left as a visible partial object.
func Watch(ctx context.Context, cfg Config, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	e, err := newEngine(ctx, cfg, log)
	if err != nil {
		return err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("start watcher: %w", err)
	}
	defer fsw.Close()
	log.Info("offload watching", zap.String("dir", cfg.SnapshotDir),
		zap.String("dest", cfg.Bucket+"/"+cfg.Hostname+"/"), zap.Duration("quiet_period", cfg.QuietPeriod),
		zap.Duration("rescan_interval", cfg.RescanInterval))
	w := &watcher{engine: e, dir: &dirWatch{dir: filepath.Clean(cfg.SnapshotDir), fsw: fsw, log: log}}
	w.loop(ctx)
	log.Info("offload stopped", zap.Int("pending", e.m.pending()))
	return nil
}

// watcher runs the engine for Watch.
type watcher struct {
	*engine
	dir *dirWatch
}

// result is an upload's answer to the loop.
type result struct {
	job
	outcome
	err error
}

// loop is Watch's one goroutine: it owns the engine and selects on file
// events, rescan ticks, the next quiet-period end or retry, and upload
// results. Uploads run one at a time on a second goroutine, so events keep
// coming while one runs.
func (w *watcher) loop(ctx context.Context) {
	uploadCtx := remoteCtx(ctx)
	results := make(chan result, 1)
	busy := false
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	rescan := time.NewTimer(jittered(w.cfg.RescanInterval))
	defer rescan.Stop()
	if w.dir.establish() {
		w.rescan(ctx)
	}
	for {
		now := time.Now()
		w.settleDue(now)
		if !busy {
			if j, ok := w.m.next(now); ok {
				busy = true
				go func() {
					o, err := w.up.upload(uploadCtx, j.name, j.look)
					results <- result{j, o, err}
				}()
			}
		}
		next := w.m.wake()
		if next.IsZero() {
			next = now.Add(time.Hour)
		}
		wake.Reset(next.Sub(now))
		select {
		case <-ctx.Done():
			if busy {
				// The cancelled upload aborts; wait so nothing is left running,
				// and keep the record if it completed after all.
				if r := <-results; r.err == nil {
					w.finish(r, time.Now())
				}
			}
			return
		case ev, ok := <-w.dir.fsw.Events:
			if !ok {
				return
			}
			name, scan := w.dir.event(ev)
			switch {
			case scan:
				w.rescan(ctx)
			case name != "":
				w.touch(name, time.Now())
			}
		case err, ok := <-w.dir.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("file events were lost: rescanning", zap.Error(err))
				w.rescan(ctx)
				continue
			}
			w.log.Warn("file watcher error", zap.Error(err))
		case <-rescan.C:
			if w.dir.watchingDir() || w.dir.establish() {
				w.rescan(ctx)
			} else {
				// Loud, once a rescan interval: no snapshot can be shipped.
				w.alert(fmt.Errorf("snapshot directory %s does not exist: is k3s running here? (a sandboxed service started before k3s created it sees it only after a restart)", w.dir.dir))
			}
			rescan.Reset(jittered(w.cfg.RescanInterval))
		case r := <-results:
			busy = false
			now := time.Now()
			if v, _ := w.finish(r, now); v == verdictDestFailed {
				w.retryLater(r, now)
			}
		case <-wake.C:
		}
	}
}

// rescan checks the destination still holds the newest recorded upload,
// ships the k3s token if it changed, then scans the directory.
func (w *watcher) rescan(ctx context.Context) {
	w.recheckDest(ctx)
	if err := w.shipToken(ctx); err != nil {
		w.alert(fmt.Errorf("k3s token: %w", err))
	}
	if _, err := w.scan(time.Now()); err != nil {
		w.log.Warn("cannot scan the snapshot directory", zap.Error(err))
	}
}

// retryLater keeps a snapshot the destination refused pending, and backs off.
func (w *watcher) retryLater(r result, now time.Time) {
	step := w.m.retry(r.name, now)
	if step.log {
		w.log.Error("upload failed: destination unreachable or refusing; snapshots stay pending and are retried",
			zap.String("name", r.name), zap.Error(r.err), zap.Int("consecutive_failures", step.failures),
			zap.Int("pending", w.m.pending()), zap.Duration("retry_in", step.delay),
			zap.Int("failures_not_logged", step.unlogged))
	}
	if step.failures == AlertAfterFailures {
		w.alert(fmt.Errorf("%d uploads in a row failed, snapshots are pending: %w", step.failures, r.err))
	}
}
