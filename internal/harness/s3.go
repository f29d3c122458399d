package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// Server is a running S3 endpoint with known credentials. Its client talks
// to the server directly with the AWS SDK, not through rclone, so tests
// check what offsite did the way an operator's own tools would.
type Server struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Provider  string
	Region    string
	CAFile    string // the CA of an https:// endpoint, or ""
	TLSName   string // the name its certificate holds, when not the address
}

// Remote is the server as an offsite remote called name.
func (s *Server) Remote(name string) rcloneconf.Remote {
	return rcloneconf.Remote{Name: name, Provider: s.Provider, Endpoint: s.Endpoint, Region: s.Region,
		AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey, CAFile: s.CAFile}
}

// Client returns an S3 client for the server.
func (s *Server) Client() *s3.Client {
	region := s.Region
	if region == "" {
		region = "us-east-1"
	}
	client, err := httpClient(s.CAFile, s.TLSName)
	if err != nil {
		panic(fmt.Sprintf("read the CA of %s: %v", s.Endpoint, err)) // the harness wrote it
	}
	return s3.New(s3.Options{
		HTTPClient:   client,
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		UsePathStyle: true,
		// Only ask for checksums where the operation needs one: RGW and
		// older servers reject the SDK's default CRC trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// MakeBucket creates bucket.
func (s *Server) MakeBucket(t testing.TB, bucket string) {
	t.Helper()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// Put writes an object.
func (s *Server) Put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	_, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// Get reads an object; ok is false when it does not exist.
func (s *Server) Get(t testing.TB, bucket, key string) (data []byte, ok bool) {
	t.Helper()
	out, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	data, err = io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return data, true
}

// Delete removes an object.
func (s *Server) Delete(t testing.TB, bucket, key string) {
	t.Helper()
	if _, err := s.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatalf("delete %s/%s: %v", bucket, key, err)
	}
}

// List returns the size of every object under prefix, by full key, from a
// flat listing (see Objects).
func (s *Server) List(t testing.TB, bucket, prefix string) map[string]int64 {
	t.Helper()
	sizes := map[string]int64{}
	for key, o := range s.Objects(t, bucket, prefix) {
		sizes[prefix+key] = o.Size
	}
	return sizes
}

// EnableVersioning turns versioning on for bucket, as an operator does for
// the mirror's bucket (mc version enable): every overwrite and delete then
// keeps the old version, which a point-in-time restore reads.
func (s *Server) EnableVersioning(t testing.TB, bucket string) {
	t.Helper()
	_, err := s.Client().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: &bucket, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("enable versioning on %s: %v", bucket, err)
	}
}

// BucketExists reports whether bucket exists.
func (s *Server) BucketExists(t testing.TB, bucket string) bool {
	t.Helper()
	_, err := s.Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: &bucket})
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	switch {
	case err == nil:
		return true
	case errors.As(err, &nf) || errors.As(err, &nsb):
		return false
	}
	t.Fatalf("head bucket %s: %v", bucket, err)
	return false
}

// runReport is where a run's report is: _reports/YYYY-MM-DD/<name>.json.
// Beside them under the prefix stand other things of offsite's (the newest
// records of verify and drills, where each rotation is at).
var runReport = regexp.MustCompile(`^_reports/\d{4}-\d{2}-\d{2}/[^/]+\.json$`)

// IsRunReport reports whether key, in a mirror's bucket, is a run's report.
func IsRunReport(key string) bool { return runReport.MatchString(key) }
