package harness

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestRGWStarts is also how `make rgw` prepares the chroot ahead of tests
// and checks that the cluster starts.
func TestRGWStarts(t *testing.T) {
	start := time.Now()
	r := StartRGW(t)
	t.Logf("%s answering on %s after %v (chroot build included when cold); the cluster (mon, OSD with %d MiB of MemStore, radosgw) took %v",
		r.Version, r.Endpoint, time.Since(start).Round(time.Millisecond), r.cluster.opts.osdBytes>>20, r.cluster.startup.Round(time.Millisecond))
	if !strings.Contains(r.Version, "ceph version") {
		t.Fatalf("version=%q, want radosgw's", r.Version)
	}
	if mounts, err := mountsUnder(r.cluster.chroot.root); err != nil || len(mounts) > 0 {
		t.Fatalf("mounts under the chroot seen from the host: %v %v; want none", mounts, err)
	}
	out, err := r.Client().ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil || len(out.Buckets) != 0 {
		t.Fatalf("a new user's buckets: %v (%v), want none", out, err)
	}
	rss, peak, err := r.RSS()
	if err != nil || rss == 0 {
		t.Fatalf("RSS=%d, %v; want the size of a running cluster", rss, err)
	}
	t.Logf("cluster RSS: %d MiB, peaks %d MiB", rss>>20, peak>>20)
}

func TestRGWObjects(t *testing.T) {
	r := StartRGW(t)
	r.MakeBucket(t, "photos")
	r.Put(t, "photos", "2024/cat.jpg", []byte("meow"))

	// 12 MiB in 5 MiB parts: three parts, an ETag that is not an MD5.
	big := bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16)
	etag := r.PutMultipart(t, "photos", "videos/big.bin", big, 5<<20)
	if got, want := strings.Trim(etag, `"`), "-3"; !strings.HasSuffix(got, want) {
		t.Fatalf("multipart ETag=%s, want a %q suffix", got, want)
	}
	if got, want := strings.Trim(r.ETag(t, "photos", "videos/big.bin"), `"`), strings.Trim(etag, `"`); got != want {
		t.Fatalf("HEAD ETag=%s, want %s", got, want)
	}
	sum := md5.Sum(big)
	if strings.Contains(etag, hex.EncodeToString(sum[:])) {
		t.Fatalf("multipart ETag %s holds the content MD5; RGW's should not", etag)
	}
	got, ok := r.Get(t, "photos", "videos/big.bin")
	if !ok || !bytes.Equal(got, big) {
		t.Fatalf("multipart object read back: %d bytes (found %v), want %d equal bytes", len(got), ok, len(big))
	}

	catSum := md5.Sum([]byte("meow"))
	want := map[string]Object{
		"2024/cat.jpg":   {Size: 4, ETag: hex.EncodeToString(catSum[:])},
		"videos/big.bin": {Size: int64(len(big)), ETag: strings.Trim(etag, `"`)},
	}
	if got := r.Objects(t, "photos", ""); !reflect.DeepEqual(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if got := r.Objects(t, "photos", "videos/"); len(got) != 1 || got["big.bin"].Size != int64(len(big)) {
		t.Fatalf("listed under videos/: %v, want big.bin relative to the prefix", got)
	}

	r.Delete(t, "photos", "2024/cat.jpg")
	if _, ok := r.Get(t, "photos", "2024/cat.jpg"); ok {
		t.Fatal("deleted object still readable")
	}
}

// TestRGWMultipart64MiB reads back byte for byte what a client other than
// rclone (the AWS SDK) wrote in parts: DBStore's RGW used to serve
// multipart objects with other bytes than were uploaded.
func TestRGWMultipart64MiB(t *testing.T) {
	r := StartRGW(t)
	r.MakeBucket(t, "videos")
	data := Bytes(64, 64<<20)
	start := time.Now()
	etag := r.PutMultipart(t, "videos", "holiday.mp4", data, 8<<20)
	t.Logf("64 MiB in 8 parts written in %v", time.Since(start).Round(time.Millisecond))
	if got := strings.Trim(etag, `"`); !strings.HasSuffix(got, "-8") {
		t.Fatalf("multipart ETag=%s, want a -8 suffix", got)
	}
	got, ok := r.Get(t, "videos", "holiday.mp4")
	if !ok || len(got) != len(data) {
		t.Fatalf("read back %d bytes (found %v), want %d", len(got), ok, len(data))
	}
	for i := range data {
		if got[i] != data[i] {
			t.Fatalf("read back differs from byte %d (in part %d) on", i, i/(8<<20)+1)
		}
	}
	if rss, peak, err := r.RSS(); err == nil {
		t.Logf("cluster RSS: %d MiB, peaks %d MiB", rss>>20, peak>>20)
	}
}

