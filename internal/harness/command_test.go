package harness

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// alive reports whether pid is a live process: neither gone nor a zombie
// waiting to be reaped.
func alive(pid int) bool {
	fields, err := procStat(pid)
	return err == nil && len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// pidIn returns the pid a shell printed as the first line of out.
func pidIn(t *testing.T, out []byte) int {
	t.Helper()
	first, _, _ := strings.Cut(string(out), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("no pid in the output %q: %v", out, err)
	}
	return pid
}

// assertGone fails t unless pid dies within a second (a killed orphan is
// reaped by init, which may take a moment).
func assertGone(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); alive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still alive", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ignoresTerm is a shell that, like radosgw-admin once did, ignores SIGTERM
// and does not exit, with a grandchild that ignores it too; it prints the
// grandchild's pid first.
const ignoresTerm = `trap "" TERM; sleep 600 & echo $!; wait`

func TestCommandKillsGroupOnDeadline(t *testing.T) {
	start := time.Now()
	out, err := Command(context.Background(), 500*time.Millisecond, "sh", "-c", ignoresTerm).CombinedOutput()
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err=%v, want one wrapping context.DeadlineExceeded", err)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("err=%v, want one wrapping the *exec.ExitError", err)
	}
	if bound := 3 * time.Second; elapsed > bound {
		t.Fatalf("returned after %v, want under %v for a 500ms deadline", elapsed, bound)
	}
	assertGone(t, pidIn(t, out), "grandchild ignoring SIGTERM")
	t.Logf("killed after %v: %v", elapsed.Round(time.Millisecond), err)
}

func TestCommandKillsGroupWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := Command(ctx, time.Hour, "sh", "-c", ignoresTerm)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case <-cmd.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("still running 3s after its context ended")
	}
	if err := cmd.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want one wrapping context.Canceled", err)
	}
	assertGone(t, pidIn(t, out.Bytes()), "grandchild ignoring SIGTERM")
}

func TestCommandExitsOnItsOwn(t *testing.T) {
	start := time.Now()
	out, err := Command(context.Background(), time.Minute, "sh", "-c", "echo out; echo err >&2; exit 3").CombinedOutput()
	if got, want := string(out), "out\nerr\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("err=%v, want exit status 3", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v says killed; the command ended on its own", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("took %v", elapsed)
	}

	got, err := Command(context.Background(), time.Minute, "sh", "-c", "echo fine").Output()
	if err != nil || string(got) != "fine\n" {
		t.Fatalf("Output()=%q, %v; want %q, nil", got, err, "fine\n")
	}
	_, err = Command(context.Background(), time.Minute, "sh", "-c", "echo why >&2; exit 1").Output()
	if err == nil || !strings.HasSuffix(err.Error(), ": why") {
		t.Fatalf("Output() err=%v, want the exit status followed by stderr", err)
	}
}

// A command that ends but leaves a child holding its output pipe open:
// Wait returns after WaitDelay instead of waiting for the child, and the
// child dies with the group.
func TestCommandLeftoverChildHoldingThePipe(t *testing.T) {
	cmd := Command(context.Background(), time.Minute, "sh", "-c", `trap "" TERM; sleep 600 & echo $!`)
	cmd.WaitDelay = 300 * time.Millisecond
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("err=%v, want nil or exec.ErrWaitDelay", err)
	}
	if bound := 3 * time.Second; elapsed > bound {
		t.Fatalf("returned after %v, want under %v", elapsed, bound)
	}
	assertGone(t, pidIn(t, out), "child left holding the pipe")
}

func TestCommandStop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		killed bool // SIGTERM is ignored, SIGKILL ends it
	}{
		{"ends on SIGTERM", `sleep 600 & echo $!; wait`, false},
		{"ignores SIGTERM", ignoresTerm, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := Command(context.Background(), 0, "sh", "-c", tc.script)
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			grace := 500 * time.Millisecond
			start := time.Now()
			if err := cmd.Stop(grace); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			if bound := grace + 2*time.Second; elapsed > bound {
				t.Fatalf("Stop took %v, want under %v", elapsed, bound)
			}
			if got := errors.Is(cmd.Wait(), errStopped); got != tc.killed {
				t.Fatalf("killed by Stop: %v, want %v (err %v)", got, tc.killed, cmd.Wait())
			}
			assertGone(t, pidIn(t, out.Bytes()), "grandchild")
			if err := cmd.Stop(grace); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
		})
	}
}

func TestCommandNotStarted(t *testing.T) {
	cmd := Command(context.Background(), time.Second, "/nonexistent/tool")
	if err := cmd.Run(); err == nil {
		t.Fatal("running a missing binary succeeded")
	}
	if err := cmd.Stop(time.Second); err != nil {
		t.Fatalf("Stop of a command that never started: %v", err)
	}
}

// The shape of every RGW command: unshare blocks SIGTERM while it waits for
// its child, and the child, first in its PID namespace, ignores every
// signal it has no handler for. Only SIGKILL to the group ends both.
func TestCommandKillsUnshareAndNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		skipRGW(t, "unshare --pid needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		skipRGW(t, "no unshare")
	}
	cmd := Command(context.Background(), 0, "unshare", "--mount", "--pid", "--kill-child", "--",
		"sh", "-c", `sleep 600 & exec sleep 601`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var members []int // unshare, the namespace's first process, its child
	for deadline := time.Now().Add(5 * time.Second); len(members) < 3; members = groupMembers(t, cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d: %v, want unshare and two sleeps", cmd.Process.Pid, members)
		}
		time.Sleep(20 * time.Millisecond)
	}
	grace := 300 * time.Millisecond
	start := time.Now()
	if err := cmd.Stop(grace); err != nil {
		t.Fatal(err)
	}
	if elapsed, bound := time.Since(start), grace+2*time.Second; elapsed > bound {
		t.Fatalf("Stop took %v, want under %v", elapsed, bound)
	}
	if err := cmd.Wait(); !errors.Is(err, errStopped) {
		t.Fatalf("err=%v: SIGTERM ended it, but unshare and a namespace's first process should ignore it", err)
	}
	for _, pid := range members {
		assertGone(t, pid, "process of the group")
	}
}

// groupMembers lists the live processes in process group pgid.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	procs, err := groupProcs(pgid)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for pid := range procs {
		pids = append(pids, pid)
	}
	return pids
}
