package harness

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RGWOSDMiBEnv sets how many MiB the test cluster's OSD may hold
// (memstore_device_bytes; default rgwOSDMiB). MemStore keeps every object
// in the OSD's memory and refuses nothing: past this size the OSD reports
// itself full, seconds late, and blocks writes. A run that writes more (a
// large benchmark) needs a larger value.
const RGWOSDMiBEnv = "OFFSITE_TEST_RGW_OSD_MIB"

const (
	// rgwOSDMiB fits what one test binary writes into RGW: the harness's
	// own tests about 80 MiB, the mirror and restore tests about 50 MiB,
	// the RGW benchmark 264 MiB. The OSD's memory grows by about twice
	// what it holds.
	rgwOSDMiB = 1024
	// rgwOpTimeout is how long radosgw and the Ceph tools wait for one
	// RADOS operation (rados_osd_op_timeout). A full OSD blocks writes
	// until it has room again, which in a test run does not happen: the
	// timeout turns that into an error (HTTP 408 from radosgw), not a hang.
	rgwOpTimeout = 30 * time.Second

	cephToolTimeout = time.Minute      // one monmaptool, mkfs or ceph call
	osdUpTimeout    = 2 * time.Minute  // from ceph-osd's start to "up"
	rgwUpTimeout    = 3 * time.Minute  // radosgw creates its pools first
	daemonStopGrace = 15 * time.Second // SIGTERM, then SIGKILL
)

// radosCluster is a Ceph cluster on loopback, in the RGW chroot: one mon,
// one OSD that keeps its objects in memory (MemStore), and one radosgw.
// No cephx (auth none) and no mgr: nothing the tests use needs one (it
// would serve `ceph df` and the pg autoscaler).
type radosCluster struct {
	chroot  *rgwChroot
	dir     string // inside the chroot
	release func() // gives the dir up for removal
	opts    clusterOptions

	fsid             string
	monPort, rgwPort int
	mon, osd, rgw    daemon
	startup          time.Duration // from the first command to radosgw answering
	users            atomic.Int32  // test users created so far
}

// clusterOptions are what a cluster is sized by.
type clusterOptions struct {
	osdBytes  int64         // memstore_device_bytes
	opTimeout time.Duration // rados_osd_op_timeout
}

// shared is the one cluster of a test binary, started by the first test
// that needs it. Its daemons die with the binary (see Command): MemStore
// keeps nothing worth a clean shutdown, and the next run removes the dir.
var shared struct {
	once sync.Once
	c    *radosCluster
	err  error
}

// sharedCluster starts the binary's cluster on first use and returns it,
// or the error that first start ended with.
func sharedCluster() (*radosCluster, error) {
	shared.once.Do(func() {
		opts, err := clusterOptionsFromEnv()
		if err != nil {
			shared.err = err
			return
		}
		shared.c, shared.err = startCluster(opts)
	})
	return shared.c, shared.err
}

func clusterOptionsFromEnv() (clusterOptions, error) {
	opts := clusterOptions{osdBytes: rgwOSDMiB << 20, opTimeout: rgwOpTimeout}
	if v := os.Getenv(RGWOSDMiBEnv); v != "" {
		mib, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mib < 64 {
			return opts, fmt.Errorf("%s=%q: want a number of MiB, 64 or more", RGWOSDMiBEnv, v)
		}
		opts.osdBytes = mib << 20
	}
	return opts, nil
}

// startCluster builds or reuses the chroot and starts a cluster in a fresh
// dir of it. Every step has a deadline. On failure the daemons are
// stopped and the dir is kept, logs and all, until the next run.
func startCluster(opts clusterOptions) (*radosCluster, error) {
	chroot, err := prepareRGWChroot()
	if err != nil {
		return nil, err
	}
	dir, release, err := chroot.newInstanceDir()
	if err != nil {
		return nil, err
	}
	c := &radosCluster{chroot: chroot, dir: dir, release: release, opts: opts}
	start := time.Now()
	for _, step := range []func() error{c.configure, c.startMon, c.startOSD, c.startRGW} {
		if err := step(); err != nil {
			err = errors.Join(err, c.stopDaemons())
			release()
			return nil, fmt.Errorf("start the test cluster in %s: %w", chroot.hostPath(dir), err)
		}
	}
	c.startup = time.Since(start)
	return c, nil
}

func (c *radosCluster) conf() string             { return c.dir + "/ceph.conf" }
func (c *radosCluster) hostPath(p string) string { return c.chroot.hostPath(c.dir + "/" + p) }

// endpoint is radosgw's S3 endpoint.
func (c *radosCluster) endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", c.rgwPort) }

