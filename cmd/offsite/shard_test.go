package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// Three shards, three processes at once, as an Indexed Job runs them:
// every bucket is mirrored, by exactly one shard, each shard writes its
// own report, auto mode finds each bucket's clean copy in whichever
// shard's report holds it, verify rgw reads all three, and a shard without
// a report fails the verification.
func TestShardsMirrorEachBucketOnce(t *testing.T) {
	const shards = 3
	var buckets []string
	for i := range 9 {
		buckets = append(buckets, fmt.Sprintf("bucket-%d", i))
	}
	src := harness.StartMinio(t, buckets...)
	dst := harness.StartMinio(t, mirrorTestBucket)
	for _, b := range buckets {
		for _, k := range []string{"a", "b"} {
			src.Put(t, b, k, []byte(b+"/"+k))
		}
	}
	args := append([]string{"mirror"}, mirrorArgs(src, dst)...)
	envs := [shards][]string{
		{"OFFSITE_SHARDS=3", "JOB_COMPLETION_INDEX=0"},
		{"OFFSITE_SHARDS=3", "JOB_COMPLETION_INDEX=1"},
		{"OFFSITE_SHARD=2/3"},
	}
	var wg sync.WaitGroup
	var codes [shards]int
	var outputs [shards]string
	for i := range shards {
		wg.Go(func() { codes[i], outputs[i] = runProcess(t, envs[i], args...) })
	}
	wg.Wait()
	for i := range shards {
		if codes[i] != exitcode.OK {
			t.Fatalf("shard %d: exit %d\n%s", i, codes[i], outputs[i])
		}
	}

	mirroredBy := map[string][]int{}
	keys := dst.List(t, mirrorTestBucket, "_reports/")
	maps.DeleteFunc(keys, func(key string, _ int64) bool { return !harness.IsRunReport(key) })
	if len(keys) != shards {
		t.Fatalf("want %d reports, one per shard, got %v", shards, keys)
	}
	for key := range keys {
		data, _ := dst.Get(t, mirrorTestBucket, key)
		var rep mirror.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Shard == nil || !strings.HasSuffix(key, fmt.Sprintf("-copy-shard-%d-of-3.json", rep.Shard.Index)) || rep.Status != mirror.StatusOK {
			t.Fatalf("report %s: shard %v, status %s", key, rep.Shard, rep.Status)
		}
		for _, b := range rep.Buckets {
			if b.Status != mirror.StatusOK || b.Transferred != 2 {
				t.Errorf("shard %d, bucket %s: %s, %d transferred, want ok, 2", rep.Shard.Index, b.Name, b.Status, b.Transferred)
			}
			if want := mirror.ShardOf(b.Name, shards); rep.Shard.Index != want {
				t.Errorf("bucket %s mirrored by shard %d, belongs to %d", b.Name, rep.Shard.Index, want)
			}
			mirroredBy[b.Name] = append(mirroredBy[b.Name], rep.Shard.Index)
		}
	}
	for _, b := range buckets {
		if len(mirroredBy[b]) != 1 {
			t.Errorf("bucket %s mirrored by shards %v, want exactly one", b, mirroredBy[b])
		}
		for _, k := range []string{"a", "b"} {
			if got, ok := dst.Get(t, mirrorTestBucket, b+"/"+k); !ok || string(got) != b+"/"+k {
				t.Errorf("%s/%s not mirrored", b, k)
			}
		}
	}

	// auto, sharded again: every bucket has a clean copy in some shard's
	// report, so each is synced, still by exactly one shard.
	auto := append([]string{"mirror", "--mode", "auto"}, mirrorArgs(src, dst)...)
	for i := range shards {
		wg.Go(func() { codes[i], outputs[i] = runProcess(t, envs[i], auto...) })
	}
	wg.Wait()
	synced := map[string]int{}
	for key := range dst.List(t, mirrorTestBucket, "_reports/") {
		if _, first := keys[key]; first || !harness.IsRunReport(key) {
			continue
		}
		data, _ := dst.Get(t, mirrorTestBucket, key)
		var rep mirror.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		for _, b := range rep.Buckets {
			if b.Mode == mirror.ModeSync && b.Status == mirror.StatusOK {
				synced[b.Name]++
			}
		}
	}
	for i := range shards {
		if codes[i] != exitcode.OK {
			t.Fatalf("auto, shard %d: exit %d\n%s", i, codes[i], outputs[i])
		}
	}
	for _, b := range buckets {
		if synced[b] != 1 {
			t.Errorf("auto: bucket %s synced by %d shards, want 1", b, synced[b])
		}
	}

	verify := append([]string{"verify", "rgw"}, mirrorArgs(src, dst)...)
	if code, stdout, stderr := runOffsite(t.Context(), verify...); code != exitcode.OK ||
		!strings.Contains(stdout, "of shard 0/3") || !strings.Contains(stdout, "of shard 1/3") || !strings.Contains(stdout, "of shard 2/3") {
		t.Fatalf("verify rgw after three shards: exit %d, want 0 naming each shard's report\n%s\n%s", code, stdout, stderr)
	}
	// Shard 1's reports gone, as if its pod never ran.
	for key := range dst.List(t, mirrorTestBucket, "_reports/") {
		if strings.HasSuffix(key, "-shard-1-of-3.json") {
			dst.Delete(t, mirrorTestBucket, key)
		}
	}
	code, stdout, stderr := runOffsite(t.Context(), verify...)
	if code != exitcode.Verify || !strings.Contains(stdout+stderr, "shard 1/3") {
		t.Fatalf("verify rgw without shard 1's report: exit %d, want %d naming shard 1/3\n%s\n%s", code, exitcode.Verify, stdout, stderr)
	}
}

