package mirror

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/offsite-backup/offsite/internal/harness"
)

// requestLog counts the S3 requests through an HTTPProxy by side and kind.
type requestLog struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *requestLog) rule(side string) harness.Rule {
	return func(r *http.Request, n int64) harness.Fault {
		kind := r.Method + " object"
		switch {
		case harness.IsListing(r):
			kind = "list"
		case strings.Contains(harness.ObjectKey(r), "_reports/"):
			kind = r.Method + " report"
		}
		l.mu.Lock()
		l.counts[side+" "+kind]++
		l.mu.Unlock()
		return harness.Pass
	}
}

func (l *requestLog) take() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts
	l.counts = map[string]int{}
	return c
}

// TestRequestsPerObject: a first copy costs one GET on the source and one
// PUT on the mirror per object, nothing more (no HEAD after the PUT, no
// bucket check); a re-run with nothing changed costs no object request.
func TestRequestsPerObject(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	const n = 40
	objects := map[string][]byte{}
	for i := range n {
		k := fmt.Sprintf("f%02d", i)
		objects[k] = randomBytes(t, 4096)
		src.Put(t, "alpha", k, objects[k])
	}
	log := &requestLog{counts: map[string]int{}}
	sp, dp := harness.StartHTTPProxy(t, src.Endpoint), harness.StartHTTPProxy(t, dst.Endpoint)
	sp.SetRule(log.rule("source"))
	dp.SetRule(log.rule("mirror"))
	cfg.Source.Endpoint, cfg.Dest.Endpoint = sp.Endpoint, dp.Endpoint

	mustRun(t, cfg)
	got := log.take()
	t.Logf("first copy of %d objects: %v", n, got)
	for kind, want := range map[string]int{"source GET object": n, "mirror PUT object": n, "source HEAD object": 0, "mirror HEAD object": 0} {
		if got[kind] != want {
			t.Errorf("first copy: %d requests %q, want %d", got[kind], kind, want)
		}
	}

	audit := cfg.Audit
	cfg.Audit = Share{}
	mustRun(t, cfg)
	got = log.take()
	t.Logf("re-run without the audit: %v", got)
	for kind, c := range got {
		if strings.HasSuffix(kind, " object") {
			t.Errorf("re-run with nothing changed: %d requests %q, want none", c, kind)
		}
	}

	// The audit reads its slice's headers on both sides, and nothing else.
	cfg.Audit = audit
	audited := mustRun(t, cfg).Bucket("alpha").Audited
	got = log.take()
	t.Logf("re-run with the audit's slice of %d pairs: %v", audited, got)
	if audited == 0 || got["source HEAD object"] != int(audited) || got["mirror HEAD object"] != int(audited) ||
		got["source GET object"]+got["mirror GET object"]+got["mirror PUT object"] != 0 {
		t.Errorf("the audit of %d pairs made %v; want a HEAD of each on both sides, nothing more", audited, got)
	}
	assertMirror(t, dst, map[string]map[string][]byte{"alpha": objects})
}

// TestUploadAnswerIsChecked: without the HEAD after each PUT, the ETag the
// PUT answers is what proves the upload; an answer that does not match the
// source's MD5 fails the bucket.
func TestUploadAnswerIsChecked(t *testing.T) {
	src, _, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "f", []byte("content"))
	cfg.Dest.Endpoint = rewritingProxy(t, cfg.Dest.Endpoint, func(resp *http.Response) error {
		if r := resp.Request; r.Method == http.MethodPut && harness.ObjectKey(r) == "alpha/f" {
			resp.Header.Set("ETag", `"00000000000000000000000000000000"`)
		}
		return nil
	})
	rep, err := run(t, cfg)
	b := rep.Bucket("alpha")
	if err == nil || b == nil || b.Status != StatusFailed || !strings.Contains(strings.Join(b.ErrorMessages, " "), "corrupted on transfer") {
		t.Fatalf("a PUT answering the wrong ETag: err=%v, %+v", err, b)
	}
}
