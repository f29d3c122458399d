package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// recorder is a matcher that writes down what it is told, and counts
// the objects it was handed as no longer held.
type recorder struct {
	mu                      sync.Mutex
	gotSrc, gotDst, gotBoth []string
	held                    heldCounter
}

func (r *recorder) note(list *[]string, key string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, key)
	r.held.add(-n)
}

func (r *recorder) srcOnly(src object) { r.note(&r.gotSrc, src.key, 1) }
func (r *recorder) dstOnly(dst object) { r.note(&r.gotDst, dst.key, 1) }
func (r *recorder) both(src, dst object) {
	if src.key != dst.key {
		panic("matched " + dst.key + " with " + src.key)
	}
	r.note(&r.gotBoth, src.key, 2)
}

// heldCounter counts the objects a merge holds: listed, and not yet
// handed to its matcher.
type heldCounter struct {
	mu       sync.Mutex
	now, max int64
}

func (h *heldCounter) add(n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now += n
	h.max = max(h.max, h.now)
}

// listFn is a listing's list function.
type listFn = func(ctx context.Context, page func([]object) error) error

// counted is list with every object it lists counted as held.
func (h *heldCounter) counted(list listFn) listFn {
	return func(ctx context.Context, page func([]object) error) error {
		return list(ctx, func(objs []object) error {
			h.add(int64(len(objs)))
			return page(objs)
		})
	}
}

// pages is a fake flat listing: keys in the given order, in pages of
// pageSize.
func pages(keys []string, pageSize int) listFn {
	return func(ctx context.Context, page func([]object) error) error {
		for len(keys) > 0 {
			n := min(pageSize, len(keys))
			objs := make([]object, n)
			for i, k := range keys[:n] {
				objs[i] = object{key: k}
			}
			if err := page(objs); err != nil {
				return err
			}
			keys = keys[n:]
		}
		return nil
	}
}

func TestMergeMatchesBothSides(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	var src, dst, wantSrc, wantDst, wantBoth []string
	for i := range 20_000 {
		k := fmt.Sprintf("urn:oid:%d", i)
		switch r.IntN(4) {
		case 0:
			src, wantSrc = append(src, k), append(wantSrc, k)
		case 1:
			dst, wantDst = append(dst, k), append(wantDst, k)
		default:
			src, dst, wantBoth = append(src, k), append(dst, k), append(wantBoth, k)
		}
	}
	// Odd keys: a directory marker, an object under it, a key ending in a
	// slash that sorts right after its namesake, bytes around '/', a tab
	// before its plain neighbour.
	odd := []string{"a", "a-b", "a.b", "a/", "a/b", "a0", "d/f\t1", "d/f1", "z", "z/"}
	src, dst = append(src, odd...), append(dst, odd[:5]...)
	slices.Sort(src)
	slices.Sort(dst)
	wantBoth = append(wantBoth, "a", "a-b", "a.b", "a/", "a/b")
	wantSrc = append(wantSrc, "a0", "d/f\t1", "d/f1", "z", "z/")
	for _, want := range [][]string{wantSrc, wantDst, wantBoth} {
		slices.Sort(want)
	}

	rec := &recorder{}
	err := merge(ctx, listing{name: "source", list: rec.held.counted(pages(src, 100))},
		listing{name: "mirror", list: rec.held.counted(pages(dst, 37))}, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []string
	}{{"source only", rec.gotSrc, wantSrc}, {"mirror only", rec.gotDst, wantDst}, {"both", rec.gotBoth, wantBoth}} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: got %d keys, want %d", c.name, len(c.got), len(c.want))
		}
	}
	// The memory bound: a page being merged, pagesInFlight queued and one
	// in the lister's hands, per side, whatever the listing's length.
	if bound := int64(2 * (pagesInFlight + 2) * 100); rec.held.max > bound {
		t.Errorf("merge held %d entries at once, more than %d", rec.held.max, bound)
	}
	if rec.held.now != 0 {
		t.Errorf("%d objects still counted as held after the merge", rec.held.now)
	}
}

// TestMergeHoldsBoundedEntries lists a million keys per side: the count of
// entries held never grows with the listing.
func TestMergeHoldsBoundedEntries(t *testing.T) {
	keys := make([]string, 1_000_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("urn:oid:%07d", i)
	}
	rec := &recorder{}
	err := merge(context.Background(), listing{name: "source", list: rec.held.counted(pages(keys, 100))},
		listing{name: "mirror", list: rec.held.counted(pages(keys[1:], 100))}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.gotBoth) != len(keys)-1 || len(rec.gotSrc) != 1 || len(rec.gotDst) != 0 {
		t.Fatalf("got %d matched, %d source only, %d mirror only", len(rec.gotBoth), len(rec.gotSrc), len(rec.gotDst))
	}
	if bound := int64(2 * (pagesInFlight + 2) * 100); rec.held.max > bound {
		t.Errorf("merge held %d entries at once over a million, more than %d", rec.held.max, bound)
	}
}

