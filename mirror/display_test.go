package mirror

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/offsite-backup/offsite/internal/livebar"
)

// recordingSink records what a live display would be fed.
type recordingSink struct {
	mu      sync.Mutex
	last    map[string]livebar.Stat
	updates map[string]int
	done    []string
}

func (r *recordingSink) Update(s livebar.Stat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[s.Name] = s
	r.updates[s.Name]++
}

func (r *recordingSink) Done(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, name)
}

// A run feeds the display each bucket's counters from rclone's
// accounting, and the last ones it sends are the report's.
func TestRunFeedsTheDisplay(t *testing.T) {
	src, _, cfg := servers(t, "alpha", "beta")
	for i := range 30 {
		src.Put(t, "alpha", fmt.Sprintf("a%02d", i), randomBytes(t, 1000))
	}
	src.Put(t, "beta", "b", randomBytes(t, 10))
	sink := &recordingSink{last: map[string]livebar.Stat{}, updates: map[string]int{}}
	cfg.Display = sink
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(sink.done), "[alpha beta]"; got != want {
		t.Errorf("done %s, want %s", got, want)
	}
	for _, b := range rep.Buckets {
		s := sink.last[b.Name]
		if sink.updates[b.Name] < 2 || s.Objects != b.Transferred || s.TotalObjects != b.Transferred || s.Bytes != b.Bytes || s.TotalBytes != b.Bytes {
			t.Errorf("bucket %s: %d updates, last %+v; report %d transferred, %d bytes", b.Name, sink.updates[b.Name], s, b.Transferred, b.Bytes)
		}
	}
}
