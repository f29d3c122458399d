package offload

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

func TestWatchRawSnapshotUploadedOnce(t *testing.T) {
	f := newFixture(t)
	f.watch()
	name := offloadtest.Name(testHost, 1700000000)
	data := offloadtest.Snapshot(64, 1)
	f.write(name, data)

	f.waitSidecars(10*time.Second, name)
	f.checkUploaded(name, data)
	time.Sleep(3 * testQuiet) // later events or timers must not upload it again
	if got, want := f.uploadCount(name), 1; got != want {
		t.Fatalf("uploads of %s=%d, want %d", name, got, want)
	}
	if got, want := len(f.objects()), 2; got != want {
		t.Fatalf("objects=%v, want the snapshot and its sidecar", f.objects())
	}
	v := f.cfg.Counters.Values()
	if v.Uploaded != 1 || v.Bytes != int64(len(data)) || v.Pending != 0 || v.Failed != 0 || v.LastSuccess.IsZero() {
		t.Fatalf("counters=%+v", v)
	}
}

// A symlink planted in the snapshot dir while watch runs is never followed:
// the service can read root-only files, and the link's target must not
// leave the node under a snapshot's name.
func TestWatchNeverFollowsASymlink(t *testing.T) {
	f := newFixture(t)
	f.watch()
	first := offloadtest.Name(testHost, 1700000040)
	f.write(first, offloadtest.Snapshot(4, 98))
	f.waitSidecars(10*time.Second, first) // the watcher is watching
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, offloadtest.Snapshot(4, 99), 0o600); err != nil {
		t.Fatal(err)
	}
	link := offloadtest.Name(testHost, 1700000050)
	if err := os.Symlink(secret, filepath.Join(f.cfg.SnapshotDir, link)); err != nil {
		t.Fatal(err)
	}
	// A real snapshot after it: once it is up, the link had its chance.
	name := offloadtest.Name(testHost, 1700000060)
	f.write(name, offloadtest.Snapshot(4, 100))
	f.waitSidecars(10*time.Second, name)
	time.Sleep(3 * testQuiet)
	if got := f.objects(); len(got) != 4 {
		t.Fatalf("objects=%v, want only the real snapshots and their sidecars", got)
	}
}

// k3s renames the raw snapshot into place, writes <name>.zip in place, then
// deletes the raw one. Only the finished zip may be uploaded.
func TestWatchZipWrittenInPlace(t *testing.T) {
	forPlainAndEncrypted(t, testWatchZipWrittenInPlace)
}

// forPlainAndEncrypted runs test as it is, and with offload encrypting.
func forPlainAndEncrypted(t *testing.T, test func(*testing.T, *fixture)) {
	t.Run("plain", func(t *testing.T) { test(t, newFixture(t)) })
	t.Run("encrypted", func(t *testing.T) {
		f := newFixture(t)
		f.encrypt()
		test(t, f)
	})
}

func testWatchZipWrittenInPlace(t *testing.T, f *fixture) {
	f.watch()
	name := offloadtest.Name(testHost, 1700000100)
	raw := offloadtest.Snapshot(256, 2)
	zipped := offloadtest.Zip(t, name, raw)
	f.write(name, raw)
	// 8 chunks, half a quiet period apart: four quiet periods in all.
	offloadtest.WriteInPlace(t, filepath.Join(f.cfg.SnapshotDir, name+".zip"), zipped, 8, testQuiet/2)
	if err := os.Remove(filepath.Join(f.cfg.SnapshotDir, name)); err != nil {
		t.Fatal(err)
	}

	f.waitSidecars(10*time.Second, name+".zip")
	time.Sleep(3 * testQuiet)
	f.checkUploaded(name+".zip", zipped)
	if got := f.objects(); len(got) != 2 {
		t.Fatalf("objects=%v, want only the zip and its sidecar", got)
	}
	if got, want := f.totalUploads(), 1; got != want {
		t.Fatalf("uploads=%d, want %d", got, want)
	}
}

