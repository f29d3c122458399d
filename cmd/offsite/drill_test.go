package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/internal/runrecord"
	"github.com/offsite-backup/offsite/mirror"
)

// TestMakeDrillRGW runs make drill-rgw on validate's rig: the mirror of
// the photos bucket is restored into a scratch bucket, compared, timed,
// with a projection for the whole mirror, and removed.
func TestMakeDrillRGW(t *testing.T) {
	r := newValidateRig(t)
	r.minio.EnableVersioning(t, mirror.DefaultDestBucket)
	r.rgw.MakeBucket(t, "notes")
	r.rgw.Put(t, "notes", "todo.txt", []byte("buy film"))
	var bin string
	for _, kv := range r.env {
		if v, ok := strings.CutPrefix(kv, "OFFSITE_BIN="); ok {
			bin = v
		}
	}
	mirrorCmd := harness.Command(t.Context(), 5*time.Minute, bin, "mirror")
	mirrorCmd.Env = append(r.env, "RGW_BUCKETS=*")
	if out, err := mirrorCmd.CombinedOutput(); err != nil {
		t.Fatalf("mirror: %v\n%s", err, out)
	}

	code, out := r.make(t, "drill-rgw", "DRILL_BUCKET="+validateBucket)
	if code != 0 {
		t.Fatalf("make drill-rgw: exit code %d, want 0", code)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^photos +offsite-drill-\d{8}-\d{6} +2 +20 B +2 +0 `),
		regexp.MustCompile(`drill: photos's mirror as it is restored into offsite-drill-\d{8}-\d{6} and compared, object by object`),
		regexp.MustCompile(`drill: the whole mirror holds 2 buckets, 3 objects, 28 B: restoring all of it at this pace takes about \d+s`),
		regexp.MustCompile(`scratch bucket removed: true\nok: true`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %q", want)
		}
	}
	assertNoScratch(t, &r.rgw.Server)
	r.checkNoSecrets(t, map[string]string{"drill-rgw output": out}, "")

	if code, out := r.make(t, "drill-rgw", "DRILL_BUCKET="+validateBucket, "DRILL_SAMPLE=1"); code != 0 || !regexp.MustCompile(`(?m)^photos +offsite-drill-\S+ +1 `).MatchString(out) {
		t.Fatalf("make drill-rgw DRILL_SAMPLE=1: exit code %d, want 0 and 1 object restored", code)
	}
	// A time with a space reaches the drill whole, and is refused whole.
	code, out = r.make(t, "drill-rgw", "DRILL_BUCKET="+validateBucket, "DRILL_AT=2026-12-01 04:00")
	if code != exitcode.Config || !strings.Contains(out, `--at (`+mirror.EnvDrillAt+`): "2026-12-01 04:00" is not an RFC 3339 time`) {
		t.Fatalf("make drill-rgw with a time that is none: exit code %d, want 2 naming it", code)
	}
	code, out = r.make(t, "drill-rgw", "DRILL_BUCKET=nothere")
	if code != exitcode.Config || !strings.Contains(out, "the drill of nothere failed with exit code 2") {
		t.Fatalf("drill of a bucket not mirrored: exit code %d, want 2 named", code)
	}
	code, out = r.make(t, "drill-rgw")
	if code == 0 || !strings.Contains(out, "DRILL_BUCKET is not set") {
		t.Fatalf("drill without a bucket: exit code %d", code)
	}
	assertNoScratch(t, &r.rgw.Server)
}

