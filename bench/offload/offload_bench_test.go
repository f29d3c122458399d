//go:build bench

// Package offloadbench measures offsite offload against a plain rclone
// upload: how long a snapshot takes from its final write to its sidecar
// being visible (minus the quiet period), and what an idle watcher costs.
// It runs the real binaries against a real MinIO, so it is slow and not part
// of the test suite: the bench build tag turns it on (make bench).
package offloadbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

const (
	bucket      = "etcd-bench"
	host        = "bench"
	quiet       = time.Second
	runs        = 5
	idleWindow  = 60 * time.Second
	clockTicks  = 100 // USER_HZ on Linux
	pollEvery   = 5 * time.Millisecond
	sidecarName = ".sha256"
)

func TestBenchOffload(t *testing.T) {
	m := harness.StartMinio(t, bucket)
	offsite := harness.BuildOffsite(t, t.TempDir())
	rclone := rcloneBinary(t)
	watcher, snapDir := startWatcher(t, offsite, m, host)

	// (b) idle first, while the process has done nothing but start.
	cpu0 := cpuTime(t, watcher.Process.Pid)
	time.Sleep(idleWindow)
	idleCPU := cpuTime(t, watcher.Process.Pid) - cpu0
	rss, hwm := memory(t, watcher.Process.Pid)
	t.Logf("idle watcher over %v: CPU %v (%.3f%% of one core), RSS %.1f MiB (peak %.1f MiB)",
		idleWindow, idleCPU, 100*idleCPU.Seconds()/idleWindow.Seconds(), rss, hwm)

	// (a) latency, against rclone copyto of the same file.
	ts := time.Now().Unix()
	for _, mib := range []int{16, 256} {
		var offload, plain []time.Duration
		for range runs {
			ts++
			name := offloadtest.Name(host, ts)
			data := offloadtest.Snapshot(mib*256, uint64(ts))
			src := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			plain = append(plain, rcloneCopyto(t, rclone, m, src, "rclone/"+name))
			offload = append(offload, shipLatency(t, m, snapDir, host+"/"+name, name, data)-quiet)
		}
		o, p := median(offload), median(plain)
		t.Logf("%d MiB: offload %v (final write to sidecar visible, minus the %v quiet period), rclone copyto %v: ratio %.2f (runs: offload %v, rclone %v)",
			mib, o.Round(time.Millisecond), quiet, p.Round(time.Millisecond), o.Seconds()/p.Seconds(), rounded(offload), rounded(plain))
	}
	rss, hwm = memory(t, watcher.Process.Pid)
	t.Logf("watcher after the uploads: RSS %.1f MiB (peak %.1f MiB)", rss, hwm)
}

// TestBenchOffloadEncrypted compares two watchers on the same MinIO, one
// that encrypts to an age recipient and one that does not: the time from a
// snapshot's final write to its sidecar being visible, and how many bytes
// the encrypting watcher reads per byte of snapshot (1 means one read).
func TestBenchOffloadEncrypted(t *testing.T) {
	m := harness.StartMinio(t, bucket)
	offsite := harness.BuildOffsite(t, t.TempDir())
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, plainDir := startWatcher(t, offsite, m, host)
	sealer, sealedDir := startWatcher(t, offsite, m, host+"-age", "OFFSITE_AGE_RECIPIENTS="+key.Recipient().String())
	ts := time.Now().Unix()
	for _, mib := range []int{16, 256} {
		var plain, sealed []time.Duration
		var read, size int64
		for range runs {
			ts++
			name := offloadtest.Name(host, ts)
			data := offloadtest.Snapshot(mib*256, uint64(ts))
			plain = append(plain, shipLatency(t, m, plainDir, host+"/"+name, name, data)-quiet)
			before := readBytes(t, sealer.Process.Pid)
			sealed = append(sealed, shipLatency(t, m, sealedDir, host+"-age/"+name+".age", name, data)-quiet)
			read += readBytes(t, sealer.Process.Pid) - before
			size += int64(len(data))
		}
		p, e := median(plain), median(sealed)
		t.Logf("%d MiB: encrypted %v, plain %v: ratio %.2f; the encrypting watcher read %.2f bytes per snapshot byte (runs: encrypted %v, plain %v)",
			mib, e.Round(time.Millisecond), p.Round(time.Millisecond), e.Seconds()/p.Seconds(), float64(read)/float64(size), rounded(sealed), rounded(plain))
	}
}

