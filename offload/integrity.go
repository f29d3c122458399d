package offload

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// ErrCorrupt marks a snapshot that failed its integrity check: a raw etcd
// snapshot whose trailer does not match, or a zip that does not open or
// fails its CRCs. errors.Is(err, ErrCorrupt) tells it from an I/O error.
var ErrCorrupt = errors.New("snapshot failed its integrity check")

// trailerSize is etcd's snapshot trailer: the SHA-256 of every byte before it.
const trailerSize = sha256.Size

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// TrailerChecker checks an etcd snapshot's trailer as the bytes stream past,
// so the check costs no read of its own: it hashes everything but the last
// 32 bytes it has seen, which it holds back to compare at the end.
type TrailerChecker struct {
	h    hash.Hash
	tail []byte // the last bytes seen, at most trailerSize of them
	n    int64
}

// NewTrailerChecker returns a checker with nothing written yet.
func NewTrailerChecker() *TrailerChecker {
	return &TrailerChecker{h: sha256.New(), tail: make([]byte, 0, 2*trailerSize)}
}

// Write feeds p; it never fails.
func (c *TrailerChecker) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if len(p) >= trailerSize {
		c.h.Write(c.tail)
		c.h.Write(p[:len(p)-trailerSize])
		c.tail = append(c.tail[:0], p[len(p)-trailerSize:]...)
		return len(p), nil
	}
	c.tail = append(c.tail, p...)
	if extra := len(c.tail) - trailerSize; extra > 0 {
		c.h.Write(c.tail[:extra])
		c.tail = append(c.tail[:0], c.tail[extra:]...)
	}
	return len(p), nil
}

// Check reports whether everything written so far is a whole etcd snapshot.
func (c *TrailerChecker) Check() error {
	if c.n%512 != trailerSize {
		return corruptf("size %d is not an etcd snapshot with a trailer (size %% 512 = %d, want %d)", c.n, c.n%512, trailerSize)
	}
	if sum := c.h.Sum(nil); !bytes.Equal(sum, c.tail) {
		return corruptf("trailer %x does not match the SHA-256 of the preceding bytes %x", c.tail, sum)
	}
	return nil
}

// Sum is the SHA-256 of everything written, trailer included: the hash of
// the bytes before the trailer continued with the trailer, so one hashing
// pass serves both the trailer check and the sidecar.
func (c *TrailerChecker) Sum() []byte {
	state, err := c.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("sha256 state does not marshal: " + err.Error()) // crypto/sha256 always does
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic("sha256 state does not unmarshal: " + err.Error())
	}
	h.Write(c.tail)
	return h.Sum(nil)
}

// IsZip reports whether name is a compressed k3s snapshot.
func IsZip(name string) bool { return strings.HasSuffix(name, ".zip") }

// CheckZip opens a compressed k3s snapshot, reads every entry so archive/zip
// checks its CRC, and checks each entry's etcd trailer on the same pass.
func CheckZip(r io.ReaderAt, size int64) error { return checkZip(r, size, nil) }

// checkZip is CheckZip; with db set, each entry is also written to a
// scratch file on the same pass, and db checks that.
func checkZip(r io.ReaderAt, size int64, db func(entry string, f *os.File) error) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return corruptf("zip does not open: %v", err)
	}
	if len(zr.File) == 0 {
		return corruptf("zip holds no snapshot")
	}
	for _, f := range zr.File {
		if err := checkZipEntry(f, db); err != nil {
			return err
		}
	}
	return nil
}

func checkZipEntry(f *zip.File, db func(entry string, f *os.File) error) error {
	rc, err := f.Open()
	if err != nil {
		return corruptf("zip entry %s does not open: %v", f.Name, err)
	}
	defer rc.Close()
	tc := NewTrailerChecker()
	sink := &sinkWriter{w: io.Discard}
	var scratch *os.File
	if db != nil {
		if scratch, err = scratchFile(); err != nil {
			return err
		}
		defer scratch.Close()
		sink.w = scratch
	}
	// Reading to EOF is what makes archive/zip compare the CRC.
	if _, err := io.Copy(io.MultiWriter(tc, sink), rc); err != nil {
		if sink.err != nil {
			return &localError{fmt.Errorf("write the scratch file: %w", sink.err)}
		}
		return corruptf("zip entry %s: %v", f.Name, err)
	}
	if err := tc.Check(); err != nil {
		return fmt.Errorf("zip entry %s: %w", f.Name, err)
	}
	if db != nil {
		return db(f.Name, scratch)
	}
	return nil
}
