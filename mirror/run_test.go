package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
)

// seed fills three buckets with what a homelab's RGW holds: nested
// prefixes, spaces and unicode in keys, an empty object and a multipart
// upload. It returns every object's content by bucket and key.
func seed(t *testing.T, src *harness.Minio) map[string]map[string][]byte {
	t.Helper()
	objects := map[string]map[string][]byte{
		"alpha": {
			"top.txt":                      []byte("top"),
			"nested/deeper/still/file.bin": randomBytes(t, 70_000),
			"with space/and ümlaut ✓.txt":  []byte("unicode"),
			"empty":                        {},
		},
		"beta": {
			"db/dump-1.sql":        randomBytes(t, 4096),
			"db/dump-2.sql":        randomBytes(t, 4096),
			"logs/2026/11/26.log":  []byte("log line\n"),
			"日本語/ファイル.txt":         []byte("japanese"),
			"trailing space .txt ": []byte("space"),
		},
		"gamma": {},
	}
	for b, objs := range objects {
		for k, v := range objs {
			src.Put(t, b, k, v)
		}
	}
	big := randomBytes(t, 5<<20+1234) // two parts: MinIO's minimum part is 5 MiB
	putMultipart(t, src, "gamma", "big/multipart.bin", big, 5<<20)
	objects["gamma"]["big/multipart.bin"] = big
	return objects
}

// assertMirror checks with the S3 client that every object is in the
// mirror with the same content.
func assertMirror(t *testing.T, dst *harness.Minio, objects map[string]map[string][]byte) {
	t.Helper()
	for b, objs := range objects {
		for k, want := range objs {
			got, ok := dst.Get(t, destBucket, b+"/"+k)
			if !ok {
				t.Errorf("%s/%s missing from the mirror", b, k)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s differs in the mirror (%d bytes, want %d)", b, k, len(got), len(want))
			}
		}
	}
}

func run(t *testing.T, cfg Config) (*Report, error) {
	t.Helper()
	rep, err := Run(context.Background(), cfg, zaptest.NewLogger(t))
	if rep == nil {
		t.Fatalf("Run returned no report (err %v)", err)
	}
	t.Logf("run: %v\n%s", err, rep.Summary())
	return rep, err
}

func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// readReports returns the reports in the destination, by key.
func readReports(t *testing.T, dst *harness.Minio) map[string]Report {
	t.Helper()
	reports := map[string]Report{}
	for key := range dst.List(t, destBucket, "_reports/") {
		if !harness.IsRunReport(key) {
			continue
		}
		data, _ := dst.Get(t, destBucket, key)
		var r Report
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("report %s does not parse: %v", key, err)
		}
		reports[key] = r
	}
	return reports
}

func TestCopyMirrorsEveryBucket(t *testing.T) {
	src, dst, cfg := servers(t, "alpha", "beta", "gamma")
	objects := seed(t, src)

	rep := mustRun(t, cfg)
	assertMirror(t, dst, objects)
	if got, want := rep.Totals.Transferred, int64(10); got != want {
		t.Fatalf("transferred=%d, want %d", got, want)
	}
	if rep.Status != StatusOK || rep.Totals.OK != 3 || rep.Location == "" {
		t.Fatalf("status=%s ok=%d location=%q", rep.Status, rep.Totals.OK, rep.Location)
	}
	var objs, size int64
	for _, bucket := range objects {
		for _, data := range bucket {
			objs, size = objs+1, size+int64(len(data))
		}
	}
	if rep.Totals.SourceObjects != objs || rep.Totals.SourceBytes != size {
		t.Fatalf("source totals=%d objects, %d bytes; want %d, %d", rep.Totals.SourceObjects, rep.Totals.SourceBytes, objs, size)
	}

	// A second run finds nothing to do, and says the multipart object
	// could only be compared by size (its ETag is not an MD5).
	rep = mustRun(t, cfg)
	if got := rep.Totals.Transferred; got != 0 {
		t.Fatalf("re-run transferred %d, want 0", got)
	}
	if got, want := rep.Totals.Checked, int64(10); got != want {
		t.Fatalf("re-run checked=%d, want %d", got, want)
	}
	if got, want := rep.Bucket("gamma").ByDate, int64(1); got != want {
		t.Fatalf("gamma compared by date=%d, want %d", got, want)
	}
	if got, want := rep.Totals.ByDate, int64(1); got != want {
		t.Fatalf("total by date=%d, want %d", got, want)
	}

	reports := readReports(t, dst)
	if got, want := len(reports), 2; got != want {
		t.Fatalf("%d reports in the destination, want %d", got, want)
	}
	for key, r := range reports {
		if r.Status != StatusOK || len(r.Buckets) != 3 || r.RcloneVersion == "" || r.OffsiteVersion != "test" || !strings.HasSuffix(key, "-copy.json") {
			t.Errorf("report %s: %+v", key, r)
		}
	}
}

