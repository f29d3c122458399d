package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RGW runs on a small RADOS cluster (rados.go) made of Debian 13's Ceph
// 18.2 (Reef, as Rook deploys it), which needs a newer glibc than a Debian
// 12 host has: so the cluster runs in a Debian 13 chroot. ceph-mon and
// ceph-osd bring ceph-base (monmaptool, the object classes RGW calls on
// the OSD); ceph-osd has MemStore built in.
const (
	rgwSuite    = "trixie"
	rgwPackages = "radosgw ceph-common ceph-mon ceph-osd"
	// rgwMirrorEnv, when set, is the Debian mirror debootstrap uses instead
	// of its default.
	rgwMirrorEnv = "OFFSITE_TEST_DEBIAN_MIRROR"
)

// rgwChroot is the prepared Debian chroot that every RGW instance runs in.
type rgwChroot struct {
	root    string // the chroot, complete and ready
	version string // radosgw --version inside it
}

// errRGWUnavailable marks setup failures that mean "this machine cannot run
// RGW" (not root, no debootstrap, no network), as opposed to harness bugs.
var errRGWUnavailable = errors.New("rgw unavailable")

// rgwBinaries are what the chroot must hold to be used.
var rgwBinaries = []string{"radosgw", "radosgw-admin", "ceph", "ceph-mon", "ceph-osd", "monmaptool"}

// prepareRGWChroot returns the RGW chroot under the cache folder, creating it
// on first use (about a minute and 700 MB). A file lock serialises parallel test
// packages; the chroot is built under a temporary name and renamed into
// place with its marker last, so a half-finished attempt is never used and
// is cleared by the next one.
func prepareRGWChroot() (*rgwChroot, error) {
	if err := rgwHostCheck(); err != nil {
		return nil, err
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "rgw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	c := &rgwChroot{root: filepath.Join(dir, "root")}
	// The marker names what the chroot was built from, then radosgw's
	// version: a chroot built from another recipe is rebuilt.
	marker := filepath.Join(dir, "ready")
	recipe := rgwSuite + " " + rgwPackages
	if data, err := os.ReadFile(marker); err == nil {
		built, version, _ := strings.Cut(string(data), "\n")
		if built == recipe && c.complete() {
			c.version = strings.TrimSpace(version)
			return c, nil
		}
	}
	// No marker, another recipe or a binary missing: whatever is there goes.
	if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, stale := range []string{c.root, filepath.Join(dir, "root.partial")} {
		if err := removeTree(stale); err != nil {
			return nil, err
		}
	}
	partial := filepath.Join(dir, "root.partial")
	logPath := filepath.Join(dir, "setup.log")
	if err := buildRGWChroot(partial, logPath); err != nil {
		return nil, err
	}
	version, err := Command(context.Background(), time.Minute, "chroot", partial, "radosgw", "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("radosgw --version in the new chroot: %v: %s", err, version)
	}
	if err := os.Rename(partial, c.root); err != nil {
		return nil, err
	}
	c.version = strings.TrimSpace(string(version))
	if err := os.WriteFile(marker, []byte(recipe+"\n"+c.version+"\n"), 0o644); err != nil {
		return nil, err
	}
	return c, nil
}

// complete reports whether every binary the cluster needs is in the chroot.
func (c *rgwChroot) complete() bool {
	for _, bin := range rgwBinaries {
		if _, err := os.Stat(filepath.Join(c.root, "usr/bin", bin)); err != nil {
			return false
		}
	}
	return true
}

// rgwHostCheck says exactly why this machine cannot build the chroot.
func rgwHostCheck() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the RGW chroot needs root (debootstrap, chroot, mount); run the tests as root", errRGWUnavailable)
	}
	for _, tool := range []string{"debootstrap", "unshare", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found; install the Debian packages debootstrap and util-linux", errRGWUnavailable, tool)
		}
	}
	return nil
}

// rgwBuildTimeout bounds building the chroot: about a minute here, far longer
// on a slow mirror, but not for ever.
const rgwBuildTimeout = 15 * time.Minute

