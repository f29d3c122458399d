//go:build bench

package offloadbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// TestBenchOffloadCheck measures what the integrity check costs offload
// once on a 256 MiB snapshot, raw and zipped: its time (process start to
// exit, the upload to MinIO included) and its peak RSS, median of 5 runs.
// OFFSITE_BENCH_BASELINE, the path to another build of offsite (say the
// one before the database check), is measured beside this tree's.
func TestBenchOffloadCheck(t *testing.T) {
	m := harness.StartMinio(t, bucket)
	binaries := map[string]string{"this tree": harness.BuildOffsite(t, t.TempDir())}
	if base := os.Getenv("OFFSITE_BENCH_BASELINE"); base != "" {
		binaries["baseline"] = base
	}
	name := offloadtest.Name(host, time.Now().Unix())
	raw := offloadtest.Snapshot(256*256, 1) // 256 MiB
	for _, form := range []struct{ name, file string }{{"raw", name}, {"zip", name + ".zip"}} {
		data := raw
		if form.name == "zip" {
			data = offloadtest.Zip(t, name, raw)
		}
		took, peak := map[string][]time.Duration{}, map[string][]int64{}
		for i := range runs { // the builds take turns: the machine's load falls on both
			for label, bin := range binaries {
				d, rss := onceRun(t, bin, m, form.file, data, fmt.Sprintf("%s-%s-%d", label, form.name, i))
				took[label], peak[label] = append(took[label], d), append(peak[label], rss)
			}
		}
		for label := range binaries {
			t.Logf("%s, %s snapshot of %d MiB: offload once %v (fastest %v), peak RSS %d MiB (runs: %v, %v MiB)",
				label, form.name, len(data)>>20, median(took[label]).Round(time.Millisecond), slices.Min(took[label]).Round(time.Millisecond),
				medianInt(peak[label]), rounded(took[label]), peak[label])
		}
	}
}

// onceRun ships data as file with a new state and host prefix, and
// returns how long offload once took and its peak RSS in MiB.
func onceRun(t *testing.T, bin string, m *harness.Minio, file string, data []byte, prefix string) (time.Duration, int64) {
	t.Helper()
	snapDir := t.TempDir()
	path := filepath.Join(snapDir, file)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute) // no quiet period to wait out
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	cmd := harness.Command(context.Background(), 10*time.Minute, bin, "--log-level=warn", "offload", "once",
		"--snapshot-dir", snapDir, "--state-dir", t.TempDir(), "--quiet-period", "1s", "--minio-bucket", bucket, "--host", prefix)
	cmd.Env = append(os.Environ(), "MINIO_ENDPOINT="+m.Endpoint, "MINIO_ACCESS_KEY_ID="+m.AccessKey, "MINIO_SECRET_ACCESS_KEY="+m.SecretKey)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The peak the process itself reached (VmHWM), read until it ends: a
	// child's rusage counts the test's own memory it was forked from.
	var peak float64
	for done := false; !done; {
		select {
		case <-cmd.Done():
			done = true
		case <-time.After(10 * time.Millisecond):
			if _, hwm, ok := readMemory(cmd.Process.Pid); ok {
				peak = hwm
			}
		}
	}
	took := time.Since(start)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("offload once: %v\n%s", err, out.String())
	}
	return took, int64(peak)
}

func medianInt(xs []int64) int64 {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = time.Duration(x)
	}
	return int64(median(ds))
}
