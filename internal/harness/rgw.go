package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// RequireRGWEnv, when set, decides alone whether RGW tests may skip: 1 makes
// a missing RGW a failure, 0 lets RGW tests skip even when RequireS3Env=1
// (a machine without root can still require MinIO). Unset, RequireS3Env
// decides.
const RequireRGWEnv = "OFFSITE_TEST_REQUIRE_RGW"

// RGW credentials of the user every instance is created with.
const (
	RGWAccessKey = "offsite-rgw-test"
	RGWSecretKey = "offsite-rgw-test-secret"
)

// RGW is one Ceph RGW (radosgw 18.2, DBStore backend, no RADOS cluster)
// on loopback, running in the harness's Debian 13 chroot with its own
// config, database and port.
type RGW struct {
	Server
	Version string // radosgw --version

	chroot  *rgwChroot
	dir     string // instance dir inside the chroot
	port    int
	release func() // gives the instance dir up for removal
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *os.File
}

// StartRGW starts an RGW with a user whose keys are RGWAccessKey and
// RGWSecretKey and stops it when the test ends. The first call on a machine
// builds the chroot into the cache folder (about 40 s, needs root and the
// network). Under -short, or when the chroot cannot be built, it skips
// saying why (or fails, when RGW is required).
func StartRGW(t testing.TB) *RGW {
	t.Helper()
	integration(t)
	chroot, err := prepareRGWChroot()
	if err != nil {
		skipRGW(t, "Ceph RGW unavailable: %v", err)
	}
	dir, release, err := chroot.newInstanceDir()
	if err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		release()
		t.Fatal(err)
	}
	r := &RGW{
		Server: Server{
			Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
			AccessKey: RGWAccessKey,
			SecretKey: RGWSecretKey,
			Provider:  rcloneconf.ProviderCeph,
		},
		Version: chroot.version,
		chroot:  chroot, dir: dir, port: port, release: release,
	}
	t.Cleanup(func() { r.cleanup(t) })
	if err := r.configure(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// RGWRequired reports whether RGW tests must fail rather than skip.
func RGWRequired() bool {
	if v, ok := os.LookupEnv(RequireRGWEnv); ok {
		required, _ := strconv.ParseBool(v)
		return required
	}
	return Required()
}

// skipRGW is skip with RequireRGWEnv taken into account.
func skipRGW(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RGWRequired() {
		t.Fatalf("%s (RGW is required: %s=%s, %s=%s)", msg, RequireRGWEnv, os.Getenv(RequireRGWEnv), RequireS3Env, os.Getenv(RequireS3Env))
	}
	t.Skip(msg)
}

// configure writes the instance's ceph.conf and creates the test user.
func (r *RGW) configure() error {
	for _, sub := range []string{"data", "run", "db"} {
		if err := os.MkdirAll(r.chroot.hostPath(filepath.Join(r.dir, sub)), 0o755); err != nil {
			return err
		}
	}
	// No monitors, no cephx: DBStore keeps users, buckets and objects in
	// SQLite under "dbstore db dir".
	conf := fmt.Sprintf(`[global]
fsid = 00000000-0000-0000-0000-000000000000
auth cluster required = none
auth service required = none
auth client required = none
log file = %[1]s/radosgw.log
admin socket = %[1]s/run/$name.asok
[client]
rgw backend store = dbstore
rgw config store = dbstore
rgw data = %[1]s/data
run dir = %[1]s/run
dbstore db dir = %[1]s/db
rgw frontends = beast endpoint=127.0.0.1:%[2]d
`, r.dir, r.port)
	if err := os.WriteFile(r.chroot.hostPath(r.conf()), []byte(conf), 0o644); err != nil {
		return err
	}
	out, err := r.inChroot("radosgw-admin", "-c", r.conf(), "--no-mon-config", "user", "create",
		"--uid", "offsite", "--display-name", "offsite tests",
		"--access-key", r.AccessKey, "--secret", r.SecretKey).CombinedOutput()
	if err != nil {
		return fmt.Errorf("radosgw-admin user create: %v: %s", err, tail(r.chroot.hostPath(r.dir+"/radosgw.log"), 10))
	}
	_ = out // the user as JSON, keys included: never logged
	return nil
}

func (r *RGW) conf() string { return r.dir + "/ceph.conf" }

// inChroot prepares a command that runs inside the chroot in private mount
// and PID namespaces with its own /proc: that mount cannot outlive the
// process or show up on the host, so nothing is left to unmount after a
// crash; and when the test binary dies, unshare's death kills the
// namespace's first process, which takes every other one with it.
func (r *RGW) inChroot(args ...string) *exec.Cmd {
	script := `mount -t proc proc "$ROOT/proc" && exec chroot "$ROOT" "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--pid", "--kill-child", "--", "sh", "-c", script, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "ROOT="+r.chroot.root)
	// The whole tree dies with the test binary, even before its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Start (re)starts radosgw on its port and database and waits until it
// answers S3 requests with the test user's keys.
func (r *RGW) Start() error {
	logs, err := os.OpenFile(r.chroot.hostPath(r.dir+"/radosgw.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := r.inChroot("radosgw", "-f", "-c", r.conf(), "--no-mon-config")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		logs.Close()
		return fmt.Errorf("start radosgw: %w", err)
	}
	r.cmd, r.logs, r.exited = cmd, logs, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.exited) }()
	return r.waitReady(60 * time.Second)
}

func (r *RGW) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := r.Client()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListBuckets(attempt, &s3.ListBucketsInput{})
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("radosgw exited before it answered; last lines of %s:\n%s", r.LogPath(), tail(r.LogPath(), 15))
		case <-ctx.Done():
			return fmt.Errorf("radosgw not answering after %v (last error: %v); see %s", timeout, err, r.LogPath())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LogPath is radosgw's log file, as the host sees it.
func (r *RGW) LogPath() string { return r.chroot.hostPath(r.dir + "/radosgw.log") }

// PID is radosgw's process group (the unshare wrapper that leads it), or 0
// when it is stopped.
func (r *RGW) PID() int {
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Stop stops radosgw by PID (SIGTERM to its process group, then SIGKILL
// after 15 s). Its database stays, so Start brings the same server back.
func (r *RGW) Stop() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
	}
	r.logs.Close()
	r.cmd = nil
}

// cleanup stops the server and removes its instance dir; after a failed
// test it keeps the dir until the next run and shows the end of the log.
func (r *RGW) cleanup(t testing.TB) {
	r.Stop()
	r.release()
	if t.Failed() {
		t.Logf("radosgw log %s ends with:\n%s", r.LogPath(), tail(r.LogPath(), 20))
		return
	}
	_ = os.RemoveAll(r.chroot.hostPath(r.dir))
}

// RSS is the resident memory of radosgw and its wrappers, in bytes.
func (r *RGW) RSS() (int64, error) {
	pgid := r.PID()
	if pgid == 0 {
		return 0, fmt.Errorf("radosgw is not running")
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended meanwhile
		}
		// Fields after the parenthesised command: state ppid pgrp ... (man 5 proc).
		after := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(after) < 22 || after[2] != strconv.Itoa(pgid) {
			continue
		}
		pages, err := strconv.ParseInt(after[21], 10, 64)
		if err != nil {
			continue
		}
		total += pages * int64(os.Getpagesize())
	}
	return total, nil
}
