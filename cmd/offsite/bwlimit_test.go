package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// runProcess runs offsite as a process of its own, with extra env vars:
// rclone's limiters are global to a process, so a run with limits must not
// share the test binary's process with the other tests.
func runProcess(t *testing.T, env []string, args ...string) (code int, output string) {
	t.Helper()
	var out syncBuffer
	code, _ = offsiteProcess(t, &out, env, append([]string{"--log-format=console"}, args...)...)
	return code, out.String()
}

// OFFSITE_BWLIMIT slows a mirror down to the limit: a lower bound on the
// run's time only (load can only make it longer). rclone's limiter starts
// empty but may bank up to its 4 MiB burst while the run starts, so the
// bound is for the bytes beyond that. Both forms are run: a rate, and a
// timetable (rclone's ticker path).
func TestBwLimitSlowsTheMirror(t *testing.T) {
	const size, rate, burst = 7 << 20, 1 << 20, 4 << 20
	minTime := time.Duration(float64(size-burst) / rate * float64(time.Second))
	for _, limit := range []string{"1M", "00:00,1M 23:59,1M"} {
		t.Run(limit, func(t *testing.T) {
			src := harness.StartMinio(t, "big")
			dst := harness.StartMinio(t, mirrorTestBucket)
			data := bytes.Repeat([]byte("offsite!"), size/8)
			src.Put(t, "big", "blob", data)
			start := time.Now()
			code, output := runProcess(t, []string{mirror.EnvMode + "=copy", "OFFSITE_BWLIMIT=" + limit}, append([]string{"mirror"}, mirrorArgs(src, dst)...)...)
			took := time.Since(start)
			if code != 0 {
				t.Fatalf("mirror with OFFSITE_BWLIMIT=%s: exit %d\n%s", limit, code, output)
			}
			if got, ok := dst.Get(t, mirrorTestBucket, "big/blob"); !ok || !bytes.Equal(got, data) {
				t.Fatalf("big/blob not mirrored whole (%d bytes)", len(got))
			}
			if took < minTime {
				t.Errorf("%d MiB at %s took %v, under the %v the limit implies", size>>20, limit, took, minTime)
			}
			t.Logf("%d MiB at %s: %v", size>>20, limit, took)
		})
	}
}

// OFFSITE_TPS_LIMIT paces every HTTP request through rclone's limiter: 10
// objects are at least 10 GETs and 10 PUTs, which at 4 a second (burst 1)
// take at least 19/4 s.
func TestTPSLimitPacesRequests(t *testing.T) {
	const objects, tps = 10, 4
	minTime := time.Duration(float64(2*objects-1) / tps * float64(time.Second))
	src := harness.StartMinio(t, "many")
	dst := harness.StartMinio(t, mirrorTestBucket)
	for i := range objects {
		src.Put(t, "many", fmt.Sprintf("o%d", i), []byte{byte(i)})
	}
	start := time.Now()
	code, output := runProcess(t, []string{"OFFSITE_TPS_LIMIT=4"}, append([]string{"mirror"}, mirrorArgs(src, dst)...)...)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("mirror with OFFSITE_TPS_LIMIT=%d: exit %d\n%s", tps, code, output)
	}
	if got := dst.List(t, mirrorTestBucket, "many/"); len(got) != objects {
		t.Fatalf("%d of %d objects mirrored", len(got), objects)
	}
	if took < minTime {
		t.Errorf("%d objects at %d requests/s took %v, under the %v the limit implies", objects, tps, took, minTime)
	}
	t.Logf("%d objects at %d requests/s: %v", objects, tps, took)
}

// OFFSITE_BWLIMIT slows offload too: a 7 MiB snapshot at 1M.
func TestBwLimitSlowsOffload(t *testing.T) {
	const rate, burst = 1 << 20, 4 << 20
	m := harness.StartMinio(t, etcdTestBucket)
	snapDir, stateDir := t.TempDir(), t.TempDir()
	name := offloadtest.Name("node1", time.Now().Unix())
	data := offloadtest.Snapshot(7*256, 1) // 7 MiB
	offloadtest.WriteRaw(t, snapDir, name, data)
	minTime := time.Duration(float64(len(data)-burst) / rate * float64(time.Second))

	start := time.Now()
	code, output := runProcess(t, []string{"OFFSITE_BWLIMIT=1M"}, append([]string{"offload", "once"}, offloadArgs(m, snapDir, stateDir)...)...)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("offload once with OFFSITE_BWLIMIT=1M: exit %d\n%s", code, output)
	}
	if got, ok := m.Get(t, etcdTestBucket, "node1/"+name); !ok || !bytes.Equal(got, data) {
		t.Fatal("snapshot not uploaded intact")
	}
	if took < minTime {
		t.Errorf("%d bytes at 1M took %v, under the %v the limit implies", len(data), took, minTime)
	}
	t.Logf("%.1f MiB at 1M: %v", float64(len(data))/(1<<20), took)
}
