package monitor

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	t0 = time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	t1 = t0.Add(24 * time.Hour)
)

// mirrorRun is a mirror run of two buckets starting at start.
func mirrorRun(start time.Time, photosOK bool) Run {
	return Run{
		Job:   "mirror",
		Start: start, End: start.Add(90 * time.Second),
		OK: photosOK, ExitCode: map[bool]int{true: 0, false: 1}[photosOK],
		Items: []Item{
			{Name: "docs", Objects: 12, Bytes: 4096, Deletions: 1, OK: true},
			{Name: "photos", Objects: 3, Bytes: 1 << 20, Errors: map[bool]int64{true: 0, false: 2}[photosOK], OK: photosOK},
		},
	}
}

// parseTextfile parses path as node_exporter's textfile collector would.
func parseTextfile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("textfile does not parse: %v", err)
	}
	return families
}

// value is the gauge of family name whose labels include all of labels.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	mf := families[name]
	if mf == nil {
		t.Fatalf("no family %s", name)
	}
	if got, want := mf.GetType(), dto.MetricType_GAUGE; got != want {
		t.Errorf("%s type = %v, want %v", name, got, want)
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			if labelValue(m.GetLabel(), k) != v {
				continue next
			}
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

func TestWriteTextfileFamiliesAndLabels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsite-mirror.prom")
	if err := WriteTextfile(path, mirrorRun(t0, true)); err != nil {
		t.Fatal(err)
	}
	families := parseTextfile(t, path)
	job := map[string]string{JobLabel: "mirror"}
	docs := map[string]string{JobLabel: "mirror", "bucket": "docs"}
	photos := map[string]string{JobLabel: "mirror", "bucket": "photos"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{MetricRunSuccess, job, 1},
		{MetricRunExitCode, job, 0},
		{MetricRunStart, job, float64(t0.Unix())},
		{MetricRunEnd, job, float64(t0.Unix() + 90)},
		{MetricRunDuration, job, 90},
		{MetricRunLastSuccess, job, float64(t0.Unix() + 90)},
		{MetricSuccess, docs, 1},
		{MetricLastSuccess, photos, float64(t0.Unix() + 90)},
		{MetricObjectsTransferred, docs, 12},
		{MetricBytesTransferred, photos, 1 << 20},
		{MetricObjectsDeleted, docs, 1},
		{MetricErrors, photos, 0},
		{MetricObjectsPending, photos, 0},
	} {
		if got := value(t, families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for name, mf := range families {
		if !strings.HasPrefix(name, "offsite_") {
			t.Errorf("family %s lacks the offsite_ prefix", name)
		}
		if mf.GetHelp() == "" {
			t.Errorf("family %s has no help", name)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o644); got != want {
		t.Errorf("mode = %v, want %v", got, want)
	}
}

func TestWriteTextfileHostLabelForOffload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsite-offload.prom")
	run := Run{Job: "offload", Start: t0, End: t1, OK: true, Items: []Item{{Name: "k3s-1", Objects: 5, Pending: 1, OK: true}}}
	if err := WriteTextfile(path, run); err != nil {
		t.Fatal(err)
	}
	families := parseTextfile(t, path)
	labels := map[string]string{JobLabel: "offload", "host": "k3s-1"}
	if got, want := value(t, families, MetricObjectsPending, labels), 1.0; got != want {
		t.Errorf("pending = %v, want %v", got, want)
	}
}

func TestWriteTextfileKeepsLastSuccessAcrossFailedRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsite-mirror.prom")
	if err := WriteTextfile(path, mirrorRun(t0, true)); err != nil {
		t.Fatal(err)
	}
	// The next day photos fails, and a new bucket fails on its first run.
	failed := mirrorRun(t1, false)
	failed.Items = append(failed.Items, Item{Name: "new", Errors: 1})
	if err := WriteTextfile(path, failed); err != nil {
		t.Fatal(err)
	}
	families := parseTextfile(t, path)
	firstEnd, secondEnd := float64(t0.Unix()+90), float64(t1.Unix()+90)
	job := map[string]string{JobLabel: "mirror"}
	bucket := func(b string) map[string]string { return map[string]string{JobLabel: "mirror", "bucket": b} }
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{MetricRunSuccess, job, 0},
		{MetricRunExitCode, job, 1},
		{MetricRunLastSuccess, job, firstEnd},
		{MetricLastSuccess, bucket("docs"), secondEnd},
		{MetricLastSuccess, bucket("photos"), firstEnd},
		{MetricLastSuccess, bucket("new"), 0},
		{MetricSuccess, bucket("photos"), 0},
		{MetricErrors, bucket("photos"), 2},
	} {
		if got := value(t, families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// A run that fails before reaching any bucket keeps them all.
	early := Run{Job: "mirror", Start: t1, End: t1.Add(time.Second), ExitCode: 1}
	if err := WriteTextfile(path, early); err != nil {
		t.Fatal(err)
	}
	families = parseTextfile(t, path)
	if got, want := value(t, families, MetricLastSuccess, bucket("photos")), firstEnd; got != want {
		t.Errorf("photos last success after an early failure = %v, want %v", got, want)
	}
	if got, want := value(t, families, MetricRunLastSuccess, job), firstEnd; got != want {
		t.Errorf("run last success after an early failure = %v, want %v", got, want)
	}
}

func TestWriteTextfileFirstRunFailedSaysNever(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsite-mirror.prom")
	if err := os.WriteFile(path, []byte("this is { not prometheus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteTextfile(path, mirrorRun(t0, false)); err != nil {
		t.Fatal(err)
	}
	families := parseTextfile(t, path)
	if got, want := value(t, families, MetricRunLastSuccess, map[string]string{JobLabel: "mirror"}), 0.0; got != want {
		t.Errorf("last success = %v, want %v", got, want)
	}
}

func TestWriteTextfileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "offsite-mirror.prom")
	if err := WriteTextfile(path, mirrorRun(t0, true)); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A reader that opened the file before the next run must go on
	// reading the whole old file: the new one is renamed over the path,
	// not written into it.
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := WriteTextfile(path, mirrorRun(t1, false)); err != nil {
		t.Fatal(err)
	}
	old := make([]byte, len(before)+1)
	n, _ := reader.Read(old)
	if got, want := string(old[:n]), string(before); got != want {
		t.Errorf("an open reader saw the file change under it:\n%s", got)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) == string(before) {
		t.Error("file not replaced")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), 1; got != want {
		t.Errorf("directory holds %d files, want %d (temp files left behind?)", got, want)
	}
}

func TestWriteTextfileFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "offsite-mirror.prom")
	if err := WriteTextfile(path, mirrorRun(t0, true)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := WriteTextfile(path, Run{Job: "rack"}); err == nil {
		t.Fatal("a run of an unknown job was written")
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Error("a failed write changed the file")
	}
}

