package monitor

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/offsite-backup/offsite/internal/atomicfile"
)

// CheckTextfile reports, before a run, whether WriteTextfile can write
// path: node_exporter's textfile collector reads only *.prom files, and
// the directory must exist and be writable.
func CheckTextfile(path string) error {
	if filepath.Ext(path) != ".prom" {
		return errors.New("must end in .prom: node_exporter's textfile collector reads nothing else")
	}
	// Anything but a regular file would be opened for good: a FIFO blocks
	// the reading of the last successes until a writer comes.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".offsite-check-*")
	if err != nil {
		return fmt.Errorf("directory not writable: %w", err)
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}

// WriteTextfile replaces path with run's metrics in the Prometheus text
// format, atomically (a temp file in the same directory, fsynced, renamed
// over path), so node_exporter never reads half a file.
//
// Each job needs a file of its own (say offsite-mirror.prom): the file
// is also the memory of when the job last succeeded. A failed run reads
// the last-success values back from the file it replaces; with no
// readable earlier file they are 0, which a freshness alert catches.
func WriteTextfile(path string, run Run) error {
	if err := run.validate(); err != nil {
		return err
	}
	last := carry(run, readLastSuccess(path, run))
	families, err := registry(run, &last).Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	// Readable by all: node_exporter often runs as another user.
	return atomicfile.Write(path, 0o644, func(f *os.File) error {
		w := bufio.NewWriter(f)
		for _, mf := range families {
			if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}

// readLastSuccess returns the last successes of run's job recorded in
// the textfile at path; nothing when it is missing or unreadable.
func readLastSuccess(path string, run Run) lastSuccess {
	last := lastSuccess{items: map[string]float64{}}
	// Opened without blocking, then looked at: only a regular file is read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return last
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return last
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return last
	}
	if mf := families[MetricRunLastSuccess]; mf != nil {
		for _, m := range mf.GetMetric() {
			if labelValue(m.GetLabel(), JobLabel) == string(run.Job) {
				last.run = m.GetGauge().GetValue()
			}
		}
	}
	if mf := families[MetricLastSuccess]; mf != nil {
		for _, m := range mf.GetMetric() {
			name := labelValue(m.GetLabel(), run.Job.Kind())
			if labelValue(m.GetLabel(), JobLabel) == string(run.Job) && name != "" {
				last.items[name] = m.GetGauge().GetValue()
			}
		}
	}
	return last
}
