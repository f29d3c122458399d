package offload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// fakeUploader answers uploads with uploadFunc, and remembers the names it
// was asked for.
type fakeUploader struct {
	mu         sync.Mutex
	asked      []string
	uploadFunc func(ctx context.Context, name string, want look) (outcome, error)
}

func (f *fakeUploader) upload(ctx context.Context, name string, want look) (outcome, error) {
	f.mu.Lock()
	f.asked = append(f.asked, name)
	f.mu.Unlock()
	return f.uploadFunc(ctx, name, want)
}

func (f *fakeUploader) has(context.Context, string) (bool, error) { return true, nil }

// newFakeEngine is an engine over dir whose uploads go to up, with a real
// state in a temp dir.
func newFakeEngine(t *testing.T, dir string, up uploader) *engine {
	t.Helper()
	log := zaptest.NewLogger(t)
	st, err := loadState(t.TempDir(), "bucket/node1", log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SnapshotDir, cfg.QuietPeriod = dir, 20*time.Millisecond
	return &engine{cfg: cfg, log: log, state: st, counters: &Counters{}, up: up,
		m: newMachine(cfg.QuietPeriod, func(name string, l look) bool { return st.uploaded(name, l.size, l.mtime) },
			destRetry{min: time.Millisecond, max: time.Millisecond})}
}

// writeOld writes a file whose quiet period is long over.
func writeOld(t *testing.T, dir, name string, size int) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestOnceGivesEachFileOneTryAndNeverFollowsALink(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "corrupt", "refused", "grows", "raw", "raw.zip"} {
		writeOld(t, dir, name, 512+32)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	writeOld(t, filepath.Dir(secret), "secret", 544)
	if err := os.Symlink(secret, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	grown := false
	up := &fakeUploader{uploadFunc: func(_ context.Context, name string, want look) (outcome, error) {
		switch name {
		case "corrupt":
			return outcome{}, corruptf("bad trailer")
		case "refused":
			return outcome{}, errors.New("503 Service Unavailable")
		case "grows":
			if !grown { // written to while read: it must wait and go again
				grown = true
				writeOld(t, dir, "grows", 1024+32)
				return outcome{}, errChanged
			}
		}
		return outcome{upload: Upload{Name: name, Size: want.size, SHA256: "00", At: time.Now()}}, nil
	}}
	e := newFakeEngine(t, dir, up)
	res, err := e.once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var uploaded, failed []string
	for _, u := range res.Uploaded {
		uploaded = append(uploaded, u.Name)
	}
	for _, f := range res.Failed {
		failed = append(failed, f.Name)
	}
	sort.Strings(uploaded)
	sort.Strings(failed)
	if want := []string{"a", "grows", "raw.zip"}; !slices.Equal(uploaded, want) {
		t.Errorf("uploaded %v, want %v", uploaded, want)
	}
	if want := []string{"corrupt", "refused"}; !slices.Equal(failed, want) {
		t.Errorf("failed %v, want %v", failed, want)
	}
	if want := []string{"raw"}; !slices.Equal(res.Skipped, want) {
		t.Errorf("skipped %v, want %v (the raw twin of a zip)", res.Skipped, want)
	}
	if slices.Contains(up.asked, "link") {
		t.Error("a symlink in the snapshot dir was handed to the uploader")
	}
	e.touch("link", time.Now()) // as Watch does on the link's create event
	if e.m.pending() != 0 {
		t.Error("an event on a symlink armed it for upload")
	}
	if got := slices.Index(up.asked, "refused"); got < 0 || slices.Index(up.asked[got+1:], "refused") >= 0 {
		t.Errorf("asked %v: once must try a refused upload exactly once", up.asked)
	}
	if e.m.pending() != 0 {
		t.Errorf("%d files still tracked after once", e.m.pending())
	}

	// A second run finds the uploads in the state: nothing goes again.
	up.asked = nil
	res, err = e.once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(up.asked, "a") || slices.Contains(up.asked, "grows") || len(res.Uploaded) != 0 {
		t.Errorf("second run asked %v, uploaded %d: recorded files went again", up.asked, len(res.Uploaded))
	}
}

func TestOnceReturnsWhenCancelledWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fresh"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newFakeEngine(t, dir, &fakeUploader{uploadFunc: func(context.Context, string, look) (outcome, error) {
		return outcome{}, nil
	}})
	e.m.quiet = time.Hour // a file that would keep once waiting
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := e.once(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("once = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("once took %v to notice its context", d)
	}
}

// After an alert, a snapshot found already at the destination (its upload
// went through but the answer was lost) says the job is healthy again.
func TestPresentAfterAnAlertReportsRecovery(t *testing.T) {
	dir := t.TempDir()
	writeOld(t, dir, "snap", 544)
	e := newFakeEngine(t, dir, &fakeUploader{uploadFunc: func(context.Context, string, look) (outcome, error) {
		return outcome{upload: Upload{Name: "snap", Size: 544, SHA256: "00"}, present: true}, nil
	}})
	var recovered []string
	e.cfg.OnUpload = func(u Upload) { recovered = append(recovered, u.Name) }
	e.alert(errors.New("3 uploads in a row failed"))
	if _, err := e.once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(recovered) != 1 {
		t.Fatalf("OnUpload calls = %v, want one for the snapshot found at the destination", recovered)
	}
}

// A file whose etcd trailer is right but which is no etcd database, raw or
// zipped, is refused like a bad trailer: named, not a byte uploaded; a
// real snapshot beside it still goes.
func TestOnceRefusesWhatIsNoDatabase(t *testing.T) {
	forPlainAndEncrypted(t, testOnceRefusesWhatIsNoDatabase)
}

func testOnceRefusesWhatIsNoDatabase(t *testing.T, f *fixture) {
	raw := offloadtest.Name(testHost, 1700000300)
	zipped := offloadtest.Name(testHost, 1700000400) + ".zip"
	good := offloadtest.Name(testHost, 1700000500)
	f.write(raw, offloadtest.NotADatabase(64, 1))
	f.write(zipped, offloadtest.Zip(t, strings.TrimSuffix(zipped, ".zip"), offloadtest.NotADatabase(64, 2)))
	data := offloadtest.Snapshot(8, 3)
	f.write(good, data)
	time.Sleep(testQuiet)

	r, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), raw) || !strings.Contains(err.Error(), zipped) {
		t.Fatalf("Once = %v, want an error naming %s and %s", err, raw, zipped)
	}
	for _, fail := range r.Failed {
		if !errors.Is(fail.Err, ErrCorrupt) || !strings.Contains(fail.Err.Error(), "not an etcd database") {
			t.Errorf("%s: %v, want ErrCorrupt saying it is not an etcd database", fail.Name, fail.Err)
		}
	}
	if got := len(r.Failed); got != 2 {
		t.Fatalf("failed = %v, want the 2 that are no database", r.Failed)
	}
	objs := f.objects()
	if got, want := len(objs), 2; got != want {
		t.Fatalf("objects = %v, want only %s and its sidecar", objs, good)
	}
	f.checkUploaded(good, data)
}
