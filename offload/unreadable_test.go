package offload

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// unreadableEnv, set in a child test process, makes it run onceUnreadable
// on the directories it names instead of the tests.
const unreadableEnv = "OFFLOAD_TEST_UNREADABLE"

// onceUnreadable runs Once on snapDir and prints its error.
func onceUnreadable(snapDir, stateDir string) {
	r := rcloneconf.Remote{Name: "offload-test-unreachable", Provider: rcloneconf.ProviderMinio,
		Endpoint: "http://127.0.0.1:1", AccessKeyID: "key", SecretAccessKey: "secret"}
	cfg := DefaultConfig()
	cfg.Dest, cfg.Bucket, cfg.Hostname = r, testBucket, testHost
	cfg.SnapshotDir, cfg.StateDir, cfg.QuietPeriod = snapDir, stateDir, testQuiet
	_, err := Once(context.Background(), cfg, nil)
	fmt.Println(err)
}

// A snapshot offload cannot read fails Once with an error naming the file.
// Root reads any file, so as root the check runs in a child process as
// nobody (uid 65534).
func TestOnceUnreadableFileNamed(t *testing.T) {
	base, err := os.MkdirTemp("", "offload-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	snapDir, stateDir := filepath.Join(base, "snapshots"), filepath.Join(base, "state")
	for dir, mode := range map[string]os.FileMode{base: 0o755, snapDir: 0o755, stateDir: 0o777} {
		if err := os.MkdirAll(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}
	name := offloadtest.Name(testHost, 1700010000)
	path := offloadtest.WriteRaw(t, snapDir, name, offloadtest.Snapshot(4, 1000))
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}

	var out string
	if os.Geteuid() != 0 {
		r, w, _ := os.Pipe()
		stdout := os.Stdout
		os.Stdout = w
		onceUnreadable(snapDir, stateDir)
		os.Stdout = stdout
		w.Close()
		b, _ := io.ReadAll(r)
		out = string(b)
	} else {
		out = runAsNobody(t, base, snapDir, stateDir)
	}
	if !strings.Contains(out, path) || !strings.Contains(out, "permission denied") {
		t.Fatalf("Once error %q, want one naming %s as permission denied", out, path)
	}
}

// runAsNobody runs onceUnreadable in a copy of the test binary as nobody.
func runAsNobody(t *testing.T, base, snapDir, stateDir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "offload.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := harness.Command(context.Background(), 2*time.Minute, bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), unreadableEnv+"="+snapDir+":"+stateDir, "HOME="+base)
	cmd.Dir = base
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	return string(out)
}
