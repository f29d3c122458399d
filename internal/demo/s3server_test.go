package demo

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rclone/rclone/fs/operations"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/rcloneconf"
)

func TestS3ServerServesBuckets(t *testing.T) {
	rcloneconf.Init(zap.NewNop())
	ctx := context.Background()
	s, err := startS3(ctx, "demo-test", t.TempDir(), "demo-key", "demo-secret", "alpha", "beta")
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop(ctx)
	s.remote.Register()
	root, err := s.remote.Fs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := root.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), 2; got != want {
		t.Fatalf("buckets=%v, want alpha and beta", entries)
	}
	f, err := s.remote.Fs(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := operations.Rcat(ctx, f, "x/y.txt", readCloser("hello"), modTime, nil); err != nil {
		t.Fatal(err)
	}
	o, err := f.NewObject(ctx, "x/y.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.Size(), int64(5); got != want {
		t.Fatalf("size=%d, want %d", got, want)
	}
}

var modTime = time.Now()

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