// TestRGWDelimiterListingIsComplete lists a bucket of nested keys level by
// level with delimiter "/", as rclone does without fast-list, in pages
// small enough that every level spans several, and in pages of 1,000
// (where DBStore's RGW came back short without an error): both must see
// every key of the flat listing.
func TestRGWDelimiterListingIsComplete(t *testing.T) {
	r := StartRGW(t)
	r.MakeBucket(t, "many")
	objects := NestedObjects(2004, 20)
	start := time.Now()
	r.PutMany(t, "many", objects)
	t.Logf("put %d objects in %v", len(objects), time.Since(start).Round(time.Millisecond))

	flat := slices.Sorted(maps.Keys(r.List(t, "many", "")))
	if got, want := len(flat), len(objects); got != want {
		t.Fatalf("flat listing: %d objects, want %d", got, want)
	}
	for _, maxKeys := range []int32{7, 1000} {
		if got := r.ListDelimited(t, "many", maxKeys); !slices.Equal(got, flat) {
			t.Errorf("delimiter listing in pages of %d: %d keys, want the flat listing's %d", maxKeys, len(got), len(flat))
		}
	}
}

// TestRGWFullOSDFailsByDeadline fills a small cluster of its own. MemStore
// takes whatever it is given: the OSD finds itself full when it next
// reports to the mon, seconds later, and from then on blocks writes;
// rados_osd_op_timeout turns that into a failed request within the
// timeout rather than a hang, and the harness says the OSD is full where
// StartRGW and a failed test's cleanup look.
func TestRGWFullOSDFailsByDeadline(t *testing.T) {
	integration(t)
	opts := clusterOptions{osdBytes: 64 << 20, opTimeout: 5 * time.Second}
	c, err := startCluster(opts)
	switch {
	case errors.Is(err, errRGWUnavailable):
		skipRGW(t, "Ceph RGW unavailable: %v", err)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Error(err)
		}
	})
	r := newRGW(t, c)
	r.MakeBucket(t, "fill")
	client := r.Client()
	const size = 4 << 20
	put := func(i int) (time.Duration, error) {
		start := time.Now()
		_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("fill"), Key: aws.String(fmt.Sprint(i)), Body: bytes.NewReader(Bytes(uint64(i), size)),
		}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		return time.Since(start), err
	}
	i := 0
	for ; int64(i*size) < 2*opts.osdBytes; i++ {
		if _, err := put(i); err != nil {
			break // full already
		}
	}
	WaitFor(t, time.Minute, "the OSD to report itself full", func() bool { return c.room() != nil })
	elapsed, err := put(i)
	t.Logf("PUT after %d MiB: %v after %v", i*size>>20, err, elapsed.Round(time.Millisecond))
	if bound := opts.opTimeout + 10*time.Second; err == nil || elapsed > bound {
		t.Fatalf("PUT into a full OSD: %v after %v, want an error within %v", err, elapsed, bound)
	}
	err = c.room()
	if !strings.Contains(err.Error(), "full") || !strings.Contains(err.Error(), RGWOSDMiBEnv) {
		t.Fatalf("room: %v, want the OSD full and %s named", err, RGWOSDMiBEnv)
	}
	t.Log(err)
}

func TestRGWWrongKeysAreRefused(t *testing.T) {
	r := StartRGW(t)
	wrong := r.Server
	wrong.SecretKey = "not-the-secret"
	_, err := wrong.Client().ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err == nil || !regexp.MustCompile(`SignatureDoesNotMatch|AccessDenied|403`).MatchString(err.Error()) {
		t.Fatalf("list buckets with a wrong secret: %v, want a signature or access error", err)
	}
}