func TestCopyNeverDeletesSyncDeletesAfterTransfers(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	for i := range 10 {
		src.Put(t, "alpha", fmt.Sprintf("f%02d", i), []byte(fmt.Sprintf("content %02d", i)))
	}
	mustRun(t, cfg)

	src.Delete(t, "alpha", "f00")
	src.Put(t, "alpha", "f01", []byte("CONTENT 01")) // same size, new content
	src.Put(t, "alpha", "new", []byte("new"))

	rep := mustRun(t, cfg)
	if _, ok := dst.Get(t, destBucket, "alpha/f00"); !ok {
		t.Fatal("copy deleted alpha/f00 from the mirror")
	}
	if got, _ := dst.Get(t, destBucket, "alpha/f01"); string(got) != "CONTENT 01" {
		t.Fatalf("same-size change not copied: %q", got)
	}
	if b := rep.Bucket("alpha"); b.Transferred != 2 || b.Deleted != 0 || b.Extra != 1 {
		t.Fatalf("copy: %+v", b)
	}

	cfg.Mode = ModeSync
	rep = mustRun(t, cfg)
	if _, ok := dst.Get(t, destBucket, "alpha/f00"); ok {
		t.Fatal("sync left alpha/f00 in the mirror")
	}
	if b := rep.Bucket("alpha"); b.Deleted != 1 || b.Status != StatusOK || b.Mode != ModeSync {
		t.Fatalf("sync: %+v", b)
	}
	if got, want := len(dst.List(t, destBucket, "alpha/")), 10; got != want {
		t.Fatalf("mirror holds %d objects, want %d", got, want)
	}
	// Reports live beside the mirrors, never inside one: the sync kept them.
	if got, want := len(readReports(t, dst)), 3; got != want {
		t.Fatalf("%d reports after the sync, want %d", got, want)
	}
}