func TestCheckTextfile(t *testing.T) {
	dir := t.TempDir()
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	promDir := filepath.Join(dir, "d.prom")
	if err := os.Mkdir(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.prom")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		ok         bool
	}{
		{"fine", filepath.Join(dir, "offsite-mirror.prom"), true},
		{"not .prom", filepath.Join(dir, "offsite-mirror.txt"), false},
		{"missing directory", filepath.Join(dir, "nope", "offsite.prom"), false},
		{"a directory", promDir, false},
		{"a FIFO", fifo, false},
		{"read-only directory", filepath.Join(readOnly, "offsite.prom"), os.Geteuid() == 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckTextfile(c.path)
			if got := err == nil; got != c.ok {
				t.Errorf("CheckTextfile(%s) = %v, want ok=%v", c.path, err, c.ok)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if got, want := len(entries), 3; got != want {
		t.Errorf("CheckTextfile left files behind: %d entries, want %d", got, want)
	}
}

// A FIFO where the last successes are read from is passed over, not
// waited on: opening one for reading blocks until a writer comes.
func TestWriteTextfileOverAFIFODoesNotBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsite.prom")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- WriteTextfile(path, Run{Job: JobMirror, End: time.Now(), OK: true}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteTextfile blocked on a FIFO")
	}
}

// A drill's own series, per target, carry the last passed drill across
// failed runs as every last success does.
func TestWriteTextfileDrillMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsite-drill-etcd.prom")
	drill := func(end time.Time, okNode2 bool) Run {
		run := Run{Job: JobDrillEtcd, Start: end, End: end, OK: okNode2, Items: []Item{{Name: "node1", OK: true}, {Name: "node2", OK: okNode2}}}
		if !okNode2 {
			run.ExitCode = 4
		}
		return run
	}
	for _, run := range []Run{drill(t0, true), drill(t1, false)} {
		if err := WriteTextfile(path, run); err != nil {
			t.Fatal(err)
		}
	}
	families := parseTextfile(t, path)
	target := func(host string) map[string]string {
		return map[string]string{JobLabel: "drill_etcd", DrillKindLabel: "etcd", DrillTargetLabel: host}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{MetricDrillSuccess, target("node1"), 1},
		{MetricDrillSuccess, target("node2"), 0},
		{MetricDrillLastSuccess, target("node1"), float64(t1.Unix())},
		{MetricDrillLastSuccess, target("node2"), float64(t0.Unix())},
	} {
		if got := value(t, families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Other jobs have none.
	if err := WriteTextfile(path, mirrorRun(t1, true)); err != nil {
		t.Fatal(err)
	}
	if families := parseTextfile(t, path); families[MetricDrillSuccess] != nil || families[MetricDrillLastSuccess] != nil {
		t.Error("a mirror run wrote drill metrics")
	}
}
