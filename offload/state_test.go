package offload

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	log := zaptest.NewLogger(t)
	s, err := loadState(dir, "b/h", log)
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := s.record("snap", Record{Size: 10, ModTime: mtime, SHA256: "x"}); err != nil {
		t.Fatal(err)
	}
	s2, err := loadState(dir, "b/h", log)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.uploaded("snap", 10, mtime) || s2.uploaded("snap", 11, mtime) || s2.uploaded("snap", 10, mtime.Add(1)) {
		t.Fatalf("reloaded state does not match: %+v", s2.data)
	}
	// Another destination's state does not count here.
	s3, err := loadState(dir, "b/other", log)
	if err != nil {
		t.Fatal(err)
	}
	if s3.uploaded("snap", 10, mtime) {
		t.Fatal("state of b/h applied to b/other")
	}
	entries, _ := os.ReadDir(dir)
	if got, want := len(entries), 1; got != want {
		t.Fatalf("files in state dir=%d, want %d (temp files left?)", got, want)
	}
}

func TestCorruptStateKeptAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := loadState(dir, "b/h", zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.data.Uploads); got != 0 {
		t.Fatalf("uploads=%d, want 0", got)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("corrupt state not kept aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != "{not json" {
		t.Fatalf("kept-aside content=%q", b)
	}
}

func TestStateDirNotWritable(t *testing.T) {
	dir := filepath.Join(readOnlyDir(t), "state")
	err := openStateDir(dir)
	var ce *exitcode.ConfigError
	if !errors.As(err, &ce) || ce.Var != EnvStateDir {
		t.Fatalf("openStateDir=%v, want a ConfigError for %s", err, EnvStateDir)
	}
}

// Anything but a regular file at the state's path is refused, at once: a
// FIFO would block the read for good.
func TestStateFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, StateFile), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := loadState(dir, "b/h", zaptest.NewLogger(t))
		done <- err
	}()
	select {
	case err := <-done:
		var ce *exitcode.ConfigError
		if !errors.As(err, &ce) || ce.Var != EnvStateDir {
			t.Fatalf("loadState=%v, want a ConfigError for %s", err, EnvStateDir)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loadState blocked on a FIFO")
	}
}
