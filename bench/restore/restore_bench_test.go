//go:build bench

// Package restorebench times `offsite restore rgw` against the rclone CLI
// doing the same copy, same version and flags, from a versioned MinIO
// mirror into an S3 target standing in for RGW (make bench).
package restorebench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
)

const (
	mirrorBucket = "homelab-backup-rgw"
	smallSize    = 4 << 10
	bigObjects   = 8
	bigSize      = 64 << 20
)

// Sizes: 10,000 small objects and 3 runs each unless BENCH_RESTORE_SMALL
// or BENCH_RESTORE_REPS say otherwise (a quick look: 1000 and 1).
var (
	smallObjects = envInt("BENCH_RESTORE_SMALL", 10000)
	reps         = envInt("BENCH_RESTORE_REPS", 3)
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestBenchRestore seeds the mirror of two buckets (10,000 x 4 KiB and
// 8 x 64 MiB), notes a time, then overwrites and deletes a tenth of each,
// so that the mirror holds old versions and delete markers. It then times
// four restores, each into a fresh target bucket, with offsite and with the
// rclone CLI (--checksum --transfers 4 --checkers 8 --fast-list, and the
// source remote's version_at, --s3-version-at, for the point-in-time
// ones), the tools taking turns going first, after one untimed run of each;
// it prints the medians and the ratios offsite/rclone.
func TestBenchRestore(t *testing.T) {
	rclone, err := harness.RcloneCLI()
	if err != nil {
		t.Fatal(err)
	}
	offsite := harness.BuildOffsite(t, t.TempDir())
	mirror := harness.StartMinio(t, mirrorBucket)
	mirror.EnableVersioning(t, mirrorBucket)
	target := harness.StartMinio(t)

	small := map[string][]byte{}
	for i := range smallObjects {
		small[fmt.Sprintf("small/d%03d/obj-%05d", i%100, i)] = harness.Bytes(uint64(i), smallSize)
	}
	mirror.PutMany(t, mirrorBucket, small)
	for i := range bigObjects {
		mirror.Put(t, mirrorBucket, fmt.Sprintf("big/%d.bin", i), harness.Bytes(uint64(100000+i), bigSize))
	}
	time.Sleep(1100 * time.Millisecond) // S3 times have one-second steps
	at := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	changed := map[string][]byte{}
	for i := range smallObjects / 10 {
		changed[fmt.Sprintf("small/d%03d/obj-%05d", i%100, i)] = harness.Bytes(uint64(500000+i), smallSize)
	}
	mirror.PutMany(t, mirrorBucket, changed)
	for i := smallObjects / 10; i < smallObjects/5; i++ {
		mirror.Delete(t, mirrorBucket, fmt.Sprintf("small/d%03d/obj-%05d", i%100, i))
	}
	mirror.Put(t, mirrorBucket, "big/0.bin", harness.Bytes(200000, bigSize))
	mirror.Delete(t, mirrorBucket, "big/1.bin")

	common := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	offsiteEnv := append([]string{
		"RGW_ENDPOINT=" + target.Endpoint, "RGW_ACCESS_KEY_ID=" + target.AccessKey, "RGW_SECRET_ACCESS_KEY=" + target.SecretKey,
		"MINIO_ENDPOINT=" + mirror.Endpoint, "MINIO_ACCESS_KEY_ID=" + mirror.AccessKey, "MINIO_SECRET_ACCESS_KEY=" + mirror.SecretKey,
		"OFFSITE_PROGRESS_INTERVAL=0", "OFFSITE_LOG_FORMAT=json", "OFFSITE_LOG_LEVEL=warn", "OFFSITE_PROGRESS=never",
	}, common...)
	// The rclone CLI gets its remotes from env vars, given to it alone:
	// offsite refuses to run with RCLONE_* set.
	rcloneEnv := append([]string{
		"RCLONE_CONFIG_M_TYPE=s3", "RCLONE_CONFIG_M_PROVIDER=Minio", "RCLONE_CONFIG_M_ENDPOINT=" + mirror.Endpoint, "RCLONE_CONFIG_M_REGION=us-east-1",
		"RCLONE_CONFIG_M_ACCESS_KEY_ID=" + mirror.AccessKey, "RCLONE_CONFIG_M_SECRET_ACCESS_KEY=" + mirror.SecretKey, "RCLONE_CONFIG_M_FORCE_PATH_STYLE=true",
		"RCLONE_CONFIG_T_TYPE=s3", "RCLONE_CONFIG_T_PROVIDER=Ceph", "RCLONE_CONFIG_T_ENDPOINT=" + target.Endpoint,
		"RCLONE_CONFIG_T_ACCESS_KEY_ID=" + target.AccessKey, "RCLONE_CONFIG_T_SECRET_ACCESS_KEY=" + target.SecretKey, "RCLONE_CONFIG_T_FORCE_PATH_STYLE=true",
	}, common...)
	// The mirror as it was at "at": --s3-version-at for the source remote
	// alone (the flag would make the target read-only too).
	for _, kv := range rcloneEnv {
		if rest, ok := strings.CutPrefix(kv, "RCLONE_CONFIG_M_"); ok {
			rcloneEnv = append(rcloneEnv, "RCLONE_CONFIG_MA_"+rest)
		}
	}
	rcloneEnv = append(rcloneEnv, "RCLONE_CONFIG_MA_VERSION_AT="+at.Format(time.RFC3339))
	scenarios := []struct {
		name, bucket string
		at           bool
		objects      int // in the target afterwards
		bytes        int64
	}{
		{fmt.Sprintf("%d x 4 KiB, current", smallObjects), "small", false, smallObjects * 9 / 10, int64(smallObjects * 9 / 10 * smallSize)},
		{fmt.Sprintf("%d x 4 KiB, --at", smallObjects), "small", true, smallObjects, int64(smallObjects * smallSize)},
		{"8 x 64 MiB, current", "big", false, bigObjects - 1, (bigObjects - 1) * bigSize},
		{"8 x 64 MiB, --at", "big", true, bigObjects, bigObjects * bigSize},
	}
	// Untimed, once per tool: the first reads after seeding are slower
	// (MinIO's caches), whichever tool makes them.
	timed(t, offsiteEnv, []string{offsite, "restore", "rgw", "--bucket", "small", "--to-bucket", "warm-offsite", "--create-bucket"})
	timed(t, rcloneEnv, []string{rclone, "--config", os.DevNull, "copy", "m:" + mirrorBucket + "/small", "t:warm-rclone", "--fast-list"})

	type result struct{ offsite, rclone []time.Duration }
	results := make([]result, len(scenarios))
	n := 0
	for rep := range reps {
		for i, sc := range scenarios {
			for turn := range 2 {
				n++
				dst := fmt.Sprintf("restore-%d", n)
				var args, env []string
				tool := (turn + rep) % 2 // 0: offsite; the tools take turns going first
				if tool == 0 {
					env, args = offsiteEnv, []string{offsite, "restore", "rgw", "--bucket", sc.bucket, "--to-bucket", dst, "--create-bucket"}
					if sc.at {
						args = append(args, "--at", at.Format(time.RFC3339))
					}
				} else {
					src := "m:"
					if sc.at {
						src = "ma:"
					}
					env, args = rcloneEnv, []string{rclone, "--config", os.DevNull, "copy", src + mirrorBucket + "/" + sc.bucket, "t:" + dst,
						"--checksum", "--transfers", "4", "--checkers", "8", "--fast-list", "--retries", "1"}
				}
				r := timed(t, env, args)
				if got := target.List(t, dst, ""); len(got) != sc.objects {
					t.Fatalf("%s: %s restored %d objects into %s, want %d", sc.name, filepath.Base(args[0]), len(got), dst, sc.objects)
				}
				if tool == 0 {
					results[i].offsite = append(results[i].offsite, r)
				} else {
					results[i].rclone = append(results[i].rclone, r)
				}
			}
		}
	}
	t.Logf("restore from a versioned MinIO mirror into a second MinIO, medians of %d runs", reps)
	t.Logf("| scenario | offsite | rclone CLI | ratio | MB/s offsite |")
	t.Logf("| --- | --- | --- | --- | --- |")
	for i, sc := range scenarios {
		o, r := median(results[i].offsite), median(results[i].rclone)
		t.Logf("| %s | %.2f s | %.2f s | %.2f | %.1f |", sc.name, o.Seconds(), r.Seconds(), o.Seconds()/r.Seconds(),
			float64(sc.bytes)/1e6/o.Seconds())
	}
}

func timed(t *testing.T, env, args []string) time.Duration {
	t.Helper()
	cmd := harness.Command(t.Context(), 30*time.Minute, args[0], args[1:]...)
	cmd.Env = env
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(args[0]), err, out)
	}
	return time.Since(start)
}

func median(walls []time.Duration) time.Duration {
	walls = slices.Clone(walls)
	slices.Sort(walls)
	return walls[len(walls)/2]
}
