package harness

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// RequireRGWEnv, when set, decides alone whether RGW tests may skip: 1 makes
// a missing RGW a failure, 0 lets RGW tests skip even when RequireS3Env=1
// (a machine without root can still require MinIO). Unset, RequireS3Env
// decides.
const RequireRGWEnv = "OFFSITE_TEST_REQUIRE_RGW"

// Credentials of the test users: each user's access key is RGWAccessKey
// followed by a number (access keys are unique in a cluster); they share
// the secret.
const (
	RGWAccessKey = "offsite-rgw-test"
	RGWSecretKey = "offsite-rgw-test-secret"
)

// RGW is a Ceph RGW user of its own, in a tenant of its own, on the test
// binary's cluster (radosgw 18.2 on RADOS: one mon, one MemStore OSD, see
// rados.go). Its buckets and their names belong to it alone: every test
// sees an empty RGW.
type RGW struct {
	Server
	Version string // radosgw --version
	Tenant  string // the user's tenant, as radosgw-admin names it

	cluster *radosCluster
}

// StartRGW creates an RGW user with its own tenant for the test, on the
// test binary's cluster, which the first call starts (a few seconds; the first
// call on a machine builds the chroot into the cache folder first, about a
// minute, as root with the network). Under -short, or when the chroot cannot
// be built, it skips saying why (or fails, when RGW is required). A cluster
// that did not start, a daemon that has died, or an OSD (nearly) full fails
// the test.
func StartRGW(t testing.TB) *RGW {
	t.Helper()
	integration(t)
	c, err := sharedCluster()
	switch {
	case errors.Is(err, errRGWUnavailable):
		skipRGW(t, "Ceph RGW unavailable: %v", err)
	case err != nil:
		t.Fatal(err)
	}
	return newRGW(t, c)
}

// newRGW creates the test's user on c.
func newRGW(t testing.TB, c *radosCluster) *RGW {
	t.Helper()
	if err := c.alive(); err != nil {
		t.Fatal(err)
	}
	if err := c.room(); err != nil {
		t.Fatal(err)
	}
	tenant, accessKey, err := c.newUser()
	if err != nil {
		t.Fatalf("create the test's RGW user: %v", err)
	}
	r := &RGW{
		Server: Server{
			Endpoint:  c.endpoint(),
			AccessKey: accessKey,
			SecretKey: RGWSecretKey,
			Provider:  rcloneconf.ProviderCeph,
		},
		Version: c.chroot.version,
		Tenant:  tenant,
		cluster: c,
	}
	t.Cleanup(func() {
		if t.Failed() {
			r.explainFailure(t)
		}
	})
	return r
}

// explainFailure logs what the cluster looks like after a failed test: a
// full OSD or a dead daemon makes requests time out or fail, which the
// test's own error does not say.
func (r *RGW) explainFailure(t testing.TB) {
	for _, err := range []error{r.cluster.alive(), r.cluster.room()} {
		if err != nil {
			t.Logf("test cluster: %v", err)
		}
	}
	t.Logf("radosgw log %s ends with:\n%s", r.LogPath(), tail(r.LogPath(), 20))
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

// LogPath is radosgw's log file, as the host sees it.
func (r *RGW) LogPath() string { return r.cluster.hostPath("log/client.rgw.log") }

// RSS is the resident memory of the cluster's daemons (mon, OSD with the
// objects it holds, radosgw) and their wrappers, now and at their peaks
// (the sum of each process's peak), in bytes.
func (r *RGW) RSS() (now, peak int64, err error) { return r.cluster.memory() }
