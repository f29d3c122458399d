package livebar

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// refreshRate is how often the display is redrawn.
const refreshRate = 200 * time.Millisecond

// Display draws the running items and a totals line on a terminal. It is
// a Sink. mpb cuts a line to the terminal's width (a line that wrapped
// would break the redraw in place). Logs written through its Switch while it is live are printed
// above the bars, so they do not tear them.
type Display struct {
	p     *mpb.Progress
	logs  *Switch
	total *mpb.Bar
	start time.Time

	mu    sync.Mutex
	items map[string]*item
	ended Stat // the sum of the finished items
	count int  // items finished

	closed sync.Once
}

type item struct {
	bar  *mpb.Bar
	stat Stat
}

// New starts a display on out (a terminal: with force, whatever out is).
// logs, if not nil, is switched to print above the display until Close.
func New(ctx context.Context, out io.Writer, logs *Switch, force bool) *Display {
	opts := []mpb.ContainerOption{mpb.WithOutput(out), mpb.WithRefreshRate(refreshRate), mpb.WithWidth(100)}
	if force {
		opts = append(opts, mpb.ForceTTY(), mpb.WithAutoRefresh())
	}
	d := &Display{p: mpb.NewWithContext(ctx, opts...), logs: logs, items: map[string]*item{}, start: time.Now()}
	// The totals line comes last: it has the lowest priority (highest number).
	d.total = d.p.New(0, mpb.NopStyle(), mpb.BarPriority(1<<30),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return d.totalLine() })))
	if logs != nil {
		logs.set(d.p)
	}
	return d
}

// Update implements Sink.
func (d *Display) Update(s Stat) {
	d.mu.Lock()
	it, ok := d.items[s.Name]
	if !ok {
		it = &item{}
		d.items[s.Name] = it
	}
	it.stat = s
	d.mu.Unlock()
	if !ok {
		// Add fails only once the display is shut down (a cancelled run).
		it.bar, _ = d.p.Add(0, mpb.BarStyle().Lbound("[").Rbound("]").Build(), mpb.BarWidth(20), mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(decor.Name(shorten(s.Name, maxName), decor.WC{C: decor.DindentRight | decor.DSyncWidth})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return d.line(it) })))
	}
	if it.bar == nil {
		return
	}
	// The bar draws bytes; before the first transfer is known, checks.
	cur, total := s.Bytes, s.TotalBytes
	if total == 0 {
		cur, total = s.Checks, s.TotalChecks
	}
	it.bar.SetTotal(max(total, cur), false)
	it.bar.SetCurrent(cur)
}

// Done implements Sink.
func (d *Display) Done(name string) {
	d.mu.Lock()
	it, ok := d.items[name]
	if ok {
		delete(d.items, name)
		d.ended = add(d.ended, it.stat)
		d.count++
	}
	d.mu.Unlock()
	if ok && it.bar != nil {
		it.bar.SetTotal(-1, true)
	}
}

// Close ends every line, draws the last frame and gives the logs their
// writer back. The display cannot be used afterwards; closing it again
// does nothing.
func (d *Display) Close() { d.closed.Do(d.close) }

func (d *Display) close() {
	d.mu.Lock()
	var names []string
	for name := range d.items {
		names = append(names, name)
	}
	d.mu.Unlock()
	for _, name := range names {
		d.Done(name)
	}
	d.total.SetTotal(-1, true)
	d.p.Wait()
	if d.logs != nil {
		d.logs.set(nil)
	}
}

// line is an item's counters after its bar.
func (d *Display) line(it *item) string {
	d.mu.Lock()
	s := it.stat
	d.mu.Unlock()
	return counters(s)
}

// totalLine adds up the finished and the running items.
func (d *Display) totalLine() string {
	d.mu.Lock()
	t, running := d.ended, len(d.items)
	var eta time.Duration
	for _, it := range d.items {
		t = add(t, it.stat)
		eta = max(eta, it.stat.ETA)
	}
	done := d.count
	d.mu.Unlock()
	if running == 0 {
		eta = -1
	}
	t.ETA = eta
	elapsed := time.Since(d.start)
	if secs := elapsed.Seconds(); secs > 0 {
		t.Rate = float64(t.Bytes) / secs // the average: items come one after another
	}
	return fmt.Sprintf("total: %d done, %d running  %s  elapsed %s", done, running, counters(t), ETA(elapsed))
}

// counters is "12/40 obj  1.2 MiB/5.0 MiB  3.1 MiB/s  ETA 0:04", with
// "checked 7/9" first once objects are compared.
func counters(s Stat) string {
	checked := ""
	if s.TotalChecks > 0 {
		checked = fmt.Sprintf("checked %d/%d  ", s.Checks, s.TotalChecks)
	}
	return fmt.Sprintf("%s%d/%d obj  %s/%s  %s  ETA %s",
		checked, s.Objects, s.TotalObjects, Bytes(s.Bytes), Bytes(s.TotalBytes), Rate(s.Rate), ETA(s.ETA))
}

func add(a, b Stat) Stat {
	a.Checks, a.TotalChecks = a.Checks+b.Checks, a.TotalChecks+b.TotalChecks
	a.Objects, a.TotalObjects = a.Objects+b.Objects, a.TotalObjects+b.TotalObjects
	a.Bytes, a.TotalBytes = a.Bytes+b.Bytes, a.TotalBytes+b.TotalBytes
	a.Rate += b.Rate
	return a
}

// maxName is the most of a name a line shows: the counters need room.
const maxName = 40

// shorten keeps a long name's start and end: snapshot names differ at the end.
func shorten(name string, n int) string {
	r := []rune(name)
	if len(r) <= n {
		return name
	}
	return string(r[:n/2-1]) + "…" + string(r[len(r)-n/2:])
}

// Switch is the logger's writer: its own writer, or, while a display is
// live, the display, which prints each write above the bars.
type Switch struct {
	mu      sync.Mutex
	w, live io.Writer
}

// NewSwitch returns a Switch writing to w.
func NewSwitch(w io.Writer) *Switch { return &Switch{w: w} }

func (s *Switch) set(live io.Writer) {
	s.mu.Lock()
	s.live = live
	s.mu.Unlock()
}

// Write implements io.Writer.
func (s *Switch) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live != nil {
		if n, err := s.live.Write(p); err == nil {
			return n, nil
		}
	}
	return s.w.Write(p)
}

// Sync flushes the underlying writer when it can (zap calls it).
func (s *Switch) Sync() error {
	if f, ok := s.w.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
	return nil
}
