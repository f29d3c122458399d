package runrecord

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
)

func TestPutGet(t *testing.T) {
	m := harness.StartMinio(t, "homelab-backup-etcd")
	c, err := m.Remote("offsite-etcd").S3Client(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := Get(ctx, c, "homelab-backup-etcd", "", VerifyEtcd); r != nil || err != nil {
		t.Fatalf("no record yet: %v, %v", r, err)
	}
	start := time.Now().Add(-time.Minute)
	failed := New(VerifyEtcd, start, "3 hosts", fmt.Errorf("%w: 2 problems", exitcode.ErrVerifyFailed))
	if err := Put(ctx, c, "homelab-backup-etcd", "", failed); err != nil {
		t.Fatal(err)
	}
	ok := New(VerifyEtcd, start.Add(30*time.Second), "3 hosts", nil)
	if err := Put(ctx, c, "homelab-backup-etcd", "", ok); err != nil {
		t.Fatal(err)
	}
	got, err := Get(ctx, c, "homelab-backup-etcd", "", VerifyEtcd)
	if err != nil || got == nil || got.Status != StatusOK || got.ExitCode != 0 || !got.Start.Equal(ok.Start) || got.Summary != "3 hosts" {
		t.Fatalf("newest record: %+v, %v", got, err)
	}
	if failed.Status != StatusFailed || failed.ExitCode != exitcode.Verify || !strings.Contains(failed.Error, "2 problems") {
		t.Errorf("a failed run's record: %+v", failed)
	}
	if keys := m.List(t, "homelab-backup-etcd", ""); len(keys) != 1 || keys[Key("", VerifyEtcd)] == 0 {
		t.Errorf("bucket holds %v, want the one record at its root", keys)
	}

	m.Put(t, "homelab-backup-etcd", Key("", DrillEtcd), []byte("not json"))
	if _, err := Get(ctx, c, "homelab-backup-etcd", "", DrillEtcd); err == nil || errors.Is(err, exitcode.ErrVerifyFailed) {
		t.Errorf("a foreign object at a record's key: %v", err)
	}
}