func TestWatchBurstOf50(t *testing.T) {
	f := newFixture(t)
	f.watch()
	var names []string
	want := map[string][]byte{}
	for i := range 50 {
		name := offloadtest.Name(testHost, int64(1700001000+i))
		data := offloadtest.Snapshot(4, uint64(100+i))
		f.write(name, data)
		names = append(names, name)
		want[name] = data
	}
	f.waitSidecars(60*time.Second, names...)
	time.Sleep(3 * testQuiet)
	for _, n := range names {
		if got := f.uploadCount(n); got != 1 {
			t.Errorf("uploads of %s=%d, want 1", n, got)
		}
		f.checkUploaded(n, want[n])
	}
	if got, want := len(f.objects()), 100; got != want {
		t.Fatalf("objects=%d, want %d", got, want)
	}
}

func TestWatchCorruptNotUploadedUntilFixed(t *testing.T) {
	f := newFixture(t)
	f.watch()
	name := offloadtest.Name(testHost, 1700000200)
	good := offloadtest.Snapshot(8, 3)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	f.write(name, bad)

	harness.WaitFor(t, 10*time.Second, "the corrupt snapshot to be counted failed", func() bool {
		return f.cfg.Counters.Values().Failed == 1
	})
	time.Sleep(3 * testQuiet)
	if got := f.objects(); len(got) != 0 {
		t.Fatalf("objects=%v, want none: a corrupt snapshot must not be uploaded", got)
	}
	if v := f.cfg.Counters.Values(); v.Failed != 1 || v.Pending != 1 {
		t.Fatalf("counters=%+v, want 1 failed (no retry loop) and 1 pending", v)
	}
	if got := f.alertCount(); got != 1 {
		t.Fatalf("OnFailure calls=%d, want 1 for the corrupt snapshot", got)
	}
	f.write(name, good) // a change is retried
	f.waitSidecars(10*time.Second, name)
	f.checkUploaded(name, good)
}

func TestWatchDestinationDown(t *testing.T) {
	forPlainAndEncrypted(t, testWatchDestinationDown)
}

func testWatchDestinationDown(t *testing.T, f *fixture) {
	f.watch()
	f.minio.Stop()
	var names []string
	want := map[string][]byte{}
	for i := range 5 {
		name := offloadtest.Name(testHost, int64(1700002000+i))
		want[name] = offloadtest.Snapshot(16, uint64(200+i))
		f.write(name, want[name])
		names = append(names, name)
		time.Sleep(testQuiet / 3)
	}
	harness.WaitFor(t, 20*time.Second, "failed attempts while the destination is down", func() bool {
		return f.cfg.Counters.Values().Failed >= 3
	})
	if v := f.cfg.Counters.Values(); v.Pending != 5 || v.Uploaded != 0 {
		t.Fatalf("counters=%+v, want 5 pending, 0 uploaded", v)
	}
	harness.WaitFor(t, 10*time.Second, "an alert once uploads keep failing", func() bool { return f.alertCount() == 1 })
	if err := f.minio.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitSidecars(30*time.Second, names...)
	time.Sleep(3 * testQuiet)
	for _, n := range names {
		if got := f.uploadCount(n); got != 1 {
			t.Errorf("uploads of %s=%d, want 1", n, got)
		}
		f.checkUploaded(n, want[n])
	}
	if v := f.cfg.Counters.Values(); v.Pending != 0 || v.Uploaded != 5 {
		t.Fatalf("counters=%+v, want 0 pending, 5 uploaded", v)
	}
	if got := f.alertCount(); got != 1 {
		t.Fatalf("OnFailure calls=%d, want exactly 1 for the whole outage", got)
	}
}