// startWatcher runs `offsite offload watch` for host on a new snapshot dir.
func startWatcher(t *testing.T, offsite string, m *harness.Minio, host string, env ...string) (*harness.Cmd, string) {
	t.Helper()
	snapDir, stateDir := t.TempDir(), t.TempDir()
	watcher := harness.Command(context.Background(), 0, offsite, "--log-level=warn", "offload", "watch",
		"--snapshot-dir", snapDir, "--state-dir", stateDir, "--quiet-period", quiet.String(),
		"--minio-bucket", bucket, "--host", host)
	watcher.Env = append(append(os.Environ(), "MINIO_ENDPOINT="+m.Endpoint,
		"MINIO_ACCESS_KEY_ID="+m.AccessKey, "MINIO_SECRET_ACCESS_KEY="+m.SecretKey), env...)
	watcher.Stderr = os.Stderr
	if err := watcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := watcher.Stop(10 * time.Second); err != nil {
			t.Logf("stop the watcher: %v", err)
		}
	})
	select {
	case <-watcher.Done():
		t.Fatalf("watcher exited at start: %v", watcher.Wait())
	case <-time.After(time.Second):
	}
	return watcher, snapDir
}

// shipLatency writes a snapshot the way k3s does and returns the time from
// its rename into place to the sidecar of object (a key) being visible.
func shipLatency(t *testing.T, m *harness.Minio, dir, object, name string, data []byte) time.Duration {
	t.Helper()
	part := filepath.Join(dir, name+".part")
	if err := os.WriteFile(part, data, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := os.Rename(part, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	client := m.Client()
	key := object + sidecarName
	deadline := start.Add(2 * time.Minute)
	for {
		_, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("sidecar %s not visible after 2 minutes", key)
		}
		time.Sleep(pollEvery)
	}
}

// readBytes is how many bytes pid has read (rchar: files and sockets).
func readBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("no rchar in /proc/%d/io", pid)
	return 0
}

// rcloneCopyto times the rclone CLI uploading src, configured by env vars.
func rcloneCopyto(t *testing.T, rclone string, m *harness.Minio, src, key string) time.Duration {
	t.Helper()
	cmd := harness.Command(t.Context(), 10*time.Minute, rclone, "copyto", src, "dst:"+bucket+"/"+key)
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG_DST_TYPE=s3", "RCLONE_CONFIG_DST_PROVIDER=Minio",
		"RCLONE_CONFIG_DST_ENDPOINT="+m.Endpoint, "RCLONE_CONFIG_DST_ACCESS_KEY_ID="+m.AccessKey,
		"RCLONE_CONFIG_DST_SECRET_ACCESS_KEY="+m.SecretKey, "RCLONE_CONFIG_DST_REGION=us-east-1",
		"RCLONE_CONFIG_DST_FORCE_PATH_STYLE=true", "RCLONE_CONFIG=/dev/null")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rclone copyto: %v\n%s", err, out)
	}
	return time.Since(start)
}

// rcloneBinary is the rclone CLI in the cache, built once (about 80 s).
func rcloneBinary(t *testing.T) string {
	t.Helper()
	bin, err := harness.RcloneCLI()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// cpuTime is the user + system CPU time pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// memory is pid's resident set and its peak, in MiB.
func memory(t *testing.T, pid int) (rss, peak float64) {
	t.Helper()
	rss, peak, ok := readMemory(pid)
	if !ok {
		t.Fatalf("no /proc/%d/status", pid)
	}
	return rss, peak
}

// readMemory is pid's resident set and its peak, in MiB; ok is false once
// the process is gone.
func readMemory(pid int) (rss, peak float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak, peak > 0
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
