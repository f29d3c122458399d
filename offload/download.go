package offload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	rfs "github.com/rclone/rclone/fs"
)

// needsFile reports whether checking object needs a file to download into:
// a zip's CRCs need random access to its plaintext.
func needsFile(object string, ids []age.Identity) bool {
	plain, encrypted := strings.CutSuffix(object, AgeSuffix)
	return IsZip(plain) && (!encrypted || len(ids) > 0)
}

// copyChecked downloads obj (named object under its host) into dst in one
// pass, hashing what is stored and checking it against want, the hash its
// sidecar holds. It then checks the snapshot's format: the etcd trailer on
// the same pass, or for a zip, its CRCs from dst. An encrypted object
// (<name>.age) is decrypted with ids on the way, and dst gets the
// plaintext; without ids only its hash is checked and dst gets it as it
// is. dst may be nil when only the checks matter and needsFile is false.
// Check failures wrap ErrCorrupt, a key that does not fit ErrNoIdentity.
func copyChecked(ctx context.Context, obj rfs.Object, object, want string, dst *os.File, ids []age.Identity) error {
	rc, err := obj.Open(ctx)
	if err != nil {
		return fmt.Errorf("download %s: %w", obj.Remote(), err)
	}
	defer rc.Close()
	src := &sourceReader{r: rc}
	var r io.Reader = src
	name, encrypted := strings.CutSuffix(object, AgeSuffix)
	var stored hash.Hash // of the object, when it is not the plaintext hashed below
	if encrypted {
		stored = sha256.New()
		r = io.TeeReader(r, stored)
		if len(ids) > 0 {
			if r, err = age.Decrypt(r, ids...); err != nil {
				return ageError(obj.Remote(), src, err)
			}
		}
	}
	var tc *TrailerChecker
	var plain hash.Hash
	var w io.Writer
	switch {
	case encrypted && len(ids) == 0:
		w = io.Discard // ciphertext: the stored hash is all there is to check
	case IsZip(name):
		if dst == nil {
			return fmt.Errorf("checking a zip needs a file to download into")
		}
		plain = sha256.New()
		w = plain
	default:
		tc = NewTrailerChecker() // it hashes the whole plaintext too
		w = tc
	}
	out := &sinkWriter{w: io.Discard}
	if dst != nil {
		out.w = dst
	}
	if _, err := io.Copy(io.MultiWriter(w, out), r); err != nil {
		if out.err != nil {
			return fmt.Errorf("write %s: %w", dst.Name(), out.err)
		}
		return ageError(obj.Remote(), src, err)
	}
	var sum []byte
	switch {
	case stored != nil:
		sum = stored.Sum(nil)
	case tc != nil:
		sum = tc.Sum()
	default:
		sum = plain.Sum(nil)
	}
	if got := hex.EncodeToString(sum); got != want {
		return fmt.Errorf("%w: %s has SHA-256 %s, its sidecar says %s", ErrCorrupt, obj.Remote(), got, want)
	}
	switch {
	case tc != nil:
		if err := tc.Check(); err != nil {
			return fmt.Errorf("%s: %w", obj.Remote(), err)
		}
	case plain != nil:
		info, err := dst.Stat()
		if err != nil {
			return err
		}
		if err := CheckZip(dst, info.Size()); err != nil {
			return fmt.Errorf("%s: %w", obj.Remote(), err)
		}
	}
	return nil
}

// sourceReader remembers the download's own error, so that an error on the
// way out of age's decryption can be told apart: the network's, or the
// bytes'.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// sinkWriter remembers its own write error, for the same reason.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// ageError classifies an error of a download through age: the download's
// own, a key that does not fit, or ciphertext that does not authenticate.
func ageError(remote string, src *sourceReader, err error) error {
	var noMatch *age.NoIdentityMatchError
	switch {
	case src.err != nil:
		return fmt.Errorf("download %s: %w", remote, src.err)
	case errors.As(err, &noMatch):
		return fmt.Errorf("%w: %s", ErrNoIdentity, remote)
	case strings.HasSuffix(remote, AgeSuffix):
		return fmt.Errorf("%w: %s does not decrypt: %v", ErrCorrupt, remote, err)
	}
	return fmt.Errorf("download %s: %w", remote, err)
}
