package mirror_test

// Restore tests: the real RGW is mirrored into a real MinIO whose bucket
// has versioning on, as an operator sets it up, and the mirror is restored
// back into the RGW. Objects are checked with S3 clients independent of
// rclone.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// restoreSetup is rgwSetup with versioning on the mirror's bucket, and a
// restore config between the same two servers.
func restoreSetup(t *testing.T) (*harness.RGW, *harness.Minio, mirror.Config, mirror.RestoreConfig) {
	t.Helper()
	rgw, minio, cfg := rgwSetup(t)
	minio.EnableVersioning(t, mirror.DefaultDestBucket)
	rcfg := mirror.DefaultRestoreConfig()
	rcfg.Mirror, rcfg.MirrorBucket, rcfg.ReportPrefix, rcfg.Target = cfg.Dest, cfg.DestBucket, cfg.ReportPrefix, cfg.Source
	rcfg.Retries = 2
	rcfg.RetriesSleep = 100 * time.Millisecond
	rcfg.ProgressInterval = 0
	rcfg.Version = "test"
	return rgw, minio, cfg, rcfg
}

// runRestore runs one restore and logs its summary.
func runRestore(t *testing.T, cfg mirror.RestoreConfig) (*mirror.RestoreReport, error) {
	t.Helper()
	rep, err := mirror.Restore(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)))
	if rep == nil {
		t.Fatalf("mirror.Restore returned no report (error %v)", err)
	}
	var diff bytes.Buffer
	rep.WriteDetails(&diff)
	t.Logf("restore (error %v):\n%s%s", err, rep.Summary(), diff.String())
	return rep, err
}

// assertHolds checks that the RGW bucket holds exactly want, byte for byte.
func assertHolds(t *testing.T, rgw *harness.RGW, bucket string, want map[string][]byte) {
	t.Helper()
	got := rgw.Objects(t, bucket, "")
	if len(got) != len(want) {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		t.Errorf("%s holds %d objects %q, want %d", bucket, len(got), keys, len(want))
	}
	for key, data := range want {
		b, ok := rgw.Get(t, bucket, key)
		switch {
		case !ok:
			t.Errorf("%s/%s missing", bucket, key)
		case !bytes.Equal(b, data):
			t.Errorf("%s/%s: %d bytes that differ from the %d wanted", bucket, key, len(b), len(data))
		}
	}
}

