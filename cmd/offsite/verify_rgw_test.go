package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/mirror"
)

// TestVerifyRGWCommandFromEnv drives verify rgw the way the CronJob does,
// through env vars only: exit 0 on a clean mirror, 4 on a stale report and
// on a multipart object that only the download check tells apart.
func TestVerifyRGWCommandFromEnv(t *testing.T) {
	src := harness.StartMinio(t, "media")
	dst := harness.StartMinio(t, mirrorTestBucket)
	const key = "2024/holiday.mp4"
	video := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16+1)
	src.PutMultipart(t, "media", key, video, 5<<20)
	src.Put(t, "media", "cat.jpg", []byte("meow"))
	metrics := filepath.Join(t.TempDir(), "offsite.prom")
	for k, v := range map[string]string{
		"RGW_ENDPOINT": src.Endpoint, "RGW_ACCESS_KEY_ID": src.AccessKey, "RGW_SECRET_ACCESS_KEY": src.SecretKey,
		"MINIO_ENDPOINT": dst.Endpoint, "MINIO_ACCESS_KEY_ID": dst.AccessKey, "MINIO_SECRET_ACCESS_KEY": dst.SecretKey,
		mirror.EnvDestBucket: mirrorTestBucket, envMetricsFile: metrics, mirror.EnvBuckets: mirror.AllBuckets,
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	if code, stdout, stderr := runOffsite(ctx, "mirror"); code != exitcode.OK {
		t.Fatalf("mirror: exit %d\n%s\n%s", code, stdout, stderr)
	}
	verify := func(wantCode int) mirror.VerifyReport {
		t.Helper()
		code, stdout, stderr := runOffsite(ctx, "verify", "rgw", "--output", "json")
		var rep mirror.VerifyReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("json output: %v\n%s\n%s", err, stdout, stderr)
		}
		if code != wantCode || len(rep.Buckets) != 1 {
			t.Fatalf("exit %d, want %d; report %+v\nstderr:\n%s", code, wantCode, rep, stderr)
		}
		return rep
	}

	rep := verify(exitcode.OK)
	if b := rep.Buckets[0]; b.Matched != 2 || b.ByDate != 1 {
		t.Fatalf("clean: %+v, want 2 matched, 1 by size only", b)
	}
	if prom, err := os.ReadFile(metrics); err != nil || !strings.Contains(string(prom), "verify_rgw") {
		t.Fatalf("metrics file: %v\n%s", err, prom)
	}
	// Versioning off is a warning, with a metric, not a failed verify.
	if rep.Versioning != mirror.VersioningUnversioned || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "point-in-time restore") {
		t.Fatalf("versioning %q, warnings %q; want Unversioned and a warning", rep.Versioning, rep.Warnings)
	}
	if got := metric(t, metrics, monitor.MetricVersioning); got != 0 {
		t.Fatalf("%s = %v with versioning off, want 0", monitor.MetricVersioning, got)
	}
	dst.EnableVersioning(t, mirrorTestBucket)
	if rep := verify(exitcode.OK); rep.Versioning != mirror.VersioningEnabled || len(rep.Warnings) != 0 {
		t.Fatalf("versioning %q, warnings %q; want Enabled, none", rep.Versioning, rep.Warnings)
	}
	if got := metric(t, metrics, monitor.MetricVersioning); got != 1 {
		t.Fatalf("%s = %v with versioning on, want 1", monitor.MetricVersioning, got)
	}
	code, stdout, _ := runOffsite(ctx, "verify", "rgw")
	if code != exitcode.OK || !strings.Contains(stdout, "ok: true") {
		t.Fatalf("table: exit %d\n%s", code, stdout)
	}

	t.Setenv(mirror.EnvMaxReportAge, "1ms")
	if rep := verify(exitcode.Verify); rep.LastReport == nil || !rep.LastReport.Stale || !rep.Buckets[0].OK {
		t.Fatalf("stale report: %+v", rep)
	}
	t.Setenv(mirror.EnvMaxReportAge, "25h")

	t.Setenv(mirror.EnvVerifyDownload, "true")
	if b := verify(exitcode.OK).Buckets[0]; b.Downloaded != 1 || b.ByDate != 0 {
		t.Fatalf("download: %+v, want 1 compared by download", b)
	}
	altered := bytes.Clone(video)
	altered[len(altered)-1] ^= 0x01 // same size, no MD5 on the source side
	dst.Put(t, mirrorTestBucket, "media/"+key, altered)
	if b := verify(exitcode.Verify).Buckets[0]; b.Differing != 1 || len(b.DifferObj) != 1 || b.DifferObj[0] != key {
		t.Fatalf("altered multipart object: %+v, want %s differing", b, key)
	}
	code, stdout, _ = runOffsite(ctx, "verify", "rgw")
	if code != exitcode.Verify || !strings.Contains(stdout, "differing media/"+key) {
		t.Fatalf("table after a change: exit %d\n%s", code, stdout)
	}
}
