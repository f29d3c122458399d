package monitor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// pushed is one request a gatewayServer received.
type pushed struct {
	method, path string
	user, pass   string
	families     map[string]*dto.MetricFamily
	decodeErr    error
}

// gatewayServer is a local stand-in for a Pushgateway that decodes pushes.
type gatewayServer struct {
	*httptest.Server
	mu     sync.Mutex
	pushes []pushed
	status []int
}

func newGatewayServer(t *testing.T, status ...int) *gatewayServer {
	t.Helper()
	g := &gatewayServer{status: status}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := pushed{method: r.Method, path: r.URL.EscapedPath(), families: map[string]*dto.MetricFamily{}}
		p.user, p.pass, _ = r.BasicAuth()
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			mf := &dto.MetricFamily{}
			err := dec.Decode(mf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				p.decodeErr = err
				break
			}
			p.families[mf.GetName()] = mf
		}
		g.mu.Lock()
		g.pushes = append(g.pushes, p)
		code := http.StatusOK
		if len(g.status) > 0 {
			code, g.status = g.status[0], g.status[1:]
		}
		g.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gatewayServer) received() []pushed {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]pushed(nil), g.pushes...)
}

func newTestGateway(t *testing.T, raw, instance string) *Pushgateway {
	t.Helper()
	g, err := NewPushgateway(raw, instance)
	if err != nil {
		t.Fatalf("NewPushgateway: %v", err)
	}
	g.Backoff = 10 * time.Millisecond
	return g
}

func TestPushSuccessfulRun(t *testing.T) {
	srv := newGatewayServer(t)
	g := newTestGateway(t, strings.Replace(srv.URL, "http://", "http://pusher:pa55word@", 1)+"/gw/", "")
	if err := g.Push(context.Background(), mirrorRun(t0, true)); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("got %d pushes, want 1", len(got))
	}
	p := got[0]
	if p.decodeErr != nil {
		t.Fatalf("push body does not decode: %v", p.decodeErr)
	}
	if got, want := p.method, http.MethodPut; got != want {
		t.Errorf("method = %s, want %s (replace the group)", got, want)
	}
	if got, want := p.path, "/gw/metrics/job/mirror"; got != want {
		t.Errorf("path = %s, want %s", got, want)
	}
	if p.user != "pusher" || p.pass != "pa55word" {
		t.Errorf("basic auth = %q:%q, want the URL's userinfo", p.user, p.pass)
	}
	for _, name := range []string{MetricRunSuccess, MetricRunLastSuccess, MetricLastSuccess, MetricObjectsTransferred, MetricBytesTransferred} {
		if p.families[name] == nil {
			t.Errorf("push lacks %s", name)
		}
	}
	if got, want := value(t, p.families, MetricBytesTransferred, map[string]string{JobLabel: "mirror", "bucket": "photos"}), float64(1<<20); got != want {
		t.Errorf("bytes = %v, want %v", got, want)
	}
}

func TestPushFailedRunKeepsGatewaysLastSuccess(t *testing.T) {
	srv := newGatewayServer(t)
	g := newTestGateway(t, srv.URL, "k3s-1")
	run := Run{Job: "offload", Start: t0, End: t1, ExitCode: 1, Items: []Item{{Name: "k3s-1", Errors: 1}}}
	if err := g.Push(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	p := srv.received()[0]
	if got, want := p.method, http.MethodPost; got != want {
		t.Errorf("method = %s, want %s (replace only the families sent)", got, want)
	}
	if got, want := p.path, "/metrics/job/offload/instance/k3s-1"; got != want {
		t.Errorf("path = %s, want %s", got, want)
	}
	for _, name := range []string{MetricRunLastSuccess, MetricLastSuccess} {
		if p.families[name] != nil {
			t.Errorf("a failed run pushed %s, overwriting the last success", name)
		}
	}
	if got, want := value(t, p.families, MetricRunSuccess, map[string]string{JobLabel: "offload"}), 0.0; got != want {
		t.Errorf("success = %v, want %v", got, want)
	}
}

func TestPushRetriesAndReportsWithoutCredentials(t *testing.T) {
	srv := newGatewayServer(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	g := newTestGateway(t, strings.Replace(srv.URL, "http://", "http://pusher:pa55word@", 1), "")
	err := g.Push(context.Background(), mirrorRun(t0, true))
	if err == nil {
		t.Fatal("no error from a gateway that always fails")
	}
	if got, want := len(srv.received()), 3; got != want {
		t.Errorf("attempts = %d, want %d", got, want)
	}
	if strings.Contains(err.Error(), "pa55word") || strings.Contains(err.Error(), "pusher") {
		t.Errorf("error shows credentials: %v", err)
	}
}

func TestNewPushgatewayRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{"pushgateway:9091", "ftp://pushgateway:9091", "http://pushgateway:9091/?secret=1", "http://"} {
		t.Run(raw, func(t *testing.T) {
			if _, err := NewPushgateway(raw, ""); err == nil {
				t.Error("no error")
			}
		})
	}
}

// A failed drill pushes its targets' results, never their last passed
// drill: the gateway keeps the earlier one.
func TestPushFailedDrillKeepsGatewaysLastDrill(t *testing.T) {
	srv := newGatewayServer(t)
	g := newTestGateway(t, srv.URL, "")
	for _, ok := range []bool{true, false} {
		run := Run{Job: JobDrillRGW, Start: t0, End: t1, OK: ok, Items: []Item{{Name: "photos", OK: ok}}}
		if err := g.Push(context.Background(), run); err != nil {
			t.Fatal(err)
		}
	}
	target := map[string]string{JobLabel: "drill_rgw", DrillKindLabel: "rgw", DrillTargetLabel: "photos"}
	passed, failed := srv.received()[0], srv.received()[1]
	if got, want := value(t, passed.families, MetricDrillLastSuccess, target), float64(t1.Unix()); got != want {
		t.Errorf("last drill pushed by a passed drill = %v, want %v", got, want)
	}
	if failed.families[MetricDrillLastSuccess] != nil {
		t.Errorf("a failed drill pushed %s, overwriting the last passed one", MetricDrillLastSuccess)
	}
	if got, want := value(t, failed.families, MetricDrillSuccess, target), 0.0; got != want {
		t.Errorf("drill success pushed by a failed drill = %v, want %v", got, want)
	}
}
