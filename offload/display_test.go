package offload

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// recordingSink records what a live display would be fed.
type recordingSink struct {
	mu   sync.Mutex
	last map[string]livebar.Stat
	done []string
}

func (r *recordingSink) Update(s livebar.Stat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[s.Name] = s
}

func (r *recordingSink) Done(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, name)
}

// Once feeds the display each upload's counters from rclone's accounting:
// at the end, the whole file sent, one object.
func TestOnceFeedsTheDisplay(t *testing.T) {
	f := newFixture(t)
	sink := &recordingSink{last: map[string]livebar.Stat{}}
	f.cfg.Display = sink
	name := offloadtest.Name(testHost, 1700007000)
	data := offloadtest.Snapshot(64, 700)
	f.write(name, data)
	time.Sleep(testQuiet)
	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err != nil || len(res.Uploaded) != 1 {
		t.Fatalf("Once = %+v, %v; want 1 uploaded", res, err)
	}
	f.checkUploaded(name, data)
	s := sink.last[name]
	if len(sink.done) != 1 || sink.done[0] != name || s.Objects != 1 || s.TotalObjects != 1 || s.Bytes != int64(len(data)) || s.TotalBytes != int64(len(data)) {
		t.Errorf("display got %+v, done %v; want %s: 1/1 objects, %d/%d bytes", s, sink.done, name, len(data), len(data))
	}
}
