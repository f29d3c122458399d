package offload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/operations"

	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Upload describes one snapshot uploaded with its sidecar.
type Upload struct {
	Name      string        // file name, also the object name under the host prefix
	Key       string        // object key in the bucket: <host>/<name>, or <host>/<name>.age
	Size      int64         // bytes of the file
	SHA256    string        // hex, of the object, as written to the sidecar
	ModTime   time.Time     // the file's mtime
	Duration  time.Duration // from opening the file to the sidecar being written
	Attempt   int           // 1 for a first-time success
	At        time.Time     // when the sidecar was written
	Encrypted bool          // stored as <name>.age, encrypted to the age recipients
}

// look is a file's size and mtime at one moment: equal looks mean unchanged.
type look struct {
	size  int64
	mtime time.Time
}

func lookOf(info os.FileInfo) look { return look{info.Size(), info.ModTime()} }

func (l look) equal(o look) bool { return l.size == o.size && l.mtime.Equal(o.mtime) }

// errChanged means the file changed since the quiet period ended: it goes
// back to waiting, it is not a failure.
var errChanged = errors.New("snapshot changed while being read")

// localError is a failure to read the snapshot itself, as opposed to a
// destination failure; it names the file.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// uploader ships one snapshot, with its sidecar, if it still has look
// want. The error tells the file's fate apart: errChanged, ErrCorrupt, a
// *localError (the file could not be read), or else the destination failed.
// has reports whether the destination holds name's sidecar, the mark of a
// complete upload; an error means the destination could not say.
type uploader interface {
	upload(ctx context.Context, name string, want look) (outcome, error)
	has(ctx context.Context, name string) (bool, error)
}

// remoteUploader puts snapshots and their sidecars under one host prefix.
type remoteUploader struct {
	dst          fs.Fs // <bucket>/<host>
	dir, host    string
	verifyFormat bool
	recipients   []age.Recipient // encrypt to these, when there are any
	display      livebar.Sink    // a live view of each upload, when set
}

var _ uploader = (*remoteUploader)(nil)

// outcome is what happened to one upload attempt.
type outcome struct {
	upload  Upload
	present bool // already at the destination, nothing uploaded
}