func TestTransferErrorDeletesNothingAndRetriesRecover(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "old", []byte("old"))
	cfg.Mode = ModeSync
	mustRun(t, cfg)
	src.Delete(t, "alpha", "old") // the sync would delete alpha/old
	// Few objects: once the destination is down, rclone's pacer spaces
	// the failing requests up to 2 s apart.
	const objects = 24
	for i := range objects {
		src.Put(t, "alpha", fmt.Sprintf("obj-%03d", i), randomBytes(t, 32<<10))
	}
	cfg.Transfers = 1
	cfg.MaxDelete = MaxDelete{Count: 10}
	// One request, one try: the outage must reach the bucket retry loop
	// instead of being waited out inside rclone's pacer.
	cfg.LowLevelRetries = 1

	// The destination goes away mid-run and comes back a moment later.
	outage := func() {
		for len(dst.List(t, destBucket, "alpha/obj-")) < 5 {
			time.Sleep(20 * time.Millisecond)
		}
		dst.Stop()
	}

	t.Run("one try", func(t *testing.T) {
		cfg := cfg
		cfg.Retries = 1
		var wg sync.WaitGroup
		wg.Go(outage)
		rep, err := run(t, cfg)
		wg.Wait()
		if err := dst.Start(); err != nil {
			t.Fatal(err)
		}
		if err == nil || errors.Is(err, exitcode.ErrSafetyStop) {
			t.Fatalf("err=%v, want a failed run", err)
		}
		if b := rep.Bucket("alpha"); b == nil || b.Status != StatusFailed || b.Deleted != 0 || b.Errors == 0 || len(b.ErrorMessages) == 0 {
			t.Fatalf("alpha: %+v", b)
		}
		if _, ok := dst.Get(t, destBucket, "alpha/old"); !ok {
			t.Fatal("a sync with transfer errors deleted alpha/old")
		}
	})

	t.Run("retries", func(t *testing.T) {
		dst.Delete(t, destBucket, "alpha/obj-000") // make sure there is work left
		cfg := cfg
		cfg.Retries = 10
		cfg.RetriesSleep = time.Second
		var wg sync.WaitGroup
		wg.Go(func() {
			for len(dst.List(t, destBucket, "alpha/obj-")) < objects/2 {
				time.Sleep(20 * time.Millisecond)
			}
			dst.Stop()
			time.Sleep(500 * time.Millisecond)
			if err := dst.Start(); err != nil {
				t.Error(err)
			}
		})
		rep, err := run(t, cfg)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		b := rep.Bucket("alpha")
		if b.Status != StatusOK || b.Attempts < 2 || b.Deleted != 1 {
			t.Fatalf("alpha: %+v", b)
		}
		if got, want := len(dst.List(t, destBucket, "alpha/")), objects; got != want {
			t.Fatalf("mirror holds %d objects, want %d", got, want)
		}
	})
}

func TestSafetyStops(t *testing.T) {
	src, dst, cfg := servers(t, "alpha", "emptied")
	for i := range 20 {
		src.Put(t, "alpha", fmt.Sprintf("f%02d", i), []byte("x"))
	}
	for i := range 3 {
		src.Put(t, "emptied", fmt.Sprintf("f%d", i), []byte("y"))
	}
	mustRun(t, cfg)
	for i := range 5 {
		src.Delete(t, "alpha", fmt.Sprintf("f%02d", i)) // 25% of the mirror
	}
	for i := range 3 {
		src.Delete(t, "emptied", fmt.Sprintf("f%d", i))
	}

	cfg.Mode = ModeSync
	cfg.Buckets = []string{"alpha"}
	rep, err := run(t, cfg) // default cap: 10%
	if !errors.Is(err, exitcode.ErrSafetyStop) {
		t.Fatalf("err=%v, want a safety stop", err)
	}
	if b := rep.Bucket("alpha"); b.Status != StatusAborted || b.DeletionsRefused != 5 || b.Deleted != 0 {
		t.Fatalf("alpha: %+v", b)
	}
	if rep.Status != StatusAborted || rep.Totals.DeletionsRefused != 5 {
		t.Fatalf("run: status %s, refused %d", rep.Status, rep.Totals.DeletionsRefused)
	}
	if got, want := len(dst.List(t, destBucket, "alpha/")), 20; got != want {
		t.Fatalf("mirror holds %d objects, want %d", got, want)
	}

	cfg.Buckets = []string{"emptied"}
	cfg.MaxDelete = MaxDelete{Percent: 100, IsPercent: true}
	rep, err = run(t, cfg)
	if !errors.Is(err, exitcode.ErrSafetyStop) {
		t.Fatalf("err=%v, want a safety stop", err)
	}
	if b := rep.Bucket("emptied"); b.Status != StatusAborted || b.DeletionsRefused != 3 || !strings.Contains(b.ErrorMessages[0], "lists empty") {
		t.Fatalf("emptied: %+v", b)
	}
	if got, want := len(dst.List(t, destBucket, "emptied/")), 3; got != want {
		t.Fatalf("mirror holds %d objects, want %d", got, want)
	}

	cfg.AllowEmptySource = true
	if b := mustRun(t, cfg).Bucket("emptied"); b.Deleted != 3 {
		t.Fatalf("with %s: %+v", EnvAllowEmptySource, b)
	}
}

