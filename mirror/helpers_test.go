package mirror

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func TestMain(m *testing.M) {
	rcloneconf.Init(zap.NewNop())
	os.Exit(m.Run())
}

const destBucket = "homelab-backup-rgw"

// servers starts a source and a destination MinIO; the destination bucket
// exists, as an operator would have made it.
func servers(t *testing.T, srcBuckets ...string) (src, dst *harness.Minio, cfg Config) {
	t.Helper()
	src = harness.StartMinio(t, srcBuckets...)
	dst = harness.StartMinio(t, destBucket)
	cfg = DefaultConfig()
	cfg.Source = src.Remote("offsite-test-src")
	cfg.Source.Provider = rcloneconf.ProviderCeph
	cfg.Dest = dst.Remote("offsite-test-dst")
	cfg.Buckets = []string{AllBuckets}
	cfg.RetriesSleep = 100 * time.Millisecond
	cfg.Retries = 2
	cfg.LowLevelRetries = 1
	cfg.ProgressInterval = 0
	cfg.Version = "test"
	return src, dst, cfg
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// putMultipart uploads data in parts of partSize, so the object's ETag is
// not an MD5 of its content: the case the report's size-only count is for.
func putMultipart(t testing.TB, s *harness.Minio, bucket, key string, data []byte, partSize int) {
	t.Helper()
	ctx := context.Background()
	c := s.Client()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i := 0; i*partSize < len(data); i++ {
		chunk := data[i*partSize : min(len(data), (i+1)*partSize)]
		n := int32(i + 1)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId, PartNumber: &n,
			Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk)))})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: &n})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func headBucket(name string) *s3.HeadBucketInput { return &s3.HeadBucketInput{Bucket: &name} }