// upload reads forward: the cheap format precheck, then the destination
// lookup (the file may be there already: that is how a lost state is
// rebuilt without uploading anything twice), then one pass that hashes,
// checks the etcd trailer and uploads, then the sidecar.
func (u *remoteUploader) upload(ctx context.Context, name string, want look) (outcome, error) {
	start := time.Now()
	path := filepath.Join(u.dir, name)
	// Read-only, never through a symlink: offload never writes to the
	// snapshot dir, and a link planted there must not ship its target.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return outcome{}, &localError{err}
	}
	defer f.Close()
	if err := unchanged(f, want); err != nil {
		return outcome{}, err
	}
	if u.verifyFormat {
		if err := precheck(f, name, want.size); err != nil {
			return outcome{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	if rec, ok, err := u.atDestination(ctx, name, f, want); err != nil || ok {
		return outcome{upload: Upload{Name: name, Key: u.host + "/" + rec.object(name), Size: rec.Size, SHA256: rec.SHA256,
			ModTime: want.mtime, Encrypted: rec.Encrypted}, present: ok}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return outcome{}, &localError{err}
	}
	g := &guardedReader{f: f, path: path, size: want.size, want: want}
	if u.verifyFormat && !IsZip(name) {
		g.trailer = NewTrailerChecker() // hashes for the sidecar too
	} else {
		g.sha = sha256.New()
	}
	// The same pass encrypts, when asked: the checks run on the plaintext,
	// the sidecar holds the hash of the ciphertext, which is what is stored.
	rec := Record{Size: want.size, Encrypted: len(u.recipients) > 0}
	object, body, size := rec.object(name), io.Reader(g), want.size
	var stored hash.Hash
	if rec.Encrypted {
		er, n, err := newEncryptingReader(g, want.size, u.recipients)
		if err != nil {
			return outcome{}, err
		}
		stored = sha256.New()
		body, size = io.TeeReader(er, stored), n
	}
	pctx, stop := u.show(ctx, object, size)
	_, err = operations.RcatSize(pctx, u.dst, object, io.NopCloser(body), size, want.mtime, nil)
	stop()
	if g.err != nil {
		// The guard refused the last bytes, so the object was never completed.
		return outcome{}, g.err
	}
	if err != nil {
		return outcome{}, fmt.Errorf("upload %s: %w", object, err)
	}
	sum := g.sum()
	if stored != nil {
		sum = stored.Sum(nil)
	}
	rec.SHA256 = hex.EncodeToString(sum)
	if err := u.putSidecar(ctx, object, rec.SHA256, want.mtime); err != nil {
		return outcome{}, err
	}
	at := time.Now()
	return outcome{upload: Upload{Name: name, Key: u.host + "/" + object, Size: want.size, SHA256: rec.SHA256,
		ModTime: want.mtime, Duration: at.Sub(start), At: at, Encrypted: rec.Encrypted}}, nil
}

func (u *remoteUploader) has(ctx context.Context, name string) (bool, error) {
	_, err := u.dst.NewObject(ctx, name+SidecarSuffix)
	if errors.Is(err, fs.ErrorObjectNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (u *remoteUploader) putSidecar(ctx context.Context, name, sum string, mtime time.Time) error {
	body := Sidecar(sum, name)
	_, err := operations.RcatSize(ctx, u.dst, name+SidecarSuffix, io.NopCloser(bytes.NewReader(body)), int64(len(body)), mtime, nil)
	if err != nil {
		return fmt.Errorf("upload %s%s: %w", name, SidecarSuffix, err)
	}
	return nil
}

// atDestination reports whether the destination already holds this file:
// as an encrypted object <name>.age with a well-formed sidecar (without the
// key its content cannot be compared with the file's; an encrypted copy
// counts as uploaded, so turning encryption off never ships a plain copy of
// it), or as a plain object whose sidecar holds the file's hash and whose
// size is the file's. It costs a HEAD per form for a new snapshot, and a
// local read only when a plain sidecar is there to compare with.
func (u *remoteUploader) atDestination(ctx context.Context, name string, f *os.File, want look) (Record, bool, error) {
	rec := Record{Size: want.size, ModTime: want.mtime, Encrypted: true}
	sum, obj, err := u.sidecarAndObject(ctx, rec.object(name))
	if err != nil {
		return Record{}, false, err
	}
	// Shorter than the file's ciphertext without a header: cut short.
	if obj != nil && obj.Size() > encryptedSize(0, want.size) {
		rec.SHA256 = sum
		return rec, true, nil
	}
	rec.Encrypted = false
	sum, obj, err = u.sidecarAndObject(ctx, name)
	if err != nil || obj == nil || obj.Size() != want.size {
		return Record{}, false, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, want.size)); err != nil {
		return Record{}, false, &localError{fmt.Errorf("read %s: %w", f.Name(), err)}
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		return Record{}, false, nil
	}
	rec.SHA256 = sum
	return rec, true, nil
}

// sidecarAndObject returns the hash in object's sidecar and the object,
// or a nil object when either is missing or the sidecar is not well formed
// (the upload replaces it).
func (u *remoteUploader) sidecarAndObject(ctx context.Context, object string) (string, fs.Object, error) {
	sidecar, err := readSidecar(ctx, u.dst, object)
	if errors.Is(err, fs.ErrorObjectNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	sum, err := ParseSidecar(sidecar, object)
	if err != nil {
		return "", nil, nil
	}
	obj, err := u.dst.NewObject(ctx, object)
	if errors.Is(err, fs.ErrorObjectNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("look up %s: %w", object, err)
	}
	return sum, obj, nil
}

// readSidecar reads <name>.sha256 from dst (fs.ErrorObjectNotFound if absent).
func readSidecar(ctx context.Context, dst fs.Fs, name string) ([]byte, error) {
	obj, err := dst.NewObject(ctx, name+SidecarSuffix)
	if err != nil {
		if errors.Is(err, fs.ErrorObjectNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("look up %s%s: %w", name, SidecarSuffix, err)
	}
	rc, err := obj.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s%s: %w", name, SidecarSuffix, err)
	}
	defer rc.Close()
	// A sidecar is one short line; anything much longer is not one.
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return nil, fmt.Errorf("read %s%s: %w", name, SidecarSuffix, err)
	}
	return b, nil
}

// precheck runs the checks that must pass before a byte is sent: the size
// rule of a raw snapshot and that it opens as an etcd database (a few
// pages read), or the whole zip check, which needs random access and so
// costs a read of its own, and a scratch file per entry for the database
// check. The trailer of a raw snapshot is checked on the upload's pass.
func precheck(f *os.File, name string, size int64) error {
	if !IsZip(name) && size%512 != trailerSize {
		return corruptf("size %d is not an etcd snapshot with a trailer (size %% 512 = %d, want %d)", size, size%512, trailerSize)
	}
	_, err := databaseOf(f, name, checkDatabase)
	return err
}

// unchanged checks an open file still has the look its quiet period ended on.
func unchanged(f *os.File, want look) error {
	info, err := f.Stat()
	if err != nil {
		return &localError{err}
	}
	if got := lookOf(info); !got.equal(want) {
		return fmt.Errorf("%w: %s is now %d bytes, mtime %s (was %d bytes, %s)", errChanged, f.Name(),
			got.size, got.mtime.Format(time.RFC3339Nano), want.size, want.mtime.Format(time.RFC3339Nano))
	}
	return nil
}

// guardedReader feeds the upload, hashing on the way, and withholds the last
// bytes until the file has passed its checks: the etcd trailer, and size and
// mtime unchanged since the quiet period. A failed check becomes a read
// error, which makes rclone abort the upload (a single PUT never completes
// its body; a multipart upload is aborted), so no object that failed the
// check ever becomes visible.
type guardedReader struct {
	f       *os.File
	path    string
	size, n int64
	want    look
	sha     hash.Hash       // when the format is not checked
	trailer *TrailerChecker // when it is; it hashes the whole file too
	err     error
}

func (g *guardedReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	remaining := g.size - g.n
	if remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > remaining {
		p = p[:remaining]
	}
	n, err := g.f.Read(p)
	if g.trailer != nil {
		g.trailer.Write(p[:n])
	} else {
		g.sha.Write(p[:n])
	}
	g.n += int64(n)
	switch {
	case g.n == g.size:
		if g.err = g.finish(); g.err != nil {
			return 0, g.err
		}
		return n, nil
	case err == io.EOF:
		g.err = fmt.Errorf("%w: %s ended after %d of %d bytes", errChanged, g.path, g.n, g.size)
		return 0, g.err
	case err != nil:
		g.err = &localError{err}
		return 0, g.err
	}
	return n, nil
}

// sum is the SHA-256 of the whole file, once it has all been read.
func (g *guardedReader) sum() []byte {
	if g.trailer != nil {
		return g.trailer.Sum()
	}
	return g.sha.Sum(nil)
}

func (g *guardedReader) finish() error {
	if err := unchanged(g.f, g.want); err != nil {
		return err
	}
	if g.trailer != nil {
		if err := g.trailer.Check(); err != nil {
			return fmt.Errorf("%s: %w", g.path, err)
		}
	}
	return nil
}

// show feeds the display the counters of the upload run with the returned
// context, read from rclone's accounting, until stop is called.
func (u *remoteUploader) show(ctx context.Context, object string, size int64) (_ context.Context, stop func()) {
	if u.display == nil {
		return ctx, func() {}
	}
	ctx = accounting.WithStatsGroup(ctx, "offload/"+object) // the upload's own counters
	accounting.Stats(ctx).ResetCounters()
	return ctx, rcloneconf.ShowProgress(ctx, object, u.display, nil, 0, func(st *livebar.Stat) {
		st.TotalObjects, st.TotalBytes = 1, size // one file, whose size is known
		st.Checks, st.TotalChecks = 0, 0
	})
}
