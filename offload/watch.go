package offload

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("start watcher: %w", err)
	}
	defer w.Close()
	log.Info("offload watching", zap.String("dir", cfg.SnapshotDir),
		zap.String("dest", cfg.Bucket+"/"+cfg.Hostname+"/"), zap.Duration("quiet_period", cfg.QuietPeriod),
		zap.Duration("rescan_interval", cfg.RescanInterval))

	signals := make(chan signal, 256)
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	d := &dirWatcher{dir: filepath.Clean(cfg.SnapshotDir), w: w, log: log, rescanEvery: cfg.RescanInterval}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		d.run(watchCtx, signals)
	}()
	e.loop(ctx, signals)
	stop()
	<-stopped
	log.Info("offload stopped", zap.Int("pending", len(e.files)))
	return nil
}

// dirWatcher turns fsnotify events into signals for the engine. It watches
// the snapshot directory itself, or while that does not exist, its nearest
// existing ancestor, and asks for a rescan whenever the directory (re)appears,
// events were lost, or the rescan interval has passed.
type dirWatcher struct {
	dir         string
	w           *fsnotify.Watcher
	watching    string // the directory, an ancestor, or "" for nothing
	log         *zap.Logger
	rescanEvery time.Duration
	out         chan<- signal
	ctx         context.Context
}

func (d *dirWatcher) run(ctx context.Context, out chan<- signal) {
	d.ctx, d.out = ctx, out
	d.establish()
	rescan := time.NewTimer(jittered(d.rescanEvery))
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-d.w.Events:
			if !ok {
				return
			}
			d.event(ev)
		case err, ok := <-d.w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				d.log.Warn("file events were lost: rescanning", zap.Error(err))
				d.send(signal{rescan: true})
				continue
			}
			d.log.Warn("file watcher error", zap.Error(err))
		case <-rescan.C:
			if d.watching == d.dir {
				d.send(signal{rescan: true})
			} else {
				d.establish()
			}
			rescan.Reset(jittered(d.rescanEvery))
		}
	}
}

func (d *dirWatcher) send(s signal) {
	select {
	case d.out <- s:
	case <-d.ctx.Done():
	}
}

func (d *dirWatcher) event(ev fsnotify.Event) {
	if d.watching != d.dir {
		d.establish() // something changed on the way to the directory
		return
	}
	switch {
	case ev.Name == d.dir && ev.Has(fsnotify.Remove|fsnotify.Rename):
		d.log.Warn("snapshot directory went away: waiting for it to come back", zap.String("dir", d.dir))
		_ = d.w.Remove(d.dir)
		d.watching = ""
		d.establish()
	case filepath.Dir(ev.Name) == d.dir:
		d.send(signal{name: filepath.Base(ev.Name)})
	}
}

// establish watches the directory if it exists (and asks for a scan), or
// else its nearest existing ancestor, so its creation is noticed.
func (d *dirWatcher) establish() {
	for {
		if isDir(d.dir) {
			if d.watching != d.dir {
				if err := d.w.Add(d.dir); err != nil {
					d.log.Error("cannot watch the snapshot directory; retrying at the next rescan", zap.String("dir", d.dir), zap.Error(err))
					return
				}
				if d.watching != "" {
					_ = d.w.Remove(d.watching)
				}
				d.watching = d.dir
			}
			d.send(signal{rescan: true})
			return
		}
		anc := nearestDir(d.dir)
		if anc == d.watching {
			return
		}
		if err := d.w.Add(anc); err != nil {
			d.log.Error("cannot watch for the snapshot directory; retrying at the next rescan", zap.String("dir", anc), zap.Error(err))
			return
		}
		if d.watching != "" {
			_ = d.w.Remove(d.watching)
		}
		d.watching = anc
		d.log.Info("snapshot directory does not exist yet: waiting for it", zap.String("dir", d.dir), zap.String("watching", anc))
	}
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// nearestDir is the closest existing ancestor directory of path.
func nearestDir(path string) string {
	p := filepath.Dir(path)
	for !isDir(p) && p != filepath.Dir(p) {
		p = filepath.Dir(p)
	}
	return p
}