func TestWatchRestart(t *testing.T) {
	f := newFixture(t)
	first := []string{offloadtest.Name(testHost, 1700003000), offloadtest.Name(testHost, 1700003001)}
	for i, n := range first {
		f.write(n, offloadtest.Snapshot(8, uint64(300+i)))
	}
	stop := f.watch()
	// The sidecar is visible before the upload returns; stop only once
	// both are recorded, or the restart rightly finds one at the destination.
	harness.WaitFor(t, 10*time.Second, "both snapshots recorded as uploaded", func() bool {
		return f.uploadCount(first[0]) == 1 && f.uploadCount(first[1]) == 1
	})
	stop()

	// Restart with the state: nothing is uploaded again.
	stop = f.watch()
	time.Sleep(4 * testQuiet)
	stop()
	if got, want := f.totalUploads(), 2; got != want {
		t.Fatalf("uploads after restart=%d, want %d", got, want)
	}

	// Snapshots written while it was down, and the state lost: the new ones
	// are uploaded at start, the old ones found at the destination.
	late := offloadtest.Name(testHost, 1700003002)
	f.write(late, offloadtest.Snapshot(8, 302))
	state := filepath.Join(f.cfg.StateDir, StateFile)
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	stop = f.watch()
	f.waitSidecars(10*time.Second, late)
	time.Sleep(4 * testQuiet)
	stop()
	for _, n := range append(first, late) {
		if got := f.uploadCount(n); got != 1 {
			t.Errorf("uploads of %s=%d, want 1", n, got)
		}
	}
	st, err := loadState(f.cfg.StateDir, testBucket+"/"+testHost, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(st.data.Uploads), 3; got != want {
		t.Fatalf("rebuilt state holds %d snapshots, want %d", got, want)
	}

	// A corrupt state file is kept aside and rebuilt, again without uploads.
	if err := os.WriteFile(state, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	stop = f.watch()
	time.Sleep(4 * testQuiet)
	stop()
	if got, want := f.totalUploads(), 3; got != want {
		t.Fatalf("uploads after a corrupt state=%d, want %d", got, want)
	}
	if aside, _ := filepath.Glob(state + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("corrupt state kept aside as %v, want one file", aside)
	}
}

func TestWatchRetentionDeletes(t *testing.T) {
	f := newFixture(t)
	f.watch()
	var names []string
	for i := range 4 {
		n := offloadtest.Name(testHost, int64(1700004000+i))
		f.write(n, offloadtest.Snapshot(4, uint64(400+i)))
		names = append(names, n)
	}
	f.waitSidecars(10*time.Second, names...)
	for _, n := range names[:3] {
		if err := os.Remove(filepath.Join(f.cfg.SnapshotDir, n)); err != nil {
			t.Fatal(err)
		}
	}
	// One deleted by retention before its quiet period ended: forgotten.
	early := offloadtest.Name(testHost, 1700004009)
	f.write(early, offloadtest.Snapshot(4, 409))
	time.Sleep(testQuiet / 3)
	if err := os.Remove(filepath.Join(f.cfg.SnapshotDir, early)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * testQuiet)
	if got, want := len(f.objects()), 8; got != want {
		t.Fatalf("objects=%v, want all 4 snapshots and sidecars kept", f.objects())
	}
	if v := f.cfg.Counters.Values(); v.Failed != 0 || v.Pending != 0 {
		t.Fatalf("counters=%+v, want no failures and nothing pending", v)
	}
}

func TestWatchWaitsForDirectory(t *testing.T) {
	f := newFixture(t)
	f.cfg.SnapshotDir = filepath.Join(t.TempDir(), "server", "db", "snapshots")
	f.cfg.RescanInterval = time.Second
	f.watch()
	// Missing at a rescan: loud, as no snapshot can be shipped.
	harness.WaitFor(t, 5*time.Second, "an alert for the missing directory", func() bool { return f.alertCount() > 0 })
	if err := os.MkdirAll(f.cfg.SnapshotDir, 0o700); err != nil {
		t.Fatal(err)
	}
	name := offloadtest.Name(testHost, 1700005000)
	data := offloadtest.Snapshot(4, 500)
	f.write(name, data)
	f.waitSidecars(10*time.Second, name)
	f.checkUploaded(name, data)
}

func TestOnceReadOnlySnapshotDir(t *testing.T) {
	f := newFixture(t)
	var names []string
	for i := range 3 {
		n := offloadtest.Name(testHost, int64(1700006000+i))
		f.write(n, offloadtest.Snapshot(4, uint64(600+i)))
		names = append(names, n)
	}
	offloadtest.ReadOnly(t, f.cfg.SnapshotDir)
	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res.Uploaded), 3; got != want {
		t.Fatalf("uploaded=%d, want %d", got, want)
	}
	f.waitSidecars(time.Second, names...)
	// Run again: nothing to do.
	res, err = Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err != nil || len(res.Uploaded) != 0 || len(res.Skipped) != 3 {
		t.Fatalf("second run: %+v, %v; want 3 skipped", res, err)
	}
}

func TestOnceShipsAgainWhatTheDestinationLost(t *testing.T) {
	f := newFixture(t)
	older, newest := offloadtest.Name(testHost, 1700006100), offloadtest.Name(testHost, 1700006200)
	f.write(older, offloadtest.Snapshot(4, 610))
	f.write(newest, offloadtest.Snapshot(4, 611))
	if res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t)); err != nil || len(res.Uploaded) != 2 {
		t.Fatalf("first run: %+v, %v; want 2 uploaded", res, err)
	}
	// The host's prefix is wiped (a bucket recreated, a lifecycle rule gone
	// wrong) while the state still records both uploads.
	for key := range f.minio.List(t, testBucket, testHost+"/") {
		f.minio.Delete(t, testBucket, key)
	}
	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err != nil || len(res.Uploaded) != 2 {
		t.Fatalf("run after the wipe: %+v, %v; want both uploaded again", res, err)
	}
	f.waitSidecars(time.Second, older, newest)
	// Only the older one lost: the newest's sidecar is there, nothing goes.
	f.minio.Delete(t, testBucket, testHost+"/"+older+SidecarSuffix)
	if res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t)); err != nil || len(res.Uploaded) != 0 {
		t.Fatalf("run with the newest in place: %+v, %v; want nothing uploaded (one HEAD per run, not one per snapshot)", res, err)
	}
}

