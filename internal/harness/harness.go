// Package harness starts real S3 servers on loopback for offsite's tests:
// MinIO processes built from a pinned version, and (rgw.go) a Ceph RGW.
//
// Tests that need a server call Require*: without the server they skip,
// unless OFFSITE_TEST_REQUIRE_S3=1 (CI) turns the skip into a failure.
package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// RequireS3Env, set to 1, makes every missing test server a failure.
const RequireS3Env = "OFFSITE_TEST_REQUIRE_S3"

// Required reports whether tests must fail rather than skip when a server
// cannot be had.
func Required() bool {
	v, _ := strconv.ParseBool(os.Getenv(RequireS3Env))
	return v
}

// skip skips t, or fails it when servers are required.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=1 forbids skipping)", msg, RequireS3Env)
	}
	t.Skip(msg)
}

// integration skips t under -short, or fails it when servers are required.
func integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		skip(t, "integration test: needs a real S3 server, not run with -short")
	}
}

// CacheDir is the project's cache folder (ignored by git), where the
// harness keeps the servers it builds.
func CacheDir() (string, error) {
	if dir := os.Getenv("OFFSITE_CACHE_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// buildTimeout bounds one cold `go install` of a server or CLI (MinIO takes
// about 3 minutes on two cores, rclone about 80 s).
const buildTimeout = 20 * time.Minute

// goInstall builds pkg@version into the cache's bin folder once, serialised
// by a lock file so parallel test packages do not build it twice.
func goInstall(binary, pkg string) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(bin, binary)
	lock, err := os.OpenFile(filepath.Join(bin, "."+binary+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cmd := Command(context.Background(), buildTimeout, "go", "install", pkg)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v\n%s", pkg, err, out)
	}
	return path, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RcloneCLI returns the rclone CLI of the version offsite is built on, for
// benchmarks against it, building it into the cache on first use (~80 s).
func RcloneCLI() (string, error) {
	return goInstall("rclone", "github.com/rclone/rclone@v1.76.0")
}

// WaitFor polls cond every 50 ms until it holds, and fails the test when it
// does not within timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
