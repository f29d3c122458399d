package offload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/atomicfile"
	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// FetchConfig says which snapshot Fetch brings back, and where to.
type FetchConfig struct {
	Dest   rcloneconf.Remote
	Bucket string
	Host   string
	Name   string // "" for the latest snapshot of Host
	Dir    string // directory to write the snapshot into, made if missing
	// Identities decrypt an encrypted snapshot (<name>.age); without them
	// it is written as it is stored, still encrypted.
	Identities []age.Identity
}

// Validate checks the config; errors are *exitcode.ConfigError.
func (c FetchConfig) Validate() error {
	if err := validateDest(c.Bucket, c.Host); err != nil {
		return err
	}
	if c.Dir == "" {
		return exitcode.Configf(EnvFetchDir, "is required: the directory to write the snapshot into")
	}
	info, err := os.Stat(c.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // Fetch makes it
	case err != nil:
		return &exitcode.ConfigError{Var: EnvFetchDir, Err: err}
	case !info.IsDir():
		return exitcode.Configf(EnvFetchDir, "%s is not a directory", c.Dir)
	}
	return nil
}

// makeDir makes the directory a restore goes into, with its parents, for
// the owner only: what lands there is the cluster's every secret.
func makeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &exitcode.ConfigError{Var: EnvFetchDir, Err: err}
	}
	return nil
}

// Fetched is what Fetch wrote: the snapshot, and the k3s token when one is
// shipped; each still encrypted (<name>.age) when no identity was given.
type Fetched struct {
	Snapshot string
	Token    string // "" when the host's token is not shipped
}

// Fetch downloads a snapshot (the latest of Host unless Name is set) into
// Dir, and the host's k3s token beside it (TokenFile, mode 0600), when one
// is shipped. The snapshot is checked against its sidecar, its etcd trailer
// or zip CRCs, and that it opens as an etcd database, before it is renamed
// into place, so Dir never holds a partial or corrupt snapshot; the token
// against its sidecar, and that it decrypts. Failed checks wrap
// exitcode.ErrVerifyFailed.
func Fetch(ctx context.Context, cfg FetchConfig, log *zap.Logger) (Fetched, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return Fetched{}, err
	}
	ctx = remoteCtx(ctx)
	bucketFs, err := cfg.Dest.Fs(ctx, cfg.Bucket)
	if err != nil {
		return Fetched{}, err
	}
	objs, err := listHost(ctx, bucketFs, cfg.Host)
	if err != nil {
		return Fetched{}, err
	}
	name, err := pickSnapshot(ctx, objs, cfg, log)
	if err != nil {
		return Fetched{}, err
	}
	var got Fetched
	if got.Snapshot, err = fetchSnapshot(ctx, objs, name, cfg, log); err != nil {
		return got, err
	}
	got.Token, err = fetchToken(ctx, objs, cfg, log)
	return got, verifyErr(err)
}

// pickSnapshot is the snapshot to fetch: cfg.Name (or its encrypted form),
// else the newest.
func pickSnapshot(ctx context.Context, objs hostObjects, cfg FetchConfig, log *zap.Logger) (string, error) {
	name := cfg.Name
	if name == "" {
		var future []string
		name, _, future = objs.newest(ctx, time.Now())
		warnFuture(log, future)
		if name == "" {
			return "", fmt.Errorf("%w: no complete snapshot (one with its %s sidecar) under %s/%s/: %d without", exitcode.ErrVerifyFailed, SidecarSuffix, cfg.Bucket, cfg.Host, len(objs.snapshots))
		}
	}
	if _, ok := objs.snapshots[name]; !ok && !strings.HasSuffix(name, AgeSuffix) {
		name += AgeSuffix // the snapshot's encrypted form
	}
	if _, ok := objs.snapshots[name]; !ok {
		return "", fmt.Errorf("%w: no snapshot %s/%s/%s", exitcode.ErrVerifyFailed, cfg.Bucket, cfg.Host, cfg.Name)
	}
	return name, nil
}

// fetchSnapshot writes the snapshot name into cfg.Dir, checked, and
// returns its path.
func fetchSnapshot(ctx context.Context, objs hostObjects, name string, cfg FetchConfig, log *zap.Logger) (string, error) {
	obj := objs.snapshots[name]
	sum, err := objs.sidecarSum(ctx, name)
	if err != nil {
		return "", verifyErr(err)
	}
	file := name
	if len(cfg.Identities) > 0 {
		file = strings.TrimSuffix(name, AgeSuffix) // decrypted on the way
	}
	dst := filepath.Join(cfg.Dir, file)
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s already exists: not overwriting it", dst)
	}
	if err := makeDir(cfg.Dir); err != nil {
		return "", err
	}
	log.Info("fetching snapshot", zap.String("key", obj.Remote()), zap.Int64("bytes", obj.Size()), zap.String("sha256", sum))
	// Renamed into place only once checked: Dir never holds a bad snapshot.
	err = atomicfile.Write(dst, 0o600, func(w *os.File) error {
		if err := copyChecked(ctx, obj, name, sum, w, cfg.Identities); err != nil || strings.HasSuffix(file, AgeSuffix) {
			return err // still encrypted: the sidecar's hash is all there is to check
		}
		_, err := databaseOf(w, file, checkDatabase)
		return err
	})
	if err != nil {
		return "", verifyErr(err)
	}
	log.Info("snapshot fetched and verified", zap.String("path", dst), zap.String("sha256", sum))
	return dst, nil
}

// fetchToken writes the host's k3s token into cfg.Dir, decrypted with
// cfg.Identities (else as stored), and returns its path; "" when none is
// shipped. A token fetched before, the same, is kept.
func fetchToken(ctx context.Context, objs hostObjects, cfg FetchConfig, log *zap.Logger) (string, error) {
	if objs.token == nil {
		log.Warn("no k3s server token shipped for this host (" + EnvK3sTokenFile + "): the restore needs the cluster's token")
		return "", nil
	}
	sealed, err := sealedToken(ctx, objs)
	if err != nil {
		return "", err
	}
	data, path := sealed, filepath.Join(cfg.Dir, TokenObject)
	if len(cfg.Identities) > 0 {
		if data, err = decryptToken(objs.token.Remote(), sealed, cfg.Identities); err != nil {
			return "", err
		}
		path = filepath.Join(cfg.Dir, TokenFile)
	}
	// A regular file only: whatever else is there is not read.
	switch old, err := rcloneconf.ReadFile(EnvFetchDir, path, 2*tokenLimit); {
	case err == nil && bytes.Equal(old, data):
		return path, nil // fetched before
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s already exists: not overwriting it", path)
	}
	err = atomicfile.Write(path, 0o600, func(w *os.File) error {
		_, err := w.Write(data)
		return err
	})
	if err == nil {
		log.Info("k3s token fetched", zap.String("path", path))
	}
	return path, err
}

// warnFuture says which snapshots were passed over as dated in the future.
func warnFuture(log *zap.Logger, future []string) {
	for _, n := range future {
		log.Warn("snapshot dated in the future: passed over, never the newest (a clock running ahead, or an object planted in the bucket)",
			zap.String("name", n), zap.Duration("tolerance", FutureTolerance))
	}
}

// verifyErr marks integrity failures as verification failures.
func verifyErr(err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNoIdentity) {
		return fmt.Errorf("%w: %w", exitcode.ErrVerifyFailed, err)
	}
	return err
}
