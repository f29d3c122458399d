package main

import (
	"errors"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// usageError marks an error urfave/cli returned before any command ran (an
// unknown flag, a value that does not parse) as a usage error, exit 2.
func usageError(err error) error {
	var cfg *exitcode.ConfigError
	if err == nil || errors.As(err, &cfg) {
		return err
	}
	return &exitcode.ConfigError{Var: "usage", Err: err}
}
