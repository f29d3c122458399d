package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/internal/runrecord"
	"github.com/offsite-backup/offsite/internal/status"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// statusJSON runs status with --log-format json and decodes its document.
func statusJSON(t *testing.T, args ...string) (int, status.Report, string) {
	t.Helper()
	var out, errs syncBuffer
	code := run(context.Background(), append([]string{"offsite", "--log-format=json", "status"}, args...), &out, &errs, nil)
	var rep status.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("status JSON does not parse: %v\n%s\n%s", err, out.String(), errs.String())
	}
	return code, rep, errs.String()
}

// putRunReport writes a mirror run's report as the mirror does: under
// _reports/<date>/<start>-<mode>.json, the run having ended at end.
func putRunReport(t *testing.T, m *harness.Minio, end time.Time, buckets ...mirror.BucketReport) {
	t.Helper()
	r := mirror.Report{Start: end.Add(-time.Minute).UTC(), End: end.UTC(), Mode: mirror.ModeCopy, Status: mirror.StatusOK, Buckets: buckets}
	for _, b := range buckets {
		if b.Status != mirror.StatusOK {
			r.Status = mirror.StatusFailed
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	m.Put(t, mirror.DefaultDestBucket, fmt.Sprintf("_reports/%s/%s-copy.json", r.Start.Format("2006-01-02"), r.Start.Format("2006-01-02T15:04:05.000Z")), data)
}

// putSnapshot writes a complete snapshot of host taken at, with its sidecar.
func putSnapshot(t *testing.T, m *harness.Minio, host string, at time.Time) {
	t.Helper()
	name := offloadtest.Name(host, at.Unix())
	m.Put(t, offload.DefaultBucket, host+"/"+name, []byte("snapshot"))
	m.Put(t, offload.DefaultBucket, host+"/"+name+offload.SidecarSuffix, []byte("0  "+name+"\n"))
}

// The real path: setup minio, a mirror, an offload, both verifies, then
// status: exit 0 with every part shown, in a table and in JSON; and the
// records the verifies left do not disturb the next verify etcd.
func TestStatusAfterRealRuns(t *testing.T) {
	src := harness.StartMinio(t, "photos")
	src.Put(t, "photos", "2026/beach.jpg", []byte("a photo"))
	dst := harness.StartMinio(t)
	snapDir := t.TempDir()
	offloadtest.WriteRaw(t, snapDir, offloadtest.Name("node1", time.Now().Unix()), offloadtest.Snapshot(2, 1))
	for k, v := range map[string]string{
		"RGW_ENDPOINT": src.Endpoint, "RGW_ACCESS_KEY_ID": src.AccessKey, "RGW_SECRET_ACCESS_KEY": src.SecretKey, "RGW_BUCKETS": "photos",
		"MINIO_ENDPOINT": dst.Endpoint, "MINIO_ACCESS_KEY_ID": dst.AccessKey, "MINIO_SECRET_ACCESS_KEY": dst.SecretKey,
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	etcd := []string{"--minio-bucket", offload.DefaultBucket, "--host", "node1"}
	for _, args := range [][]string{
		{"setup", "minio"},
		{"mirror"},
		append([]string{"offload", "once", "--snapshot-dir", snapDir, "--state-dir", t.TempDir(), "--quiet-period", "100ms"}, etcd...),
		{"verify", "rgw"},
		append([]string{"verify", "etcd", "--all-hosts"}, etcd...),
	} {
		if code, stdout, stderr := runOffsite(ctx, args...); code != exitcode.OK {
			t.Fatalf("%s: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	l := newLoud(t)
	start := time.Now()
	code, stdout, stderr := runOffsite(ctx, append([]string{"status"}, l.args()...)...)
	t.Logf("status took %v", time.Since(start))
	if code != exitcode.OK || !strings.Contains(stdout, "status: ok (maximum age 25h)") {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	l.check(t, exitcode.OK)
	for _, want := range []string{"photos", "node1", "etcd-snapshot-node1-", "offsite-noncurrent-expiry", "verify-rgw   ok", "verify-etcd  ok", "drill-rgw    never"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status table lacks %q:\n%s", want, stdout)
		}
	}
	code, rep, _ := statusJSON(t)
	if code != exitcode.OK || !rep.OK || len(rep.Mirror.Runs) != 1 || rep.Mirror.Runs[0].Buckets[0].Name != "photos" ||
		len(rep.Etcd.Hosts) != 1 || len(rep.Destinations) != 2 || len(rep.Records) != 4 || rep.Records[0].Last == nil {
		t.Errorf("status JSON: exit %d, %+v", code, rep)
	}
	if code, stdout, stderr := runOffsite(ctx, append([]string{"verify", "etcd", "--all-hosts"}, etcd...)...); code != exitcode.OK {
		t.Errorf("verify etcd after its own record: exit %d\n%s%s", code, stdout, stderr)
	}
}

// Stale, failed and old: each is exit 4, named, and loud.
func TestStatusFindsStaleAndFailed(t *testing.T) {
	m := harness.StartMinio(t)
	dest := destArgs(m, m.AccessKey, m.SecretKey)
	if code, out, errs := runOffsite(context.Background(), append([]string{"setup", "minio"}, dest...)...); code != exitcode.OK {
		t.Fatalf("setup: exit %d\n%s%s", code, out, errs)
	}
	now := time.Now()
	ok := mirror.BucketReport{Name: "photos", Mode: mirror.ModeCopy, Status: mirror.StatusOK, SourceObjects: 3}
	putRunReport(t, m, now.Add(-30*time.Hour), ok)
	putSnapshot(t, m, "node1", now.Add(-time.Hour))
	for _, tt := range []struct {
		name    string
		before  func()
		problem string
	}{
		{"a stale report", func() {}, "mirror run: the last one ended 30h"},
		{"a failed report", func() {
			putRunReport(t, m, now.Add(-time.Hour), mirror.BucketReport{Name: "photos", Mode: mirror.ModeCopy, Status: mirror.StatusFailed})
		}, "bucket photos: failed in the last mirror run"},
		{"a host with an old snapshot", func() {
			putRunReport(t, m, now.Add(-time.Minute), ok)
			putSnapshot(t, m, "node2", now.Add(-40*time.Hour))
		}, "host node2: the newest snapshot is 40h00m old"},
		{"a failed verify", func() {
			putSnapshot(t, m, "node2", now.Add(-time.Minute))
			c, err := m.Remote("t").S3Client(10 * time.Second)
			if err == nil {
				err = runrecord.Put(context.Background(), c, offload.DefaultBucket, "", runrecord.New(runrecord.VerifyEtcd, now, "all hosts", fmt.Errorf("%w: 1 problems", exitcode.ErrVerifyFailed)))
			}
			if err != nil {
				t.Fatal(err)
			}
		}, "verify-etcd: the last one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.before()
			l := newLoud(t)
			code, stdout, stderr := runOffsite(context.Background(), append(append([]string{"status"}, dest...), l.args()...)...)
			if code != exitcode.Verify || strings.Count(stdout, "problem: ") != 1 || !strings.Contains(stdout, "problem: "+tt.problem) {
				t.Fatalf("exit %d, want %d with the one problem %q\n%s%s", code, exitcode.Verify, tt.problem, stdout, stderr)
			}
			l.check(t, exitcode.Verify)
			code, rep, _ := statusJSON(t, dest...)
			if code != exitcode.Verify || rep.OK || len(rep.Problems) != 1 {
				t.Errorf("JSON: exit %d, %+v", code, rep)
			}
		})
	}
}

// Refused keys are exit 2 naming them, after what could be read is shown.
func TestStatusNamesRefusedKeys(t *testing.T) {
	m := harness.StartMinio(t, mirror.DefaultDestBucket, offload.DefaultBucket)
	l := newLoud(t)
	code, stdout, stderr := runOffsite(context.Background(), append(append([]string{"status"},
		destArgs(m, m.AccessKey, m.SecretKey, "etcd-offload", "wrong-secret-Zq8fLx")...), l.args()...)...)
	if code != exitcode.Config || !strings.Contains(stderr, "MINIO_ETCD_ACCESS_KEY_ID") || !strings.Contains(stdout, "homelab-backup-etcd  ?") {
		t.Fatalf("exit %d, want %d naming MINIO_ETCD_ACCESS_KEY_ID\n%s%s", code, exitcode.Config, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "wrong-secret-Zq8fLx") {
		t.Fatal("a secret reached the output")
	}
	l.check(t, exitcode.Config)
}

// MinIO down: verify minio and status fail (exit 1) after a few tries, in
// seconds, and say so four ways.
func TestMinioDownIsLoud(t *testing.T) {
	down := []string{"--minio-endpoint", "http://127.0.0.1:1", "--minio-access-key-id", "k", "--minio-secret-access-key", "s"}
	for _, command := range [][]string{{"verify", "minio"}, {"status"}} {
		t.Run(strings.Join(command, " "), func(t *testing.T) {
			l := newLoud(t)
			start := time.Now()
			code, stdout, stderr := runOffsite(context.Background(), append(append(command, down...), l.args()...)...)
			if code != exitcode.Failed || !strings.Contains(stdout, "not ") || time.Since(start) > time.Minute {
				t.Fatalf("exit %d after %v, want %d within a minute\n%s%s", code, time.Since(start), exitcode.Failed, stdout, stderr)
			}
			l.check(t, exitcode.Failed)
		})
	}
}