// TestDrillRGWIsLoud drills a bucket of the real RGW from env vars, as
// the weekly CronJob does: a passed drill, then one whose restored object
// reads back changed (exit 4), then one stopped by SIGTERM mid-restore
// (exit 1). Each shows four ways that agree (exit code, the record status
// reads, the ping, the metrics), the last passed drill is kept, and no
// scratch bucket stays behind.
func TestDrillRGWIsLoud(t *testing.T) {
	rgw := harness.StartRGW(t)
	minio := harness.StartMinio(t, mirrorTestBucket)
	const bucket = "paperless"
	rgw.MakeBucket(t, bucket)
	objects := map[string][]byte{}
	for i := range 40 {
		objects[fmt.Sprintf("media/doc %02d.pdf", i)] = []byte(fmt.Sprintf("document %d\n", i))
	}
	rgw.PutMany(t, bucket, objects)
	for k, v := range map[string]string{
		"RGW_ENDPOINT": rgw.Endpoint, "RGW_ACCESS_KEY_ID": rgw.AccessKey, "RGW_SECRET_ACCESS_KEY": rgw.SecretKey,
		"MINIO_ENDPOINT": minio.Endpoint, "MINIO_ACCESS_KEY_ID": minio.AccessKey, "MINIO_SECRET_ACCESS_KEY": minio.SecretKey,
		mirror.EnvDestBucket: mirrorTestBucket, mirror.EnvBuckets: mirror.AllBuckets, mirror.EnvRetriesSleep: "100ms",
		mirror.EnvDrillBucket: bucket,
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	if code, stdout, stderr := runOffsite(ctx, "mirror"); code != exitcode.OK {
		t.Fatalf("mirror: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// record is the drill's record in the mirror's bucket, as status reads it.
	record := func(t *testing.T) *runrecord.Record {
		t.Helper()
		rec, err := runrecord.Get(ctx, minio.Client(), mirrorTestBucket, "_reports", runrecord.DrillRGW)
		if err != nil || rec == nil {
			t.Fatalf("the drill's record: %v", err)
		}
		return rec
	}

	l := newLoud(t)
	code, stdout, stderr := runOffsite(ctx, append([]string{"drill", "rgw", "--output", "json"}, l.args()...)...)
	var rep mirror.DrillReport
	if err := json.Unmarshal([]byte(stdout), &rep); code != exitcode.OK || err != nil || !rep.OK || rep.Restored != 40 || rep.Compared != 40 || !rep.ScratchRemoved {
		t.Fatalf("drill: exit %d, report %+v (%v)\n%s", code, rep, err, stderr)
	}
	l.check(t, exitcode.OK)
	passed := metric(t, l.metrics, monitor.MetricDrillLastSuccess)
	if got := metric(t, l.metrics, monitor.MetricDrillSuccess); got != 1 || passed == 0 {
		t.Fatalf("drill metrics: success %v, last success %v; want 1 and a time", got, passed)
	}
	if rec := record(t); rec.Status != runrecord.StatusOK {
		t.Fatalf("record after a passed drill: %+v", rec)
	}

	// failed checks a failed drill's four signals and its record.
	failed := func(t *testing.T, l *loud, code int) {
		t.Helper()
		l.check(t, code)
		if got := metric(t, l.metrics, monitor.MetricDrillSuccess); got != 0 {
			t.Errorf("%s = %v, want 0", monitor.MetricDrillSuccess, got)
		}
		if got := metric(t, l.metrics, monitor.MetricDrillLastSuccess); got != passed {
			t.Errorf("%s = %v after a failed drill, want the last passed one, %v", monitor.MetricDrillLastSuccess, got, passed)
		}
		if rec := record(t); rec.Status != runrecord.StatusFailed || rec.ExitCode != code {
			t.Errorf("record after a failed drill: %+v, want failed with %d", rec, code)
		}
		assertNoScratch(t, &rgw.Server)
	}

	t.Run("a restored object reads back changed", func(t *testing.T) {
		p := harness.StartHTTPProxy(t, rgw.Endpoint)
		p.SetRewrite(func(r *http.Request, body []byte) []byte {
			if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/"+mirror.ScratchPrefix) && strings.HasSuffix(r.URL.Path, "/doc 07.pdf") && len(body) > 0 {
				body[0] ^= 0xff
			}
			return body
		})
		l := &loud{pings: newRecorder(t), metrics: l.metrics}
		code, stdout, stderr := runOffsite(ctx, append([]string{"drill", "rgw", "--rgw-endpoint", p.Endpoint}, l.args()...)...)
		if code != exitcode.Verify || !strings.Contains(stdout, "differing: media/doc 07.pdf") || !strings.Contains(stdout, "scratch bucket removed: true") {
			t.Fatalf("drill with a planted difference: exit %d, want %d naming the object\n%s\n%s", code, exitcode.Verify, stdout, stderr)
		}
		failed(t, l, exitcode.Verify)
	})
	t.Run("SIGTERM mid-restore", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		endpoint := cancelProxy(t, rgw.Endpoint, cancel, func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/"+mirror.ScratchPrefix) && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0
		})
		l := &loud{pings: newRecorder(t), metrics: l.metrics}
		code, stdout, stderr := runOffsite(ctx, append([]string{"drill", "rgw", "--rgw-endpoint", endpoint}, l.args()...)...)
		if code != exitcode.Failed || !strings.Contains(stdout, "scratch bucket removed: true") {
			t.Fatalf("drill stopped by SIGTERM: exit %d, want %d and the scratch bucket removed\n%s\n%s", code, exitcode.Failed, stdout, stderr)
		}
		failed(t, l, exitcode.Failed)
	})
	if got := rgw.Objects(t, bucket, ""); len(got) != len(objects) {
		t.Fatalf("the drilled bucket holds %d objects after the drills, want its %d", len(got), len(objects))
	}
}

// assertNoScratch fails t when s holds a drill's scratch bucket.
func assertNoScratch(t *testing.T, s *harness.Server) {
	t.Helper()
	out, err := s.Client().ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range out.Buckets {
		if strings.HasPrefix(*b.Name, mirror.ScratchPrefix) {
			t.Errorf("scratch bucket %s left behind", *b.Name)
		}
	}
}
