package livebar

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Bytes(0), "0 B"},
		{Bytes(1023), "1023 B"},
		{Bytes(1536), "1.5 KiB"},
		{Bytes(5 << 40), "5.0 TiB"},
		{Rate(3 << 20), "3.0 MiB/s"},
		{ETA(-1), "-"},
		{ETA(42 * time.Second), "0:42"},
		{ETA(time.Hour + 2*time.Minute + 3*time.Second), "1:02:03"},
		{shorten("photos", 10), "photos"},
		{shorten("etcd-snapshot-node1-1700000000", 10), "etcd…00000"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, "Always": Always, "never": Never} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("yes"); err == nil || !strings.Contains(err.Error(), EnvProgress) {
		t.Errorf("ParseMode(yes): %v, want an error naming %s", err, EnvProgress)
	}
	var b strings.Builder
	if Auto.On(&b) || !Always.On(&b) || Never.On(&b) {
		t.Error("a buffer is not a terminal: only always shows the display on it")
	}
}

// lockedBuffer is the display's output: mpb writes from its own goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The display draws each item's counters and the totals, and a log
// written while it is live comes out whole, on a line of its own, once
// the last frame is cleared (ESC [J) and before the next is drawn.
func TestDisplay(t *testing.T) {
	var out, logOut lockedBuffer
	logs := NewSwitch(&logOut)
	d := New(context.Background(), &out, logs, true)
	d.Update(Stat{Name: "photos", Objects: 3, TotalObjects: 10, Bytes: 3 << 20, TotalBytes: 10 << 20, Rate: 1 << 20, ETA: 7 * time.Second})
	time.Sleep(3 * refreshRate)
	if _, err := logs.Write([]byte("a log line\n")); err != nil {
		t.Fatal(err)
	}
	d.Update(Stat{Name: "photos", Objects: 10, TotalObjects: 10, Bytes: 10 << 20, TotalBytes: 10 << 20})
	d.Done("photos")
	d.Update(Stat{Name: "docs", Objects: 1, TotalObjects: 1, Bytes: 512, TotalBytes: 512})
	d.Close()
	got := out.String()
	for _, want := range []string{"photos", "3/10 obj  3.0 MiB/10.0 MiB  1.0 MiB/s  ETA 0:07", "\x1b[Ja log line\n", "total: 2 done, 0 running  11/11 obj  10.0 MiB/10.0 MiB"} {
		if !strings.Contains(got, want) {
			t.Errorf("display lacks %q:\n%q", want, got)
		}
	}
	if logOut.String() != "" {
		t.Errorf("a log went around the live display: %q", logOut.String())
	}
	if _, err := logs.Write([]byte("after\n")); err != nil || logOut.String() != "after\n" {
		t.Errorf("after Close, logs go to their own writer: %q, %v", logOut.String(), err)
	}
}