func TestBucketSelection(t *testing.T) {
	src, dst, cfg := servers(t, "alpha", "beta", "gamma")
	for _, b := range []string{"alpha", "beta", "gamma"} {
		src.Put(t, b, "k", []byte(b))
	}
	dst.Put(t, destBucket, "retired/k", []byte("kept"))

	cfg.Buckets = []string{"alpha", "beta", "not-there"}
	cfg.Exclude = []string{"beta"}
	rep, err := run(t, cfg)
	var cfgErr *exitcode.ConfigError
	if err == nil || errors.Is(err, exitcode.ErrSafetyStop) || errors.As(err, &cfgErr) {
		t.Fatalf("err=%v, want a failed run", err)
	}
	want := map[string]string{"alpha": StatusOK, "beta": StatusSkipped, "not-there": StatusFailed}
	if len(rep.Buckets) != len(want) {
		t.Fatalf("buckets: %+v", rep.Buckets)
	}
	for name, status := range want {
		if b := rep.Bucket(name); b == nil || b.Status != status {
			t.Errorf("%s: %+v, want status %s", name, b, status)
		}
	}
	got := dst.List(t, destBucket, "")
	for _, key := range []string{"beta/k", "gamma/k"} {
		if _, ok := got[key]; ok {
			t.Errorf("%s was mirrored", key)
		}
	}
	if _, ok := got["alpha/k"]; !ok {
		t.Error("alpha/k was not mirrored")
	}
	if _, ok := got["retired/k"]; !ok || len(rep.Orphaned) != 1 || rep.Orphaned[0] != "retired" {
		t.Errorf("orphaned=%q, retired/k kept: %v", rep.Orphaned, ok)
	}
}

func TestConfigurationErrors(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "k", []byte("v"))
	const wrongSecret = "wrong-secret-Zq8fLx"

	for _, tt := range []struct {
		name    string
		change  func(*Config)
		wantVar string
	}{
		{"missing destination bucket", func(c *Config) { c.DestBucket = "no-such-bucket" }, EnvDestBucket},
		{"wrong source secret", func(c *Config) { c.Source.SecretAccessKey = wrongSecret }, "RGW_ACCESS_KEY_ID"},
		{"wrong destination secret", func(c *Config) { c.Dest.SecretAccessKey = wrongSecret }, "MINIO_ACCESS_KEY_ID"},
		{"unknown source key", func(c *Config) { c.Source.AccessKeyID = "nobody" }, "RGW_ACCESS_KEY_ID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfg
			tt.change(&cfg)
			rep, err := run(t, cfg)
			var cfgErr *exitcode.ConfigError
			if !errors.As(err, &cfgErr) || cfgErr.Var != tt.wantVar {
				t.Fatalf("err=%v, want a ConfigError naming %s", err, tt.wantVar)
			}
			if strings.Contains(err.Error(), wrongSecret) || strings.Contains(rep.Summary(), wrongSecret) {
				t.Fatal("the secret leaked into the error or the summary")
			}
		})
	}
	// offsite never creates the destination bucket.
	if _, err := dst.Client().HeadBucket(context.Background(), headBucket("no-such-bucket")); err == nil {
		t.Fatal("the missing destination bucket was created")
	}
}

