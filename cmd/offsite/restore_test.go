package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// TestRestoreCommandIsLoud drives restore rgw from env vars, as an
// operator's one-off Job would, against the real RGW and a versioned
// MinIO, and checks that each way a restore fails shows four ways that
// agree (exit code, report status, /fail ping, metric): an unknown bucket,
// a SIGTERM mid-restore and an object the RGW refuses (a re-run then
// finishes both), and a --verify (or a following verify rgw --bucket) that
// finds the restored bucket differs from the mirror.
func TestRestoreCommandIsLoud(t *testing.T) {
	rgw := harness.StartRGW(t)
	minio := harness.StartMinio(t, mirrorTestBucket)
	minio.EnableVersioning(t, mirrorTestBucket)
	const bucket = "paperless"
	rgw.MakeBucket(t, bucket)
	objects := map[string][]byte{}
	for i := range 300 {
		objects[fmt.Sprintf("media/%03d/doc %d.pdf", i/30, i)] = []byte(fmt.Sprintf("document %d\n", i))
	}
	rgw.PutMany(t, bucket, objects)
	for k, v := range map[string]string{
		"RGW_ENDPOINT": rgw.Endpoint, "RGW_ACCESS_KEY_ID": rgw.AccessKey, "RGW_SECRET_ACCESS_KEY": rgw.SecretKey,
		"MINIO_ENDPOINT": minio.Endpoint, "MINIO_ACCESS_KEY_ID": minio.AccessKey, "MINIO_SECRET_ACCESS_KEY": minio.SecretKey,
		mirror.EnvDestBucket: mirrorTestBucket, mirror.EnvBuckets: mirror.AllBuckets, mirror.EnvRetriesSleep: "100ms",
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	if code, stdout, stderr := runOffsite(ctx, "mirror"); code != exitcode.OK {
		t.Fatalf("mirror: exit %d\n%s\n%s", code, stdout, stderr)
	}
	time.Sleep(1100 * time.Millisecond) // versions carry the time to the millisecond
	at := time.Now().UTC().Format(time.RFC3339Nano)

	// newestReport is the newest restore report and its bucket's entry.
	newestReport := func(t *testing.T) (*mirror.RestoreReport, mirror.RestoreBucket) {
		t.Helper()
		var newest string
		for k := range minio.List(t, mirrorTestBucket, "_reports/") {
			if strings.HasSuffix(k, "-restore.json") && k > newest {
				newest = k
			}
		}
		data, _ := minio.Get(t, mirrorTestBucket, newest)
		var rep mirror.RestoreReport
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("report %q: %v", newest, err)
		}
		if b := rep.Bucket(bucket); b != nil {
			return &rep, *b
		}
		return &rep, mirror.RestoreBucket{Status: "none"}
	}

	t.Run("unknown bucket", func(t *testing.T) {
		l := newLoud(t)
		code, stdout, stderr := runOffsite(ctx, append([]string{"restore", "rgw", "--bucket", "videos"}, l.args()...)...)
		if code != exitcode.Config || !strings.Contains(stderr, "--bucket") || !strings.Contains(stderr, "no mirror of bucket videos") {
			t.Fatalf("exit %d, want %d naming --bucket\n%s\n%s", code, exitcode.Config, stdout, stderr)
		}
		l.check(t, exitcode.Config)
		if rep, _ := newestReport(t); rep.Status != mirror.StatusFailed {
			t.Fatalf("report status %s, want failed", rep.Status)
		}
	})

	t.Run("SIGTERM mid-restore, then a re-run", func(t *testing.T) {
		const target = "paperless-restored"
		l := newLoud(t)
		// The cancel of the run's context is what main does on SIGTERM;
		// it comes once some objects are in, with most still to go.
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		var atCancel int
		var wg sync.WaitGroup
		wg.Go(func() {
			defer cancel()
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				out, err := rgw.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(target)})
				if err == nil && aws.ToInt32(out.KeyCount) >= 20 {
					atCancel = int(aws.ToInt32(out.KeyCount))
					return
				}
			}
		})
		args := append([]string{"restore", "rgw", "--bucket", bucket, "--at", at, "--to-bucket", target, "--create-bucket", "--transfers", "1"}, l.args()...)
		code, stdout, stderr := runOffsite(runCtx, args...)
		wg.Wait()
		if atCancel >= len(objects) {
			t.Fatalf("all %d objects were restored before the cancel: this test proves nothing", atCancel)
		}
		if code != exitcode.Failed || !strings.Contains(stderr, "cancelled") {
			t.Fatalf("exit %d, want %d\n%s\n%s", code, exitcode.Failed, stdout, stderr)
		}
		l.check(t, exitcode.Failed)
		if rep, b := newestReport(t); rep.Status != mirror.StatusFailed || b.Status != mirror.StatusIncomplete {
			t.Fatalf("report %s, bucket %s; want failed, incomplete", rep.Status, b.Status)
		}
		got := len(rgw.Objects(t, target, ""))
		t.Logf("cancelled with %d of %d objects restored (%d at the cancel)", got, len(objects), atCancel)

		l = newLoud(t)
		args = append([]string{"restore", "rgw", "--bucket", bucket, "--at", at, "--to-bucket", target, "--verify"}, l.args()...)
		code, stdout, stderr = runOffsite(ctx, args...)
		if code != exitcode.OK {
			t.Fatalf("re-run: exit %d, want 0\n%s\n%s", code, stdout, stderr)
		}
		l.check(t, exitcode.OK)
		if rep, b := newestReport(t); rep.Status != mirror.StatusOK || b.Status != mirror.StatusOK || b.Restored != int64(len(objects)-got) || !b.Verify.OK {
			t.Fatalf("re-run report %s, bucket %+v; want ok, the %d missing objects restored, verified", rep.Status, b, len(objects)-got)
		}
		for k, v := range objects {
			if data, ok := rgw.Get(t, target, k); !ok || string(data) != string(v) {
				t.Fatalf("%s/%s not restored whole", target, k)
			}
		}

		// A following verify rgw proves the same, and says so four ways.
		l = newLoud(t)
		code, stdout, stderr = runOffsite(ctx, append([]string{"verify", "rgw", "--bucket", bucket, "--at", at, "--to-bucket", target, "--output", "json"}, l.args()...)...)
		var vrep mirror.VerifyReport
		if err := json.Unmarshal([]byte(stdout), &vrep); err != nil || code != exitcode.OK || len(vrep.Buckets) != 1 || vrep.Buckets[0].Matched != int64(len(objects)) {
			t.Fatalf("verify rgw --at: exit %d (%v), want 0 with %d matched\n%s\n%s", code, err, len(objects), stdout, stderr)
		}
		l.check(t, exitcode.OK)
	})

	t.Run("objects the RGW refuses", func(t *testing.T) {
		const target, refused = "paperless-partial", "media/005/doc 150.pdf"
		proxy := harness.StartHTTPProxy(t, rgw.Endpoint)
		var fail atomic.Bool
		fail.Store(true)
		proxy.SetRule(func(r *http.Request, _ int64) harness.Fault {
			if fail.Load() && harness.IsObjectWrite(r, refused) {
				return harness.Status500
			}
			return harness.Pass
		})
		t.Setenv("RGW_ENDPOINT", proxy.Endpoint)
		args := []string{"restore", "rgw", "--bucket", bucket, "--to-bucket", target, "--create-bucket", "--retries", "2", "--low-level-retries", "1"}
		l := newLoud(t)
		code, stdout, stderr := runOffsite(ctx, append(args, l.args()...)...)
		if code != exitcode.Failed {
			t.Fatalf("exit %d, want %d\n%s\n%s", code, exitcode.Failed, stdout, stderr)
		}
		l.check(t, exitcode.Failed)
		rep, b := newestReport(t)
		if rep.Status != mirror.StatusFailed || b.Status != mirror.StatusFailed || b.Errors == 0 {
			t.Fatalf("report %s, bucket %+v; want failed with errors", rep.Status, b)
		}
		got := rgw.Objects(t, target, "")
		for k := range objects {
			if _, ok := got[k]; ok == strings.HasPrefix(k, refused) {
				t.Fatalf("%s: restored %v; want every object but those under %s", k, ok, refused)
			}
		}

		fail.Store(false)
		l = newLoud(t)
		if code, stdout, stderr := runOffsite(ctx, append(args, l.args()...)...); code != exitcode.OK {
			t.Fatalf("re-run: exit %d\n%s\n%s", code, stdout, stderr)
		}
		l.check(t, exitcode.OK)
		if got := rgw.Objects(t, target, ""); len(got) != len(objects) {
			t.Fatalf("after the re-run %s holds %d objects, want %d", target, len(got), len(objects))
		}
	})

	t.Run("verify finds a difference", func(t *testing.T) {
		const key = "media/000/doc 0.pdf"
		rgw.Put(t, bucket, key, []byte("changed since the mirror\n"))
		l := newLoud(t)
		code, stdout, stderr := runOffsite(ctx, append([]string{"restore", "rgw", "--bucket", bucket, "--verify"}, l.args()...)...)
		if code != exitcode.Verify || !strings.Contains(stdout, "differing, kept (--overwrite replaces it): "+bucket+"/"+key) {
			t.Fatalf("exit %d, want %d listing the differing object\n%s\n%s", code, exitcode.Verify, stdout, stderr)
		}
		l.check(t, exitcode.Verify)
		if rep, b := newestReport(t); rep.Status != mirror.StatusFailed || b.Status != mirror.StatusFailed || b.Verify == nil || b.Verify.Differing != 1 {
			t.Fatalf("report %s, bucket %+v; want failed, 1 differing", rep.Status, b)
		}
		if data, _ := rgw.Get(t, bucket, key); string(data) != "changed since the mirror\n" {
			t.Fatalf("the differing object was overwritten without --overwrite: %q", data)
		}

		l = newLoud(t)
		code, stdout, stderr = runOffsite(ctx, append([]string{"verify", "rgw", "--bucket", bucket}, l.args()...)...)
		if code != exitcode.Verify || !strings.Contains(stdout, "differing "+bucket+"/"+key) {
			t.Fatalf("verify rgw --bucket: exit %d, want %d naming the object\n%s\n%s", code, exitcode.Verify, stdout, stderr)
		}
		l.check(t, exitcode.Verify)
	})
}
