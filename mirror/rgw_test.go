package mirror_test

// Mirror tests against the real source: Ceph RGW (radosgw 18.2 on a RADOS
// cluster) with provider Ceph, mirrored into a real MinIO. They check what an
// operator would check, with S3 clients independent of rclone.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// rgwRemoteSeq keeps every test's rclone remote names distinct: rclone's
// config is one per process.
var rgwRemoteSeq atomic.Int32

// rgwSetup starts an RGW source and a MinIO destination holding the default
// mirror bucket, and returns a mirror config between them with retries
// short enough for tests.
func rgwSetup(t *testing.T) (*harness.RGW, *harness.Minio, mirror.Config) {
	t.Helper()
	rcloneconf.Init(zap.NewNop())
	rgw := harness.StartRGW(t)
	minio := harness.StartMinio(t, mirror.DefaultDestBucket)
	n := rgwRemoteSeq.Add(1)
	cfg := mirror.DefaultConfig()
	cfg.Source = rgw.Remote(fmt.Sprintf("offsite-rgw-test-%d", n))
	cfg.Dest = minio.Remote(fmt.Sprintf("offsite-minio-test-%d", n))
	cfg.Buckets = []string{mirror.AllBuckets}
	cfg.Retries = 2
	cfg.RetriesSleep = 100 * time.Millisecond
	cfg.ProgressInterval = 0
	return rgw, minio, cfg
}

// runMirror runs one mirror pass and logs its summary.
func runMirror(t *testing.T, cfg mirror.Config) (*mirror.Report, error) {
	t.Helper()
	start := time.Now()
	rep, err := mirror.Run(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)))
	if rep == nil {
		t.Fatalf("mirror.Run returned no report (error %v)", err)
	}
	t.Logf("%s mode run took %v:\n%s", cfg.Mode, time.Since(start).Round(time.Millisecond), rep.Summary())
	return rep, err
}

// bucketReport returns the report's entry for bucket, failing without one.
func bucketReport(t *testing.T, rep *mirror.Report, bucket string) *mirror.BucketReport {
	t.Helper()
	br := rep.Bucket(bucket)
	if br == nil {
		t.Fatalf("report has no entry for bucket %s: %+v", bucket, rep.Buckets)
	}
	return br
}

// assertMirrored checks that the mirror of bucket holds exactly the source's
// objects, with equal sizes, and equal content: by ETag where both are a
// single-part MD5, by downloading both sides otherwise (multipart uploads).
func assertMirrored(t *testing.T, rgw *harness.RGW, minio *harness.Minio, bucket string) {
	t.Helper()
	src := rgw.Objects(t, bucket, "")
	dst := minio.Objects(t, mirror.DefaultDestBucket, bucket+"/")
	if got, want := len(dst), len(src); got != want {
		t.Errorf("mirror of %s holds %d objects, want %d", bucket, got, want)
	}
	downloaded := 0
	for key, s := range src {
		d, ok := dst[key]
		switch {
		case !ok:
			t.Errorf("%s/%s missing from the mirror", bucket, key)
			continue
		case d.Size != s.Size:
			t.Errorf("%s/%s: mirror size %d, want %d", bucket, key, d.Size, s.Size)
			continue
		case !strings.Contains(s.ETag, "-"):
			if d.ETag != s.ETag {
				t.Errorf("%s/%s: mirror MD5 %s, want %s", bucket, key, d.ETag, s.ETag)
			}
			continue
		}
		want, _ := rgw.Get(t, bucket, key)
		got, _ := minio.Get(t, mirror.DefaultDestBucket, bucket+"/"+key)
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s (multipart): mirror content differs from the source", bucket, key)
		}
		downloaded++
	}
	for key := range dst {
		if _, ok := src[key]; !ok {
			t.Errorf("%s/%s in the mirror but not in the source", bucket, key)
		}
	}
	t.Logf("mirror of %s: %d objects equal (%d compared by download)", bucket, len(src), downloaded)
}

