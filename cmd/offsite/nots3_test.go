package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
)

// TestNotS3IsNamed: an endpoint that answers 404 to everything, with a
// page of its own (a reverse proxy in front of nothing), is neither a
// missing bucket nor an empty mirror: mirror, verify and restore exit 2
// naming its variable.
func TestNotS3IsNamed(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body>404 page not found</body></html>"))
	}))
	t.Cleanup(proxy.Close)
	src := harness.StartMinio(t, "alpha")
	dst := harness.StartMinio(t, mirrorTestBucket)
	src.Put(t, "alpha", "a", []byte("a"))
	swap := func(args []string, flag, endpoint string) []string {
		out := append([]string(nil), args...)
		for i, a := range out {
			if a == flag {
				out[i+1] = endpoint
			}
		}
		return out
	}
	for _, tt := range []struct {
		name, flag, want string
		args             []string
	}{
		{"mirror, the MinIO", "--minio-endpoint", "MINIO_ENDPOINT", append([]string{"mirror"}, mirrorArgs(src, dst)...)},
		{"mirror, the RGW", "--rgw-endpoint", "RGW_ENDPOINT", append([]string{"mirror"}, mirrorArgs(src, dst)...)},
		{"verify rgw, the MinIO", "--minio-endpoint", "MINIO_ENDPOINT", append([]string{"verify", "rgw"}, mirrorArgs(src, dst)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runOffsite(context.Background(), swap(tt.args, tt.flag, proxy.URL)...)
			if code != exitcode.Config || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "does not answer like S3") || strings.Contains(stderr, "does not exist") {
				t.Fatalf("exit %d, want %d naming %s as not S3\nstdout:\n%s\nstderr:\n%s", code, exitcode.Config, tt.want, stdout, stderr)
			}
		})
	}
}
