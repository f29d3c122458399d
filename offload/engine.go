package offload

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// verdict is what one upload attempt came to.
type verdict int

const (
	verdictUploaded   verdict = iota // uploaded, sidecar written
	verdictPresent                   // at the destination already: recorded, not uploaded
	verdictChanged                   // changed while read: waits for a new quiet period
	verdictCorrupt                   // failed its integrity check: waits for a change
	verdictUnreadable                // could not be read: retried at the next rescan
	verdictGone                      // deleted before its upload finished
	verdictDestFailed                // the destination failed or refused
)

func verdictOf(r result) verdict {
	switch {
	case r.err == nil && r.present:
		return verdictPresent
	case r.err == nil:
		return verdictUploaded
	case errors.Is(r.err, errChanged):
		return verdictChanged
	case errors.Is(r.err, ErrCorrupt):
		return verdictCorrupt
	case isLocal(r.err) && errors.Is(r.err, fs.ErrNotExist):
		return verdictGone
	case isLocal(r.err):
		return verdictUnreadable
	}
	return verdictDestFailed
}

// engine is what Watch and Once share: the machine, what it is told of the
// snapshot directory, the uploader it hands files to, and the state and
// counters an upload's result goes to.
type engine struct {
	cfg      Config
	log      *zap.Logger
	m        *machine
	up       uploader
	state    *state
	counters *Counters
	token    *tokenShipper // nil without a token file
	alerted  bool          // OnFailure was called, and no snapshot made it since
}

// newEngine validates cfg, reads the token file (if any) once, opens the
// state and the destination.
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
	if cfg.TokenFile != "" {
		if _, err := readToken(cfg.TokenFile); err != nil {
			return nil, err
		}
	}
	dest := cfg.Bucket + "/" + cfg.Hostname
	st, err := loadState(cfg.StateDir, dest, log)
	if err != nil {
		return nil, err
	}
	if err := cfg.Limits.Apply(); err != nil {
		return nil, err
	}
	dst, err := cfg.Dest.Fs(remoteCtx(ctx), dest) // no request: the start never waits for the destination
	if err != nil {
		return nil, exitcode.Configf(EnvBucket, "%v", err)
	}
	counters := cfg.Counters
	if counters == nil {
		counters = &Counters{}
	}
	var token *tokenShipper
	if cfg.TokenFile != "" {
		token = &tokenShipper{path: cfg.TokenFile, dst: dst, recipients: cfg.Recipients, state: st, log: log}
	}
	return &engine{
		cfg: cfg, log: log, state: st, counters: counters, token: token,
		m: newMachine(cfg.QuietPeriod, func(name string, l look) bool { return st.uploaded(name, l.size, l.mtime) },
			destRetry{min: cfg.BackoffMin, max: cfg.BackoffMax}),
		up: &remoteUploader{dst: dst, dir: cfg.SnapshotDir, host: cfg.Hostname, verifyFormat: cfg.VerifyFormat, recipients: cfg.Recipients, display: cfg.Display},
	}, nil
}

// destCheckTimeout bounds the look for the newest recorded upload.
const destCheckTimeout = 30 * time.Second

// recheckDest asks the destination for the sidecar of the newest snapshot
// the state records as uploaded. When it is gone (the host's prefix wiped,
// the bucket recreated), the state is not to be trusted: it is cleared, so
// every snapshot still on disk is looked at again, and the destination
// lookup before each upload keeps what is still there from going twice. A
// destination that cannot answer changes nothing.
func (e *engine) recheckDest(ctx context.Context) {
	name, rec, ok := e.state.newest()
	if !ok {
		return
	}
	name = rec.object(name)
	ctx, cancel := context.WithTimeout(remoteCtx(ctx), destCheckTimeout)
	defer cancel()
	found, err := e.up.has(ctx, name)
	switch {
	case err != nil:
		e.log.Warn("cannot check that the destination still holds the newest recorded snapshot", zap.String("name", name), zap.Error(err))
	case !found:
		e.log.Error("the destination no longer holds snapshots the state records as uploaded: looking at every snapshot on disk again",
			zap.String("missing", e.cfg.Bucket+"/"+e.cfg.Hostname+"/"+name+SidecarSuffix))
		if err := e.state.forgetAll(); err != nil {
			e.log.Error("cannot save state", zap.Error(err))
		}
	}
}

// tokenTimeout bounds the shipping of the k3s token.
const tokenTimeout = time.Minute

// shipToken ships the k3s token when it changed or is gone from the
// destination; a failure is counted, logged and returned.
func (e *engine) shipToken(ctx context.Context) error {
	if e.token == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(remoteCtx(ctx), tokenTimeout)
	defer cancel()
	err := e.token.ship(ctx)
	if err != nil {
		e.counters.failed.Add(1)
		e.log.Error("k3s token not shipped: tried again at the next rescan", zap.Error(err))
	}
	return err
}