func TestRGWMirrorThreeBucketsWithMultipart(t *testing.T) {
	rgw, minio, cfg := rgwSetup(t)
	buckets := map[string]map[string][]byte{
		"documents": {
			"taxes/2024/return.pdf":   harness.Bytes(1, 48<<10),
			"taxes/2025/receipts.zip": harness.Bytes(2, 300<<10),
			"notes with spaces.txt":   []byte("spaces in keys survive\n"),
			"empty":                   {},
		},
		"photos": {
			"2024/cat.jpg": harness.Bytes(3, 2<<20),
			"2024/dog.jpg": harness.Bytes(4, 1<<20),
		},
		"paperless": {
			"media/documents/originals/0000001.pdf": harness.Bytes(5, 64<<10),
			"data/index.db":                         harness.Bytes(6, 8<<10),
		},
	}
	for name, objects := range buckets {
		rgw.MakeBucket(t, name)
		rgw.PutMany(t, name, objects)
	}
	// A multipart upload: RGW's ETag is "<hash>-3", not the content's MD5.
	video := harness.Bytes(7, 12<<20)
	if etag := rgw.PutMultipart(t, "photos", "2024/holiday.mp4", video, 5<<20); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Fatalf("multipart ETag %s, want a -3 suffix", etag)
	}

	rep, err := runMirror(t, cfg)
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if got, want := rep.Status, mirror.StatusOK; got != want {
		t.Fatalf("copy status=%s, want %s", got, want)
	}
	for name, objects := range buckets {
		want := int64(len(objects))
		if name == "photos" {
			want++
		}
		br := bucketReport(t, rep, name)
		if br.Status != mirror.StatusOK || br.Transferred != want {
			t.Errorf("copy of %s: status %s, %d transferred; want ok, %d", name, br.Status, br.Transferred, want)
		}
		assertMirrored(t, rgw, minio, name)
	}

	// The second run finds everything in place: the multipart object has no
	// MD5 on the RGW side, so it can only be compared by size, and the
	// report says so.
	cfg.Mode = mirror.ModeSync
	rep, err = runMirror(t, cfg)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	for name := range buckets {
		br := bucketReport(t, rep, name)
		wantSizeOnly := int64(0)
		if name == "photos" {
			wantSizeOnly = 1
		}
		if br.Status != mirror.StatusOK || br.Transferred != 0 || br.Deleted != 0 || br.ByDate != wantSizeOnly {
			t.Errorf("sync of %s: status %s, %d transferred, %d deleted, %d size-only; want ok, 0, 0, %d",
				name, br.Status, br.Transferred, br.Deleted, br.ByDate, wantSizeOnly)
		}
	}
	if got, want := rep.Totals.ByDate, int64(1); got != want {
		t.Errorf("report total compared_size_only=%d, want %d", got, want)
	}
}

// TestRGWMirrorManyNestedObjects mirrors a bucket of more than 2,500 objects
// under nested prefixes: the flat listing, in pages, sees every object.
func TestRGWMirrorManyNestedObjects(t *testing.T) {
	rgw, minio, cfg := rgwSetup(t)
	const bucket = "many"
	// Tiny objects make the copy latency-bound: 16 transfers instead of 4
	// take it from 32 s to 8 s here.
	cfg.Transfers = 16
	objects := harness.NestedObjects(2600, 26)
	objects["at-the-root.txt"] = []byte("not under a prefix\n")
	rgw.MakeBucket(t, bucket)
	rgw.PutMany(t, bucket, objects)
	want := int64(len(objects))

	mirrorsAll := func(t *testing.T, mode mirror.Mode, wantTransferred int64) {
		cfg := cfg
		cfg.Mode = mode
		rep, err := runMirror(t, cfg)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		br := bucketReport(t, rep, bucket)
		if br.Status != mirror.StatusOK || br.SourceObjects != want || br.Transferred != wantTransferred || br.Deleted != 0 {
			t.Fatalf("%s: status %s, %d source objects, %d transferred, %d deleted; want ok, %d, %d, 0",
				mode, br.Status, br.SourceObjects, br.Transferred, br.Deleted, want, wantTransferred)
		}
		assertMirrored(t, rgw, minio, bucket)
	}
	t.Run("copy", func(t *testing.T) { mirrorsAll(t, mirror.ModeCopy, want) })
	t.Run("sync", func(t *testing.T) { mirrorsAll(t, mirror.ModeSync, 0) })
}

