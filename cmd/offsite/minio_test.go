package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
)

// The two users of the plan's MinIO, each allowed its own bucket only.
const (
	rgwUser, rgwUserSecret   = "rgw-mirror", "rgw-user-secret-Hq3v7x"
	etcdUser, etcdUserSecret = "etcd-offload", "etcd-user-secret-Mk8p2w"
)

// destArgs are the flags of both destination buckets on m: the mirror's
// reached with MINIO_*, the etcd bucket with MINIO_ETCD_* when etcdKeys
// are given.
func destArgs(m *harness.Minio, key, secret string, etcdKeys ...string) []string {
	args := []string{"--minio-endpoint", m.Endpoint, "--minio-access-key-id", key, "--minio-secret-access-key", secret}
	if len(etcdKeys) == 2 {
		args = append(args, "--minio-etcd-access-key-id", etcdKeys[0], "--minio-etcd-secret-access-key", etcdKeys[1])
	}
	return args
}

// bucketGauge is the value of name for a destination bucket in a metrics
// textfile, as the exposition format writes it (labels sorted), or "".
func bucketGauge(t *testing.T, path, name, bucket string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prefix := name + `{destination_bucket="` + bucket + `",`
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

func setVersioning(t *testing.T, m *harness.Minio, bucket string, status types.BucketVersioningStatus) {
	t.Helper()
	_, err := m.Client().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: &bucket, VersioningConfiguration: &types.VersioningConfiguration{Status: status}})
	if err != nil {
		t.Fatal(err)
	}
}

