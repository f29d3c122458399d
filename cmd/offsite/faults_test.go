package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// The fault-injection suite: offsite against real MinIO servers, with a
// proxy between them that fails, resets, stalls or refuses, and servers
// killed and cancelled runs. For each fault it asserts together the four
// signals of a run (exit code, report status, ping, metric) and that no
// mirror object and no snapshot was lost or half-written, and prints the
// matrix. OFFSITE_FAULTS_DOC=path also writes it there as Markdown
// (docs/faults.md).

const faultsDocEnv = "OFFSITE_FAULTS_DOC"

// Bounds of every wait in the suite.
const (
	runLimit     = 90 * time.Second // one offsite run without a cancel
	sigtermLimit = 25 * time.Second // from SIGTERM to exit: under Kubernetes' 30 s grace period
)

// Source buckets: photos and docs are in every mirror fault; logs spans
// two listing pages (1,000 keys each) for the listing fault.
var (
	photoKeys = keys("p", 30)
	docKeys   = keys("d", 20)
	logKeys   = keys("l", 1100)
)

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// content is the deterministic body of an object; version tells an older
// mirror copy from the source's current one.
func content(key string, size, version int) []byte {
	seed := uint64(version)
	for _, c := range key {
		seed = seed*31 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func objectSize(bucket string) int {
	switch bucket {
	case "photos":
		return 64 << 10 // bigger than the proxy reads before a reset: the fault lands mid-body
	case "docs":
		return 2 << 10
	}
	return 64
}

func etagOf(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// sourceObjects is the source's content by bucket and key.
func sourceObjects() map[string]map[string][]byte {
	src := map[string]map[string][]byte{}
	for bucket, ks := range map[string][]string{"photos": photoKeys, "docs": docKeys, "logs": logKeys} {
		src[bucket] = map[string][]byte{}
		for _, k := range ks {
			src[bucket][k] = content(k, objectSize(bucket), 1)
		}
	}
	return src
}

// oldMirror is what the destination held before the faulty run, as a
// clean run of yesterday would have left it: most objects equal, some
// older versions, some missing (new at the source), and some extra
// (deleted at the source since), keyed <bucket>/<key>.
func oldMirror(src map[string]map[string][]byte, buckets []string) map[string][]byte {
	old := map[string][]byte{}
	for _, b := range buckets {
		ks := slices.Sorted(mapsKeys(src[b]))
		n := len(ks)
		for i, k := range ks {
			switch {
			case b == "logs" || i < n*2/3:
				old[b+"/"+k] = src[b][k]
			case i < n*5/6:
				old[b+"/"+k] = content(k, objectSize(b)-1, 0) // an older version
			}
		}
		for i := range 3 {
			k := fmt.Sprintf("%s/gone-%d", b, i)
			old[k] = content(k, objectSize(b), 0)
		}
	}
	return old
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// want is what a fault's run must signal.
type want struct {
	exit    int
	ok      bool     // success ping and offsite_run_success 1; else /fail and 0
	reports []string // acceptable report statuses ("none": cannot be written; "n/a": the command writes none)
}

// seen is what a run signalled, and what became of the data.
type seen struct {
	exit        string // the code, or why there is none
	report      string
	ping        string
	metric      string // offsite_run_success/offsite_run_exit_code
	data        string // "intact" or what was lost or half-written
	took        time.Duration
	code        int
	success     float64
	exitMetric  float64
	hasMetric   bool
	exited      bool
	buckets     map[string]string // bucket statuses from the report
	stdout, log string
}

// fault is one row of the matrix.
type fault struct {
	name    string
	command string
	rule    string // the rule a failing cell breaks
	want    want
}

type cell struct {
	value string
	pass  bool
}

type row struct {
	fault
	cells [5]cell // exit, report, ping, metric, data
	took  time.Duration
}

// suite is the shared state of the fault cases: the servers, the proxies
// in front of them, the ping recorder and the matrix.
type suite struct {
	t                *testing.T
	src, dst         *harness.Minio
	srcHTTP, dstHTTP *harness.HTTPProxy
	dstTCP           *harness.TCPProxy
	pings            *recorder
	source           map[string]map[string][]byte
	srcETags         map[string]string // <bucket>/<key> -> MD5
	mu               sync.Mutex
	rows             []row
	n                int
}

func TestFaults(t *testing.T) {
	start := time.Now()
	s := &suite{t: t, source: sourceObjects(), srcETags: map[string]string{}}
	s.src = harness.StartMinio(t, "photos", "docs", "logs")
	s.dst = harness.StartMinio(t)
	for b, objs := range s.source {
		s.src.PutMany(t, b, objs)
		for k, v := range objs {
			s.srcETags[b+"/"+k] = etagOf(v)
		}
	}
	s.srcHTTP = harness.StartHTTPProxy(t, s.src.Endpoint)
	s.dstHTTP = harness.StartHTTPProxy(t, s.dst.Endpoint)
	s.dstTCP = harness.StartTCPProxy(t, "minio", s.dst.Endpoint)
	s.pings = newRecorder(t)

	failed := want{exit: exitcode.Failed, reports: []string{mirror.StatusFailed, "incomplete"}}
	unwritable := want{exit: exitcode.Failed, reports: []string{"none"}}
	ok := want{exit: exitcode.OK, ok: true, reports: []string{mirror.StatusOK}}

	s.mirrorFault(fault{"destination refuses connections", "mirror copy", "failure is loud", unwritable},
		&mirrorCase{via: s.dstTCP.Endpoint, before: func(c *mirrorCase) { s.dstTCP.Disable() }, after: func() { s.dstTCP.Enable(t) }})

	s.mirrorFault(fault{"destination resets every photo PUT mid-body (RST)", "mirror copy", "failure is loud", failed},
		&mirrorCase{via: s.dstHTTP.Endpoint, retries: 1, lowLevelRetries: 1, dstRule: onPhotoWrites(harness.Reset)})

	s.mirrorFault(fault{"destination resets the first 3 photo PUTs mid-body (transient)", "mirror copy", "retries recover, all say ok", ok},
		&mirrorCase{via: s.dstHTTP.Endpoint, dstRule: func(c *mirrorCase) harness.Rule {
			var resets atomic.Int64
			return func(r *http.Request, n int64) harness.Fault {
				if harness.IsObjectWrite(r, "photos/") && resets.Add(1) <= 3 {
					return harness.Reset
				}
				return harness.Pass
			}
		}})

	s.mirrorFault(fault{"destination cuts every connection after 48 KiB sent (Toxiproxy limit_data)", "mirror copy", "failure is loud", failed},
		&mirrorCase{via: s.dstTCP.Endpoint, retries: 1, lowLevelRetries: 1,
			before: func(c *mirrorCase) {
				s.dstTCP.AddToxic(t, "cut", "limit_data", "upstream", map[string]any{"bytes": 48 << 10})
			},
			after: func() { s.dstTCP.RemoveToxic(t, "cut") }})

	s.mirrorFault(fault{"destination stalls, each connection dropped after 1 s (Toxiproxy timeout)", "mirror copy", "failure is loud", unwritable},
		&mirrorCase{via: s.dstTCP.Endpoint,
			before: func(c *mirrorCase) {
				s.dstTCP.AddToxic(t, "stall", "timeout", "downstream", map[string]any{"timeout": 1000})
			},
			after: func() { s.dstTCP.RemoveToxic(t, "stall") }})

	s.mirrorFault(fault{"destination answers 503 to the HEAD and listing that open a bucket's mirror prefix", "mirror copy", "retries recover, all say ok", ok},
		&mirrorCase{via: s.dstHTTP.Endpoint, lowLevelRetries: 2, dstRule: func(c *mirrorCase) harness.Rule {
			// rclone HEADs <bucket>/photos to learn whether it is a file,
			// then lists under it: both tries of each get 503; the listing
			// of the copy itself passes.
			var listings atomic.Int64
			return func(r *http.Request, n int64) harness.Fault {
				if r.Method == http.MethodHead && harness.ObjectKey(r) == "photos" {
					return harness.Status503
				}
				if harness.IsListing(r) && strings.HasPrefix(r.URL.Query().Get("prefix"), "photos") && listings.Add(1) <= 2 {
					return harness.Status503
				}
				return harness.Pass
			}
		}})

	s.mirrorFault(fault{"SIGTERM while the destination stalls (Toxiproxy timeout 0: forever)", "mirror copy", "a cancelled run is a failure, and ends within the grace period",
		want{exit: exitcode.Failed, reports: []string{"none", mirror.StatusFailed, "incomplete"}}},
		&mirrorCase{via: s.dstTCP.Endpoint, srcRule: func(c *mirrorCase) harness.Rule {
			var once sync.Once
			return func(r *http.Request, n int64) harness.Fault {
				if r.Method == http.MethodGet && harness.ObjectKey(r) != "" {
					once.Do(func() {
						s.dstTCP.AddToxic(t, "stall", "timeout", "downstream", map[string]any{"timeout": 0})
						time.AfterFunc(time.Second, c.cancel)
					})
				}
				return harness.Pass
			}
		}, unstick: func() {
			s.dstTCP.Disable() // cut the stalled connections, refuse new ones
		}, after: func() {
			s.dstTCP.RemoveToxic(t, "stall")
			s.dstTCP.Enable(t)
		}})

	s.mirrorFault(fault{"source resets mid-listing (every second listing page, RST)", "mirror sync", "a sync whose transfers had any error deletes nothing in that bucket", failed},
		&mirrorCase{via: s.dstHTTP.Endpoint, buckets: []string{"logs", "docs"}, mode: "sync", srcRule: func(c *mirrorCase) harness.Rule {
			return func(r *http.Request, n int64) harness.Fault {
				q := r.URL.Query()
				if harness.IsListing(r) && strings.HasPrefix(r.URL.Path, "/logs") && (q.Get("continuation-token") != "" || q.Get("marker") != "") {
					return harness.Reset
				}
				return harness.Pass
			}
		}})

	s.mirrorFault(fault{"source lists two keys of a bucket out of order", "mirror sync", "a sync over a listing that goes backwards deletes nothing in that bucket", failed},
		&mirrorCase{via: s.dstHTTP.Endpoint, buckets: []string{"logs", "docs"}, mode: "sync", retries: 1,
			before: func(c *mirrorCase) {
				s.srcHTTP.SetRewrite(func(r *http.Request, body []byte) []byte {
					if harness.IsListing(r) && strings.HasPrefix(r.URL.Path, "/logs") {
						return harness.SwapFirstObjects(body)
					}
					return body
				})
			},
			after: func() { s.srcHTTP.SetRewrite(nil) }})

	s.mirrorFault(fault{"destination answers 503 SlowDown to every 4th request (transient)", "mirror copy", "retries recover, all say ok", ok},
		&mirrorCase{via: s.dstHTTP.Endpoint, lowLevelRetries: 5, dstRule: func(c *mirrorCase) harness.Rule {
			return func(r *http.Request, n int64) harness.Fault {
				if n%4 == 0 && !strings.HasPrefix(harness.ObjectKey(r), "_reports/") {
					return harness.Status503
				}
				return harness.Pass
			}
		}})

	s.mirrorFault(fault{"destination answers 503 SlowDown once, to the run report's PUT (transient)", "mirror copy", "retries recover, all say ok", ok},
		&mirrorCase{via: s.dstHTTP.Endpoint, lowLevelRetries: 5, dstRule: func(c *mirrorCase) harness.Rule {
			var once atomic.Bool
			return func(r *http.Request, n int64) harness.Fault {
				if harness.IsObjectWrite(r, "_reports/") && once.CompareAndSwap(false, true) {
					return harness.Status503
				}
				return harness.Pass
			}
		}})

	s.mirrorFault(fault{"destination answers 500 to every photo PUT (persistent)", "mirror copy", "failure is loud", failed},
		&mirrorCase{via: s.dstHTTP.Endpoint, retries: 1, lowLevelRetries: 1, dstRule: onPhotoWrites(harness.Status500)})

	s.mirrorFault(fault{"destination killed and restarted mid-copy, back within the retry budget", "mirror copy", "retries recover, all say ok", ok},
		&mirrorCase{via: s.dst.Endpoint, retries: 3, srcRule: s.killDestinationAt(3, 0)})

	s.mirrorFault(fault{"destination killed and restarted mid-sync, one try", "mirror sync", "a sync whose transfers had any error deletes nothing in that bucket", failed},
		&mirrorCase{via: s.dst.Endpoint, mode: "sync", retries: 1, srcRule: s.killDestinationAt(3, 1500*time.Millisecond)})

	s.mirrorFault(fault{"SIGTERM mid-copy (third photo PUT held)", "mirror copy", "a cancelled run is a failure", failed},
		&mirrorCase{via: s.dstHTTP.Endpoint, dstRule: func(c *mirrorCase) harness.Rule {
			var puts atomic.Int64
			return func(r *http.Request, n int64) harness.Fault {
				if harness.IsObjectWrite(r, "photos/") && (puts.Add(1) >= 3 || c.ctx.Err() != nil) {
					c.cancel()
					return harness.Stall
				}
				return harness.Pass
			}
		}})

	s.mirrorFault(fault{"SIGTERM mid-sync, after the transfers, before the deletes", "mirror sync", "a cancelled run is a failure", failed},
		&mirrorCase{via: s.dstHTTP.Endpoint, mode: "sync", dstRule: func(c *mirrorCase) harness.Rule {
			return func(r *http.Request, n int64) harness.Fault {
				if r.Method == http.MethodDelete || (r.Method == http.MethodPost && r.URL.Query().Has("delete")) {
					c.cancel()
					return harness.Stall
				}
				return harness.Pass
			}
		}})

	s.mirrorFault(fault{"zero buckets selected (the allow-listed bucket is excluded)", "mirror copy", "zero selected buckets is a failure", failed},
		&mirrorCase{via: s.dst.Endpoint, buckets: []string{"photos"}, exclude: []string{"photos"}})

	s.verifyFault(fault{"SIGTERM mid-verify (mirror listing held)", "verify rgw", "a cancelled run is a failure", want{exit: exitcode.Failed, reports: []string{"ok=false"}}})

	s.offloadFault(fault{"SIGTERM mid-upload (snapshot PUT held)", "offload once", "a cancelled run is a failure", want{exit: exitcode.Failed, reports: []string{"n/a"}}})

	s.report(time.Since(start))
}

// killDestinationAt kills the destination MinIO when the nth source
// object is read, and starts it again after down (during which the run's
// transfers find it gone).
func (s *suite) killDestinationAt(nth int64, down time.Duration) func(c *mirrorCase) harness.Rule {
	return func(c *mirrorCase) harness.Rule {
		var gets atomic.Int64
		return func(r *http.Request, n int64) harness.Fault {
			if r.Method == http.MethodGet && harness.ObjectKey(r) != "" && gets.Add(1) == nth {
				s.dst.Stop()
				time.Sleep(down)
				if err := s.dst.Start(); err != nil {
					s.t.Errorf("restart the destination: %v", err)
				}
			}
			return harness.Pass
		}
	}
}

// mirrorCase is how one mirror fault is set up.
type mirrorCase struct {
	via             string   // the destination endpoint offsite is given
	buckets         []string // RGW_BUCKETS; default photos,docs
	exclude         []string
	mode            string // copy (default) or sync
	retries         int    // default 2
	lowLevelRetries int    // default 2
	srcRule         func(c *mirrorCase) harness.Rule
	dstRule         func(c *mirrorCase) harness.Rule
	before          func(c *mirrorCase)
	after           func()
	unstick         func() // releases a run that outlived sigtermLimit

	bucket      string // the destination bucket of this case
	ctx         context.Context
	cancel      context.CancelFunc
	cancelledAt atomic.Pointer[time.Time]
}

// slug names a fault's destination bucket and ping path.
func (s *suite) slug() string {
	s.n++
	return fmt.Sprintf("fault-%02d", s.n)
}

func (s *suite) monitorArgs(slug string) ([]string, string) {
	metrics := filepath.Join(s.t.TempDir(), slug+".prom")
	return []string{"--ping-url", s.pings.URL + "/" + slug, "--metrics-file", metrics}, metrics
}

func (s *suite) mirrorFault(f fault, c *mirrorCase) {
	t := s.t
	slug := s.slug()
	c.bucket = slug
	if c.buckets == nil {
		c.buckets = []string{"photos", "docs"}
	}
	if c.mode == "" {
		c.mode = "copy"
	}
	if c.retries == 0 {
		c.retries = 2
	}
	if c.lowLevelRetries == 0 {
		c.lowLevelRetries = 2
	}
	s.dst.MakeBucket(t, c.bucket)
	old := oldMirror(s.source, c.buckets)
	prefixed := map[string][]byte{}
	for k, v := range old {
		prefixed[k] = v
	}
	s.dst.PutMany(t, c.bucket, prefixed)
	before := s.dst.Objects(t, c.bucket, "")

	monArgs, metrics := s.monitorArgs(slug)
	args := []string{"mirror",
		"--rgw-endpoint", s.srcHTTP.Endpoint, "--rgw-access-key-id", s.src.AccessKey, "--rgw-secret-access-key", s.src.SecretKey,
		"--minio-endpoint", c.via, "--minio-access-key-id", s.dst.AccessKey, "--minio-secret-access-key", s.dst.SecretKey,
		"--minio-bucket", c.bucket, "--rgw-buckets", strings.Join(c.buckets, ","), "--mode", c.mode,
		"--retries", fmt.Sprint(c.retries), "--retries-sleep", "1s", "--low-level-retries", fmt.Sprint(c.lowLevelRetries),
		"--transfers", "4", "--max-delete", "50%", "--progress-interval", "0s",
	}
	if len(c.exclude) > 0 {
		args = append(args, "--rgw-exclude-buckets", strings.Join(c.exclude, ","))
	}
	args = append(args, monArgs...)

	c.ctx, c.cancel = context.WithCancel(context.Background())
	cancel := c.cancel
	c.cancel = func() {
		now := time.Now()
		c.cancelledAt.CompareAndSwap(nil, &now)
		cancel()
	}
	defer cancel()
	if c.srcRule != nil {
		s.srcHTTP.SetRule(c.srcRule(c))
	}
	if c.dstRule != nil {
		s.dstHTTP.SetRule(c.dstRule(c))
	}
	if c.before != nil {
		c.before(c)
	}
	obs := s.runBounded(c.ctx, c, args)
	s.srcHTTP.SetRule(nil)
	s.dstHTTP.SetRule(nil)
	if c.after != nil {
		c.after()
	}

	obs.report, obs.buckets = s.mirrorReport(c.bucket)
	s.readMonitoring(&obs, slug, metrics)
	obs.data = s.checkMirror(c, before, obs.buckets)
	s.record(f, obs)
}

// runResult is how one offsite run ended.
type runResult struct {
	code           int
	stdout, stderr string
}

// runBounded runs offsite with args and waits for it: runLimit at most,
// and sigtermLimit after a cancel. Past that it calls c.unstick, if any,
// and waits once more, so that the signals a late exit still gives (the
// ones a SIGKILL after the grace period would have lost) are seen too.
func (s *suite) runBounded(ctx context.Context, c *mirrorCase, args []string) seen {
	var obs seen
	done := make(chan runResult, 1)
	start := time.Now()
	go func() {
		code, stdout, stderr := runOffsite(ctx, args...)
		done <- runResult{code, stdout, stderr}
	}()
	finish := func(r runResult, late string) seen {
		obs.code, obs.exited, obs.stdout, obs.log = r.code, late == "", r.stdout, r.stderr
		obs.exit = fmt.Sprint(r.code) + late
		obs.took = time.Since(start)
		return obs
	}
	lateExit := func(why string) seen {
		if c != nil && c.unstick != nil {
			c.unstick()
		}
		select {
		case r := <-done:
			return finish(r, fmt.Sprintf(" (%s; exited %.0fs after start)", why, time.Since(start).Seconds()))
		case <-time.After(3 * time.Minute):
			s.t.Fatalf("offsite %v did not end even after the fault was lifted", args[0])
			return obs
		}
	}
	limit := time.NewTimer(runLimit)
	defer limit.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return finish(r, "")
		case <-limit.C:
			return lateExit(fmt.Sprintf("still running after %v", runLimit))
		case <-tick.C:
			if c == nil {
				continue
			}
			if at := c.cancelledAt.Load(); at != nil && time.Since(*at) > sigtermLimit {
				return lateExit(fmt.Sprintf("still running %v after SIGTERM", sigtermLimit))
			}
		}
	}
}

// mirrorReport reads the newest run report in bucket: its status and its
// buckets' statuses, "none" when there is none.
func (s *suite) mirrorReport(bucket string) (string, map[string]string) {
	var newest string
	for k := range s.dst.List(s.t, bucket, "_reports/") {
		if harness.IsRunReport(k) && k > newest {
			newest = k
		}
	}
	if newest == "" {
		return "none", nil
	}
	data, _ := s.dst.Get(s.t, bucket, newest)
	var rep mirror.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return "unreadable: " + err.Error(), nil
	}
	statuses := map[string]string{}
	for _, b := range rep.Buckets {
		statuses[b.Name] = b.Status
	}
	return rep.Status, statuses
}

// readMonitoring fills in the ping after /start and the metrics.
func (s *suite) readMonitoring(obs *seen, slug, metrics string) {
	obs.ping = "none"
	for _, req := range s.pings.got() {
		path := strings.TrimPrefix(req, "POST ")
		switch path {
		case "/" + slug + "/start":
			obs.ping = "start only"
		case "/" + slug + "/fail":
			obs.ping = "fail"
		case "/" + slug:
			obs.ping = "success"
		}
	}
	obs.metric = "none"
	f, err := os.Open(metrics)
	if err != nil {
		return
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		obs.metric = "unparsable: " + err.Error()
		return
	}
	one := func(name string) (float64, bool) {
		mf := families[name]
		if mf == nil || len(mf.GetMetric()) != 1 {
			return 0, false
		}
		return mf.GetMetric()[0].GetGauge().GetValue(), true
	}
	succ, ok1 := one(monitor.MetricRunSuccess)
	code, ok2 := one(monitor.MetricRunExitCode)
	if !ok1 || !ok2 {
		obs.metric = "incomplete"
		return
	}
	obs.success, obs.exitMetric, obs.hasMetric = succ, code, true
	obs.metric = fmt.Sprintf("%g/%g", succ, code)
}

// checkMirror compares the destination with what it held before the run:
// nothing that was there may be gone, unless its bucket synced ok and its
// source is gone; every object must be whole, the old version or the
// source's; a bucket reported ok must equal its source.
func (s *suite) checkMirror(c *mirrorCase, before map[string]harness.Object, statuses map[string]string) string {
	after := s.dst.Objects(s.t, c.bucket, "")
	var problems []string
	var lost, torn, stale int
	for k := range before {
		b, key, _ := strings.Cut(k, "/")
		_, atSource := s.srcETags[k]
		if _, ok := after[k]; !ok {
			if c.mode == "sync" && statuses[b] == mirror.StatusOK && !atSource {
				continue // deleted by a sync that had no error: right
			}
			lost++
			if lost <= 3 {
				problems = append(problems, "lost "+b+"/"+key)
			}
		}
	}
	for k, o := range after {
		if strings.HasPrefix(k, "_reports/") {
			continue
		}
		if b, _, _ := strings.Cut(k, "/"); !slices.Contains(c.buckets, b) {
			torn++
			if torn <= 3 {
				problems = append(problems, fmt.Sprintf("misplaced %s (outside every bucket's prefix)", k))
			}
			continue
		}
		if o.ETag != s.srcETags[k] && (before[k].ETag == "" || o.ETag != before[k].ETag) {
			torn++
			if torn <= 3 {
				problems = append(problems, fmt.Sprintf("half-written or foreign %s (%d bytes)", k, o.Size))
			}
		}
	}
	for k, etag := range s.srcETags {
		b, _, _ := strings.Cut(k, "/")
		if statuses[b] == mirror.StatusOK && after[k].ETag != etag {
			stale++
			if stale <= 3 {
				problems = append(problems, "reported ok but not mirrored: "+k)
			}
		}
	}
	if len(problems) == 0 {
		return "intact"
	}
	return fmt.Sprintf("%d lost, %d half-written or misplaced, %d missing from an ok bucket: %s", lost, torn, stale, strings.Join(problems, "; "))
}

// record judges one run against its fault's expectations and adds the row.
func (s *suite) record(f fault, obs seen) {
	w := f.want
	wantPing, wantSuccess := "fail", 0.0
	if w.ok {
		wantPing, wantSuccess = "success", 1
	}
	r := row{fault: f, took: obs.took}
	r.cells[0] = cell{obs.exit, obs.exited && obs.code == w.exit}
	r.cells[1] = cell{obs.report, slices.Contains(w.reports, obs.report)}
	r.cells[2] = cell{obs.ping, obs.ping == wantPing}
	metric := obs.metric
	if !obs.exited {
		metric += " (late)"
	}
	r.cells[3] = cell{metric, obs.hasMetric && obs.success == wantSuccess && int(obs.exitMetric) == obs.code && obs.exited}
	r.cells[4] = cell{obs.data, obs.data == "intact"}
	wants := []string{fmt.Sprint(w.exit), strings.Join(w.reports, " or "), wantPing, fmt.Sprintf("%g/%d", wantSuccess, w.exit), "intact"}
	for i := range r.cells {
		if !r.cells[i].pass {
			r.cells[i].value += " (want " + wants[i] + ")"
		}
	}
	s.mu.Lock()
	s.rows = append(s.rows, r)
	s.mu.Unlock()
	bad := false
	for _, c := range r.cells {
		bad = bad || !c.pass
	}
	if bad {
		s.t.Errorf("fault %q (%s): %s; rule: %s\nstdout:\n%s\nlog (tail):\n%s", f.name, f.command, r.summary(), f.rule, obs.stdout, tail(obs.log, 40))
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func (c cell) String() string {
	mark := "✓"
	if !c.pass {
		mark = "✗"
	}
	return mark + " " + c.value
}

func (r row) summary() string {
	return fmt.Sprintf("exit %s | report %s | ping %s | metric %s | data %s", r.cells[0], r.cells[1], r.cells[2], r.cells[3], r.cells[4])
}

// verifyFault cancels verify rgw while it lists the mirror.
func (s *suite) verifyFault(f fault) {
	t := s.t
	slug := s.slug()
	bucket := slug
	s.dst.MakeBucket(t, bucket)
	ends := []string{
		"--rgw-endpoint", s.srcHTTP.Endpoint, "--rgw-access-key-id", s.src.AccessKey, "--rgw-secret-access-key", s.src.SecretKey,
		"--minio-endpoint", s.dstHTTP.Endpoint, "--minio-access-key-id", s.dst.AccessKey, "--minio-secret-access-key", s.dst.SecretKey,
		"--minio-bucket", bucket, "--rgw-buckets", "photos,docs",
	}
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	if code, stdout, stderr := runOffsite(ctx, append([]string{"mirror"}, ends...)...); code != exitcode.OK {
		t.Fatalf("clean mirror before verify: exit %d\n%s\n%s", code, stdout, stderr)
	}
	before := s.dst.Objects(t, bucket, "")
	monArgs, metrics := s.monitorArgs(slug)
	c := &mirrorCase{bucket: bucket, mode: "copy", buckets: []string{"photos", "docs"}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()
	cancelRun := c.cancel
	c.cancel = func() {
		now := time.Now()
		c.cancelledAt.CompareAndSwap(nil, &now)
		cancelRun()
	}
	s.dstHTTP.SetRule(func(r *http.Request, n int64) harness.Fault {
		if harness.IsListing(r) && strings.HasPrefix(r.URL.Query().Get("prefix"), "photos") {
			c.cancel()
			return harness.Stall
		}
		return harness.Pass
	})
	obs := s.runBounded(c.ctx, c, append(append(append([]string{"verify", "rgw"}, ends...), "--output", "json"), monArgs...))
	s.dstHTTP.SetRule(nil)
	var rep mirror.VerifyReport
	if err := json.Unmarshal([]byte(obs.stdout), &rep); err != nil {
		obs.report = "no JSON report"
	} else {
		obs.report = fmt.Sprintf("ok=%v", rep.OK)
	}
	s.readMonitoring(&obs, slug, metrics)
	statuses := map[string]string{"photos": mirror.StatusOK, "docs": mirror.StatusOK} // the clean mirror
	obs.data = s.checkMirror(c, before, statuses)
	s.record(f, obs)
}

// offloadFault cancels offload once while a new snapshot's PUT is half
// sent, then runs it again without the fault.
func (s *suite) offloadFault(f fault) {
	t := s.t
	slug := s.slug()
	bucket := slug
	s.dst.MakeBucket(t, bucket)
	snapDir, stateDir := t.TempDir(), t.TempDir()
	args := func(extra ...string) []string {
		return append([]string{"offload", "once",
			"--minio-endpoint", s.dstHTTP.Endpoint, "--minio-access-key-id", s.dst.AccessKey, "--minio-secret-access-key", s.dst.SecretKey,
			"--minio-bucket", bucket, "--host", "node1", "--snapshot-dir", snapDir, "--state-dir", stateDir, "--quiet-period", "100ms",
			"--backoff-min", "100ms", "--backoff-max", "1s"}, extra...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	oldName := offloadtest.Name("node1", time.Now().Unix()-3600)
	oldData := offloadtest.Snapshot(64, 1)
	offloadtest.WriteRaw(t, snapDir, oldName, oldData)
	if code, _, stderr := runOffsite(ctx, args()...); code != exitcode.OK {
		t.Fatalf("first offload: exit %d\n%s", code, stderr)
	}
	newName := offloadtest.Name("node1", time.Now().Unix())
	newData := offloadtest.Snapshot(256, 2) // 1 MiB: the proxy holds it after 16 KiB
	offloadtest.WriteRaw(t, snapDir, newName, newData)

	monArgs, metrics := s.monitorArgs(slug)
	c := &mirrorCase{}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()
	cancelRun := c.cancel
	c.cancel = func() {
		now := time.Now()
		c.cancelledAt.CompareAndSwap(nil, &now)
		cancelRun()
	}
	s.dstHTTP.SetRule(func(r *http.Request, n int64) harness.Fault {
		if harness.IsObjectWrite(r, "node1/"+newName) {
			c.cancel()
			return harness.Stall
		}
		return harness.Pass
	})
	obs := s.runBounded(c.ctx, c, append(args(), monArgs...))
	s.dstHTTP.SetRule(nil)
	obs.report = "n/a"
	s.readMonitoring(&obs, slug, metrics)

	// The old snapshot is whole with its sidecar; the new one has no
	// sidecar unless it is whole; a run without the fault ships it.
	var problems []string
	check := func(name string, data []byte, mustExist bool) {
		got, ok := s.dst.Get(t, bucket, "node1/"+name)
		sidecar, hasSidecar := s.dst.Get(t, bucket, "node1/"+name+offload.SidecarSuffix)
		switch {
		case mustExist && (!ok || !hasSidecar):
			problems = append(problems, "lost "+name)
		case ok && etagOf(got) != etagOf(data):
			problems = append(problems, "half-written "+name)
		case hasSidecar && (!ok || !strings.HasPrefix(string(sidecar), offloadtest.SHA256(data))):
			problems = append(problems, "sidecar without its whole snapshot "+name)
		}
	}
	check(oldName, oldData, true)
	check(newName, newData, false)
	if code, _, stderr := runOffsite(ctx, args()...); code != exitcode.OK {
		problems = append(problems, fmt.Sprintf("the next run failed: exit %d: %s", code, tail(stderr, 3)))
	} else {
		check(newName, newData, true)
	}
	obs.data = "intact"
	if len(problems) > 0 {
		obs.data = strings.Join(problems, "; ")
	}
	s.record(f, obs)
}

// report logs the matrix and, with OFFSITE_FAULTS_DOC set, writes it there.
func (s *suite) report(took time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | command | exit | report | ping | metric success/exit_code | data | took | rule |\n")
	fmt.Fprintf(&b, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	failed := 0
	for _, r := range s.rows {
		fmt.Fprintf(&b, "| %s | `%s` |", r.name, r.command)
		bad := false
		for _, c := range r.cells {
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(c.String(), "|", "/"))
			bad = bad || !c.pass
		}
		if bad {
			failed++
		}
		fmt.Fprintf(&b, " %.1fs | %s |\n", r.took.Seconds(), r.rule)
	}
	s.t.Logf("fault matrix (%d faults, %d with a failing cell, suite %.0fs):\n%s", len(s.rows), failed, took.Seconds(), b.String())
	path := os.Getenv(faultsDocEnv)
	if path == "" {
		return
	}
	doc := fmt.Sprintf(faultsDocHead, took.Seconds(), time.Now().UTC().Format("2006-01-02"), len(s.rows), failed) + b.String()
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		s.t.Errorf("write %s: %v", path, err)
	}
}

const faultsDocHead = `# Fault injection

What a failed backup looks like from the outside, fault by fault: offsite
runs in-process against two real MinIO servers (one stands in for the Ceph
RGW), with a proxy between them that injects the fault. For each fault the
suite asserts together the four signals of the run (exit code, status of
the run report in the destination's ` + "`_reports/`" + `, the
healthchecks-style ping after ` + "`/start`" + `, and
` + "`offsite_run_success`/`offsite_run_exit_code`" + ` in the
` + "`OFFSITE_METRICS_FILE`" + ` textfile) and that no mirror object and no
snapshot was lost or half-written (object lists and MD5s before and after;
in sync mode nothing deleted in a bucket that had any error).

Run it (about %.0f s on two shared cores, measured %s; a missing server
fails it rather than skips it):

` + "```sh" + `
OFFSITE_TEST_REQUIRE_S3=1 go test -count=1 -run '^TestFaults$' -v ./cmd/offsite
OFFSITE_FAULTS_DOC=$PWD/docs/faults.md OFFSITE_TEST_REQUIRE_S3=1 go test -count=1 -run '^TestFaults$' ./cmd/offsite   # rewrite this page
` + "```" + `

The proxies (internal/harness/proxy.go): Toxiproxy in-process for TCP
faults (refused connections, ` + "`limit_data`" + `, ` + "`timeout`" + `), and
an S3-aware reverse proxy that answers 500/503, resets (RST after 16 KiB of
the request body) or holds chosen requests: a listing's second page, the
third photo PUT, the first DELETE. "SIGTERM" is the cancel of the run's
context, as main does on SIGTERM; a held request is what makes it land at a
known point. "Killed" stops the destination MinIO process (SIGTERM to it)
and starts it again on the same port and data.

Expected: exit 0 ok, 1 failed, 2 config, 3 safety stop, 4 verify found a
difference; the exit code agrees with the report, the ping and the metric;
a cancelled run (SIGTERM, deadline) is a failure and ends within 25 s of
SIGTERM (Kubernetes' grace period is 30 s: a SIGKILL sends no ping); zero
selected buckets is a failure; a report that cannot reach an unreachable
destination is "none". %d faults, %d with a failing cell (✗, with what the
rule wants; the rule column names it).

`

// onPhotoWrites answers every object write under photos/ with f.
func onPhotoWrites(f harness.Fault) func(*mirrorCase) harness.Rule {
	return func(*mirrorCase) harness.Rule {
		return func(r *http.Request, _ int64) harness.Fault {
			if harness.IsObjectWrite(r, "photos/") {
				return f
			}
			return harness.Pass
		}
	}
}
