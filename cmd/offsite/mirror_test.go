package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

const mirrorTestBucket = "mirror-test"

// mirrorArgs are the flags of both ends: src as RGW, dst as MinIO.
func mirrorArgs(src, dst *harness.Minio) []string {
	return []string{
		"--rgw-endpoint", src.Endpoint, "--rgw-access-key-id", src.AccessKey, "--rgw-secret-access-key", src.SecretKey,
		"--minio-endpoint", dst.Endpoint, "--minio-access-key-id", dst.AccessKey, "--minio-secret-access-key", dst.SecretKey,
		"--minio-bucket", mirrorTestBucket, "--rgw-buckets", mirror.AllBuckets,
	}
}

func TestMirrorCommandConfigErrors(t *testing.T) {
	ends := []string{"--rgw-endpoint", "http://127.0.0.1:1", "--rgw-access-key-id", "k", "--rgw-secret-access-key", "s",
		"--minio-endpoint", "http://127.0.0.1:2", "--minio-access-key-id", "k", "--minio-secret-access-key", "s", "--rgw-buckets", "*"}
	for _, tt := range []struct {
		name string
		args []string
		want string // the env var the message names
	}{
		{"mode", []string{"--mode", "mirror"}, mirror.EnvMode},
		{"max delete", []string{"--max-delete", "lots"}, mirror.EnvMaxDelete},
		{"transfers", []string{"--transfers", "0"}, mirror.EnvTransfers},
		{"bucket name", []string{"--minio-bucket", "Not_A_Bucket"}, mirror.EnvDestBucket},
		{"allow-list", []string{"--rgw-buckets", "ok-bucket,UPPER"}, mirror.EnvBuckets},
		{"no endpoint", []string{"--rgw-endpoint", ""}, "RGW_ENDPOINT"},
		{"no buckets", []string{"--rgw-buckets", ""}, "(RGW_BUCKETS=a,b) or take every bucket the credentials list (RGW_BUCKETS=*)"},
		{"every bucket and names", []string{"--rgw-buckets", "*,photos"}, mirror.EnvBuckets},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runOffsite(context.Background(), append(append([]string{"mirror"}, ends...), tt.args...)...)
			if code != exitcode.Config || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, want %d naming %s; stderr:\n%s", code, exitcode.Config, tt.want, stderr)
			}
		})
	}
	code, _, stderr := runOffsite(context.Background(), append(append([]string{"verify", "rgw"}, ends...), "--max-age", "0s")...)
	if code != exitcode.Config || !strings.Contains(stderr, mirror.EnvMaxReportAge) {
		t.Fatalf("verify rgw --max-age 0s: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = runOffsite(context.Background(), append(append([]string{"verify", "rgw"}, ends...), "--rgw-buckets", "")...)
	if code != exitcode.Config || !strings.Contains(stderr, "RGW_BUCKETS=*") {
		t.Fatalf("verify rgw without RGW_BUCKETS: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestMirrorCommandExitCodes(t *testing.T) {
	src := harness.StartMinio(t, "alpha", "beta")
	dst := harness.StartMinio(t, mirrorTestBucket)
	for i := range 10 {
		src.Put(t, "alpha", fmt.Sprintf("f%d", i), []byte("a"))
		src.Put(t, "beta", fmt.Sprintf("f%d", i), []byte("b"))
	}
	args := func(extra ...string) []string {
		return append(append([]string{"mirror", "--retries-sleep", "100ms", "--retries", "2"}, mirrorArgs(src, dst)...), extra...)
	}
	ctx := context.Background()

	code, stdout, stderr := runOffsite(ctx, args()...)
	if code != exitcode.OK || !strings.Contains(stdout, "ok: copy mode, 2 buckets") {
		t.Fatalf("copy: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	t.Run("verify rgw", func(t *testing.T) {
		vargs := append([]string{"verify", "rgw"}, mirrorArgs(src, dst)...)
		code, stdout, stderr := runOffsite(ctx, vargs...)
		if code != exitcode.OK || !strings.Contains(stdout, "ok: true") {
			t.Fatalf("clean: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		dst.Delete(t, mirrorTestBucket, "alpha/f3")
		code, stdout, _ = runOffsite(ctx, append(vargs, "--output", "json")...)
		var rep mirror.VerifyReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("json output: %v\n%s", err, stdout)
		}
		if code != exitcode.Verify || rep.OK || rep.Buckets[0].Missing != 1 {
			t.Fatalf("missing object: exit %d, %+v", code, rep)
		}
		runOffsite(ctx, args()...) // repair
	})

	t.Run("deletion cap", func(t *testing.T) {
		for i := range 3 {
			src.Delete(t, "alpha", fmt.Sprintf("f%d", i))
		}
		code, stdout, _ := runOffsite(ctx, args("--mode", "sync")...)
		if code != exitcode.Safety || !strings.Contains(stdout, "3 deletions refused") {
			t.Fatalf("exit %d, want %d\n%s", code, exitcode.Safety, stdout)
		}
		code, _, stderr := runOffsite(ctx, args("--mode", "sync", "--max-delete", "30%")...)
		if code != exitcode.OK {
			t.Fatalf("with a 30%% cap: exit %d\n%s", code, stderr)
		}
	})

	t.Run("missing allow-listed bucket", func(t *testing.T) {
		code, _, stderr := runOffsite(ctx, args("--rgw-buckets", "alpha,gone")...)
		if code != exitcode.Failed || !strings.Contains(stderr, "gone") {
			t.Fatalf("exit %d, want %d\n%s", code, exitcode.Failed, stderr)
		}
	})

	t.Run("missing destination bucket", func(t *testing.T) {
		code, _, stderr := runOffsite(ctx, args("--minio-bucket", "no-such-bucket")...)
		if code != exitcode.Config || !strings.Contains(stderr, mirror.EnvDestBucket) {
			t.Fatalf("exit %d, want %d\n%s", code, exitcode.Config, stderr)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		const wrong = "wrong-secret-Hs83kd"
		code, stdout, stderr := runOffsite(ctx, args("--rgw-secret-access-key", wrong)...)
		if code != exitcode.Config || !strings.Contains(stderr, "RGW_ACCESS_KEY_ID") {
			t.Fatalf("exit %d, want %d\n%s", code, exitcode.Config, stderr)
		}
		if strings.Contains(stdout+stderr, wrong) || strings.Contains(stdout+stderr, src.SecretKey) {
			t.Fatal("a secret reached the output")
		}
	})
}
