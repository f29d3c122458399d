package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// TCPProxy is a Toxiproxy proxy run inside the test process, between
// offsite and one server: toxics (latency, bandwidth, timeout, reset_peer,
// limit_data, ...) act on the bytes of every connection through it, and
// Disable makes the server refuse connections.
type TCPProxy struct {
	// Endpoint is the proxy as an S3 endpoint URL.
	Endpoint string
	proxy    *toxiproxy.Proxy
}

// StartTCPProxy starts a proxy on a free loopback port in front of the
// server at endpoint (an http:// URL) and stops it when the test ends.
func StartTCPProxy(t testing.TB, name, endpoint string) *TCPProxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("proxy upstream %q: %v", endpoint, err)
	}
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(server, name, "127.0.0.1:0", u.Host)
	if err := p.Start(); err != nil {
		t.Fatalf("start proxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	return &TCPProxy{Endpoint: "http://" + p.Listen, proxy: p}
}

// AddToxic adds a toxic of type typ ("latency", "bandwidth", "timeout",
// "reset_peer", "limit_data", "slow_close", "slicer") on stream
// ("upstream": towards the server, "downstream": towards offsite), with
// the attributes Toxiproxy documents for it (e.g. {"rate": 64} in KB/s for
// bandwidth). It acts on open connections too. name must be unique.
func (p *TCPProxy) AddToxic(t testing.TB, name, typ, stream string, attributes map[string]any) {
	t.Helper()
	if attributes == nil {
		attributes = map[string]any{}
	}
	spec := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, jsonObject(attributes))
	if _, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		t.Fatalf("add toxic %s: %v", name, err)
	}
}

// RemoveToxic removes the toxic called name.
func (p *TCPProxy) RemoveToxic(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.proxy.Toxics.RemoveToxic(ctx, name); err != nil {
		t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// Disable closes the listener and every connection through the proxy:
// new connections are refused until Enable.
func (p *TCPProxy) Disable() { p.proxy.Stop() }

// Enable listens again on the same port; an enabled proxy stays as it is.
func (p *TCPProxy) Enable(t testing.TB) {
	t.Helper()
	if err := p.proxy.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		t.Fatalf("enable proxy: %v", err)
	}
}

// jsonObject writes a flat map of numbers, strings and bools as JSON.
func jsonObject(m map[string]any) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string:
			parts = append(parts, fmt.Sprintf("%q:%q", k, v))
		default:
			parts = append(parts, fmt.Sprintf("%q:%v", k, v))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Fault is what an HTTPProxy does with one request.
type Fault int

// Faults an HTTPProxy can inject.
const (
	Pass      Fault = iota // forward the request to the server
	Status500              // answer 500 InternalError, as S3 does
	Status503              // answer 503 SlowDown, as S3 does under load
	Reset                  // read part of the request body, then reset the TCP connection (RST)
	Stall                  // read part of the request body, then hold the request until the client gives up
)

func (f Fault) String() string {
	return [...]string{"pass", "500", "503", "reset", "stall"}[f]
}

// Rule decides the fault for each request; n counts the requests the proxy
// has seen, from 1. It runs on the request's goroutine and may block (to
// kill a server, say) before it answers.
type Rule func(r *http.Request, n int64) Fault

// HTTPProxy is a reverse proxy that understands S3 requests well enough to
// fail some of them: by method, path or query (a listing page, an object's
// PUT, a DELETE), or every Nth. The Host header is passed through, so
// request signatures stay valid.
type HTTPProxy struct {
	// Endpoint is the proxy as an S3 endpoint URL.
	Endpoint string
	server   *httptest.Server
	rule     atomic.Pointer[Rule]
	rewrite  atomic.Pointer[Rewrite]
	seen     atomic.Int64
	closed   chan struct{}

	mu       sync.Mutex
	injected map[Fault]int
}

// partialBody is how much of a request body Reset and Stall read first,
// so that the fault lands mid-transfer for bigger objects.
const partialBody = 16 << 10

// StartHTTPProxy starts a proxy on a free loopback port in front of the
// server at endpoint, passing everything until SetRule, and stops it when
// the test ends.
func StartHTTPProxy(t testing.TB, endpoint string) *HTTPProxy {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("proxy upstream %q: %v", endpoint, err)
	}
	p := &HTTPProxy{closed: make(chan struct{}), injected: map[Fault]int{}}
	forward := httputil.NewSingleHostReverseProxy(target)
	forward.ErrorLog = nil
	forward.ModifyResponse = p.modify
	p.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.seen.Add(1)
		fault := Pass
		if rule := p.rule.Load(); rule != nil {
			fault = (*rule)(r, n)
		}
		if fault != Pass {
			p.mu.Lock()
			p.injected[fault]++
			p.mu.Unlock()
		}
		switch fault {
		case Pass:
			forward.ServeHTTP(w, r)
		case Status500:
			s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		case Status503:
			s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		case Reset:
			_, _ = io.CopyN(io.Discard, r.Body, partialBody)
			resetConn(w)
		case Stall:
			_, _ = io.CopyN(io.Discard, r.Body, partialBody)
			select {
			case <-r.Context().Done():
			case <-p.closed:
			}
		}
	}))
	p.Endpoint = p.server.URL
	t.Cleanup(p.Close)
	return p
}

