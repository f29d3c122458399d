package offload

import (
	"context"
	"testing"
	"time"

	rfs "github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// Stopping the watcher in the middle of an upload aborts it: no object, no
// multipart upload left, nothing recorded; the next start uploads it once.
func TestWatchStopMidUploadLeavesNothing(t *testing.T) {
	f := newFixture(t)
	setSmallParts(t, f)
	// 2 MiB/s makes a 16 MiB upload last long enough to stop it midway.
	accounting.TokenBucket.SetBwLimit(rfs.BwPair{Tx: 2 << 20, Rx: 2 << 20})
	t.Cleanup(func() { accounting.TokenBucket.SetBwLimit(rfs.BwPair{}) })

	name := offloadtest.Name(testHost, 1700009000)
	data := offloadtest.Snapshot(4096, 900) // 16 MiB
	f.write(name, data)
	stop := f.watch()
	time.Sleep(testQuiet + 2*time.Second)
	stop()
	if got := f.objects(); len(got) != 0 {
		t.Fatalf("objects after stopping mid-upload=%v, want none", got)
	}
	checkNoMultipartUploads(t, f)
	if got := f.totalUploads(); got != 0 {
		t.Fatalf("uploads=%d, want 0", got)
	}

	accounting.TokenBucket.SetBwLimit(rfs.BwPair{})
	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err != nil || len(res.Uploaded) != 1 {
		t.Fatalf("Once after the stop: %+v, %v; want the snapshot uploaded", res, err)
	}
	f.checkUploaded(name, data)
}
