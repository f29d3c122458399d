package offload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	rfs "github.com/rclone/rclone/fs"
)

// copyChecked downloads obj (snapshot name) into dst, hashing it on the way
// and checking the hash against want, then its format: the etcd trailer on
// the same pass, or for a zip, its CRCs from dst. dst may be nil for a raw
// snapshot, when only the check matters. Check failures wrap ErrCorrupt.
func copyChecked(ctx context.Context, obj rfs.Object, name, want string, dst *os.File) error {
	rc, err := obj.Open(ctx)
	if err != nil {
		return fmt.Errorf("download %s: %w", obj.Remote(), err)
	}
	defer rc.Close()
	var tc *TrailerChecker
	var h hash.Hash
	var w io.Writer
	if IsZip(name) {
		if dst == nil {
			return fmt.Errorf("checking a zip needs a file to download into")
		}
		h = sha256.New()
		w = h
	} else {
		tc = NewTrailerChecker() // it hashes the whole object too
		w = tc
	}
	if dst != nil {
		w = io.MultiWriter(w, dst)
	}
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("download %s: %w", obj.Remote(), err)
	}
	var sum []byte
	if tc != nil {
		sum = tc.Sum()
	} else {
		sum = h.Sum(nil)
	}
	if got := hex.EncodeToString(sum); got != want {
		return fmt.Errorf("%w: %s has SHA-256 %s, its sidecar says %s", ErrCorrupt, obj.Remote(), got, want)
	}
	if tc != nil {
		if err := tc.Check(); err != nil {
			return fmt.Errorf("%s: %w", obj.Remote(), err)
		}
		return nil
	}
	info, err := dst.Stat()
	if err != nil {
		return err
	}
	if err := CheckZip(dst, info.Size()); err != nil {
		return fmt.Errorf("%s: %w", obj.Remote(), err)
	}
	return nil
}
