package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/internal/monitor"
)

// loud is what a failed run must show, four ways that agree: the exit
// code, the pings, offsite_run_success and offsite_run_exit_code.
type loud struct {
	pings   *recorder
	metrics string
}

func newLoud(t *testing.T) *loud {
	t.Helper()
	return &loud{pings: newRecorder(t), metrics: filepath.Join(t.TempDir(), "offsite.prom")}
}

func (l *loud) args() []string {
	return []string{"--ping-url", l.pings.URL + "/" + pingSecret, "--metrics-file", l.metrics}
}

// check fails t unless the run pinged its start and then /fail (or
// success, for exit 0), and the metrics carry code.
func (l *loud) check(t *testing.T, code int) {
	t.Helper()
	want := "POST /" + pingSecret + "/start, POST /" + pingSecret
	if code != exitcode.OK {
		want += "/fail"
	}
	if got := strings.Join(l.pings.got(), ", "); got != want {
		t.Errorf("pings = %s, want %s", got, want)
	}
	if got := exitCodeMetric(t, l.metrics); got != float64(code) {
		t.Errorf("%s = %v, want %d", "offsite_run_exit_code", got, code)
	}
	if got, want := successMetric(t, l.metrics), float64(btoi(code == exitcode.OK)); got != want {
		t.Errorf("offsite_run_success = %v, want %v", got, want)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func successMetric(t *testing.T, path string) float64 {
	t.Helper()
	return metric(t, path, monitor.MetricRunSuccess)
}

// unreachableEnds are both ends on a port nothing listens on, and every
// bucket: enough for a configuration to validate.
var unreachableEnds = []string{"--rgw-endpoint", "http://127.0.0.1:1", "--rgw-access-key-id", "k", "--rgw-secret-access-key", "s",
	"--minio-endpoint", "http://127.0.0.1:1", "--minio-access-key-id", "k", "--minio-secret-access-key", "s", "--rgw-buckets", "*"}

func TestNoCommandIsUsageError(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // in the help shown
	}{
		{nil, "mirror"},
		{[]string{"verify"}, "rgw"},
		{[]string{"offload"}, "watch"},
		{[]string{"restore"}, "rgw"},
	} {
		t.Run(strings.Join(append([]string{"offsite"}, tt.args...), " "), func(t *testing.T) {
			code, stdout, stderr := runOffsite(context.Background(), tt.args...)
			if code != exitcode.Config || !strings.Contains(stdout, tt.want) || !strings.Contains(stderr, "no command given") {
				t.Fatalf("exit %d, want %d with the commands listed\nstdout:\n%s\nstderr:\n%s", code, exitcode.Config, stdout, stderr)
			}
			if strings.Contains(stdout, "OPTIONS") || strings.Count(stderr, "\n") != 2 {
				t.Errorf("want the commands alone, then one error line and the usage line\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
		})
	}
	code, _, stderr := runOffsite(context.Background(), "mirrror")
	if code != exitcode.Config || !strings.Contains(stderr, "mirrror") {
		t.Fatalf("unknown command: exit %d\n%s", code, stderr)
	}
}

// A panic is a failed run, not a configuration error: exit 1, logged with
// its stack, and the job that pinged its start pings /fail. The panic
// comes from a command of the test's, wired as every command is.
func TestPanicExitsOneLoudly(t *testing.T) {
	l := newLoud(t)
	var out, errs syncBuffer
	e := &env{args: append([]string{"offsite", "--log-format=console", "explode"}, l.args()...), stdout: &out, stderr: &errs}
	app := e.app()
	app.Commands = append(app.Commands, &cli.Command{
		Name:  "explode",
		Flags: monitorFlags(),
		Action: e.action(func(c *cli.Context) error {
			mon, err := e.newJobMonitor(c, monitor.JobMirror, jobPart{})
			if err != nil {
				return err
			}
			mon.start(c.Context)
			panic("index out of range in a bucket's report")
		}),
	})
	code, stderr := e.run(context.Background(), app), errs.String()
	if code != exitcode.Failed {
		t.Fatalf("exit %d, want %d\n%s", code, exitcode.Failed, stderr)
	}
	for _, want := range []string{"panic: index out of range in a bucket's report", "runtime/debug.Stack", "loud_test.go"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("log lacks %q:\n%s", want, stderr)
		}
	}
	l.check(t, exitcode.Failed)
}

// verify rgw reports a configuration error like mirror does: start, then
// /fail, and the metrics say exit 2.
func TestVerifyConfigErrorIsLoud(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"max age", []string{"--max-age", "0s"}},
		{"output", []string{"--output", "yaml"}},
		{"no buckets", []string{"--rgw-buckets", ""}},
		{"secret twice", []string{"--rgw-secret-access-key-file", "/nonexistent"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLoud(t)
			args := append(append(append([]string{"verify", "rgw"}, unreachableEnds...), tt.args...), l.args()...)
			code, _, stderr := runOffsite(context.Background(), args...)
			if code != exitcode.Config {
				t.Fatalf("exit %d, want %d\n%s", code, exitcode.Config, stderr)
			}
			l.check(t, exitcode.Config)
		})
	}
}