// TestRGWRestoreAtBeforeSync is the disaster the versioned mirror is for:
// objects deleted and overwritten at the source, a sync that carried the
// damage into the mirror, then a restore as of a time before the sync.
func TestRGWRestoreAtBeforeSync(t *testing.T) {
	rgw, minio, cfg, rcfg := restoreSetup(t)
	const bucket = "documents"
	rgw.MakeBucket(t, bucket)
	before := map[string][]byte{
		"taxes/2024/return.pdf":         harness.Bytes(1, 48<<10),
		"taxes/2025/deep/receipts.zip":  harness.Bytes(2, 300<<10),
		"notes with spaces.txt":         []byte("spaces in keys survive\n"),
		"unicode-ключ-ü.txt":            []byte("unicode keys survive\n"),
		"a+b=c.txt":                     []byte("plus signs survive\n"),
		"empty":                         {},
		"overwritten.txt":               []byte("the old content\n"),
		"deleted/photo.jpg":             harness.Bytes(3, 200<<10),
		"deleted/nested/deeper/doc.odt": harness.Bytes(4, 10<<10),
	}
	rgw.PutMany(t, bucket, before)
	// A multipart upload into RGW: its ETag is no MD5.
	before["video/holiday.mp4"] = harness.Bytes(5, 11<<20)
	rgw.PutMultipart(t, bucket, "video/holiday.mp4", before["video/holiday.mp4"], 5<<20)

	if rep, err := runMirror(t, cfg); err != nil || rep.Status != mirror.StatusOK {
		t.Fatalf("first mirror: %v", err)
	}
	// Versions carry the server's time to the millisecond: keep clear of
	// both runs.
	time.Sleep(1100 * time.Millisecond)
	at := time.Now()
	time.Sleep(1100 * time.Millisecond)

	rgw.Delete(t, bucket, "deleted/photo.jpg")
	rgw.Delete(t, bucket, "deleted/nested/deeper/doc.odt")
	rgw.Put(t, bucket, "overwritten.txt", []byte("the damage\n"))
	rgw.Put(t, bucket, "created-later.txt", []byte("after the restore time\n"))
	cfg.Mode = mirror.ModeSync
	cfg.MaxDelete = mirror.MaxDelete{Count: 10}
	if rep, err := runMirror(t, cfg); err != nil || bucketReport(t, rep, bucket).Deleted != 2 {
		t.Fatalf("sync: %v", err)
	}
	if _, ok := minio.Get(t, mirror.DefaultDestBucket, bucket+"/deleted/photo.jpg"); ok {
		t.Fatal("the sync left a deleted object in the current mirror: the restore would not need the old versions")
	}

	t.Run("into a new bucket", func(t *testing.T) {
		rcfg := rcfg
		rcfg.Buckets, rcfg.At, rcfg.ToBucket = []string{bucket}, at, "documents-restored"
		rcfg.DryRun, rcfg.CreateBucket = true, true
		rep, err := runRestore(t, rcfg)
		if br := restoredBucket(t, rep, bucket); err != nil || br.Restored != int64(len(before)) || len(br.WouldRestore) != len(before) || rep.Location != "" {
			t.Fatalf("dry run: %v; %+v; want all %d listed, no report written", err, br, len(before))
		}
		if rgw.BucketExists(t, "documents-restored") {
			t.Fatal("a dry run created the bucket")
		}

		rcfg.DryRun = false
		rcfg.CreateBucket = false
		if _, err := runRestore(t, rcfg); exitcode.Of(err) != exitcode.Config || !strings.Contains(err.Error(), mirror.FlagCreateBucket) {
			t.Fatalf("missing bucket without %s: %v, want a configuration error naming it", mirror.FlagCreateBucket, err)
		}
		rcfg.CreateBucket, rcfg.Verify = true, true
		rep, err = runRestore(t, rcfg)
		if err != nil || rep.Status != mirror.StatusOK {
			t.Fatalf("restore: %v", err)
		}
		br := restoredBucket(t, rep, bucket)
		if br.Restored != int64(len(before)) || br.Verify == nil || !br.Verify.OK || br.Verify.Downloaded != 0 {
			t.Fatalf("restore of %s: %+v, verify %+v; want %d restored, verified by hash", bucket, br, br.Verify, len(before))
		}
		if !strings.HasSuffix(rep.Location, "-restore.json") || rep.At == nil || !rep.At.Equal(at.UTC()) {
			t.Fatalf("report at %q, at %v", rep.Location, rep.At)
		}
		if _, ok := minio.Get(t, mirror.DefaultDestBucket, rep.Location); !ok {
			t.Fatalf("no report at %s", rep.Location)
		}
		assertHolds(t, rgw, "documents-restored", before)
	})

	t.Run("in place keeps what differs", func(t *testing.T) {
		rcfg := rcfg
		rcfg.Buckets, rcfg.At = []string{bucket}, at
		rep, err := runRestore(t, rcfg)
		br := restoredBucket(t, rep, bucket)
		if err != nil || br.Restored != 2 || br.Differing != 1 || len(br.DifferingObjects) != 1 || br.DifferingObjects[0] != "overwritten.txt" || br.Extra != 1 {
			t.Fatalf("restore: %v; %+v; want 2 restored, overwritten.txt differing, 1 extra", err, br)
		}
		want := map[string][]byte{}
		for k, v := range before {
			want[k] = v
		}
		want["overwritten.txt"] = []byte("the damage\n")
		want["created-later.txt"] = []byte("after the restore time\n")
		assertHolds(t, rgw, bucket, want)

		rcfg.Verify = true
		if _, err := runRestore(t, rcfg); !errors.Is(err, exitcode.ErrVerifyFailed) || exitcode.Of(err) != exitcode.Verify {
			t.Fatalf("verify with a differing object kept: %v, want exit 4", err)
		}

		rcfg.Overwrite = true
		rep, err = runRestore(t, rcfg)
		if br := restoredBucket(t, rep, bucket); err != nil || br.Restored != 1 || br.Differing != 0 || !br.Verify.OK {
			t.Fatalf("overwrite: %v; %+v", err, br)
		}
		want["overwritten.txt"] = before["overwritten.txt"]
		assertHolds(t, rgw, bucket, want) // created-later.txt stays: a restore never deletes
	})

	t.Run("the current mirror", func(t *testing.T) {
		rcfg := rcfg
		rcfg.All, rcfg.DryRun = true, true
		rep, err := runRestore(t, rcfg)
		if br := restoredBucket(t, rep, bucket); err != nil || br.Restored != 0 || br.Differing != 1 || br.DifferingObjects[0] != "overwritten.txt" {
			t.Fatalf("dry run of the current mirror: %v; %+v; want nothing to restore and overwritten.txt differing", err, br)
		}
	})
}