func TestRGWMirrorSyncAfterChanges(t *testing.T) {
	rgw, minio, cfg := rgwSetup(t)
	const bucket = "notes"
	rgw.MakeBucket(t, bucket)
	objects := map[string][]byte{}
	for i := range 30 {
		objects[fmt.Sprintf("day/%02d.md", i)] = []byte(fmt.Sprintf("note %02d\n", i))
	}
	rgw.PutMany(t, bucket, objects)
	if _, err := runMirror(t, cfg); err != nil {
		t.Fatalf("copy: %v", err)
	}
	assertMirrored(t, rgw, minio, bucket)

	rgw.Delete(t, bucket, "day/03.md")
	rgw.Delete(t, bucket, "day/17.md")
	rgw.Put(t, bucket, "day/05.md", []byte("note 05, rewritten and longer\n"))
	rgw.Put(t, bucket, "day/06.md", []byte("NOTE 06\n")) // same size: only the hash tells
	rgw.Put(t, bucket, "day/30.md", []byte("note 30\n"))

	cfg.Mode = mirror.ModeSync
	rep, err := runMirror(t, cfg)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	br := bucketReport(t, rep, bucket)
	if br.Status != mirror.StatusOK || br.Transferred != 3 || br.Deleted != 2 {
		t.Fatalf("sync: status %s, %d transferred, %d deleted; want ok, 3, 2", br.Status, br.Transferred, br.Deleted)
	}
	assertMirrored(t, rgw, minio, bucket)
}

func TestRGWMirrorAutoModeAcrossRuns(t *testing.T) {
	rgw, minio, cfg := rgwSetup(t)
	const bucket = "ledger"
	rgw.MakeBucket(t, bucket)
	for i := range 10 {
		rgw.Put(t, bucket, fmt.Sprintf("entries/%d.json", i), []byte(fmt.Sprintf(`{"entry":%d}`, i)))
	}
	cfg.Mode = mirror.ModeAuto

	// First run: no earlier report shows a clean copy, so it copies.
	rep, err := runMirror(t, cfg)
	if err != nil {
		t.Fatalf("first auto run: %v", err)
	}
	if br := bucketReport(t, rep, bucket); br.Mode != mirror.ModeCopy || br.Status != mirror.StatusOK {
		t.Fatalf("first auto run: %s, %s; want copy, ok", br.Mode, br.Status)
	}

	rgw.Delete(t, bucket, "entries/4.json")
	rep, err = runMirror(t, cfg)
	if err != nil {
		t.Fatalf("second auto run: %v", err)
	}
	if br := bucketReport(t, rep, bucket); br.Mode != mirror.ModeSync || br.Status != mirror.StatusOK || br.Deleted != 1 {
		t.Fatalf("second auto run: %s, %s, %d deleted; want sync, ok, 1", br.Mode, br.Status, br.Deleted)
	}
	assertMirrored(t, rgw, minio, bucket)
}