// lookAt reads how name looks in the snapshot directory, never following
// a symlink: present is false when it is not there or not a regular file.
func (e *engine) lookAt(name string) (l look, present bool, err error) {
	info, err := os.Lstat(filepath.Join(e.cfg.SnapshotDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return look{}, false, nil
	}
	if err != nil {
		return look{}, false, err
	}
	return lookOf(info), info.Mode().IsRegular(), nil
}

// touch handles an event on name: its quiet period starts again.
func (e *engine) touch(name string, now time.Time) {
	defer e.countPending()
	if !e.cfg.wanted(name) {
		return
	}
	l, present, err := e.lookAt(name)
	if err != nil {
		e.log.Warn("cannot stat snapshot", zap.String("name", name), zap.Error(err))
		return
	}
	if e.m.observe(name, l, present, now) {
		e.log.Info("snapshot deleted before it was uploaded (k3s retention?): forgotten", zap.String("name", name))
	}
	if raw, ok := strings.CutSuffix(name, ".zip"); ok && !present {
		// A zip that went away leaves its raw snapshot to be shipped (k3s
		// removes a zip whose compression failed).
		e.touch(raw, now)
	}
}

// scan looks at every file of the directory: new ones are armed, tracked
// ones that are gone forgotten, and the state forgets what k3s deleted. It
// returns the files the state has as uploaded already.
func (e *engine) scan(now time.Time) (uploaded []string, err error) {
	defer e.countPending()
	entries, err := os.ReadDir(e.cfg.SnapshotDir)
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, de := range entries {
		name := de.Name()
		present[name] = true
		if !de.Type().IsRegular() || !e.cfg.wanted(name) {
			continue // symlinks too: a link is never followed
		}
		info, err := de.Info()
		if err != nil {
			continue // deleted since the listing
		}
		if e.m.seen(name, lookOf(info), now) {
			uploaded = append(uploaded, name)
		}
	}
	e.m.scanned(present)
	if err := e.state.prune(present); err != nil {
		e.log.Error("cannot save state", zap.Error(err))
	}
	return uploaded, nil
}

// settleDue ends the quiet period of every file whose time has come, after
// a fresh look at it. It returns the raw snapshots left to their zip twins.
func (e *engine) settleDue(now time.Time) (twins []string) {
	defer e.countPending()
	for _, name := range e.m.due(now) {
		l, present, err := e.lookAt(name)
		if err != nil {
			e.log.Error("cannot stat snapshot: retried at the next rescan", zap.String("name", name), zap.Error(err))
			e.m.unreadable(name)
			continue
		}
		twin := false
		if present && !IsZip(name) {
			_, twin, _ = e.lookAt(name + ".zip")
		}
		switch e.m.settle(name, l, present, twin, now) {
		case settledTwin:
			e.log.Debug("raw snapshot has a compressed twin: shipping the zip only", zap.String("name", name))
			twins = append(twins, name)
		case settledGone:
			e.log.Info("snapshot deleted before it was uploaded (k3s retention?): forgotten", zap.String("name", name))
		}
	}
	return twins
}

// finish applies an upload's result: the machine's next step, the state,
// the counters and the log. It returns the verdict and, for an upload, its
// description. A destination failure is left to the caller: Watch retries,
// Once gives up.
func (e *engine) finish(r result, now time.Time) (verdict, Upload) {
	defer e.countPending()
	v := verdictOf(r)
	attempt := e.m.attempts(r.name)
	if n := e.m.done(r.name, v); n > 0 {
		e.log.Info("destination reachable again", zap.Int("failed_attempts", n))
	}
	log := e.log.With(zap.String("name", r.name))
	switch v {
	case verdictUploaded, verdictPresent:
		return v, e.record(r, attempt, now)
	case verdictChanged:
		log.Info("snapshot changed while being uploaded: waiting for it to settle", zap.Error(r.err))
		e.touch(r.name, now)
	case verdictCorrupt:
		e.counters.failed.Add(1)
		log.Error("snapshot failed its integrity check: not uploaded; retried when it changes", zap.Error(r.err))
		e.alert(r.err)
	case verdictGone:
		log.Info("snapshot deleted before its upload finished (k3s retention?): forgotten")
	case verdictUnreadable:
		e.counters.failed.Add(1)
		log.Error("cannot read snapshot: not uploaded; retried at the next rescan", zap.Error(r.err))
		e.alert(r.err)
	case verdictDestFailed:
		e.counters.failed.Add(1)
	}
	return v, Upload{}
}

// record remembers a snapshot that is at the destination, and for a new
// upload counts it, logs it and tells cfg.OnUpload.
func (e *engine) record(r result, attempt int, now time.Time) Upload {
	u := r.upload
	rec := Record{Size: u.Size, ModTime: r.look.mtime, SHA256: u.SHA256, Uploaded: u.At, Encrypted: u.Encrypted}
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
		if e.alerted && e.cfg.OnUpload != nil {
			e.cfg.OnUpload(u) // healthy again: say so now, not at the next upload
		}
		e.alerted = false
		return u
	}
	e.alerted = false
	u.Attempt = attempt
	e.counters.recordUpload(u)
	e.log.Info("snapshot uploaded", zap.String("name", r.name), zap.String("key", u.Key),
		zap.Int64("bytes", u.Size), zap.String("sha256", u.SHA256),
		zap.Duration("duration", u.Duration), zap.Int("attempt", u.Attempt))
	if e.cfg.OnUpload != nil {
		e.cfg.OnUpload(u)
	}
	return u
}

func (e *engine) alert(err error) {
	err = rcloneconf.Classify(rcloneconf.MinIO, err) // refused keys name the variable
	e.alerted = true
	if e.cfg.OnFailure != nil {
		e.cfg.OnFailure(err)
	}
}

func (e *engine) countPending() { e.counters.pending.Store(int64(e.m.pending())) }

func isLocal(err error) bool {
	var l *localError
	return errors.As(err, &l)
}
