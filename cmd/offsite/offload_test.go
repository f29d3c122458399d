package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

const etcdTestBucket = "etcd-test"

// syncBuffer is a bytes.Buffer that rclone's goroutines may log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOffsite runs the app with args and returns its exit code and output.
func runOffsite(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errs syncBuffer
	code = run(ctx, append([]string{"offsite", "--log-format=console"}, args...), &out, &errs, nil)
	return code, out.String(), errs.String()
}

// etcdArgs are the destination flags for m (or an unused port when m is nil).
func etcdArgs(m *harness.Minio) []string {
	endpoint, key, secret := "http://127.0.0.1:1", "key", "not-a-real-secret"
	if m != nil {
		endpoint, key, secret = m.Endpoint, m.AccessKey, m.SecretKey
	}
	return []string{"--minio-endpoint", endpoint, "--minio-access-key-id", key,
		"--minio-secret-access-key", secret, "--minio-bucket", etcdTestBucket, "--host", "node1"}
}

// offloadArgs adds the offload flags for a snapshot and a state dir.
func offloadArgs(m *harness.Minio, snapDir, stateDir string) []string {
	return append(etcdArgs(m), "--snapshot-dir", snapDir, "--state-dir", stateDir, "--quiet-period", "200ms")
}

func TestOffloadOnceMissingDirIsConfigError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	code, _, stderr := runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(nil, missing, t.TempDir())...)...)
	if code != exitcode.Config || !strings.Contains(stderr, offload.EnvSnapshotDir) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit %d naming %s", code, stderr, exitcode.Config, offload.EnvSnapshotDir)
	}
}

func TestOffloadStateDirNotWritableIsConfigError(t *testing.T) {
	stateParent := t.TempDir()
	offloadtest.ReadOnly(t, stateParent)
	for _, sub := range []string{"once", "watch"} {
		code, _, stderr := runOffsite(context.Background(), append([]string{"offload", sub}, offloadArgs(nil, t.TempDir(), filepath.Join(stateParent, "state"))...)...)
		if code != exitcode.Config || !strings.Contains(stderr, offload.EnvStateDir) {
			t.Fatalf("%s: exit %d, stderr:\n%s\nwant exit %d naming %s", sub, code, stderr, exitcode.Config, offload.EnvStateDir)
		}
	}
}

func TestOffloadOnceAndVerifyAndFetch(t *testing.T) {
	m := harness.StartMinio(t, etcdTestBucket)
	snapDir, stateDir := t.TempDir(), t.TempDir()
	name := offloadtest.Name("node1", time.Now().Unix())
	data := offloadtest.Snapshot(16, 1)
	offloadtest.WriteRaw(t, snapDir, name, data)

	code, stdout, stderr := runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(m, snapDir, stateDir)...)...)
	if code != exitcode.OK {
		t.Fatalf("once: exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, m.SecretKey) {
		t.Fatal("the secret key reached the output")
	}
	if got, ok := m.Get(t, etcdTestBucket, "node1/"+name); !ok || !bytes.Equal(got, data) {
		t.Fatal("snapshot not uploaded intact")
	}

	// verify etcd: all good, in JSON.
	code, stdout, stderr = runOffsite(context.Background(), append([]string{"verify", "etcd", "--output", "json"}, etcdArgs(m)...)...)
	var report offload.VerifyReport
	if code != exitcode.OK || json.Unmarshal([]byte(stdout), &report) != nil || report.Hosts[0].Snapshots != 1 {
		t.Fatalf("verify: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// fetch: the latest, with the restore command.
	dir := t.TempDir()
	code, stdout, stderr = runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", dir}, etcdArgs(m)...)...)
	path := filepath.Join(dir, name)
	if code != exitcode.OK || !strings.Contains(stdout, offload.RestoreCommand(path)) {
		t.Fatalf("fetch: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// A corrupt snapshot fails once with 1 and is not uploaded.
	bad := offloadtest.Name("node1", time.Now().Unix()+1)
	corrupt := bytes.Clone(data)
	corrupt[0] ^= 1
	offloadtest.WriteRaw(t, snapDir, bad, corrupt)
	code, _, stderr = runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(m, snapDir, stateDir)...)...)
	if code != exitcode.Failed || !strings.Contains(stderr, bad) {
		t.Fatalf("once with a corrupt snapshot: exit %d, stderr:\n%s\nwant %d naming %s", code, stderr, exitcode.Failed, bad)
	}
	if _, ok := m.Get(t, etcdTestBucket, "node1/"+bad); ok {
		t.Fatal("corrupt snapshot uploaded")
	}

	// Changed bytes at the destination: verify and fetch exit 4 naming it.
	m.Put(t, etcdTestBucket, "node1/"+name, corrupt)
	code, stdout, _ = runOffsite(context.Background(), append([]string{"verify", "etcd"}, etcdArgs(m)...)...)
	if code != exitcode.Verify || !strings.Contains(stdout, "node1/"+name) {
		t.Fatalf("verify of a changed object: exit %d, stdout:\n%s\nwant %d naming it", code, stdout, exitcode.Verify)
	}
	dir = t.TempDir()
	code, _, stderr = runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", dir}, etcdArgs(m)...)...)
	if entries, _ := os.ReadDir(dir); code != exitcode.Verify || len(entries) != 0 {
		t.Fatalf("fetch of a changed object: exit %d, %d files left, stderr:\n%s", code, len(entries), stderr)
	}

	// Stale: the newest snapshot is older than --max-age.
	code, stdout, _ = runOffsite(context.Background(), append([]string{"verify", "etcd", "--download", "none", "--max-age", "1ms"}, etcdArgs(m)...)...)
	if code != exitcode.Verify || !strings.Contains(stdout, "old") {
		t.Fatalf("verify with a stale snapshot: exit %d, stdout:\n%s", code, stdout)
	}
}

func TestOffloadWatchStopsCleanly(t *testing.T) {
	m := harness.StartMinio(t, etcdTestBucket)
	snapDir, stateDir := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr string
	go func() {
		var code int
		code, _, stderr = runOffsite(ctx, append([]string{"offload", "watch"}, offloadArgs(m, snapDir, stateDir)...)...)
		done <- code
	}()
	name := offloadtest.Name("node1", 1700000000)
	offloadtest.WriteRaw(t, snapDir, name, offloadtest.Snapshot(4, 2))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := m.List(t, etcdTestBucket, "node1/")["node1/"+name+offload.SidecarSuffix]; ok {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("snapshot not uploaded by watch; stderr:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitcode.OK {
			t.Fatalf("watch exit %d after SIGTERM, want 0; stderr:\n%s", code, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not stop")
	}
}
