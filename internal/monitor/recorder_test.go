package monitor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func offloadRun(uploaded int64) Run {
	return Run{Job: "offload", Start: t0, End: t0.Add(time.Duration(uploaded) * time.Minute), OK: true,
		Items: []Item{{Name: "k3s-1", Objects: uploaded, OK: true}}}
}

func TestRecorderNeverBlocksAndPublishesTheNewest(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		arrived <- string(b)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	s := &Outputs{
		Ping:     fastPinger(t, srv.URL+"/"+secretUUID, nil),
		Textfile: filepath.Join(t.TempDir(), "offsite-offload.prom"),
	}
	rec := NewRecorder(context.Background(), s)

	rec.Update(offloadRun(1), nil)
	first := <-arrived // its publish now hangs on the ping
	start := time.Now()
	for i := int64(2); i <= 50; i++ {
		rec.Update(offloadRun(i), nil)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("49 updates took %v while the ping server hung", took)
	}
	release <- struct{}{}
	newest := <-arrived
	release <- struct{}{}
	rec.Close()

	if !strings.Contains(first, "objects: 1,") || !strings.Contains(newest, "objects: 50,") {
		t.Errorf("pings were about\n%s\nand\n%s\nwant the first update and the newest", first, newest)
	}
	families := parseTextfile(t, s.Textfile)
	if got, want := value(t, families, MetricObjectsTransferred, map[string]string{"host": "k3s-1"}), 50.0; got != want {
		t.Errorf("published objects = %v, want %v (the newest update)", got, want)
	}
	rec.Update(offloadRun(51), nil) // after Close: dropped, and does not block
}

func TestRecorderCloseWithNothingWaiting(t *testing.T) {
	rec := NewRecorder(context.Background(), &Outputs{})
	done := make(chan struct{})
	go func() { rec.Close(); rec.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
}
