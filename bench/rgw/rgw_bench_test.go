//go:build bench

// Package rgwbench times offsite's mirror against the rclone CLI, same
// version and flags, from a real Ceph RGW to a real MinIO (make bench).
package rgwbench

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/rcloneconf"
)

const (
	smallObjects = 2000
	bigObjects   = 4
	bigSize      = 64 << 20
	partSize     = 8 << 20
)

// TestBenchRGWMirror seeds 2,000 x 4 KiB and 4 x 64 MiB multipart objects
// into RGW, then times a copy and a no-change re-run with offsite's library
// and with the rclone CLI (--checksum --transfers 4 --checkers 8 --fast-list).
func TestBenchRGWMirror(t *testing.T) {
	rcloneconf.Init(zap.NewNop())
	rclone, err := harness.RcloneCLI()
	if err != nil {
		t.Fatal(err)
	}
	rgw := harness.StartRGW(t)
	minio := harness.StartMinio(t, "homelab-backup-rgw", "cli")
	rgw.MakeBucket(t, "bench")
	small := map[string][]byte{}
	for i := range smallObjects {
		small[fmt.Sprintf("small/%02d/%04d", i%20, i)] = harness.Bytes(uint64(i), 4<<10)
	}
	rgw.PutMany(t, "bench", small)
	for i := range bigObjects {
		rgw.PutMultipart(t, "bench", fmt.Sprintf("big/%d.bin", i), harness.Bytes(uint64(10000+i), bigSize), partSize)
	}

	cfg := mirror.DefaultConfig()
	cfg.Source, cfg.Dest = rgw.Remote("bench-rgw"), minio.Remote("bench-minio")
	cfg.Buckets, cfg.ProgressInterval = []string{"bench"}, 0
	var offsite [2]time.Duration
	for i := range offsite {
		start := time.Now()
		if _, err := mirror.Run(context.Background(), cfg, nil); err != nil {
			t.Fatal(err)
		}
		offsite[i] = time.Since(start)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)

	env := append(os.Environ(),
		"RCLONE_CONFIG_S_TYPE=s3", "RCLONE_CONFIG_S_PROVIDER=Ceph", "RCLONE_CONFIG_S_ENDPOINT="+rgw.Endpoint,
		"RCLONE_CONFIG_S_ACCESS_KEY_ID="+rgw.AccessKey, "RCLONE_CONFIG_S_SECRET_ACCESS_KEY="+rgw.SecretKey, "RCLONE_CONFIG_S_FORCE_PATH_STYLE=true",
		"RCLONE_CONFIG_D_TYPE=s3", "RCLONE_CONFIG_D_PROVIDER=Minio", "RCLONE_CONFIG_D_ENDPOINT="+minio.Endpoint, "RCLONE_CONFIG_D_REGION=us-east-1",
		"RCLONE_CONFIG_D_ACCESS_KEY_ID="+minio.AccessKey, "RCLONE_CONFIG_D_SECRET_ACCESS_KEY="+minio.SecretKey, "RCLONE_CONFIG_D_FORCE_PATH_STYLE=true")
	var cli [2]time.Duration
	var cliRSS int64
	for i := range cli {
		cmd := harness.Command(t.Context(), 30*time.Minute, rclone, "--config", os.DevNull, "copy", "s:bench", "d:cli/bench",
			"--checksum", "--transfers", "4", "--checkers", "8", "--fast-list")
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rclone copy: %v\n%s", err, out)
		}
		cli[i] = time.Since(start)
		cliRSS = max(cliRSS, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	mib := float64(smallObjects*4<<10+bigObjects*bigSize) / (1 << 20)
	t.Logf("RGW -> MinIO, %d x 4 KiB + %d x 64 MiB multipart (%.0f MiB)", smallObjects, bigObjects, mib)
	t.Logf("copy:      offsite %v (%.1f MB/s), rclone CLI %v: ratio %.2f", offsite[0].Round(time.Millisecond),
		mib*1.048576/offsite[0].Seconds(), cli[0].Round(time.Millisecond), offsite[0].Seconds()/cli[0].Seconds())
	t.Logf("no change: offsite %v, rclone CLI %v: ratio %.2f", offsite[1].Round(time.Millisecond),
		cli[1].Round(time.Millisecond), offsite[1].Seconds()/cli[1].Seconds())
	t.Logf("peak RSS:  offsite test process %d MiB (harness included), rclone CLI %d MiB", ru.Maxrss>>10, cliRSS>>10)
}
