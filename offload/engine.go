package offload

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	rfs "github.com/rclone/rclone/fs"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// destLogInterval is how often a destination that keeps failing is logged.
const destLogInterval = time.Minute

// tracked is a snapshot seen and not uploaded yet.
type tracked struct {
	look      look
	due       time.Time // quiet period ends; zero when not waiting
	ready     bool      // in the upload queue
	uploading bool
	failed    bool // failed a check or a read: waits for a change or a rescan
	corrupt   bool // failed its integrity check: waits for a change
	attempts  int
}

// engine decides what to upload and when. One goroutine (run) owns all its
// fields; uploads run one at a time on a second goroutine.
type engine struct {
	cfg      Config
	log      *zap.Logger
	up       *uploader
	state    *state
	counters *Counters
	oneShot  bool // Once: one attempt per file, stop when idle

	files map[string]*tracked
	queue []string

	destFailures  int
	destRetryAt   time.Time
	destLoggedAt  time.Time
	suppressedErr int

	result Result
}

// newEngine validates cfg, opens the state and the destination.
func newEngine(ctx context.Context, cfg Config, log *zap.Logger) (*engine, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := openStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	dest := cfg.Bucket + "/" + cfg.Hostname
	st, err := loadState(cfg.StateDir, dest, log)
	if err != nil {
		return nil, err
	}
	// The trailing slash spares rclone a HEAD to see whether the prefix is a
	// file, which would hang the start while the destination is down.
	dst, err := cfg.Dest.Fs(rcloneCtx(ctx), dest+"/")
	if err != nil {
		return nil, exitcode.Configf(EnvBucket, "%v", err)
	}
	counters := cfg.Counters
	if counters == nil {
		counters = &Counters{}
	}
	return &engine{
		cfg: cfg, log: log, state: st, counters: counters,
		up:    &uploader{dst: dst, dir: cfg.SnapshotDir, host: cfg.Hostname, verifyFormat: cfg.VerifyFormat},
		files: map[string]*tracked{},
	}, nil
}

// rcloneCtx sets rclone's options for offload's remote: few low-level
// retries (the S3 backend takes them from the context it is opened with),
// since offload retries a failing destination itself, with backoff.
func rcloneCtx(ctx context.Context) context.Context {
	ctx, ci := rfs.AddConfig(ctx)
	ci.LowLevelRetries = 2
	return ctx
}

// touched handles an event on, or a sighting of, a file in the directory:
// it (re)starts the file's quiet period.
func (e *engine) touched(name string, now time.Time) {
	if !e.cfg.wanted(name) {
		return
	}
	info, err := os.Stat(filepath.Join(e.cfg.SnapshotDir, name))
	if err != nil || !info.Mode().IsRegular() {
		e.gone(name, err)
		if raw, ok := strings.CutSuffix(name, ".zip"); ok && errors.Is(err, fs.ErrNotExist) {
			// A zip that went away leaves its raw snapshot to be shipped
			// (k3s removes a zip whose compression failed).
			e.touched(raw, now)
		}
		return
	}
	l := lookOf(info)
	if e.state.uploaded(name, l.size, l.mtime) {
		e.forget(name)
		return
	}
	t := e.track(name)
	if t.failed && t.corrupt && t.look.equal(l) {
		return // same bytes that failed their check: wait for a change
	}
	t.look, t.due, t.failed, t.corrupt = l, now.Add(e.cfg.QuietPeriod), false, false
	e.unqueue(name)
}

// seen handles a file found by a scan: one not tracked yet is armed so that
// its quiet period counts from its mtime, not from the scan.
func (e *engine) seen(name string, info fs.FileInfo, now time.Time) {
	if !e.cfg.wanted(name) || !info.Mode().IsRegular() {
		return
	}
	l := lookOf(info)
	if e.state.uploaded(name, l.size, l.mtime) {
		if e.oneShot {
			e.result.Skipped = append(e.result.Skipped, name)
		}
		return
	}
	if t, ok := e.files[name]; ok {
		if t.failed && !(t.corrupt && t.look.equal(l)) {
			e.touched(name, now) // a read error is retried at each rescan
		}
		return
	}
	t := e.track(name)
	t.look, t.due = l, l.mtime.Add(e.cfg.QuietPeriod)
	if t.due.Before(now) {
		t.due = now
	}
}

// gone handles a file that is no longer there (or no longer a file).
func (e *engine) gone(name string, err error) {
	t, ok := e.files[name]
	if !ok {
		return
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.Warn("cannot stat snapshot", zap.String("name", name), zap.Error(err))
		return
	}
	if t.uploading {
		return // the upload's result decides
	}
	e.log.Info("snapshot deleted before it was uploaded (k3s retention?): forgotten", zap.String("name", name))
	e.forget(name)
}

func (e *engine) track(name string) *tracked {
	t, ok := e.files[name]
	if !ok {
		t = &tracked{}
		e.files[name] = t
		e.counters.pending.Store(int64(len(e.files)))
	}
	return t
}

