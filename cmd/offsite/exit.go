package main

import (
	"errors"

	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Exit codes, the contract with CronJobs, systemd and operators' scripts.
const (
	exitOK       = 0 // everything done
	exitFailed   = 1 // a run failed: some bucket or upload did not make it
	exitConfig   = 2 // usage or configuration error: nothing was attempted
	exitSafety   = 3 // a safety stop (deletion cap, empty-source guard) refused deletions
	exitVerify   = 4 // verification found missing, corrupt or stale data
	exitCodeHelp = `EXIT CODES:
   0  ok
   1  a run failed (some bucket or upload failed; see the log and the report)
   2  usage or configuration error (the message names the variable or flag)
   3  safety stop: the deletion cap or the empty-source guard refused deletions
   4  verification found missing, corrupt or stale data
`
)

// exitError carries the exit code an action's error maps to. Errors that
// reach main without one come from flag parsing: usage errors.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode maps an action's error to the exit code table.
func exitCode(err error) int {
	var cfg *rcloneconf.ConfigError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &cfg):
		return exitConfig
	case errors.Is(err, mirror.ErrVerifyFailed), errors.Is(err, offload.ErrVerifyFailed):
		return exitVerify
	case errors.Is(err, mirror.ErrSafetyStop):
		return exitSafety
	}
	return exitFailed
}

// codeOf is the exit code main returns for err.
func codeOf(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if err == nil {
		return exitOK
	}
	return exitConfig
}