// Each shard pings its own check, so that one shard's /fail is not
// hidden by another's later success: with {shard} in OFFSITE_PING_URL,
// and with one URL per shard in OFFSITE_PING_URL_FILE. The shard that owns
// an allow-listed bucket missing from the source fails, and only its check
// hears /fail.
func TestShardsPingTheirOwnChecks(t *testing.T) {
	const shards, missing = 3, "gone"
	failing := mirror.ShardOf(missing, shards)
	var buckets []string
	for i := range 6 {
		buckets = append(buckets, fmt.Sprintf("bucket-%d", i))
	}
	src := harness.StartMinio(t, buckets...)
	dst := harness.StartMinio(t, mirrorTestBucket)
	for _, b := range buckets {
		src.Put(t, b, "a", []byte(b))
	}
	args := append([]string{"mirror"}, mirrorArgs(src, dst)...)
	args = append(args[:len(args)-1], strings.Join(append(buckets, missing), ",")) // the value of --rgw-buckets

	pings := newRecorder(t)
	check := func(t *testing.T, env string) {
		for i := range shards {
			code, output := runProcess(t, []string{env, fmt.Sprintf("%s=%d/%d", mirror.EnvShard, i, shards)}, args...)
			want, ping := exitcode.OK, fmt.Sprintf("POST /%s/rgw-%d", pingSecret, i)
			if i == failing {
				want, ping = exitcode.Failed, ping+"/fail"
			}
			if code != want {
				t.Fatalf("shard %d: exit %d, want %d\n%s", i, code, want, output)
			}
			if got, start := pings.got(), fmt.Sprintf("POST /%s/rgw-%d/start", pingSecret, i); len(got) < 2 || !slices.Equal(got[len(got)-2:], []string{start, ping}) {
				t.Fatalf("shard %d pinged %v, want %s then %s", i, got, start, ping)
			}
		}
	}
	t.Run("placeholder", func(t *testing.T) {
		check(t, "OFFSITE_PING_URL="+pings.URL+"/"+pingSecret+"/rgw-{shard}")
	})
	t.Run("one URL per line", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "ping-urls")
		var lines string
		for i := range shards {
			lines += fmt.Sprintf("%s/%s/rgw-%d\n", pings.URL, pingSecret, i)
		}
		if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
		check(t, "OFFSITE_PING_URL_FILE="+file)
	})
}
