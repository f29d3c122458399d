package harness

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoServer answers every request with its method and path.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(strings.Repeat("x", 64<<10)))
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Transport: &http.Transport{}} // no connection reuse between cases
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestHTTPProxyFaults(t *testing.T) {
	p := StartHTTPProxy(t, echoServer(t).URL)
	ctx := context.Background()
	if code, body, err := get(ctx, p.Endpoint+"/bucket/key"); err != nil || code != 200 || body != "PUT /bucket/key" {
		t.Fatalf("pass: %d %q %v", code, body, err)
	}
	p.SetRule(func(r *http.Request, n int64) Fault {
		switch ObjectKey(r) {
		case "500":
			return Status500
		case "503":
			return Status503
		case "reset":
			return Reset
		case "stall":
			return Stall
		}
		return Pass
	})
	if code, body, _ := get(ctx, p.Endpoint+"/bucket/503"); code != 503 || !strings.Contains(body, "SlowDown") {
		t.Errorf("503: %d %q", code, body)
	}
	if code, body, _ := get(ctx, p.Endpoint+"/bucket/500"); code != 500 || !strings.Contains(body, "InternalError") {
		t.Errorf("500: %d %q", code, body)
	}
	// The reset reaches the client as a reset, or, while it still writes
	// the body, as a broken or closed connection: never as an answer.
	if _, _, err := get(ctx, p.Endpoint+"/bucket/reset"); !isConnectionCut(err) {
		t.Errorf("reset: err = %v, want a connection reset", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := get(sctx, p.Endpoint+"/bucket/stall"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stall: err = %v, want the client's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stall held the client %v after its deadline", d)
	}
	for _, f := range []Fault{Status500, Status503, Reset, Stall} {
		if got := p.Injected(f); got != 1 {
			t.Errorf("Injected(%v) = %d, want 1", f, got)
		}
	}
}

func TestTCPProxyToxicsAndRefusal(t *testing.T) {
	p := StartTCPProxy(t, "echo", echoServer(t).URL)
	ctx := context.Background()
	if code, _, err := get(ctx, p.Endpoint+"/b/k"); err != nil || code != 200 {
		t.Fatalf("pass: %d %v", code, err)
	}
	// The connection is cut after 1 KiB of the 64 KiB request body.
	p.AddToxic(t, "cut", "limit_data", "upstream", map[string]any{"bytes": 1024})
	if _, _, err := get(ctx, p.Endpoint+"/b/k"); err == nil {
		t.Error("limit_data: the request went through")
	}
	p.RemoveToxic(t, "cut")
	if code, _, err := get(ctx, p.Endpoint+"/b/k"); err != nil || code != 200 {
		t.Fatalf("after removing the toxic: %d %v", code, err)
	}
	p.Disable()
	if _, _, err := get(ctx, p.Endpoint+"/b/k"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("disabled: err = %v, want connection refused", err)
	}
	p.Enable(t)
	if code, _, err := get(ctx, p.Endpoint+"/b/k"); err != nil || code != 200 {
		t.Fatalf("enabled again: %d %v", code, err)
	}
}

func isConnectionCut(err error) bool {
	for _, cut := range []error{syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF, net.ErrClosed} {
		if errors.Is(err, cut) {
			return true
		}
	}
	return false
}
