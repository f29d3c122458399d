package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
)

// A run that backs nothing up is a failed run: credentials that list no
// bucket, or a deny-list that leaves none, fail mirror and verify rgw
// alike (exit 1, report status failed), and orphaned mirrors are still
// named.
func TestNoBucketSelectedFails(t *testing.T) {
	_, dst, cfg := servers(t) // the source credentials list no bucket
	dst.Put(t, destBucket, "photos/k", []byte("an earlier mirror"))

	rep, err := run(t, cfg)
	if got, want := exitcode.Of(err), exitcode.Failed; got != want {
		t.Fatalf("exit code %d (err %v), want %d", got, err, want)
	}
	if rep.Status != StatusFailed || rep.Location == "" || !strings.Contains(rep.Error, "no bucket selected") {
		t.Fatalf("report: status %s, written to %q, error %q", rep.Status, rep.Location, rep.Error)
	}
	if !slices.Equal(rep.Orphaned, []string{"photos"}) {
		t.Fatalf("orphaned=%q, want photos", rep.Orphaned)
	}
	if written := readReports(t, dst)[rep.Location]; written.Status != StatusFailed {
		t.Fatalf("written report says %s", written.Status)
	}

	vrep, err := verify(t, verifyConfig(cfg))
	if got, want := exitcode.Of(err), exitcode.Verify; got != want || vrep.OK {
		// The newest report says failed: a verification failure.
		t.Fatalf("verify: exit code %d (err %v), ok %v, want %d", got, err, vrep.OK, want)
	}
	if !strings.Contains(err.Error(), "no bucket selected") {
		t.Fatalf("verify: err=%v, want it to say no bucket was selected", err)
	}

	t.Run("all excluded", func(t *testing.T) {
		src, _, cfg := servers(t, "alpha")
		src.Put(t, "alpha", "k", []byte("v"))
		cfg.Exclude = []string{"alpha"}
		rep, err := run(t, cfg)
		if exitcode.Of(err) != exitcode.Failed || rep.Status != StatusFailed {
			t.Fatalf("err=%v status=%s, want a failed run", err, rep.Status)
		}
		mustRun(t, verifyMirrorConfig(cfg)) // a good report, so only the bucket selection can fail verify
		vcfg := verifyConfig(cfg)
		vcfg.Exclude = []string{"alpha"}
		vrep, err := verify(t, vcfg)
		if got, want := exitcode.Of(err), exitcode.Failed; got != want || vrep.OK {
			t.Fatalf("verify: exit code %d (err %v), ok %v, want %d", got, err, vrep.OK, want)
		}
	})
}

// verifyMirrorConfig is cfg without its deny-list.
func verifyMirrorConfig(cfg Config) Config {
	cfg.Exclude = nil
	return cfg
}

