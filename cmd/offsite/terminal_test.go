package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// envRunMain makes the test binary run offsite's main: the terminal tests
// run offsite as a process of its own, on a pseudo-terminal.
const envRunMain = "OFFSITE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// offsiteProcess runs offsite (this test binary's main) with args; stdout
// and stderr go to out, or to a pseudo-terminal of 50x200 when out is nil,
// whose output is returned. It returns the exit code.
func offsiteProcess(t *testing.T, out io.Writer, env []string, args ...string) (int, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := harness.Command(t.Context(), 5*time.Minute, self, args...)
	cmd.Env = append(append(os.Environ(), envRunMain+"=1"), env...)
	var (
		screen syncBuffer
		read   sync.WaitGroup
	)
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	} else {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 200}); err != nil {
			t.Fatal(err)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		read.Add(1)
		go func() {
			defer read.Done()
			_, _ = io.Copy(&screen, ptmx) // ends with EIO once the child and our tty are closed
		}()
		defer func() { _ = tty.Close() }()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		_ = tty.Close() // the child holds it now
		err = cmd.Wait()
		read.Wait()
		return exitCode(t, err), screen.String()
	}
	return exitCode(t, cmd.Run()), ""
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var exit interface{ ExitCode() int }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatalf("run offsite: %v", err)
	return -1
}