func (e *engine) forget(name string) {
	e.unqueue(name)
	delete(e.files, name)
	e.counters.pending.Store(int64(len(e.files)))
}

func (e *engine) unqueue(name string) {
	t, ok := e.files[name]
	if !ok || !t.ready {
		return
	}
	t.ready = false
	for i, n := range e.queue {
		if n == name {
			e.queue = append(e.queue[:i], e.queue[i+1:]...)
			return
		}
	}
}

// fireDue ends the quiet period of every file whose time has come: a file
// that still has the look it was armed with is queued, otherwise re-armed.
func (e *engine) fireDue(now time.Time) {
	var due []string
	for name, t := range e.files {
		if !t.due.IsZero() && !t.due.After(now) && !t.uploading {
			due = append(due, name)
		}
	}
	sort.Strings(due) // k3s names sort by time within a prefix: oldest first
	for _, name := range due {
		e.fire(name, now)
	}
}

func (e *engine) fire(name string, now time.Time) {
	t := e.files[name]
	t.due = time.Time{}
	path := filepath.Join(e.cfg.SnapshotDir, name)
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		e.gone(name, err)
		return
	}
	if l := lookOf(info); !l.equal(t.look) {
		t.look, t.due = l, now.Add(e.cfg.QuietPeriod)
		return
	}
	if !IsZip(name) {
		// k3s compresses a raw snapshot into <name>.zip, then deletes the
		// raw one: while the zip is there, it is the one to ship.
		if _, err := os.Stat(path + ".zip"); err == nil {
			e.log.Debug("raw snapshot has a compressed twin: shipping the zip only", zap.String("name", name))
			if e.oneShot {
				e.result.Skipped = append(e.result.Skipped, name)
			}
			e.forget(name)
			return
		}
	}
	if e.state.uploaded(name, t.look.size, t.look.mtime) {
		e.forget(name)
		return
	}
	t.ready = true
	e.queue = append(e.queue, name)
}

// nextWake is when the loop next has something to do (zero: nothing).
func (e *engine) nextWake() time.Time {
	var next time.Time
	for _, t := range e.files {
		if !t.due.IsZero() && !t.uploading && (next.IsZero() || t.due.Before(next)) {
			next = t.due
		}
	}
	if len(e.queue) > 0 && !e.destRetryAt.IsZero() && (next.IsZero() || e.destRetryAt.Before(next)) {
		next = e.destRetryAt
	}
	return next
}

// job is one upload handed to the upload goroutine.
type job struct {
	name string
	look look
}

// result is the upload goroutine's answer.
type result struct {
	job
	outcome
	err error
}

// next pops the file to upload now, if any may go.
func (e *engine) next(now time.Time) (job, bool) {
	if len(e.queue) == 0 || now.Before(e.destRetryAt) {
		return job{}, false
	}
	name := e.queue[0]
	e.queue = e.queue[1:]
	t := e.files[name]
	t.ready, t.uploading = false, true
	t.attempts++
	return job{name, t.look}, true
}

// done applies an upload's result.
func (e *engine) done(r result, now time.Time) {
	t, ok := e.files[r.name]
	if !ok {
		t = &tracked{attempts: 1}
	}
	t.uploading = false
	log := e.log.With(zap.String("name", r.name))
	switch {
	case r.err == nil:
		e.succeeded(r, t, now)
	case errors.Is(r.err, context.Canceled) && e.oneShot:
		e.fail(r.name, r.err)
	case errors.Is(r.err, errChanged):
		log.Info("snapshot changed while being uploaded: waiting for it to settle", zap.Error(r.err))
		e.touched(r.name, now)
	case errors.Is(r.err, ErrCorrupt):
		e.counters.failed.Add(1)
		log.Error("snapshot failed its integrity check: not uploaded; retried when it changes", zap.Error(r.err))
		t.failed, t.corrupt = true, true
		e.fail(r.name, r.err)
	case isLocal(r.err):
		if errors.Is(r.err, fs.ErrNotExist) {
			log.Info("snapshot deleted before its upload finished (k3s retention?): forgotten")
			e.forget(r.name)
			return
		}
		e.counters.failed.Add(1)
		log.Error("cannot read snapshot: not uploaded; retried at the next rescan", zap.Error(r.err))
		t.failed = true
		e.fail(r.name, r.err)
	default:
		e.counters.failed.Add(1)
		e.destFailed(r, t, now)
	}
}