// A run cancelled between buckets (SIGTERM after the first) is a failed
// run: the bucket not started is incomplete, the report says failed, and
// verify rgw does not take that report for a good one.
func TestCancelledRunIsFailed(t *testing.T) {
	src, dst, cfg := servers(t, "alpha", "beta")
	src.Put(t, "alpha", "a", []byte("a"))
	src.Put(t, "beta", "b", []byte("b"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Display = cancelAfter("alpha", cancel)

	rep, err := Run(ctx, cfg, zaptest.NewLogger(t))
	t.Logf("run: %v\n%s", err, rep.Summary())
	if got, want := exitcode.Of(err), exitcode.Failed; got != want || !errors.Is(err, context.Canceled) {
		t.Fatalf("exit code %d (err %v), want %d and the cancellation", got, err, want)
	}
	if rep.Status != StatusFailed || rep.Totals.Incomplete != 1 || !strings.Contains(rep.Error, "cancelled") {
		t.Fatalf("report: status %s, %d incomplete, error %q", rep.Status, rep.Totals.Incomplete, rep.Error)
	}
	if b := rep.Bucket("alpha"); b.Status != StatusOK {
		t.Fatalf("alpha: %+v", b)
	}
	if b := rep.Bucket("beta"); b.Status != StatusIncomplete || !slices.Contains(b.ErrorMessages, errNotStarted) {
		t.Fatalf("beta: %+v", b)
	}
	if written := readReports(t, dst)[rep.Location]; written.Status != StatusFailed {
		t.Fatalf("written report says %s", written.Status)
	}

	cfg.Display = nil
	vrep, err := verify(t, verifyConfig(cfg))
	if !errors.Is(err, exitcode.ErrVerifyFailed) || vrep.OK || vrep.LastReport.Status != StatusFailed {
		t.Fatalf("verify after a cancelled run: err=%v ok=%v last=%+v", err, vrep.OK, vrep.LastReport)
	}

	t.Run("report of an older version", func(t *testing.T) {
		// Before incomplete existed, such a run wrote status ok and
		// called the bucket not started skipped.
		mustRun(t, cfg) // the mirror itself is whole
		start := time.Now().UTC()
		old := fmt.Sprintf(`{"start":%q,"end":%q,"mode":"copy","status":"ok","buckets":[
			{"name":"alpha","mode":"copy","status":"ok"},
			{"name":"beta","mode":"copy","status":"skipped","error_messages":[%q]}]}`,
			start.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano), errNotStarted)
		dst.Put(t, destBucket, reportKey(cfg.ReportPrefix, start, ModeCopy, nil), []byte(old))
		vrep, err := verify(t, verifyConfig(cfg))
		if !errors.Is(err, exitcode.ErrVerifyFailed) || vrep.OK || !slices.Equal(vrep.LastReport.Incomplete, []string{"beta"}) {
			t.Fatalf("err=%v ok=%v last=%+v", err, vrep.OK, vrep.LastReport)
		}
	})
}

// cancelOnFirstGet is a proxy in front of an S3 endpoint that cancels
// when the first object is read through it: a SIGTERM in mid-transfer.
func cancelOnFirstGet(t *testing.T, endpoint string, cancel context.CancelFunc) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			once.Do(cancel)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A bucket a cancellation cuts short is incomplete, deletes nothing, and
// fails the run.
func TestCancelledBucketIsIncomplete(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "old", []byte("old"))
	cfg.Mode = ModeSync
	mustRun(t, cfg)
	src.Delete(t, "alpha", "old")
	for i := range 20 {
		src.Put(t, "alpha", fmt.Sprintf("f%02d", i), []byte("x"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Source.Endpoint = cancelOnFirstGet(t, cfg.Source.Endpoint, cancel)
	cfg.Source.Name += "-via-proxy"
	cfg.Transfers = 1
	cfg.MaxDelete = MaxDelete{Count: 10}

	rep, err := Run(ctx, cfg, zaptest.NewLogger(t))
	t.Logf("run: %v\n%s", err, rep.Summary())
	if got, want := exitcode.Of(err), exitcode.Failed; got != want {
		t.Fatalf("exit code %d (err %v), want %d", got, err, want)
	}
	if b := rep.Bucket("alpha"); b.Status != StatusIncomplete || b.Deleted != 0 {
		t.Fatalf("alpha: %+v", b)
	}
	if rep.Status != StatusFailed {
		t.Fatalf("report status %s", rep.Status)
	}
	if _, ok := dst.Get(t, destBucket, "alpha/old"); !ok {
		t.Fatal("a cancelled sync deleted alpha/old")
	}
}

// A verify cancelled part way is never ok: exit 1, or 4 when it had
// already found a difference.
func TestCancelledVerifyFails(t *testing.T) {
	src, dst, cfg := servers(t, "alpha", "beta")
	src.Put(t, "alpha", "a", []byte("a"))
	src.Put(t, "beta", "b", []byte("b"))
	mustRun(t, cfg)

	verifyCancelled := func(t *testing.T) (*VerifyReport, error) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		vcfg := verifyConfig(cfg)
		vcfg.Display = cancelAfter("alpha", cancel)
		rep, err := Verify(ctx, vcfg, zaptest.NewLogger(t))
		t.Logf("verify: %v; %+v", err, rep)
		return rep, err
	}

	rep, err := verifyCancelled(t)
	if got, want := exitcode.Of(err), exitcode.Failed; got != want || rep.OK || !errors.Is(err, context.Canceled) {
		t.Fatalf("exit code %d (err %v), ok %v, want %d", got, err, rep.OK, want)
	}
	if len(rep.Buckets) != 2 || !rep.Buckets[0].OK || rep.Buckets[1].OK {
		t.Fatalf("buckets: %+v, want alpha ok and beta not", rep.Buckets)
	}

	dst.Delete(t, destBucket, "alpha/a")
	rep, err = verifyCancelled(t)
	if got, want := exitcode.Of(err), exitcode.Verify; got != want || rep.OK {
		t.Fatalf("with a missing object: exit code %d (err %v), want %d", got, err, want)
	}
}

// A failed bucket beside a safety-stopped one: the report says failed, so
// the exit code is 1, not 3.
func TestFailedOutranksSafetyStop(t *testing.T) {
	src, _, cfg := servers(t, "alpha")
	for i := range 10 {
		src.Put(t, "alpha", fmt.Sprintf("f%02d", i), []byte("x"))
	}
	mustRun(t, cfg)
	for i := range 5 {
		src.Delete(t, "alpha", fmt.Sprintf("f%02d", i))
	}
	cfg.Mode = ModeSync
	cfg.Buckets = []string{"alpha", "not-there"}
	rep, err := run(t, cfg)
	if b := rep.Bucket("alpha"); b.Status != StatusAborted {
		t.Fatalf("alpha: %+v", b)
	}
	if got, want := exitcode.Of(err), exitcode.Failed; got != want || rep.Status != StatusFailed {
		t.Fatalf("exit code %d (err %v), report %s; want %d and failed", got, err, rep.Status, want)
	}
}

// cancelAfter is a live display that cancels the run (SIGTERM) once the
// bucket name is done.
func cancelAfter(name string, cancel context.CancelFunc) livebar.Sink {
	return doneSink(func(done string) {
		if done == name {
			cancel()
		}
	})
}

// doneSink is a display that only hears that a bucket is done.
type doneSink func(name string)

func (doneSink) Update(livebar.Stat) {}
func (d doneSink) Done(name string)  { d(name) }
