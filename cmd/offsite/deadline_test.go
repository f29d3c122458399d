package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// A mirror that reaches OFFSITE_MAX_DURATION lets the transfer it is in
// finish, starts no other, deletes nothing in the buckets it did not
// finish, and fails four ways with those buckets incomplete in its report.
func TestDeadlineIsLoud(t *testing.T) {
	src := harness.StartMinio(t, "alpha", "beta")
	dst := harness.StartMinio(t, mirrorTestBucket)
	for _, b := range []string{"alpha", "beta"} {
		for _, k := range []string{"a", "b", "c"} {
			src.Put(t, b, k, []byte(b+k))
		}
	}
	// Gone from the source: sync would delete it, had alpha finished.
	dst.Put(t, mirrorTestBucket, "alpha/old", []byte("old"))

	const maxDuration = 5 * time.Second
	// The first object download is held until the deadline has passed:
	// the run began before the first request the proxy saw.
	target, err := url.Parse(src.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var first time.Time
	var held bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		hold := !held && isObjectGet(r)
		held = held || hold
		release := first.Add(maxDuration + time.Second)
		mu.Unlock()
		if hold {
			time.Sleep(time.Until(release))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	args := mirrorArgs(src, dst)
	for i := range args {
		if args[i] == src.Endpoint {
			args[i] = srv.URL
		}
	}

	l := newLoud(t)
	args = append(append([]string{"mirror", "--mode", "sync", "--max-delete", "100%", "--transfers", "1", "--max-duration", maxDuration.String()}, args...), l.args()...)
	code, stdout, stderr := runOffsite(context.Background(), args...)
	if code != exitcode.Failed || !strings.Contains(stdout, "2 incomplete") || !strings.Contains(stdout, mirror.EnvMaxDuration) {
		t.Fatalf("mirror past its deadline: exit %d, want %d with 2 buckets incomplete\nstdout:\n%s\nstderr:\n%s", code, exitcode.Failed, stdout, stderr)
	}
	l.check(t, exitcode.Failed)

	got := dst.List(t, mirrorTestBucket, "alpha/")
	if _, ok := got["alpha/old"]; !ok {
		t.Errorf("alpha/old was deleted in a bucket that did not finish its transfers")
	}
	copied := 0
	for _, k := range []string{"a", "b", "c"} {
		if _, ok := got["alpha/"+k]; ok {
			copied++
		}
	}
	if copied != 1 {
		t.Errorf("alpha has %d of its 3 objects in the mirror, want 1: the transfer running at the deadline finishes, no other starts (%v)", copied, got)
	}
	if beta := dst.List(t, mirrorTestBucket, "beta/"); len(beta) != 0 {
		t.Errorf("beta started after the deadline: %v", beta)
	}

	rep := readOnlyReport(t, dst)
	if rep.Status != mirror.StatusFailed || rep.Totals.Incomplete != 2 || !strings.Contains(rep.Error, mirror.EnvMaxDuration) {
		t.Errorf("report: status %s, %d incomplete, error %q; want failed, 2, naming %s", rep.Status, rep.Totals.Incomplete, rep.Error, mirror.EnvMaxDuration)
	}
	for _, b := range []string{"alpha", "beta"} {
		if br := rep.Bucket(b); br == nil || br.Status != mirror.StatusIncomplete || br.Deleted != 0 {
			t.Errorf("report of %s: %+v, want incomplete, nothing deleted", b, br)
		}
	}
}

// readOnlyReport reads the one run report in dst's mirror bucket.
func readOnlyReport(t *testing.T, dst *harness.Minio) *mirror.Report {
	t.Helper()
	keys := dst.List(t, mirrorTestBucket, "_reports/")
	maps.DeleteFunc(keys, func(key string, _ int64) bool { return !harness.IsRunReport(key) })
	if len(keys) != 1 {
		t.Fatalf("want one report, got %v", keys)
	}
	var rep mirror.Report
	for k := range keys {
		data, _ := dst.Get(t, mirrorTestBucket, k)
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("report %s: %v", k, err)
		}
	}
	return &rep
}