func (e *engine) succeeded(r result, t *tracked, now time.Time) {
	if e.destFailures > 0 {
		e.log.Info("destination reachable again", zap.Int("failed_attempts", e.destFailures))
	}
	e.destFailures, e.destRetryAt, e.suppressedErr = 0, time.Time{}, 0
	u := r.upload
	rec := Record{Size: u.Size, ModTime: r.look.mtime, SHA256: u.SHA256, Uploaded: u.At}
	if r.present {
		rec.Uploaded = now
	}
	if err := e.state.record(r.name, rec); err != nil {
		// The upload stands; only the memory of it is at risk, and the
		// destination check would still stop a second upload.
		e.log.Error("cannot save state", zap.Error(err))
	}
	if r.present {
		e.log.Info("snapshot already at the destination (sidecar matches): recorded, not uploaded again",
			zap.String("name", r.name), zap.String("key", u.Key), zap.String("sha256", u.SHA256))
		if e.oneShot {
			e.result.Skipped = append(e.result.Skipped, r.name)
		}
	} else {
		u.Attempt = t.attempts
		e.counters.recordUpload(u)
		e.log.Info("snapshot uploaded", zap.String("name", r.name), zap.String("key", u.Key),
			zap.Int64("bytes", u.Size), zap.String("sha256", u.SHA256),
			zap.Duration("duration", u.Duration), zap.Int("attempt", u.Attempt))
		if e.oneShot {
			e.result.Uploaded = append(e.result.Uploaded, u)
		}
		if e.cfg.OnUpload != nil {
			e.cfg.OnUpload(u)
		}
	}
	if t.due.IsZero() {
		e.forget(r.name)
	} // else it changed during the upload and will be looked at again
}

// destFailed puts the file back at the end of the queue and backs off.
func (e *engine) destFailed(r result, t *tracked, now time.Time) {
	if e.oneShot {
		e.log.Error("upload failed", zap.String("name", r.name), zap.Error(r.err))
		e.fail(r.name, r.err)
		return
	}
	e.destFailures++
	delay := backoff(e.cfg.BackoffMin, e.cfg.BackoffMax, e.destFailures)
	e.destRetryAt = now.Add(delay)
	if t.due.IsZero() {
		t.ready = true
		e.queue = append(e.queue, r.name)
	}
	if e.destFailures == 1 || now.Sub(e.destLoggedAt) >= destLogInterval {
		e.log.Error("upload failed: destination unreachable or refusing; snapshots stay pending and are retried",
			zap.String("name", r.name), zap.Error(r.err), zap.Int("consecutive_failures", e.destFailures),
			zap.Int("pending", len(e.files)), zap.Duration("retry_in", delay),
			zap.Int("failures_not_logged", e.suppressedErr))
		e.destLoggedAt, e.suppressedErr = now, 0
		return
	}
	e.suppressedErr++
}

// fail records a failure in Once's result and stops tracking the file there.
func (e *engine) fail(name string, err error) {
	if !e.oneShot {
		return
	}
	e.result.Failed = append(e.result.Failed, Failure{Name: name, Err: err})
	e.forget(name)
}

func isLocal(err error) bool {
	var l *localError
	return errors.As(err, &l)
}

// backoff is min * 2^(n-1), capped at max.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return minDuration(d, max)
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// jittered adds up to 10% to d, so hosts that started together do not
// rescan together.
func jittered(d time.Duration) time.Duration {
	return d + rand.N(d/10+1)
}

// scan looks at every file in the directory: new ones are armed, tracked
// ones that are gone are forgotten, and the state forgets what k3s deleted.
func (e *engine) scan(now time.Time) error {
	entries, err := os.ReadDir(e.cfg.SnapshotDir)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, de := range entries {
		present[de.Name()] = true
		info, err := de.Info()
		if err != nil {
			continue // deleted since the listing
		}
		e.seen(de.Name(), info, now)
	}
	for name, t := range e.files {
		if !present[name] && !t.uploading {
			e.forget(name)
		}
	}
	if err := e.state.prune(present); err != nil {
		e.log.Error("cannot save state", zap.Error(err))
	}
	return nil
}

// signal is news for the loop: a file name that had an event, or a request
// for a full rescan.
type signal struct {
	name   string
	rescan bool
}

// loop runs the engine until ctx ends or, for Once, nothing is left.
// signals may be nil (Once).
func (e *engine) loop(ctx context.Context, signals <-chan signal) {
	uploadCtx := rcloneCtx(ctx)
	results := make(chan result, 1)
	busy := false
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		e.fireDue(now)
		if !busy {
			if j, ok := e.next(now); ok {
				busy = true
				go func() {
					o, err := e.up.upload(uploadCtx, j.name, j.look)
					results <- result{j, o, err}
				}()
			}
		}
		if e.oneShot && !busy && len(e.files) == 0 {
			return
		}
		wake := e.nextWake()
		if wake.IsZero() {
			wake = now.Add(time.Hour)
		}
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			if busy {
				// The cancelled upload aborts; wait so nothing is left running,
				// and keep the record if it completed after all.
				if r := <-results; r.err == nil {
					e.done(r, time.Now())
				}
			}
			return
		case s := <-signals:
			if s.rescan {
				if err := e.scan(time.Now()); err != nil {
					e.log.Warn("cannot scan the snapshot directory", zap.Error(err))
				}
				continue
			}
			e.touched(s.name, time.Now())
		case r := <-results:
			busy = false
			e.done(r, time.Now())
		case <-timer.C:
		}
	}
}