// buildRGWChroot debootstraps Debian 13 into dir and installs Ceph. It runs
// in private mount and PID namespaces: the proc and sys mounts debootstrap
// and apt need vanish with the process, and every process of the build dies
// with the test binary, even when it is killed half-way.
func buildRGWChroot(dir, logPath string) error {
	logs, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logs.Close()
	script := `set -eu
debootstrap --variant=minbase "$SUITE" "$ROOT" ${MIRROR:+"$MIRROR"}
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOT/proc"
chroot "$ROOT" apt-get update -q
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PACKAGES
chroot "$ROOT" apt-get clean
`
	cmd := Command(context.Background(), rgwBuildTimeout, "unshare", "--mount", "--pid", "--kill-child", "--", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "SUITE="+rgwSuite, "ROOT="+dir, "MIRROR="+os.Getenv(rgwMirrorEnv), "PACKAGES="+rgwPackages)
	cmd.Stdout, cmd.Stderr = logs, logs
	start := time.Now()
	if err := cmd.Run(); err != nil {
		// Most often the network: debootstrap and apt download everything.
		return fmt.Errorf("%w: building the Debian %s chroot failed after %v (%v); last lines of %s:\n%s",
			errRGWUnavailable, rgwSuite, time.Since(start).Round(time.Second), err, logPath, tail(logPath, 15))
	}
	return nil
}

// removeTree detaches any mount left under dir (by an older, killed run or
// by hand) before deleting it, so RemoveAll never reaches into /proc or /sys.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount leftover %s: %w", m, err)
		}
	}
	if again, err := mountsUnder(dir); err != nil || len(again) > 0 {
		return fmt.Errorf("mounts still under %s: %v %v", dir, again, err)
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var found []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMount(fields[4])
		if point == dir || strings.HasPrefix(point, dir+"/") {
			found = append(found, point)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(found)))
	return found, s.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lockFile takes an exclusive flock on path, waiting for it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rgwInstancesDir is where, inside the chroot, each cluster keeps its
// config, mon store and logs.
const rgwInstancesDir = "/srv/offsite-rgw"

// newInstanceDir creates a fresh instance dir and returns its path inside
// the chroot. The caller holds a lock on it until release; dirs whose lock
// is free belong to test processes that died, and are removed here.
func (c *rgwChroot) newInstanceDir() (inChroot string, release func(), err error) {
	parent := filepath.Join(c.root, rgwInstancesDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, err
	}
	unlock, err := lockFile(filepath.Join(filepath.Dir(c.root), ".lock"))
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	entries, err := os.ReadDir(parent)
	if err != nil {
		return "", nil, err
	}
	for _, e := range entries {
		dir := filepath.Join(parent, e.Name())
		if release, ok := tryLock(filepath.Join(dir, ".owner")); ok {
			release()
			if err := os.RemoveAll(dir); err != nil {
				return "", nil, fmt.Errorf("remove abandoned cluster dir: %w", err)
			}
		}
	}
	dir, err := os.MkdirTemp(parent, "rgw-")
	if err != nil {
		return "", nil, err
	}
	owner, ok := tryLock(filepath.Join(dir, ".owner"))
	if !ok {
		return "", nil, fmt.Errorf("cannot lock new rgw instance dir %s", dir)
	}
	return filepath.Join(rgwInstancesDir, filepath.Base(dir)), owner, nil
}

// tryLock takes an exclusive flock on path without waiting.
func tryLock(path string) (release func(), ok bool) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// hostPath turns a path inside the chroot into one the host can open.
func (c *rgwChroot) hostPath(inChroot string) string {
	return filepath.Join(c.root, inChroot)
}

// command prepares a command that runs inside the chroot in private mount
// and PID namespaces with its own /proc: that mount cannot outlive the
// process or show up on the host, so nothing is left to unmount after a
// crash; and when the test binary dies, unshare's death kills the
// namespace's first process, which takes every other one with it. Its
// deadline is timeout (0: none, for the daemons, which Stop ends).
func (c *rgwChroot) command(timeout time.Duration, args ...string) *Cmd {
	script := `mount -t proc proc "$ROOT/proc" && exec chroot "$ROOT" "$@"`
	cmd := Command(context.Background(), timeout, "unshare", append([]string{"--mount", "--pid", "--kill-child", "--", "sh", "-c", script, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "ROOT="+c.root)
	return cmd
}