// configure picks the ports and writes ceph.conf.
func (c *radosCluster) configure() error {
	for _, sub := range []string{"mon", "osd", "rgw", "run", "log"} {
		if err := os.MkdirAll(c.hostPath(sub), 0o755); err != nil {
			return err
		}
	}
	var err error
	if c.monPort, err = FreePort(); err != nil {
		return err
	}
	if c.rgwPort, err = FreePort(); err != nil {
		return err
	}
	// Debian's default class dir is relative to the daemon's working dir.
	classes, _ := filepath.Glob(c.chroot.hostPath("/usr/lib/*/rados-classes"))
	if len(classes) != 1 {
		return fmt.Errorf("want one rados-classes dir in the chroot, found %q", classes)
	}
	c.fsid = newUUID()
	conf := fmt.Sprintf(clusterConf, c.fsid, c.monPort, c.dir, c.opts.osdBytes,
		strings.TrimPrefix(classes[0], c.chroot.root), int(c.opts.opTimeout.Seconds()), c.rgwPort)
	return os.WriteFile(c.hostPath("ceph.conf"), []byte(conf), 0o644)
}

// clusterConf is ceph.conf: fsid, mon port, dir, OSD bytes, class dir, op
// timeout in seconds, radosgw port.
const clusterConf = `[global]
fsid = %[1]s
mon host = v2:127.0.0.1:%[2]d
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
# Without it radosgw (not the ceph CLI) fails to authenticate to the mon
# under auth none: "get_initial_auth_request returned -13".
ms mon client mode = crc
run dir = %[3]s/run
admin socket = %[3]s/run/$name.asok
log file = %[3]s/log/$name.log
# One OSD: one copy of everything, placed on that OSD.
mon allow pool size one = true
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
# RGW makes about eight pools: few PGs each keep them under
# mon_max_pg_per_osd and start fast.
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
[mon]
mon data = %[3]s/mon
# The mon gathers changes for a second before it proposes a new map: each
# pool RGW creates would wait for two of them, at startup and at the
# first bucket, object and multipart upload.
paxos propose interval = 0.05
mon cluster log file = %[3]s/log/cluster.log
# The mon stops when its disk is nearly full; its store here is tiny.
mon data avail crit = 0
[osd]
osd data = %[3]s/osd
osd objectstore = memstore
memstore device bytes = %[4]d
osd class dir = %[5]s
[client]
rados osd op timeout = %[6]d
[client.rgw]
# Without tcp_nodelay a small response can wait 40 ms for the client's
# delayed ACK: a listing walked page by page took 20 times longer.
rgw frontends = beast endpoint=127.0.0.1:%[7]d tcp_nodelay=1
rgw data = %[3]s/rgw
`

// run runs a Ceph tool in the chroot under a deadline and returns its
// standard output. The error names the tool, never its arguments (they
// may hold a secret), and ends with its standard error.
func (c *radosCluster) run(timeout time.Duration, args ...string) (string, error) {
	out, err := c.chroot.command(timeout, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", args[0], err)
	}
	return string(out), nil
}

// ceph runs the ceph CLI against the cluster.
func (c *radosCluster) ceph(args ...string) (string, error) {
	return c.run(cephToolTimeout, append([]string{"ceph", "-c", c.conf()}, args...)...)
}

// startMon makes the monitor's map and store, and starts it.
func (c *radosCluster) startMon() error {
	monmap := c.dir + "/monmap"
	if _, err := c.run(cephToolTimeout, "monmaptool", "--create", "--fsid", c.fsid,
		"--addv", "a", fmt.Sprintf("[v2:127.0.0.1:%d]", c.monPort), monmap); err != nil {
		return err
	}
	if _, err := c.run(cephToolTimeout, "ceph-mon", "-c", c.conf(), "-i", "a", "--mkfs", "--monmap", monmap, "--keyring", "/dev/null"); err != nil {
		return err
	}
	return c.mon.start(c.chroot.command(0, "ceph-mon", "-f", "-c", c.conf(), "-i", "a"), c.hostPath("log/mon.out"))
}

// startOSD registers an OSD with the mon (which waits for the mon to
// answer), makes its MemStore and starts it, and waits until the mon
// sees it up.
func (c *radosCluster) startOSD() error {
	uuid := newUUID()
	out, err := c.ceph("osd", "new", uuid)
	if err != nil {
		return c.explain(err, "log/mon.a.log")
	}
	id := strings.TrimSpace(out)
	if _, err := c.run(cephToolTimeout, "ceph-osd", "-c", c.conf(), "-i", id, "--mkfs", "--osd-uuid", uuid); err != nil {
		return err
	}
	if err := c.osd.start(c.chroot.command(0, "ceph-osd", "-f", "-c", c.conf(), "-i", id), c.hostPath("log/osd.out")); err != nil {
		return err
	}
	err = c.osd.waitReady(osdUpTimeout, func(context.Context) error {
		out, err := c.ceph("osd", "stat", "-f", "json")
		if err != nil {
			return err
		}
		var stat struct {
			Up int `json:"num_up_osds"`
		}
		if err := json.Unmarshal([]byte(out), &stat); err != nil || stat.Up < 1 {
			return fmt.Errorf("osd stat %s: %v", strings.TrimSpace(out), err)
		}
		return nil
	})
	return c.explain(err, "log/osd."+id+".log")
}