// setup minio on a fresh MinIO, twice, then verify minio: exit 0 each,
// the second setup says it changed nothing, and verify's pings and metrics
// say ok.
func TestSetupMinioThenVerify(t *testing.T) {
	m := harness.StartMinio(t)
	ctx := context.Background()
	dest := destArgs(m, m.AccessKey, m.SecretKey)
	code, stdout, stderr := runOffsite(ctx, append([]string{"setup", "minio"}, dest...)...)
	if code != exitcode.OK || !strings.Contains(stdout, "setup minio: made 6 changes in homelab-backup-rgw, homelab-backup-etcd") {
		t.Fatalf("setup: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runOffsite(ctx, append([]string{"setup", "minio"}, dest...)...)
	if code != exitcode.OK || !strings.Contains(stdout, "setup minio: nothing to change in 2 buckets") || strings.Count(stdout, " unchanged ") != 6 {
		t.Fatalf("second setup: exit %d\n%s%s", code, stdout, stderr)
	}
	l := newLoud(t)
	code, stdout, stderr = runOffsite(ctx, append(append([]string{"verify", "minio"}, dest...), l.args()...)...)
	if code != exitcode.OK {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
	l.check(t, exitcode.OK)
	for _, name := range []string{monitor.MetricVersioning, monitor.MetricLifecycle} {
		for _, b := range []string{mirror.DefaultDestBucket, offload.DefaultBucket} {
			if got := bucketGauge(t, l.metrics, name, b); got != "1" {
				t.Errorf("%s of %s = %q, want 1", name, b, got)
			}
		}
	}
}

// verify minio finds versioning suspended and a rule missing: exit 4, and
// the table, the JSON, the /fail ping and the metrics all say which.
func TestVerifyMinioFailuresAreLoud(t *testing.T) {
	m := harness.StartMinio(t)
	ctx := context.Background()
	dest := destArgs(m, m.AccessKey, m.SecretKey)
	if code, out, errs := runOffsite(ctx, append([]string{"setup", "minio"}, dest...)...); code != exitcode.OK {
		t.Fatalf("setup: exit %d\n%s%s", code, out, errs)
	}
	setVersioning(t, m, mirror.DefaultDestBucket, types.BucketVersioningStatusSuspended)
	etcd := offload.DefaultBucket
	if _, err := m.Client().DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: &etcd}); err != nil {
		t.Fatal(err)
	}

	l := newLoud(t)
	code, stdout, stderr := runOffsite(ctx, append(append([]string{"verify", "minio"}, dest...), l.args()...)...)
	if code != exitcode.Verify {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitcode.Verify, stdout, stderr)
	}
	l.check(t, exitcode.Verify)
	for _, want := range []string{"homelab-backup-rgw: versioning is Suspended, not Enabled", "homelab-backup-etcd: no lifecycle rule expires noncurrent versions within 14 days"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	for _, tt := range []struct{ name, bucket, want string }{
		{monitor.MetricVersioning, mirror.DefaultDestBucket, "0"}, {monitor.MetricVersioning, etcd, "1"},
		{monitor.MetricLifecycle, mirror.DefaultDestBucket, "1"}, {monitor.MetricLifecycle, etcd, "0"},
	} {
		if got := bucketGauge(t, l.metrics, tt.name, tt.bucket); got != tt.want {
			t.Errorf("%s of %s = %q, want %s", tt.name, tt.bucket, got, tt.want)
		}
	}

	code, stdout, _ = runOffsite(ctx, append([]string{"verify", "minio", "--output", "json", "--bucket", etcd}, dest...)...)
	var rep bucketsetup.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitcode.Verify {
		t.Fatalf("--output json: exit %d, %v:\n%s", code, err, stdout)
	}
	if len(rep.Buckets) != 1 || rep.Buckets[0].Bucket != etcd || rep.Buckets[0].LifecycleOK() || len(rep.Buckets[0].Problems) != 1 {
		t.Errorf("JSON report: %+v", rep)
	}

	// A bucket that is not there at all.
	l = newLoud(t)
	code, stdout, _ = runOffsite(ctx, append(append([]string{"verify", "minio", "--minio-etcd-bucket", "no-such-bucket"}, dest...), l.args()...)...)
	if code != exitcode.Verify || !strings.Contains(stdout, "no-such-bucket: the bucket does not exist") {
		t.Fatalf("missing bucket: exit %d\n%s", code, stdout)
	}
	l.check(t, exitcode.Verify)
}

// The etcd bucket's keys are its own: refused, they are named, the run is
// loud, and the other bucket is still checked.
func TestVerifyMinioNamesTheRefusedKeys(t *testing.T) {
	m := harness.StartMinio(t, mirror.DefaultDestBucket, offload.DefaultBucket)
	l := newLoud(t)
	code, stdout, stderr := runOffsite(context.Background(), append(append([]string{"verify", "minio"},
		destArgs(m, m.AccessKey, m.SecretKey, "etcd-offload", "wrong-secret-Qv7pLk2")...), l.args()...)...)
	if code != exitcode.Config || !strings.Contains(stderr, "MINIO_ETCD_ACCESS_KEY_ID") || !strings.Contains(stdout, "homelab-backup-rgw   yes") {
		t.Fatalf("exit %d, want %d naming MINIO_ETCD_ACCESS_KEY_ID\n%s%s", code, exitcode.Config, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "wrong-secret-Qv7pLk2") || strings.Contains(stdout+stderr, m.SecretKey) {
		t.Fatal("a secret reached the output")
	}
	l.check(t, exitcode.Config)
}

// The plan's two users, each allowed its own bucket only: setup minio and
// verify minio reach each bucket with its own keys. Given only the
// mirror's keys, the etcd bucket is refused, naming MINIO_ACCESS_KEY_ID.
func TestMinioBucketsWithTheirOwnKeys(t *testing.T) {
	m := harness.StartMinio(t)
	m.AddUser(t, rgwUser, rgwUserSecret, mirror.DefaultDestBucket)
	m.AddUser(t, etcdUser, etcdUserSecret, offload.DefaultBucket)
	ctx := context.Background()
	own := destArgs(m, rgwUser, rgwUserSecret, etcdUser, etcdUserSecret)
	for _, args := range [][]string{{"setup", "minio"}, {"verify", "minio"}} {
		code, stdout, stderr := runOffsite(ctx, append(args, own...)...)
		if code != exitcode.OK {
			t.Fatalf("%s with a user per bucket: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	if !m.BucketExists(t, mirror.DefaultDestBucket) || !m.BucketExists(t, offload.DefaultBucket) {
		t.Fatal("setup did not create both buckets")
	}
	// status reads both buckets with their own keys: nothing has run yet
	// (exit 4), but nothing is refused.
	code, rep, logs := statusJSON(t, own...)
	if code != exitcode.Verify || len(rep.Errors) != 0 || len(rep.Problems) != 2 || !rep.Destinations[0].OK() || !rep.Destinations[1].OK() {
		t.Fatalf("status with a user per bucket: exit %d, %+v\n%s", code, rep, logs)
	}
	code, stdout, stderr := runOffsite(ctx, append([]string{"verify", "minio"}, destArgs(m, rgwUser, rgwUserSecret)...)...)
	if code != exitcode.Config || !strings.Contains(stderr, "MINIO_ACCESS_KEY_ID") || !strings.Contains(stdout, "homelab-backup-etcd  ?") {
		t.Fatalf("the mirror's keys on the etcd bucket: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, rgwUserSecret) {
		t.Fatal("a secret reached the output")
	}
}

// Wrong MINIO_* keys are exit 2 naming MINIO_ACCESS_KEY_ID in every command
// that reads both buckets, and no secret is printed.
func TestWrongMinioKeysInTheBucketCommands(t *testing.T) {
	m := harness.StartMinio(t, mirror.DefaultDestBucket, offload.DefaultBucket)
	const wrong = "wrong-secret-Qv7pLk2"
	for _, command := range [][]string{{"setup", "minio"}, {"verify", "minio"}, {"status"}} {
		t.Run(strings.Join(command, " "), func(t *testing.T) {
			code, stdout, stderr := runOffsite(context.Background(), append(command, destArgs(m, m.AccessKey, wrong)...)...)
			if code != exitcode.Config || !strings.Contains(stderr, "MINIO_ACCESS_KEY_ID") {
				t.Fatalf("exit %d, want %d naming MINIO_ACCESS_KEY_ID\n%s%s", code, exitcode.Config, stdout, stderr)
			}
			if out := stdout + stderr; strings.Contains(out, wrong) || strings.Contains(out, m.SecretKey) {
				t.Fatal("a secret reached the output")
			}
		})
	}
}
