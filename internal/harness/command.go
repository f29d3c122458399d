package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Every process the harness and the benchmarks start goes through Command:
// a tool that hangs after doing its work (radosgw-admin did, for over ten
// minutes, ignoring SIGTERM) then costs its deadline, not a whole CI run.
const (
	// pipeWait is how long Wait waits, once the command has ended or been
	// killed, for output pipes still held open by processes it left behind.
	pipeWait = 5 * time.Second
	// reapWait is how long Stop waits after SIGKILL before giving up on a
	// process that cannot die (stuck in the kernel), so that a test's
	// cleanup always returns.
	reapWait = 15 * time.Second
)

// errStopped is the cause of a kill by Stop.
var errStopped = errors.New("stopped")

// Cmd is an exec.Cmd that runs in its own process group and dies with the
// whole group: on its deadline, when its context ends, or on Stop, every
// process in the group gets SIGKILL, which no process can ignore. The group
// also gets SIGKILL once the command has ended, so nothing it started
// outlives it, and the command gets SIGKILL if the test binary dies.
//
// Set its exec.Cmd fields (Env, Dir, Stdout, ...) before Start, and use its
// own Start, Wait, Run, Output, CombinedOutput and Stop, which bound the
// wait: those of the embedded exec.Cmd do not.
type Cmd struct {
	*exec.Cmd
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	done    chan struct{}
	err     error
}

// Command prepares name with args. Started, the command gets timeout to
// end (0: no deadline, as for a server that Stop ends) and is killed with
// its process group when the deadline passes or ctx ends. When that
// happened, Wait's error wraps the cause: context.DeadlineExceeded for the
// deadline, ctx's error for ctx.
func Command(ctx context.Context, timeout time.Duration, name string, args ...string) *Cmd {
	ctx, cancel := context.WithCancelCause(ctx)
	cmd := exec.CommandContext(ctx, name, args...)
	// Pdeathsig: killed with the test binary, even if it dies before its
	// cleanups; Setpgid: its children can be killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = pipeWait
	return &Cmd{Cmd: cmd, timeout: timeout, ctx: ctx, cancel: cancel}
}

// killGroup sends SIGKILL to the process group led by pid. A group that is
// already gone is not an error.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// Start starts the command, arms its deadline and waits for it in the
// background (see Done).
func (c *Cmd) Start() error {
	if err := c.Cmd.Start(); err != nil {
		c.cancel(nil)
		return err
	}
	if c.timeout > 0 {
		c.timer = time.AfterFunc(c.timeout, func() {
			c.cancel(fmt.Errorf("no exit within %v: %w", c.timeout, context.DeadlineExceeded))
		})
	}
	c.done = make(chan struct{})
	go c.wait()
	return nil
}

func (c *Cmd) wait() {
	err := c.Cmd.Wait()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.ctx.Err() != nil {
		err = fmt.Errorf("%s: killed with its process group: %w (%w)", c.name(), context.Cause(c.ctx), err)
	}
	_ = killGroup(c.Process.Pid) // whatever it left behind
	c.cancel(nil)
	c.err = err
	close(c.done)
}

func (c *Cmd) name() string { return filepath.Base(c.Path) }

// Done is closed once the started command has ended and been waited for.
func (c *Cmd) Done() <-chan struct{} { return c.done }

// Wait waits for the started command to end and returns its error (an
// *exec.ExitError for a failure exit status, wrapped with the cause when it
// was killed). It returns at the latest pipeWait after the deadline.
func (c *Cmd) Wait() error {
	if c.done == nil {
		return errors.New("harness: Wait before Start")
	}
	<-c.done
	return c.err
}

// Run starts the command and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output. Unless Stderr
// is set, the error of a failed command ends with its standard error.
func (c *Cmd) Output() ([]byte, error) {
	var stdout, stderr bytes.Buffer
	c.Stdout = &stdout
	captured := c.Stderr == nil
	if captured {
		c.Stderr = &stderr
	}
	err := c.Run()
	if err != nil && captured && stderr.Len() > 0 {
		err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and
// standard error together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.Bytes(), err
}

// Stop ends the started command: SIGTERM to its process group, then
// SIGKILL to the group if it has not ended after grace. It returns once the
// command has been waited for, or with an error when even SIGKILL did not
// end it within reapWait: it never blocks for good.
func (c *Cmd) Stop(grace time.Duration) error {
	if c.done == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := syscall.Kill(-c.Process.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: %w", c.name(), err)
	}
	stopTimer := time.NewTimer(grace)
	defer stopTimer.Stop()
	select {
	case <-c.done:
		return nil
	case <-stopTimer.C:
	}
	c.cancel(fmt.Errorf("%w: still running %v after SIGTERM", errStopped, grace))
	reap := time.NewTimer(reapWait + pipeWait)
	defer reap.Stop()
	select {
	case <-c.done:
		return nil
	case <-reap.C:
		return fmt.Errorf("%s (process group %d) still not ended %v after SIGKILL; left behind", c.name(), c.Process.Pid, reapWait+pipeWait)
	}
}