// startRGW starts radosgw and waits until it answers HTTP: on its first
// start it creates its realm, zone and pools first.
func (c *radosCluster) startRGW() error {
	if err := c.rgw.start(c.chroot.command(0, "radosgw", "-f", "-c", c.conf(), "-n", "client.rgw"), c.hostPath("log/rgw.out")); err != nil {
		return err
	}
	err := c.rgw.waitReady(rgwUpTimeout, func(ctx context.Context) error {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(attempt, http.MethodGet, c.endpoint(), nil)
		if err != nil {
			return fmt.Errorf("%w: %v", errGiveUp, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body) // else radosgw logs a broken pipe
		return err
	})
	return c.explain(err, "log/client.rgw.log")
}

// explain adds the end of a daemon's log to the error of its start.
func (c *radosCluster) explain(err error, log string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w; last lines of %s:\n%s", err, c.hostPath(log), tail(c.hostPath(log), 15))
}

// clusterDaemon is one of the cluster's daemons, by program name.
type clusterDaemon struct {
	name string
	*daemon
}

// daemons lists the cluster's daemons in start order.
func (c *radosCluster) daemons() []clusterDaemon {
	return []clusterDaemon{{"ceph-mon", &c.mon}, {"ceph-osd", &c.osd}, {"radosgw", &c.rgw}}
}

// alive fails when a daemon has ended since the cluster started.
func (c *radosCluster) alive() error {
	for _, p := range c.daemons() {
		if !p.running() {
			return fmt.Errorf("%s is not running", p.name)
		}
		select {
		case <-p.cmd.Done():
			return fmt.Errorf("%s has exited (%v); see the logs in %s", p.name, p.cmd.Wait(), c.hostPath("log"))
		default:
		}
	}
	return nil
}

// room fails when the OSD is full or nearly so (the mon's full and
// nearfull ratios, 95% and 85% of memstore_device_bytes): writes then
// block until rados_osd_op_timeout, so a test would fail slowly and
// without saying why.
func (c *radosCluster) room() error {
	out, err := c.ceph("osd", "dump", "-f", "json")
	if err != nil {
		return err
	}
	var dump struct {
		OSDs []struct {
			OSD   int      `json:"osd"`
			State []string `json:"state"`
		} `json:"osds"`
	}
	if err := json.Unmarshal([]byte(out), &dump); err != nil {
		return fmt.Errorf("ceph osd dump: %w", err)
	}
	for _, o := range dump.OSDs {
		state := "full"
		if !slices.Contains(o.State, state) {
			state = "nearly full"
			if !slices.Contains(o.State, "nearfull") {
				continue
			}
		}
		return fmt.Errorf("the test cluster's OSD %d is %s: it keeps objects in memory, in at most %d MiB; earlier tests in this binary wrote that much, or this one does: set %s higher",
			o.OSD, state, c.opts.osdBytes>>20, RGWOSDMiBEnv)
	}
	return nil
}

// newUser creates a user in a tenant of its own: its buckets are its own
// too, so every test can name its buckets as it likes. The access key
// (unique in the cluster) goes with RGWSecretKey.
func (c *radosCluster) newUser() (tenant, accessKey string, err error) {
	n := c.users.Add(1)
	tenant = fmt.Sprintf("test%d", n)
	accessKey = fmt.Sprintf("%s-%d", RGWAccessKey, n)
	// The output is the user as JSON, keys included: never logged.
	_, err = c.run(cephToolTimeout, "radosgw-admin", "-c", c.conf(), "user", "create",
		"--tenant", tenant, "--uid", "offsite", "--display-name", "offsite tests",
		"--access-key", accessKey, "--secret", RGWSecretKey)
	return tenant, accessKey, err
}

// stop ends the daemons and removes the cluster's dir.
func (c *radosCluster) stop() error {
	err := c.stopDaemons()
	c.release()
	if err != nil {
		return err
	}
	return os.RemoveAll(c.chroot.hostPath(c.dir))
}

// stopDaemons stops radosgw, the OSD and the mon, in that order.
func (c *radosCluster) stopDaemons() error {
	var errs []error
	for _, p := range slices.Backward(c.daemons()) {
		if err := p.stop(daemonStopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}

// memory returns the resident memory of the daemons and their wrappers
// now, and the sum of each process's peak (VmHWM), in bytes.
func (c *radosCluster) memory() (rss, peak int64, err error) {
	for _, p := range c.daemons() {
		if !p.running() {
			return 0, 0, fmt.Errorf("%s is not running", p.name)
		}
		procs, err := groupProcs(p.cmd.Process.Pid)
		if err != nil {
			return 0, 0, err
		}
		for pid, fields := range procs {
			if len(fields) > 21 {
				pages, _ := strconv.ParseInt(fields[21], 10, 64)
				rss += pages * int64(os.Getpagesize())
			}
			peak += procPeakRSS(pid)
		}
	}
	return rss, peak, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
