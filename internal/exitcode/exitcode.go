// Package exitcode holds the kinds of error that decide how offsite exits,
// and the one mapping from an error to its exit code: the contract with
// CronJobs, systemd and operators' scripts.
package exitcode

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	OK     = 0 // everything done
	Failed = 1 // a run failed: some bucket or upload did not make it
	Config = 2 // usage or configuration error: nothing was attempted
	Safety = 3 // a safety stop (deletion cap, empty-source guard) refused deletions
	Verify = 4 // verification found missing, corrupt or stale data
)

// Help is the exit code table as the command's help shows it.
const Help = `EXIT CODES:
   0  ok
   1  a run failed (some bucket or upload failed; see the log and the report)
   2  usage or configuration error (the message names the variable or flag)
   3  safety stop: the deletion cap or the empty-source guard refused deletions,
      and every other bucket is ok (a failed or cancelled bucket makes it 1)
   4  verification found missing, corrupt or stale data
`

// ConfigError is a configuration mistake: Var names the env var (or the
// flag's env var twin) at fault.
type ConfigError struct {
	Var string
	Err error
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Configf returns a *ConfigError for the env var name.
func Configf(name, format string, args ...any) error {
	return &ConfigError{Var: name, Err: fmt.Errorf(format, args...)}
}

// ErrSafetyStop marks a run in which the deletion cap or the empty-source
// guard refused a bucket's deletions.
var ErrSafetyStop = errors.New("safety stop")

// ErrVerifyFailed marks a verification that found missing, differing or
// corrupt data, or a stale or failed last run.
var ErrVerifyFailed = errors.New("verification failed")

// Of is the exit code for err, the one mapping from errors to exit codes.
// err is often several errors joined (one per bucket); the most serious
// part decides, in this order:
//
//   - a configuration error anywhere: 2;
//   - a failed verification anywhere: 4 (a verify cut short after it
//     found a difference still says so);
//   - any part that is neither a safety stop nor one of the above (a
//     failed or unfinished bucket, a cancelled run): 1, even when another
//     bucket was stopped by a safety rule, so that the exit code agrees
//     with a report whose status is failed;
//   - only safety stops: 3.
func Of(err error) int {
	var cfg *ConfigError
	switch {
	case err == nil:
		return OK
	case errors.As(err, &cfg):
		return Config
	case errors.Is(err, ErrVerifyFailed):
		return Verify
	case errors.Is(err, ErrSafetyStop) && !hasFailure(err):
		return Safety
	}
	return Failed
}

// hasFailure reports whether some part of err, a tree of wrapped and
// joined errors, is not a safety stop: a branch that never reaches
// ErrSafetyStop is a failure of its own.
func hasFailure(err error) bool {
	if err == nil {
		return false
	}
	if !errors.Is(err, ErrSafetyStop) {
		return true
	}
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			if hasFailure(e) {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return hasFailure(x.Unwrap())
	}
	return false
}