func TestOnceCorruptReported(t *testing.T) {
	f := newFixture(t)
	good := offloadtest.Name(testHost, 1700007000)
	badRaw := offloadtest.Name(testHost, 1700007001)
	badZip := offloadtest.Name(testHost, 1700007002) + ".zip"
	f.write(good, offloadtest.Snapshot(4, 700))
	raw := offloadtest.Snapshot(4, 701)
	raw[10] ^= 1
	f.write(badRaw, raw)
	zipped := offloadtest.Zip(t, badZip, offloadtest.Snapshot(4, 702))
	f.write(badZip, zipped[:len(zipped)-40])

	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err == nil {
		t.Fatal("Once succeeded with corrupt snapshots")
	}
	failed := map[string]bool{}
	for _, fl := range res.Failed {
		failed[fl.Name] = true
	}
	if !failed[badRaw] || !failed[badZip] || len(failed) != 2 {
		t.Fatalf("failed=%v, want %s and %s", failed, badRaw, badZip)
	}
	for _, n := range []string{badRaw, badZip} {
		if !bytes.Contains([]byte(err.Error()), []byte(n)) {
			t.Errorf("error %q does not name %s", err, n)
		}
	}
	objs := f.objects()
	if len(objs) != 2 || objs[good] == 0 {
		t.Fatalf("objects=%v, want only %s and its sidecar", objs, good)
	}
}

// A multipart upload whose file fails the trailer check on its last part is
// aborted: no object, no upload left behind.
func TestOnceCorruptMultipartAborted(t *testing.T) {
	f := newFixture(t)
	setSmallParts(t, f)
	name := offloadtest.Name(testHost, 1700008000)
	data := offloadtest.Snapshot(3000, 800) // ~12 MiB: 3 parts
	data[len(data)-1] ^= 1
	f.write(name, data)
	if _, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t)); err == nil {
		t.Fatal("Once succeeded with a corrupt snapshot")
	}
	if got := f.objects(); len(got) != 0 {
		t.Fatalf("objects=%v, want none", got)
	}
	checkNoMultipartUploads(t, f)
}

func setSmallParts(t *testing.T, f *fixture) {
	t.Helper()
	// Multipart from 5 MiB instead of 200 MiB, so tests stay small.
	f.cfg.Dest.Register()
	setRemoteOption(f.cfg.Dest.Name, "upload_cutoff", "5Mi")
	setRemoteOption(f.cfg.Dest.Name, "chunk_size", "5Mi")
}

func checkNoMultipartUploads(t *testing.T, f *fixture) {
	t.Helper()
	out, err := f.minio.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left in progress, want 0", len(out.Uploads))
	}
}