func TestAutoModeCopiesThenSyncs(t *testing.T) {
	src, dst, cfg := servers(t, "alpha", "beta")
	for i := range 20 {
		src.Put(t, "alpha", fmt.Sprintf("f%02d", i), []byte("a"))
		src.Put(t, "beta", fmt.Sprintf("f%02d", i), []byte("b"))
	}
	dst.Put(t, destBucket, "alpha/stale", []byte("from an old script"))
	cfg.Mode = ModeAuto
	cfg.Buckets = []string{"alpha"}

	rep := mustRun(t, cfg)
	if b := rep.Bucket("alpha"); b.Mode != ModeCopy || b.Deleted != 0 || b.Extra != 1 {
		t.Fatalf("first auto run: %+v", b)
	}
	cfg.Buckets = []string{AllBuckets}
	rep = mustRun(t, cfg)
	if b := rep.Bucket("alpha"); b.Mode != ModeSync || b.Deleted != 1 {
		t.Fatalf("second auto run, alpha: %+v", b)
	}
	if b := rep.Bucket("beta"); b.Mode != ModeCopy {
		t.Fatalf("second auto run, beta (never copied before): %+v", b)
	}
	if _, ok := dst.Get(t, destBucket, "alpha/stale"); ok {
		t.Fatal("alpha/stale survived the sync")
	}
	reports := readReports(t, dst)
	if got, want := len(reports), 2; got != want {
		t.Fatalf("%d reports, want %d", got, want)
	}
	fbucket, _, err := openDestination(context.Background(), cfg.Dest, destBucket)
	if err != nil {
		t.Fatal(err)
	}
	newest, _, err := latestRunReports(context.Background(), fbucket, cfg.ReportPrefix, time.Time{})
	if err != nil || len(newest) != 1 {
		t.Fatalf("newest report: %v, %d", err, len(newest))
	}
	latest := newest[0]
	if latest.Location != rep.Location || latest.Bucket("alpha").Mode != ModeSync {
		t.Fatalf("latestReport=%+v, %v; want %s", latest, err, rep.Location)
	}
}

// An object under the report prefix too big to be a report is refused by
// its size, before it is read: verify and auto mode fail loudly, naming it,
// instead of reading it whole into memory.
func TestOversizedReportIsRefused(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "a", []byte("a"))
	mustRun(t, cfg)
	key := cfg.ReportPrefix + "/2999-01-01/2999-01-01T00:00:00.000Z-copy.json"
	dst.Put(t, destBucket, key, bytes.Repeat([]byte(" "), maxReportSize+1))
	fbucket, _, err := openDestination(context.Background(), cfg.Dest, destBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := latestRunReports(context.Background(), fbucket, cfg.ReportPrefix, time.Time{}); err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "not one offsite wrote") {
		t.Fatalf("the newest report oversized: %v, want an error naming %s", err, key)
	}
}

// TestForgedShardCountIsRefused: a report whose shard count no setting
// allows (a billion: verify would hold a list of every missing shard) is
// refused as not offsite's, fast, and verify says why.
func TestForgedShardCountIsRefused(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "a", []byte("a"))
	mustRun(t, cfg)
	key := cfg.ReportPrefix + "/2999-01-01/2999-01-01T00:00:00.000Z-copy-shard-0-of-1000000000.json"
	dst.Put(t, destBucket, key, []byte(`{"mode":"copy","status":"ok","end":"2999-01-01T00:00:00Z","shard":{"index":0,"count":1000000000},"buckets":[]}`))
	start := time.Now()
	rep, err := verify(t, verifyConfig(cfg))
	if err == nil || rep.OK || !strings.Contains(err.Error(), key) || time.Since(start) > time.Minute {
		t.Fatalf("verify over a forged shard count: %v after %v; want an error naming %s", err, time.Since(start), key)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	for i := range 10 {
		src.Put(t, "alpha", fmt.Sprintf("f%02d", i), []byte("x"))
	}
	mustRun(t, cfg)
	src.Delete(t, "alpha", "f00")
	src.Put(t, "alpha", "new", []byte("new"))
	before := dst.List(t, destBucket, "")

	cfg.Mode = ModeSync
	cfg.DryRun = true
	cfg.MaxDelete = MaxDelete{Count: 5}
	rep := mustRun(t, cfg)
	if b := rep.Bucket("alpha"); b.Transferred != 1 || b.Bytes != 3 || b.Deleted != 1 || !rep.DryRun {
		t.Fatalf("dry run: %+v", b)
	}
	after := dst.List(t, destBucket, "")
	if len(after) != len(before) {
		t.Fatalf("dry run changed the destination: %d objects before, %d after", len(before), len(after))
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Fatalf("dry run removed %s", k)
		}
	}
	if rep.Location != "" {
		t.Fatalf("dry run wrote a report to %s", rep.Location)
	}
}
