package rcloneconf

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func TestSettingsOr(t *testing.T) {
	base, err := validSettings().Remote("offsite-minio", ProviderMinio)
	if err != nil {
		t.Fatal(err)
	}
	etcd := func(edit func(*Settings)) Settings {
		s := Settings{End: MinIOEtcd}
		edit(&s)
		return s
	}
	for _, tt := range []struct {
		name               string
		s                  Settings
		wantEnd            End
		wantEndpoint, want string // want: the key id the remote uses
	}{
		{"nothing set: all of MINIO_*", etcd(func(*Settings) {}), MinIO, base.Endpoint, "id"},
		{"endpoint only", etcd(func(s *Settings) { s.Endpoint = "http://10.0.0.2:9000" }), MinIO, "http://10.0.0.2:9000", "id"},
		{"own keys", etcd(func(s *Settings) { s.AccessKeyID, s.SecretAccessKey = "etcd", "etcd-secret" }), MinIOEtcd, base.Endpoint, "etcd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, end, err := tt.s.Or(base, MinIO, "offsite-etcd")
			if err != nil {
				t.Fatal(err)
			}
			if end != tt.wantEnd || r.Endpoint != tt.wantEndpoint || r.AccessKeyID != tt.want || r.Name != "offsite-etcd" || r.Region != base.Region {
				t.Fatalf("got %v (end %s), want end %s, endpoint %s, key %s", r, end, tt.wantEnd, tt.wantEndpoint, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name    string
		s       Settings
		wantVar string
	}{
		{"a key id without its secret", etcd(func(s *Settings) { s.AccessKeyID = "etcd" }), "MINIO_ETCD_SECRET_ACCESS_KEY"},
		{"a secret without its key id", etcd(func(s *Settings) { s.SecretAccessKey = testSecret }), "MINIO_ETCD_ACCESS_KEY_ID"},
		{"endpoint not a URL", etcd(func(s *Settings) { s.Endpoint = "minio:9000" }), "MINIO_ETCD_ENDPOINT"},
		{"secret and its file", etcd(func(s *Settings) {
			s.AccessKeyID, s.SecretAccessKey, s.SecretAccessKeyFile = "etcd", testSecret, "/dev/null"
		}), "MINIO_ETCD_SECRET_ACCESS_KEY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.s.Or(base, MinIO, "offsite-etcd")
			var cfg *exitcode.ConfigError
			if !errors.As(err, &cfg) || cfg.Var != tt.wantVar || strings.Contains(err.Error(), testSecret) {
				t.Fatalf("err = %v, want a configuration error naming %s, without the secret", err, tt.wantVar)
			}
		})
	}
}

// Call tries a request again while the server answers 5xx, never after a
// refusal, and names the end's key id when the keys are refused.
func TestCallRetriesOnlyWhatMayPass(t *testing.T) {
	for _, tt := range []struct {
		name      string
		statuses  []int
		wantCalls int32
		wantVar   string // "" for success
	}{
		{"503 then ok", []int{503, 200}, 2, ""},
		{"503 three times", []int{503, 503, 503, 200}, 3, "-"},
		{"403 at once", []int{403, 200}, 1, "MINIO_ETCD_ACCESS_KEY_ID"},
		{"404 at once", []int{404, 200}, 1, "-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				w.WriteHeader(tt.statuses[n-1])
			}))
			defer srv.Close()
			cl, err := Remote{Name: "t", Endpoint: srv.URL, AccessKeyID: "id", SecretAccessKey: testSecret}.S3Client(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			bucket := "b"
			start := time.Now()
			err = Call(context.Background(), MinIOEtcd, func(ctx context.Context) error {
				_, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
				return err
			})
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d requests, want %d (in %v)", got, tt.wantCalls, time.Since(start))
			}
			var cfg *exitcode.ConfigError
			switch tt.wantVar {
			case "":
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			case "-":
				if err == nil || errors.As(err, &cfg) {
					t.Fatalf("err = %v, want a plain failure", err)
				}
			default:
				if !errors.As(err, &cfg) || cfg.Var != tt.wantVar {
					t.Fatalf("err = %v, want a configuration error naming %s", err, tt.wantVar)
				}
			}
		})
	}
}

// A server that never answers costs the request's timeout per try, and the
// caller's deadline ends the tries.
func TestCallEndsWithTheDeadline(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	cl, err := Remote{Name: "t", Endpoint: srv.URL, AccessKeyID: "id", SecretAccessKey: testSecret}.S3Client(200 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	bucket := "b"
	start := time.Now()
	err = Call(ctx, MinIO, func(ctx context.Context) error {
		_, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
		return err
	})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v, want a timeout well within 3 s", err, time.Since(start))
	}
}
