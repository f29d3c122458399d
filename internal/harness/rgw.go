package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

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
	proc    daemon
	opts    rgwOptions

	userCreateKilled bool // radosgw-admin user create hung and was killed
}

// radosgw-admin can hang after doing its work: user create once wrote the
// user, then did not exit for over ten minutes; user info, asked for a
// user that does not exist, says so, then hangs. SIGTERM cannot end it here:
// unshare blocks SIGTERM while it waits for its child, and the child, the
// first process of its PID namespace, gets no signal it has no handler for
// but SIGKILL. So each call gets a deadline with SIGKILL to its process
// group, and the harness checks what a killed call did before giving up.
const (
	rgwUserCreateTimeout = 60 * time.Second
	rgwStopGrace         = 15 * time.Second
	// rgwUnknownKeyWait is how long radosgw may refuse the test user's
	// access key as unknown before Start gives up on the user.
	rgwUnknownKeyWait = 5 * time.Second
)

// rgwOptions are what the harness's own tests change.
type rgwOptions struct {
	userCreateTimeout time.Duration
	// userCreateWrapper, when set, is a shell script run in the chroot in
	// place of radosgw-admin for user create, with the radosgw-admin
	// command line as "$@".
	userCreateWrapper string
}

// StartRGW starts an RGW with a user whose keys are RGWAccessKey and
// RGWSecretKey and stops it when the test ends. The first call on a machine
// builds the chroot into the cache folder (about 40 s, needs root and the
// network). Under -short, or when the chroot cannot be built, it skips
// saying why (or fails, when RGW is required).
func StartRGW(t testing.TB) *RGW {
	t.Helper()
	return startRGW(t, rgwOptions{userCreateTimeout: rgwUserCreateTimeout})
}

func startRGW(t testing.TB, opts rgwOptions) *RGW {
	t.Helper()
	r := newRGW(t, opts)
	if err := r.configure(); err != nil {
		t.Fatal(err)
	}
	createErr := r.createUser(t)
	if err := r.Start(); err != nil {
		if createErr != nil {
			err = fmt.Errorf("%w (after radosgw-admin user create: %v)", err, createErr)
		}
		t.Fatal(err)
	}
	return r
}

// newRGW prepares an instance, unconfigured and not started, and cleans it
// up when the test ends.
func newRGW(t testing.TB, opts rgwOptions) *RGW {
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
		chroot:  chroot, dir: dir, port: port, release: release, opts: opts,
	}
	t.Cleanup(func() { r.cleanup(t) })
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

// configure writes the instance's ceph.conf.
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
	return os.WriteFile(r.chroot.hostPath(r.conf()), []byte(conf), 0o644)
}

// createUser creates the test user with radosgw-admin under a deadline,
// and logs how a call that failed or hung ended. Whether the user exists
// is then up to Start, whose requests are signed with the user's keys:
// asking radosgw-admin would be another call that can hang (user info
// does, after saying that a user does not exist).
func (r *RGW) createUser(t testing.TB) error {
	tool := []string{"radosgw-admin"}
	if script := r.opts.userCreateWrapper; script != "" {
		tool = []string{"sh", "-c", script, "sh", "radosgw-admin"}
	}
	line := slices.Concat(tool, []string{"-c", r.conf(), "--no-mon-config", "user", "create",
		"--uid", "offsite", "--display-name", "offsite tests",
		"--access-key", r.AccessKey, "--secret", r.SecretKey})
	start := time.Now()
	// The output is the user as JSON, keys included: never logged.
	_, err := r.inChroot(r.opts.userCreateTimeout, line...).Output()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		r.userCreateKilled = true
		t.Logf("radosgw-admin user create hung: its process group was killed after %v; radosgw's first requests will tell whether the user exists", time.Since(start).Round(time.Millisecond))
	case err != nil:
		t.Logf("radosgw-admin user create failed after %v (%v); radosgw's first requests will tell whether the user exists anyway", time.Since(start).Round(time.Millisecond), err)
	}
	return err
}

func (r *RGW) conf() string { return r.dir + "/ceph.conf" }

// inChroot prepares a command that runs inside the chroot in private mount
// and PID namespaces with its own /proc: that mount cannot outlive the
// process or show up on the host, so nothing is left to unmount after a
// crash; and when the test binary dies, unshare's death kills the
// namespace's first process, which takes every other one with it. Its
// deadline is timeout (0: none, for radosgw itself).
func (r *RGW) inChroot(timeout time.Duration, args ...string) *Cmd {
	script := `mount -t proc proc "$ROOT/proc" && exec chroot "$ROOT" "$@"`
	cmd := Command(context.Background(), timeout, "unshare", append([]string{"--mount", "--pid", "--kill-child", "--", "sh", "-c", script, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "ROOT="+r.chroot.root)
	return cmd
}

// Start (re)starts radosgw on its port and database and waits until it
// answers S3 requests with the test user's keys. When radosgw answers but
// keeps refusing the access key as unknown, the user does not exist and
// Start fails after rgwUnknownKeyWait.
func (r *RGW) Start() error {
	cmd := r.inChroot(0, "radosgw", "-f", "-c", r.conf(), "--no-mon-config")
	if err := r.proc.start(cmd, r.chroot.hostPath(r.dir+"/radosgw.out")); err != nil {
		return err
	}
	client := r.Client()
	timeout := 60 * time.Second
	var unknownSince time.Time
	err := r.proc.waitReady(timeout, func(ctx context.Context) error {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := client.ListBuckets(attempt, &s3.ListBucketsInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InvalidAccessKeyId" {
			unknownSince = time.Time{}
			return err
		}
		if unknownSince.IsZero() {
			unknownSince = time.Now()
		}
		if time.Since(unknownSince) >= rgwUnknownKeyWait {
			return fmt.Errorf("%w: radosgw answers, but has no user with the access key %s (%v)", errGiveUp, r.AccessKey, err)
		}
		return err
	})
	if errors.Is(err, errExited) {
		return fmt.Errorf("radosgw exited before it answered; last lines of %s:\n%s", r.LogPath(), tail(r.LogPath(), 15))
	}
	if err != nil {
		return fmt.Errorf("%w; see %s", err, r.LogPath())
	}
	return nil
}

// LogPath is radosgw's log file, as the host sees it.
func (r *RGW) LogPath() string { return r.chroot.hostPath(r.dir + "/radosgw.log") }

// PID is radosgw's process group (the unshare wrapper that leads it), or 0
// when it is stopped.
func (r *RGW) PID() int {
	if !r.proc.running() {
		return 0
	}
	return r.proc.cmd.Process.Pid
}

// Stop stops radosgw: SIGTERM to its process group, SIGKILL after 15 s,
// and it returns within about 40 s whatever happens. Its database stays,
// so Start brings the same server back.
func (r *RGW) Stop() { _ = r.proc.stop(rgwStopGrace) }

// cleanup stops the server and removes its instance dir; after a failed
// test it keeps the dir until the next run and shows the end of the log.
func (r *RGW) cleanup(t testing.TB) {
	if err := r.proc.stop(rgwStopGrace); err != nil {
		t.Logf("stop radosgw: %v", err)
	}
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
	procs, err := groupProcs(pgid)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, fields := range procs {
		if len(fields) < 22 {
			continue
		}
		if pages, err := strconv.ParseInt(fields[21], 10, 64); err == nil {
			total += pages * int64(os.Getpagesize())
		}
	}
	return total, nil
}
