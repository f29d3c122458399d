package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
)

// startOffsite starts offsite (this test binary's main) as a process of
// its own, with a deadline that kills it.
func startOffsite(t *testing.T, env []string, args ...string) (*harness.Cmd, *syncBuffer) {
	t.Helper()
	cmd := harness.Command(t.Context(), 2*time.Minute, mustExecutable(t), append([]string{"--log-format=console"}, args...)...)
	cmd.Env = append(append(os.Environ(), envRunMain+"=1"), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Stop(0) })
	return cmd, out
}

// exitWithin waits for cmd to end within d and returns its exit code; a
// process still running then is a hang, and fails the test.
func exitWithin(t *testing.T, cmd *harness.Cmd, out *syncBuffer, d time.Duration) int {
	t.Helper()
	select {
	case <-cmd.Done():
	case <-time.After(d):
		t.Fatalf("offsite still running %v later: it hangs\n%s", d, out.String())
	}
	return exitCode(t, cmd.Wait())
}

// A FIFO where the metrics file goes would block offsite in its open for
// good: it is refused up front, naming the variable.
func TestMetricsFileFIFOIsRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "offsite.prom")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, out := startOffsite(t, []string{envMetricsFile + "=" + fifo}, append([]string{"verify", "etcd"}, etcdArgs(nil)...)...)
	if code := exitWithin(t, cmd, out, 20*time.Second); code != exitcode.Config || !strings.Contains(out.String(), envMetricsFile) {
		t.Fatalf("exit %d, want %d naming %s:\n%s", code, exitcode.Config, envMetricsFile, out.String())
	}
}

// The first SIGINT or SIGTERM stops a command cleanly, and it may take its
// time (a ping still on its way); a second ends the process at once, with
// 128 + the signal, as a shell reports it.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			// A ping endpoint that never answers: the start ping holds the
			// run for its own timeout, whatever the signals say.
			started := make(chan struct{}, 1)
			hold := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case started <- struct{}{}:
				default:
				}
				<-hold
			}))
			defer srv.Close()
			defer close(hold)
			cmd, out := startOffsite(t, []string{envPingURL + "=" + srv.URL + "/check"}, append([]string{"verify", "etcd"}, etcdArgs(nil)...)...)
			select {
			case <-started:
			case <-time.After(30 * time.Second):
				t.Fatalf("no start ping:\n%s", out.String())
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-cmd.Done():
				t.Fatalf("the first %v ended the process; it should stop cleanly:\n%s", tt.sig, out.String())
			case <-time.After(500 * time.Millisecond):
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			if code := exitWithin(t, cmd, out, 3*time.Second); code != tt.code {
				t.Fatalf("exit %d after a second %v, want %d:\n%s", code, tt.sig, tt.code, out.String())
			}
			if !bytes.Contains([]byte(out.String()), []byte("second")) {
				t.Errorf("the output does not say why it ended:\n%s", out.String())
			}
		})
	}
}
