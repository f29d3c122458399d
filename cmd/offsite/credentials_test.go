package main

import (
	"context"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// TestWrongMinioKeysExitTwoEverywhere gives every command that reads or
// writes MinIO the same wrong secret against a real MinIO: each exits 2,
// names MINIO_ACCESS_KEY_ID, and quotes neither secret.
func TestWrongMinioKeysExitTwoEverywhere(t *testing.T) {
	src := harness.StartMinio(t, "alpha")
	dst := harness.StartMinio(t, mirrorTestBucket, etcdTestBucket)
	src.Put(t, "alpha", "a.txt", []byte("a"))
	snapDir := t.TempDir()
	offloadtest.WriteRaw(t, snapDir, offloadtest.Name("node1", 1700000000), offloadtest.Snapshot(2, 1))
	const wrong = "wrong-secret-Jd73kq"
	wrongMinio := func(args []string) []string {
		for i, a := range args {
			if a == "--minio-secret-access-key" {
				args[i+1] = wrong
			}
		}
		return args
	}
	etcd := func(args ...string) []string { return wrongMinio(append(args, etcdArgs(dst)...)) }
	rgw := func(args ...string) []string { return wrongMinio(append(args, mirrorArgs(src, dst)...)) }
	restore := func(args ...string) []string {
		a := rgw(args...)
		return a[:len(a)-2] // restore takes --bucket, not RGW_BUCKETS
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"mirror", rgw("mirror", "--retries", "1")},
		{"restore rgw", restore("restore", "rgw", "--bucket", "alpha", "--retries", "1")},
		{"verify rgw", rgw("verify", "rgw")},
		{"verify etcd", etcd("verify", "etcd")},
		{"offload once", etcd("offload", "once", "--snapshot-dir", snapDir, "--state-dir", t.TempDir(), "--quiet-period", "100ms")},
		{"offload fetch", etcd("offload", "fetch", "--to", t.TempDir())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runOffsite(context.Background(), tt.args...)
			if code != exitcode.Config || !strings.Contains(stderr, "MINIO_ACCESS_KEY_ID") {
				t.Fatalf("exit %d, want %d naming MINIO_ACCESS_KEY_ID\nstdout:\n%s\nstderr:\n%s", code, exitcode.Config, stdout, stderr)
			}
			if out := stdout + stderr; strings.Contains(out, wrong) || strings.Contains(out, dst.SecretKey) {
				t.Fatal("a secret reached the output")
			}
		})
	}
}