func TestUnescapeMount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/plain", "/plain"},
		{`/with\040space`, "/with space"},
		{`/tab\011and\134slash`, "/tab\tand\\slash"},
		{`/short\04`, `/short\04`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := unescapeMount(tc.in); got != tc.want {
				t.Fatalf("unescapeMount(%q)=%q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRGWUsersAreSeparate(t *testing.T) {
	a, b := StartRGW(t), StartRGW(t)
	if a.AccessKey == b.AccessKey || a.Tenant == b.Tenant {
		t.Fatalf("two test users share a key or a tenant: %s/%s and %s/%s", a.Tenant, a.AccessKey, b.Tenant, b.AccessKey)
	}
	// The same bucket name twice: two buckets, one in each tenant.
	a.MakeBucket(t, "photos")
	b.MakeBucket(t, "photos")
	a.Put(t, "photos", "cat.jpg", []byte("a's cat"))
	if _, ok := b.Get(t, "photos", "cat.jpg"); ok {
		t.Fatal("b reads a's object")
	}
	for _, r := range []*RGW{a, b} {
		out, err := r.Client().ListBuckets(context.Background(), &s3.ListBucketsInput{})
		if err != nil || len(out.Buckets) != 1 {
			t.Fatalf("%s lists %v (%v), want its one bucket", r.Tenant, out, err)
		}
	}
}

func TestClusterOptionsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int64 // 0: an error
	}{{"", rgwOSDMiB << 20}, {"4096", 4096 << 20}, {"64", 64 << 20}, {"63", 0}, {"1G", 0}} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(RGWOSDMiBEnv, tc.env)
			opts, err := clusterOptionsFromEnv()
			if got := opts.osdBytes; (err == nil) != (tc.want != 0) || tc.want != 0 && got != tc.want {
				t.Fatalf("osdBytes=%d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestAbandonedInstanceDirsAreRemoved(t *testing.T) {
	c := &rgwChroot{root: filepath.Join(t.TempDir(), "root")}
	held, releaseHeld, err := c.newInstanceDir()
	if err != nil {
		t.Fatal(err)
	}
	defer releaseHeld()
	abandoned, releaseAbandoned, err := c.newInstanceDir()
	if err != nil {
		t.Fatal(err)
	}
	releaseAbandoned() // as if its test process had died

	fresh, releaseFresh, err := c.newInstanceDir()
	if err != nil {
		t.Fatal(err)
	}
	defer releaseFresh()
	for _, tc := range []struct {
		dir  string
		want bool
	}{{held, true}, {abandoned, false}, {fresh, true}} {
		_, err := os.Stat(c.hostPath(tc.dir))
		if got := err == nil; got != tc.want {
			t.Errorf("%s exists=%v, want %v", tc.dir, got, tc.want)
		}
	}
}

func TestRemoveTreeDetachesLeftoverMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		skipRGW(t, "mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "half-built")
	proc := filepath.Join(dir, "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("leftover", proc, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(proc, syscall.MNT_DETACH) })
	if mounts, _ := mountsUnder(dir); len(mounts) != 1 {
		t.Fatalf("mounts under %s: %v, want the tmpfs", dir, mounts)
	}
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", dir, err)
	}
	if mounts, _ := mountsUnder(dir); len(mounts) != 0 {
		t.Fatalf("mounts left: %v", mounts)
	}
}

func TestRGWRequired(t *testing.T) {
	for _, tc := range []struct {
		s3, rgw string // "" leaves the variable unset
		want    bool
	}{
		{"", "", false},
		{"1", "", true},
		{"1", "0", false}, // no root here, MinIO still required
		{"", "1", true},
		{"0", "true", true},
	} {
		t.Run(tc.s3+"/"+tc.rgw, func(t *testing.T) {
			for env, v := range map[string]string{RequireS3Env: tc.s3, RequireRGWEnv: tc.rgw} {
				t.Setenv(env, v)
				if v == "" {
					os.Unsetenv(env)
				}
			}
			if got := RGWRequired(); got != tc.want {
				t.Fatalf("RGWRequired()=%v, want %v", got, tc.want)
			}
		})
	}
}