// TestRGWRestoreRefusals checks the restores that cannot be done as asked:
// each is a configuration error (exit 2) that says why, before anything
// is written.
func TestRGWRestoreRefusals(t *testing.T) {
	rgw, minio, cfg, rcfg := restoreSetup(t)
	const bucket = "photos"
	rgw.MakeBucket(t, bucket)
	rgw.Put(t, bucket, "cat.jpg", []byte("meow"))
	beforeFirst := time.Now()
	time.Sleep(1100 * time.Millisecond)
	if _, err := runMirror(t, cfg); err != nil {
		t.Fatal(err)
	}
	const plain = "plain-mirror"
	minio.MakeBucket(t, plain)
	cfg.DestBucket = plain
	if _, err := runMirror(t, cfg); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		edit func(*mirror.RestoreConfig)
		want string
	}{
		{"at before the first mirror", func(c *mirror.RestoreConfig) { c.At = beforeFirst }, "before the first mirror"},
		{"unknown bucket", func(c *mirror.RestoreConfig) { c.Buckets = []string{"videos"} }, "no mirror of bucket videos"},
		{"at on a mirror without versioning", func(c *mirror.RestoreConfig) { c.MirrorBucket, c.At = plain, time.Now() }, "versioning"},
		{"all at before the first mirror", func(c *mirror.RestoreConfig) { c.Buckets, c.All, c.At = nil, true, beforeFirst }, "nothing to restore"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rcfg := rcfg
			rcfg.Buckets = []string{bucket}
			tt.edit(&rcfg)
			if err := rcfg.Validate(); err != nil {
				t.Fatal(err)
			}
			rep, err := runRestore(t, rcfg)
			if exitcode.Of(err) != exitcode.Config || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a configuration error saying %q", err, tt.want)
			}
			if rep.Status != mirror.StatusFailed || rep.Totals.Restored != 0 {
				t.Fatalf("report %s, %d restored; want failed, none", rep.Status, rep.Totals.Restored)
			}
		})
	}
	if got := rgw.Objects(t, bucket, ""); len(got) != 1 {
		t.Fatalf("the refused restores changed the bucket: %v", got)
	}
}

// restoredBucket is the restore report's entry for bucket.
func restoredBucket(t *testing.T, rep *mirror.RestoreReport, bucket string) *mirror.RestoreBucket {
	t.Helper()
	rb := rep.Bucket(bucket)
	if rb == nil {
		t.Fatalf("report has no entry for bucket %s: %+v", bucket, rep.Buckets)
	}
	return rb
}
