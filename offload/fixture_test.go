package offload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

const (
	testBucket = "etcd-backup"
	testHost   = "node1"
	testQuiet  = 300 * time.Millisecond
)

var remoteSeq atomic.Int64

// fixture is a real MinIO with the destination bucket, a snapshot dir and
// a state dir, and an offload configuration pointing at them.
type fixture struct {
	t       *testing.T
	minio   *harness.Minio
	cfg     Config
	mu      sync.Mutex
	uploads map[string]int // OnUpload calls by name, across restarts
	alerts  []error        // OnFailure calls
	key     *age.X25519Identity
}

// encrypt makes offload encrypt every snapshot to a new key.
func (f *fixture) encrypt() {
	f.t.Helper()
	key, err := age.GenerateX25519Identity()
	if err != nil {
		f.t.Fatal(err)
	}
	f.key, f.cfg.Recipients = key, []age.Recipient{key.Recipient()}
}

// object is the name of the object that holds snapshot name.
func (f *fixture) object(name string) string {
	if f.key != nil {
		return name + AgeSuffix
	}
	return name
}

// plaintext decrypts stored with the fixture's key when it encrypts.
func (f *fixture) plaintext(stored []byte) []byte {
	f.t.Helper()
	if f.key == nil {
		return stored
	}
	r, err := age.Decrypt(bytes.NewReader(stored), f.key)
	if err != nil {
		f.t.Fatalf("decrypt: %v", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		f.t.Fatalf("decrypt: %v", err)
	}
	return b
}

func (f *fixture) alertCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.alerts)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := harness.StartMinio(t, testBucket)
	r := m.Remote(fmt.Sprintf("offload-test-%d", remoteSeq.Add(1)))
	f := &fixture{t: t, minio: m, uploads: map[string]int{}}
	cfg := DefaultConfig()
	cfg.Dest, cfg.Bucket, cfg.Hostname = r, testBucket, testHost
	cfg.SnapshotDir = filepath.Join(t.TempDir(), "snapshots")
	cfg.StateDir = t.TempDir()
	cfg.QuietPeriod = testQuiet
	cfg.RescanInterval = time.Hour
	cfg.BackoffMin, cfg.BackoffMax = 100*time.Millisecond, time.Second
	cfg.Counters = &Counters{}
	cfg.OnUpload = func(u Upload) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.uploads[u.Name]++
	}
	cfg.OnFailure = func(err error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.alerts = append(f.alerts, err)
	}
	if err := os.MkdirAll(cfg.SnapshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	return f
}

// watch starts Watch; the returned func stops it and checks it returned nil.
func (f *fixture) watch() (stop func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	cfg := f.cfg
	go func() { errc <- Watch(ctx, cfg, zaptest.NewLogger(f.t)) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					f.t.Errorf("Watch returned %v, want nil on a clean stop", err)
				}
			case <-time.After(30 * time.Second):
				f.t.Fatal("Watch did not stop within 30s of cancel")
			}
		})
	}
	f.t.Cleanup(stop)
	return stop
}

// write puts a raw snapshot into the snapshot dir the way k3s does.
func (f *fixture) write(name string, data []byte) {
	f.t.Helper()
	offloadtest.WriteRaw(f.t, f.cfg.SnapshotDir, name, data)
}

// objects lists the host prefix, by key relative to it.
func (f *fixture) objects() map[string]int64 {
	f.t.Helper()
	out := map[string]int64{}
	for k, v := range f.minio.List(f.t, testBucket, testHost+"/") {
		out[strings.TrimPrefix(k, testHost+"/")] = v
	}
	return out
}

// uploadCount is how many times name was reported uploaded.
func (f *fixture) uploadCount(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads[name]
}

func (f *fixture) totalUploads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.uploads {
		n += c
	}
	return n
}

// waitSidecars waits until every name has its sidecar at the destination.
func (f *fixture) waitSidecars(timeout time.Duration, names ...string) {
	f.t.Helper()
	harness.WaitFor(f.t, timeout, fmt.Sprintf("sidecars of %d snapshots", len(names)), func() bool {
		objs := f.objects()
		for _, n := range names {
			if _, ok := objs[f.object(n)+SidecarSuffix]; !ok {
				return false
			}
		}
		return true
	})
}

// checkUploaded asserts name is at the destination with exactly data (once
// decrypted, when the fixture encrypts) and a sidecar sha256sum accepts.
func (f *fixture) checkUploaded(name string, data []byte) {
	f.t.Helper()
	object := f.object(name)
	stored, ok := f.minio.Get(f.t, testBucket, testHost+"/"+object)
	if !ok {
		f.t.Fatalf("%s not at the destination", object)
	}
	if got := f.plaintext(stored); !bytes.Equal(got, data) {
		f.t.Fatalf("%s at the destination differs from the file (%d bytes, want %d)", object, len(got), len(data))
	}
	sidecar, ok := f.minio.Get(f.t, testBucket, testHost+"/"+object+SidecarSuffix)
	if want := offloadtest.SHA256(stored) + "  " + object + "\n"; !ok || string(sidecar) != want {
		f.t.Fatalf("sidecar of %s=%q, want %q", object, sidecar, want)
	}
}
