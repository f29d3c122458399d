package monitor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// secretUUID stands for the check's UUID that a ping URL embeds.
const secretUUID = "5f2c1f0e-0b7a-4d0f-9d55-3c8c2b0e9f11"

// ping is one request a pingServer received.
type ping struct {
	method, path, body string
}

// pingServer is a local stand-in for healthchecks.io that records pings.
type pingServer struct {
	*httptest.Server
	mu     sync.Mutex
	pings  []ping
	status []int // statuses to answer, in order; then 200
}

func newPingServer(t *testing.T, status ...int) *pingServer {
	t.Helper()
	s := &pingServer{status: status}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.pings = append(s.pings, ping{r.Method, r.URL.RequestURI(), string(body)})
		code := http.StatusOK
		if len(s.status) > 0 {
			code, s.status = s.status[0], s.status[1:]
		}
		s.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "OK")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pingServer) received() []ping {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ping(nil), s.pings...)
}

// observedLogger logs at debug level into memory.
func observedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// logText is every message and field of logs, as one string to search.
func logText(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&b, "%s %v\n", e.Message, e.ContextMap())
	}
	return b.String()
}

func fastPinger(t *testing.T, raw string, log *zap.Logger) *Pinger {
	t.Helper()
	p, err := NewPinger(raw, log)
	if err != nil {
		t.Fatalf("NewPinger: %v", err)
	}
	p.Timeout, p.Backoff = 2*time.Second, 10*time.Millisecond
	return p
}

func TestPingerSendsStartSuccessFailInOrder(t *testing.T) {
	srv := newPingServer(t)
	p := fastPinger(t, srv.URL+"/ping/"+secretUUID, nil)
	ctx := context.Background()

	p.Start(ctx)
	p.Success(ctx, "offsite mirror: ok\n")
	p.Start(ctx)
	p.Fail(ctx, "offsite mirror: failed (exit 1)\n")

	want := []ping{
		{"POST", "/ping/" + secretUUID + "/start", ""},
		{"POST", "/ping/" + secretUUID, "offsite mirror: ok\n"},
		{"POST", "/ping/" + secretUUID + "/start", ""},
		{"POST", "/ping/" + secretUUID + "/fail", "offsite mirror: failed (exit 1)\n"},
	}
	got := srv.received()
	if len(got) != len(want) {
		t.Fatalf("got %d pings %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ping %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPingerKeepsQueryAndTrailingSlash(t *testing.T) {
	srv := newPingServer(t)
	p := fastPinger(t, srv.URL+"/ping/key/offsite-mirror/?create=1", nil)
	p.Fail(context.Background(), "x")
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("got %d pings, want 1", len(got))
	}
	if got, want := got[0].path, "/ping/key/offsite-mirror/fail?create=1"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestPingerRetriesServerErrors(t *testing.T) {
	srv := newPingServer(t, http.StatusBadGateway, http.StatusServiceUnavailable)
	log, logs := observedLogger()
	p := fastPinger(t, srv.URL+"/"+secretUUID, log)
	p.Success(context.Background(), "ok")
	if got, want := len(srv.received()), 3; got != want {
		t.Fatalf("attempts = %d, want %d", got, want)
	}
	if got := logs.FilterMessage("ping failed").Len(); got != 0 {
		t.Errorf("logged %d ping failures after a successful retry, want 0", got)
	}
}

func TestPingerDoesNotRetryClientErrors(t *testing.T) {
	srv := newPingServer(t, http.StatusNotFound, http.StatusNotFound, http.StatusNotFound)
	log, logs := observedLogger()
	p := fastPinger(t, srv.URL+"/"+secretUUID, log)
	p.Success(context.Background(), "ok")
	if got, want := len(srv.received()), 1; got != want {
		t.Fatalf("attempts = %d, want %d", got, want)
	}
	if got, want := logs.FilterMessage("ping failed").Len(), 1; got != want {
		t.Errorf("logged %d ping failures, want %d", got, want)
	}
}

// unreachableURL is a loopback URL where nothing listens.
func unreachableURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://user:hunter22@" + addr + "/ping/" + secretUUID + "?token=s3cr3t"
}

func TestPingerUnreachableIsLoggedWithoutSecrets(t *testing.T) {
	log, logs := observedLogger()
	raw := unreachableURL(t)
	p := fastPinger(t, raw, log)

	done := make(chan struct{})
	go func() {
		p.Start(context.Background())
		p.Fail(context.Background(), "offsite mirror: failed")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("pings to an unreachable URL did not give up")
	}

	if got, want := logs.FilterMessage("ping failed").Len(), 2; got != want {
		t.Fatalf("logged %d ping failures, want %d:\n%s", got, want, logText(logs))
	}
	text := logText(logs)
	for _, secret := range []string{secretUUID, "hunter22", "user", "s3cr3t", "/ping"} {
		if strings.Contains(text, secret) {
			t.Errorf("log shows %q:\n%s", secret, text)
		}
	}
	host := "http://" + strings.SplitN(strings.SplitN(raw, "@", 2)[1], "/", 2)[0]
	if !strings.Contains(text, host) {
		t.Errorf("log does not name the ping host %s:\n%s", host, text)
	}
}

func TestDisabledPingerDoesNothing(t *testing.T) {
	p, err := NewPinger("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled() {
		t.Error("empty URL gives an enabled pinger")
	}
	p.Start(context.Background())
	p.Success(context.Background(), "ok")
	var nilPinger *Pinger
	nilPinger.Fail(context.Background(), "fail")
}

func TestNewPingerRejectsBadURLsWithoutQuotingThem(t *testing.T) {
	for _, raw := range []string{
		"hc-ping.example/" + secretUUID,
		"ftp://hc-ping.example/" + secretUUID,
		"https:///" + secretUUID,
		"http://[::1%zz]/" + secretUUID,
		"/ping/" + secretUUID,
	} {
		t.Run(strings.ReplaceAll(raw, secretUUID, "UUID"), func(t *testing.T) {
			_, err := NewPinger(raw, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secretUUID) {
				t.Errorf("error %q quotes the URL", err)
			}
		})
	}
}