func TestRGWMirrorWrongCredentials(t *testing.T) {
	rgw, minio, cfg := rgwSetup(t)
	rgw.MakeBucket(t, "photos")
	rgw.Put(t, "photos", "cat.jpg", []byte("meow"))

	for _, tc := range []struct {
		name   string
		key    string
		secret string
	}{
		{"wrong secret", rgw.AccessKey, "wrong-secret-Zq8vK2"},
		{"unknown access key", "nobody-at-all", "wrong-secret-Wm4xP7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			cfg.Source.AccessKeyID, cfg.Source.SecretAccessKey = tc.key, tc.secret
			logs, observed := observer.New(zapcore.DebugLevel)
			rep, err := mirror.Run(context.Background(), cfg, zap.New(logs))

			// A configuration error: offsite exits 2 (DESIGN.md) and names
			// the variable to fix.
			var cerr *exitcode.ConfigError
			if !errors.As(err, &cerr) || cerr.Var != "RGW_ACCESS_KEY_ID" {
				t.Fatalf("error %v (%T), want a configuration error naming RGW_ACCESS_KEY_ID", err, err)
			}
			if rep == nil || rep.Status != mirror.StatusFailed {
				t.Fatalf("report %+v, want status failed", rep)
			}
			t.Logf("error: %v", err)

			// The secret appears nowhere: error, report, logs.
			reportJSON, _ := json.Marshal(rep)
			var logged strings.Builder
			for _, e := range observed.All() {
				fmt.Fprintf(&logged, "%s %v\n", e.Message, e.ContextMap())
			}
			for what, text := range map[string]string{"error": err.Error(), "report": string(reportJSON), "logs": logged.String()} {
				if strings.Contains(text, tc.secret) {
					t.Errorf("the secret appears in the %s", what)
				}
			}
			if got := minio.Objects(t, mirror.DefaultDestBucket, "photos/"); len(got) != 0 {
				t.Errorf("mirror of photos holds %d objects after refused credentials, want 0", len(got))
			}
		})
	}
}

// TestRGWVerifyDownloadMultipart proves an RGW multipart object equal to its
// mirror: its ETag is no MD5, so only the size can be compared from
// listings, and --download compares the content. A same-size change in the
// mirror passes the size check and fails the download.
func TestRGWVerifyDownloadMultipart(t *testing.T) {
	rgw, minio, cfg := rgwSetup(t)
	const bucket, key = "photos", "2024/holiday.mp4"
	rgw.MakeBucket(t, bucket)
	rgw.Put(t, bucket, "2024/cat.jpg", harness.Bytes(11, 64<<10))
	video := harness.Bytes(12, 11<<20)
	if etag := rgw.PutMultipart(t, bucket, key, video, 5<<20); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Fatalf("multipart ETag %s, want a -3 suffix", etag)
	}
	if _, err := runMirror(t, cfg); err != nil {
		t.Fatalf("copy: %v", err)
	}
	assertMirrored(t, rgw, minio, bucket)

	vcfg := mirror.DefaultVerifyConfig()
	vcfg.Source, vcfg.Dest, vcfg.Buckets = cfg.Source, cfg.Dest, cfg.Buckets
	verify := func(download bool) (mirror.VerifyBucket, error) {
		t.Helper()
		vcfg.Download = download
		start := time.Now()
		rep, err := mirror.Verify(context.Background(), vcfg, zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)))
		if rep == nil || len(rep.Buckets) != 1 {
			t.Fatalf("verify (download %v): error %v, report %+v", download, err, rep)
		}
		t.Logf("verify (download %v) took %v: %+v", download, time.Since(start).Round(time.Millisecond), rep.Buckets[0])
		return rep.Buckets[0], err
	}

	b, err := verify(false)
	if err != nil || b.Matched != 2 || b.ByDate != 1 || b.Downloaded != 0 {
		t.Fatalf("without download: error %v, %+v; want 2 matched, 1 by size only", err, b)
	}
	b, err = verify(true)
	if err != nil || !b.OK || b.Matched != 2 || b.ByDate != 0 || b.Downloaded != 1 {
		t.Fatalf("with download: error %v, %+v; want 2 matched, 1 by download", err, b)
	}

	altered := bytes.Clone(video)
	altered[len(altered)/2] ^= 0x01
	minio.Put(t, mirror.DefaultDestBucket, bucket+"/"+key, altered)
	if b, err := verify(false); err != nil || b.ByDate != 1 {
		t.Fatalf("size-only check of the altered copy: error %v, %+v; sizes are equal, so it passes", err, b)
	}
	b, err = verify(true)
	if !errors.Is(err, exitcode.ErrVerifyFailed) || b.OK || b.Differing != 1 || len(b.DifferObj) != 1 || b.DifferObj[0] != key {
		t.Fatalf("with download after a same-size change: error %v, %+v; want %s differing", err, b, key)
	}
}