// A mirror whose source credentials list no bucket fails, all four ways,
// and so does verify rgw.
func TestNoBucketsIsLoud(t *testing.T) {
	src := harness.StartMinio(t)
	dst := harness.StartMinio(t, mirrorTestBucket)
	dst.Put(t, mirrorTestBucket, "photos/k", []byte("an earlier mirror"))
	ctx := context.Background()

	l := newLoud(t)
	code, stdout, stderr := runOffsite(ctx, append(append([]string{"mirror"}, mirrorArgs(src, dst)...), l.args()...)...)
	if code != exitcode.Failed || !strings.Contains(stdout, "failed: copy mode, 0 buckets") || !strings.Contains(stdout, "no bucket selected") {
		t.Fatalf("mirror: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitcode.Failed, stdout, stderr)
	}
	l.check(t, exitcode.Failed)

	l = newLoud(t)
	code, stdout, stderr = runOffsite(ctx, append(append([]string{"verify", "rgw"}, mirrorArgs(src, dst)...), l.args()...)...)
	if code == exitcode.OK || strings.Contains(stdout, "ok: true") || !strings.Contains(stderr, "no bucket selected") {
		t.Fatalf("verify rgw: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	l.check(t, code)
}

// cancelProxy is a proxy in front of an S3 endpoint that calls cancel
// (SIGTERM) at the first request match accepts, then passes it on.
func cancelProxy(t *testing.T, endpoint string, cancel context.CancelFunc, match func(*http.Request) bool) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			once.Do(cancel)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// isObjectGet matches the download of an object: a transfer.
func isObjectGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
}

// touches matches any request about bucket.
func touches(bucket string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		b, _, _ := strings.Cut(strings.Trim(r.URL.Path, "/"), "/")
		return b == bucket
	}
}

// A mirror stopped by SIGTERM mid-transfer fails all four ways, its
// report says so, and verify rgw does not accept that report; a verify
// stopped by SIGTERM fails too.
func TestCancelledRunsAreLoud(t *testing.T) {
	src := harness.StartMinio(t, "alpha", "beta")
	dst := harness.StartMinio(t, mirrorTestBucket)
	for _, b := range []string{"alpha", "beta"} {
		for _, k := range []string{"a", "b", "c"} {
			src.Put(t, b, k, []byte(b+k))
		}
	}
	withEndpoint := func(endpoint string) []string {
		args := mirrorArgs(src, dst)
		for i := range args {
			if args[i] == src.Endpoint {
				args[i] = endpoint
			}
		}
		return args
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLoud(t)
	args := append(append([]string{"mirror", "--transfers", "1"}, withEndpoint(cancelProxy(t, src.Endpoint, cancel, isObjectGet))...), l.args()...)
	code, stdout, stderr := runOffsite(ctx, args...)
	if code != exitcode.Failed || !strings.Contains(stdout, "incomplete") || !strings.Contains(stdout, "failed: copy mode") {
		t.Fatalf("cancelled mirror: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitcode.Failed, stdout, stderr)
	}
	l.check(t, exitcode.Failed)

	l = newLoud(t)
	code, stdout, stderr = runOffsite(context.Background(), append(append([]string{"verify", "rgw"}, mirrorArgs(src, dst)...), l.args()...)...)
	if code != exitcode.Verify || !strings.Contains(stdout, "says failed") {
		t.Fatalf("verify after a cancelled mirror: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitcode.Verify, stdout, stderr)
	}
	l.check(t, exitcode.Verify)

	if code, stdout, stderr := runOffsite(context.Background(), append([]string{"mirror"}, mirrorArgs(src, dst)...)...); code != exitcode.OK {
		t.Fatalf("mirror: exit %d\n%s\n%s", code, stdout, stderr)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	l = newLoud(t)
	args = append(append([]string{"verify", "rgw"}, withEndpoint(cancelProxy(t, src.Endpoint, cancel, touches("beta")))...), l.args()...)
	code, stdout, stderr = runOffsite(ctx, args...)
	if code != exitcode.Failed || strings.Contains(stdout, "ok: true") {
		t.Fatalf("cancelled verify: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitcode.Failed, stdout, stderr)
	}
	l.check(t, exitcode.Failed)
}