func TestMergeStopsOnOutOfOrderKeys(t *testing.T) {
	sorted := make([]string, 1000)
	for i := range sorted {
		sorted[i] = fmt.Sprintf("k%04d", i)
	}
	backwards := slices.Clone(sorted)
	backwards[700], backwards[701] = backwards[701], backwards[700]
	repeated := slices.Clone(sorted)
	repeated[500] = repeated[499]
	marker := slices.Clone(sorted)
	marker[300] = "k0299/" // a marker sorts after its namesake, and k0300 after it...
	marker[301] = "k0299"  // ...but not the namesake after the marker
	for _, c := range []struct {
		name     string
		src, dst []string
		side     string
	}{
		{"source backwards", backwards, sorted, "source"},
		{"mirror backwards", sorted, backwards, "mirror"},
		{"mirror repeats a key", sorted, repeated, "mirror"},
		{"source marker order", marker, sorted, "source"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			err := merge(context.Background(), listing{name: "source", list: pages(c.src, 100)},
				listing{name: "mirror", list: pages(c.dst, 100)}, rec)
			if !errors.Is(err, errListOrder) {
				t.Fatalf("merge: %v, want an out-of-order error", err)
			}
			if !strings.Contains(err.Error(), "the "+c.side+" listed") {
				t.Errorf("error %q does not name the %s", err, c.side)
			}
		})
	}
}

// TestMergeListingErrors: a listing's error fails the merge, on either
// side: a mirror that cannot be listed is never taken for an empty one.
func TestMergeListingErrors(t *testing.T) {
	boom := errors.New("boom")
	failing := func(ctx context.Context, page func([]object) error) error { return boom }
	keys := []string{"a", "b"}
	for _, c := range []struct {
		name     string
		src, dst listFn
	}{
		{"source fails", failing, pages(keys, 1)},
		{"mirror fails", pages(keys, 1), failing},
	} {
		rec := &recorder{}
		err := merge(context.Background(), listing{name: "source", list: c.src},
			listing{name: "mirror", list: c.dst}, rec)
		if !errors.Is(err, boom) || len(rec.gotSrc)+len(rec.gotDst)+len(rec.gotBoth) != 0 {
			t.Errorf("%s: %v, %+v; want the error and nothing matched", c.name, err, rec)
		}
	}
}

// rewritingProxy passes requests to endpoint, and each answer through
// modify: a server that misbehaves in one precise way.
func rewritingProxy(t *testing.T, endpoint string, modify func(*http.Response) error) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = modify
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// reorderingProxy passes requests to endpoint, and when swap is set, swaps
// the first two objects of every page a listing of bucket returns (V1 or
// V2: rclone lists a Ceph provider with V1): a server whose listing goes
// backwards.
func reorderingProxy(t *testing.T, endpoint, bucket string, swap *atomic.Bool) string {
	t.Helper()
	return rewritingProxy(t, endpoint, func(resp *http.Response) error {
		r := resp.Request
		if !swap.Load() || r.Method != http.MethodGet || strings.Trim(r.URL.Path, "/") != bucket || !r.URL.Query().Has("max-keys") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		parts := strings.SplitAfter(string(body), "</Contents>")
		if len(parts) > 2 {
			first, second := parts[0], parts[1]
			i, j := strings.Index(first, "<Contents>"), strings.Index(second, "<Contents>")
			parts[0], parts[1] = first[:i]+second[j:], second[:j]+first[i:]
		}
		out := strings.Join(parts, "")
		resp.Body = io.NopCloser(strings.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
		return nil
	})
}

// TestOutOfOrderListingDeletesNothing: a source whose listing goes
// backwards fails the bucket, names the source, and deletes nothing.
func TestOutOfOrderListingDeletesNothing(t *testing.T) {
	src, dst, cfg := servers(t, "alpha")
	for i := range 10 {
		src.Put(t, "alpha", fmt.Sprintf("f%02d", i), []byte(fmt.Sprintf("content %02d", i)))
	}
	var swap atomic.Bool
	cfg.Source.Endpoint = reorderingProxy(t, src.Endpoint, "alpha", &swap)
	cfg.Mode = ModeSync
	mustRun(t, cfg)
	src.Delete(t, "alpha", "f09") // the sync would delete alpha/f09

	swap.Store(true)
	rep, err := run(t, cfg)
	if err == nil || errors.Is(err, exitcode.ErrSafetyStop) {
		t.Fatalf("err=%v, want a failed run", err)
	}
	b := rep.Bucket("alpha")
	if b == nil || b.Status != StatusFailed || b.Deleted != 0 || b.Attempts != 1 {
		t.Fatalf("alpha: %+v", b)
	}
	if msg := strings.Join(b.ErrorMessages, "\n"); !strings.Contains(msg, "out of order") || !strings.Contains(msg, "the source alpha/") {
		t.Errorf("error messages do not say which listing went out of order: %q", msg)
	}
	if _, ok := dst.Get(t, destBucket, "alpha/f09"); !ok {
		t.Fatal("a sync over an out-of-order listing deleted alpha/f09")
	}

	swap.Store(false)
	rep = mustRun(t, cfg)
	if b := rep.Bucket("alpha"); b.Deleted != 1 || b.Status != StatusOK {
		t.Fatalf("in order again: %+v", b)
	}
}
