// Package offloadtest writes etcd snapshots the way k3s does, for tests of
// offload and of the commands built on it.
package offloadtest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/offload/offloadtest/snapdb"
)

// Name is a k3s scheduled snapshot name for node at unix time ts.
func Name(node string, ts int64) string {
	return fmt.Sprintf("etcd-snapshot-%s-%d", node, ts)
}

// Snapshot returns a well-formed etcd snapshot of about pages*4096 bytes
// (seeded by seed): an etcd database of pages keys whose values fill a page
// each, and the SHA-256 trailer etcd checks on restore.
func Snapshot(pages int, seed uint64) []byte {
	data, err := snapdb.Snapshot(snapdb.Spec{Keys: pages, ValueSize: 3900, Seed: seed})
	if err != nil {
		panic("make a snapshot: " + err.Error()) // a temp dir that cannot be written
	}
	return data
}

// NotADatabase returns pages*4096 bytes of pseudo-random data (seeded by
// seed) followed by their SHA-256: a file whose etcd trailer is right and
// which is no etcd database.
func NotADatabase(pages int, seed uint64) []byte {
	body := make([]byte, pages*4096, pages*4096+sha256.Size)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(body); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			body[i+j] = byte(v >> (8 * j))
		}
	}
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// WriteRaw writes a raw snapshot as k3s does: to <name>.part, fsynced,
// then renamed into place.
func WriteRaw(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	part := filepath.Join(dir, name+".part")
	f, err := os.Create(part)
	must(t, err)
	_, err = f.Write(data)
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	path := filepath.Join(dir, name)
	must(t, os.Rename(part, path))
	return path
}

// Zip compresses a raw snapshot as k3s does: one deflated entry named name.
func Zip(t testing.TB, name string, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()})
	must(t, err)
	_, err = w.Write(raw)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

// WriteInPlace writes data to path in chunks with a pause between them,
// the way a compressed snapshot grows in place.
func WriteInPlace(t testing.TB, path string, data []byte, chunks int, pause time.Duration) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	step := (len(data) + chunks - 1) / chunks
	for off := 0; off < len(data); off += step {
		end := min(off+step, len(data))
		if _, err := f.Write(data[off:end]); err != nil {
			t.Fatal(err)
		}
		if end < len(data) {
			time.Sleep(pause)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// SHA256 is the hex SHA-256 of data, as sha256sum prints it.
func SHA256(data []byte) string {
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
