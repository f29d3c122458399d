package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

var (
	// errExited is waitReady's error for a server that ended before it
	// was ready.
	errExited = errors.New("exited before it was ready")
	// errGiveUp, wrapped by an error of waitReady's ready, says that
	// waiting longer cannot help.
	errGiveUp = errors.New("giving up")
)

// daemon is a server process the harness runs, such as minio or radosgw,
// with the file its output goes to.
type daemon struct {
	cmd  *Cmd
	logs *os.File
}

// start starts cmd, with no deadline, its output appended to logPath.
func (d *daemon) start(cmd *Cmd, logPath string) error {
	logs, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		logs.Close()
		return fmt.Errorf("start %s: %w", cmd.name(), err)
	}
	d.cmd, d.logs = cmd, logs
	return nil
}

// waitReady calls ready every 100 ms until it succeeds, and fails when the
// server ends first (errExited), ready's error wraps errGiveUp, or the
// server is not ready after timeout.
func (d *daemon) waitReady(timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := ready(ctx)
		if err == nil || errors.Is(err, errGiveUp) {
			return err
		}
		select {
		case <-d.cmd.Done():
			return fmt.Errorf("%s %w", d.cmd.name(), errExited)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v (last error: %v)", d.cmd.name(), timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// running reports whether the server was started and not stopped since.
func (d *daemon) running() bool { return d.cmd != nil }

// stop ends the server (see Cmd.Stop: SIGTERM, SIGKILL to its process
// group after grace) and closes its log. It returns within grace plus a
// bounded wait even if the process cannot be ended; the error says so.
func (d *daemon) stop(grace time.Duration) error {
	if d.cmd == nil {
		return nil
	}
	err := d.cmd.Stop(grace)
	d.logs.Close()
	d.cmd = nil
	return err
}
