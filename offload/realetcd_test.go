package offload

import (
	"archive/zip"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/offload/offloadtest"
	"github.com/offsite-backup/offsite/offload/offloadtest/realetcd"
)

// TestRealSnapshotsRestore: snapshots a real etcd took through the client
// snapshot API, as k3s takes them, go through offload once, and fetch
// brings them back as files etcd's own restore code (etcdutl) turns into a
// data dir whose etcd serves every key: raw, zipped as k3s zips them, and
// encrypted.
func TestRealSnapshotsRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd servers")
	}
	etcd := realetcd.Start(t)
	want := etcd.Fill(t, "/registry/secrets/default/secret-", 300)
	for _, tt := range []struct {
		name         string
		zip, encrypt bool
	}{{"raw", false, false}, {"zipped", true, false}, {"encrypted", false, true}, {"zipped and encrypted", true, true}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var ids []age.Identity
			if tt.encrypt {
				f.encrypt()
				ids = []age.Identity{f.key}
			}
			name := offloadtest.Name(testHost, time.Now().Unix())
			if tt.zip {
				name = zipSnapshot(t, etcd, f.cfg.SnapshotDir, name)
			} else {
				etcd.Snapshot(t, filepath.Join(f.cfg.SnapshotDir, name))
			}
			time.Sleep(testQuiet)
			if r, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t)); err != nil || len(r.Uploaded) != 1 {
				t.Fatalf("Once = %+v, %v; want the snapshot uploaded", r, err)
			}
			got, err := Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost,
				Dir: t.TempDir(), Identities: ids}, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			path := got.Snapshot
			if tt.zip {
				path = unzip(t, path)
			}
			checkInspected(t, path, len(want))
			if got := realetcd.Restore(t, path); !maps.Equal(got, want) {
				t.Fatalf("the restored etcd serves %d keys, want the %d the snapshot was taken with", len(got), len(want))
			}
		})
	}
}

// zipSnapshot has etcd write a snapshot into dir, then compresses it as k3s
// does with --etcd-snapshot-compress: the zip is written in place beside
// the raw file, which is then removed. It returns the zip's name.
func zipSnapshot(t *testing.T, etcd *realetcd.Etcd, dir, name string) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), name)
	etcd.Snapshot(t, raw)
	data, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	offloadtest.WriteInPlace(t, filepath.Join(dir, name+".zip"), offloadtest.Zip(t, name, data), 1, 0)
	return name + ".zip"
}

// unzip writes the one entry of the zip at path beside it.
func unzip(t *testing.T, path string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := strings.TrimSuffix(path, ".zip")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, rc); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkInspected checks what a drill reads of the snapshot at path: the
// live keys as the etcd that took it counts them.
func checkInspected(t *testing.T, path string, keys int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db, err := inspectDatabase(f)
	if err != nil || db.Keys != keys || db.Revision == 0 || db.ConsistentIndex == 0 {
		t.Fatalf("inspect = %+v, %v; want %d keys, a revision and a consistent index", db, err, keys)
	}
}
