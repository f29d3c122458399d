//go:build bench

// Package bwlimitbench measures what OFFSITE_BWLIMIT achieves: offsite
// mirror of 8 objects of 64 MiB between two MinIO servers on loopback,
// limited to 10M (10 MiB/s), must move them at that rate, within 10%. It
// runs the real binary against real servers and takes about a minute, so
// the bench build tag turns it on (make bench); CI does not run it.
package bwlimitbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
)

const (
	objects = 8
	size    = 64 << 20
	limit   = "10M"
	rate    = 10 << 20 // bytes per second that limit means
	bucket  = "bwlimit"
	dest    = "bwlimit-mirror"
)

func TestBenchBwLimit(t *testing.T) {
	src := harness.StartMinio(t, bucket)
	dst := harness.StartMinio(t, dest)
	for i := range objects {
		src.Put(t, bucket, fmt.Sprintf("obj-%d", i), harness.Bytes(uint64(i+1), size))
	}

	// Build this checkout's offsite (the module the bench runs in).
	bin := filepath.Join(t.TempDir(), "offsite")
	if out, err := harness.Command(context.Background(), 20*time.Minute, "go", "build", "-o", bin, "github.com/offsite-backup/offsite/cmd/offsite").CombinedOutput(); err != nil {
		t.Fatalf("build offsite: %v\n%s", err, out)
	}
	cmd := harness.Command(context.Background(), 10*time.Minute, bin, "--log-format=console", "mirror",
		"--rgw-endpoint", src.Endpoint, "--rgw-access-key-id", src.AccessKey, "--minio-endpoint", dst.Endpoint,
		"--minio-access-key-id", dst.AccessKey, "--minio-bucket", dest, "--rgw-buckets", bucket)
	cmd.Env = append(os.Environ(), "OFFSITE_BWLIMIT="+limit,
		"RGW_SECRET_ACCESS_KEY="+src.SecretKey, "MINIO_SECRET_ACCESS_KEY="+dst.SecretKey)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("offsite mirror: %v\n%s", err, out.String())
	}
	took := time.Since(start)
	if got := dst.List(t, dest, bucket+"/"); len(got) != objects {
		t.Fatalf("%d of %d objects mirrored", len(got), objects)
	}
	achieved := float64(objects*size) / took.Seconds()
	ratio := achieved / rate
	t.Logf("OFFSITE_BWLIMIT=%s, %d x %d MiB: %v, %.2f MiB/s, %.3f of the limit (process start included)",
		limit, objects, size>>20, took.Round(10*time.Millisecond), achieved/(1<<20), ratio)
	if ratio < 0.9 || ratio > 1.1 {
		t.Errorf("achieved %.2f MiB/s, not within 10%% of %s", achieved/(1<<20), limit)
	}
}