// SetRule replaces the rule; nil passes everything.
func (p *HTTPProxy) SetRule(rule Rule) {
	if rule == nil {
		p.rule.Store(nil)
		return
	}
	p.rule.Store(&rule)
}

// Rewrite changes the body of an answer the server gave to r; it returns
// body itself to leave it alone.
type Rewrite func(r *http.Request, body []byte) []byte

// SetRewrite passes every answer through rewrite; nil passes them as they are.
func (p *HTTPProxy) SetRewrite(rewrite Rewrite) {
	if rewrite == nil {
		p.rewrite.Store(nil)
		return
	}
	p.rewrite.Store(&rewrite)
}

func (p *HTTPProxy) modify(resp *http.Response) error {
	rewrite := p.rewrite.Load()
	if rewrite == nil {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	body = (*rewrite)(resp.Request, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// SwapFirstObjects swaps the first two objects of a listing page
// (ListObjects V1 or V2 XML): a server whose listing goes backwards.
func SwapFirstObjects(body []byte) []byte {
	parts := strings.SplitAfter(string(body), "</Contents>")
	if len(parts) < 3 {
		return body
	}
	first, second := parts[0], parts[1]
	i, j := strings.Index(first, "<Contents>"), strings.Index(second, "<Contents>")
	if i < 0 || j < 0 {
		return body
	}
	parts[0], parts[1] = first[:i]+second[j:], second[:j]+first[i:]
	return []byte(strings.Join(parts, ""))
}

// Injected is how many requests got fault f since the proxy started.
func (p *HTTPProxy) Injected(f Fault) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected[f]
}

// Close releases stalled requests and stops the proxy.
func (p *HTTPProxy) Close() {
	select {
	case <-p.closed:
		return
	default:
		close(p.closed)
	}
	p.server.CloseClientConnections()
	p.server.Close()
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// resetConn takes over the connection under w and closes it with SO_LINGER
// 0, which sends a TCP RST: the client sees "connection reset by peer".
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// IsListing reports whether r lists a bucket (ListObjects, V1 or V2).
func IsListing(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	q := r.URL.Query()
	_, v2 := q["list-type"]
	_, prefix := q["prefix"]
	_, delim := q["delimiter"]
	return v2 || prefix || delim || strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0
}

// IsObjectWrite reports whether r writes an object whose key (after the
// bucket in a path-style URL) starts with keyPrefix.
func IsObjectWrite(r *http.Request, keyPrefix string) bool {
	return r.Method == http.MethodPut && strings.HasPrefix(ObjectKey(r), keyPrefix)
}

// ObjectKey is the object key of a path-style request, "" for bucket and
// service requests.
func ObjectKey(r *http.Request) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return key
}