// ansi matches the escape sequences a terminal display writes.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// TestTerminalDisplay mirrors a few thousand objects through a
// bandwidth-limited link with offsite on a pseudo-terminal: the live
// display shows and is redrawn in place while the totals grow, the end is
// a table with a row per bucket and the right totals, and none of it
// shows when stdout is a pipe.
func TestTerminalDisplay(t *testing.T) {
	src := harness.StartMinio(t, "alpha", "beta")
	dst := harness.StartMinio(t, mirrorTestBucket)
	counts := map[string]int{"alpha": 2000, "beta": 400}
	for bucket, n := range counts {
		objects := make(map[string][]byte, n)
		for i := range n {
			objects[fmt.Sprintf("d%02d/obj-%05d", i%20, i)] = bytes.Repeat([]byte{byte('a' + i%26)}, 1024+i%512)
		}
		src.PutMany(t, bucket, objects)
	}
	// Slow the destination: every connection through the proxy gets
	// 128 KB/s towards MinIO, so the run lasts long enough to watch.
	proxy := harness.StartTCPProxy(t, "minio", dst.Endpoint)
	proxy.AddToxic(t, "slow", "bandwidth", "upstream", map[string]any{"rate": 128})
	slowDst := *dst
	slowDst.Endpoint = proxy.Endpoint
	args := append([]string{"--log-format", "console", "mirror", "--transfers", "2"}, mirrorArgs(src, &slowDst)...)

	start := time.Now()
	code, screen := offsiteProcess(t, nil, nil, args...)
	t.Logf("mirror on a terminal: exit %d after %v, %d bytes of output", code, time.Since(start).Round(time.Second), len(screen))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, screen)
	}
	// Redrawn in place: the cursor goes back up over the last frame.
	if n := len(regexp.MustCompile(`\x1b\[\d+A`).FindAllString(screen, -1)); n < 5 {
		t.Errorf("the display was redrawn %d times, want 5 or more", n)
	}
	// It updates: the totals line shows growing object counts.
	seen := map[int]bool{}
	for _, m := range regexp.MustCompile(`total: \d+ done, \d+ running +(?:checked \d+/\d+ +)?(\d+)/\d+ obj`).FindAllStringSubmatch(screen, -1) {
		n, _ := strconv.Atoi(m[1])
		seen[n] = true
	}
	if len(seen) < 3 {
		t.Errorf("the totals line showed %d distinct object counts, want 3 or more:\n%s", len(seen), tail(screen, 40))
	}
	for bucket := range counts {
		if !regexp.MustCompile(bucket + ` +\[[=>-]*\]`).MatchString(screen) {
			t.Errorf("no line with a bar for bucket %s", bucket)
		}
	}
	// Logs print above the display, each on a line of its own.
	plain := ansi.ReplaceAllString(screen, "")
	for bucket := range counts {
		if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\tINFO\tbucket done\t\{"bucket": "` + bucket + `"`).MatchString(plain) {
			t.Errorf("the log line of bucket %s is torn or missing:\n%s", bucket, tail(plain, 40))
		}
	}
	checkTable(t, plain, counts)
	for bucket, n := range counts {
		if got := len(dst.Objects(t, mirrorTestBucket, bucket+"/")); got != n {
			t.Errorf("mirror of %s has %d objects, want %d", bucket, got, n)
		}
	}

	// Through a pipe, the same run (nothing left to copy) shows no display:
	// no escape sequence, no totals line; the table is still printed.
	var piped syncBuffer
	if code, _ := offsiteProcess(t, &piped, nil, args...); code != 0 {
		t.Fatalf("piped: exit %d:\n%s", code, piped.String())
	}
	if out := piped.String(); strings.Contains(out, "\x1b[") || strings.Contains(out, "total: ") || !strings.Contains(out, "BUCKET") {
		t.Errorf("piped output has the display, or lacks the table:\n%s", out)
	}
	// With JSON logs, the summary is the report, one JSON object.
	var jsonOut bytes.Buffer
	cmd := harness.Command(t.Context(), 5*time.Minute, mustExecutable(t), append([]string{"--log-format", "json"}, args[2:]...)...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.Stdout = &jsonOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("json run: %v", err)
	}
	var rep mirror.Report
	if err := json.Unmarshal(jsonOut.Bytes(), &rep); err != nil || rep.Totals.Checked != 2400 || strings.Count(strings.TrimSpace(jsonOut.String()), "\n") != 0 {
		t.Errorf("--log-format json: summary is not one JSON report (%v):\n%s", err, jsonOut.String())
	}
}

func mustExecutable(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// checkTable finds the summary table in out and checks its rows and totals.
func checkTable(t *testing.T, out string, counts map[string]int) {
	t.Helper()
	i := strings.LastIndex(out, "BUCKET ")
	if i < 0 {
		t.Fatalf("no summary table:\n%s", tail(out, 40))
	}
	lines := strings.Split(strings.ReplaceAll(out[i:], "\r", ""), "\n")
	header := strings.Fields(lines[0])
	col := func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s in %q", name, lines[0])
		return -1
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 || strings.Contains(l, ":") {
			break
		}
		rows[f[0]] = f
	}
	total := 0
	for bucket, n := range counts {
		row := rows[bucket]
		if row == nil || row[col("STATUS")] != "ok" || row[col("TRANSFERRED")] != strconv.Itoa(n) {
			t.Errorf("row of %s: %q, want ok with %d transferred", bucket, row, n)
		}
		total += n
	}
	// The TOTAL row has no mode and status: its numbers sit two columns left.
	if row := rows["TOTAL"]; row == nil || row[col("TRANSFERRED")-2] != strconv.Itoa(total) {
		t.Errorf("TOTAL row %q, want %d transferred", row, total)
	}
	if len(rows) != len(counts)+1 {
		t.Errorf("table has %d rows, want %d:\n%s", len(rows), len(counts)+1, out[i:])
	}
}

// TestTerminalDemo runs the demo on a pseudo-terminal, as a newcomer
// would: the steps, their tables and the live display show, the logs only
// from warn up; --verbose brings the info logs back.
func TestTerminalDemo(t *testing.T) {
	if testing.Short() && !harness.Required() {
		t.Skip("runs offsite twice on a pseudo-terminal: not with -short (the Nix build's sandbox)")
	}
	code, screen := offsiteProcess(t, nil, nil, "demo")
	plain := ansi.ReplaceAllString(screen, "")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, tail(plain, 40))
	}
	for _, want := range []string{"== 1. offsite mirror", "BUCKET     MODE  STATUS", "total: 3 done, 0 running", "HOST ", "\tERROR\tsafety stop: nothing deleted", "All steps did what they should"} {
		if !strings.Contains(plain, want) {
			t.Errorf("the demo on a terminal lacks %q:\n%s", want, tail(plain, 40))
		}
	}
	if strings.Contains(plain, "\tINFO\t") {
		t.Errorf("the demo on a terminal shows info logs without --verbose:\n%s", tail(plain, 40))
	}
	code, screen = offsiteProcess(t, nil, nil, "demo", "--verbose")
	if plain := ansi.ReplaceAllString(screen, ""); code != 0 || !strings.Contains(plain, "\tINFO\tbucket done") {
		t.Errorf("demo --verbose: exit %d, want the info logs:\n%s", code, tail(plain, 40))
	}
}
