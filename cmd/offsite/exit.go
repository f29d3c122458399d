package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/monitor"
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

// errNoCommand is the usage error of offsite, or of a command with
// subcommands (verify, offload), run without one.
var errNoCommand = errors.New("no command given: pick one of the commands above")

// noCommand is the action of offsite, and of a command with subcommands,
// given none: show shows the commands, and the exit code is 2. An unknown
// command is named.
func noCommand(show func(*cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return fmt.Errorf("unknown command %q", c.Args().First())
		}
		_ = show(c)
		return errNoCommand
	}
}

// requireSubcommands makes each command with subcommands fail, as a
// usage error, when it is given none (urfave only shows the help, and exits 0).
func requireSubcommands(cmds ...*cli.Command) []*cli.Command {
	for _, cmd := range cmds {
		if len(cmd.Subcommands) > 0 && cmd.Action == nil {
			cmd.Action = noCommand(cli.ShowSubcommandHelp)
		}
	}
	return cmds
}

// panicked turns a recovered panic into the run's error: logged with the
// stack, sent to the job's monitor as a failure if the job pinged its
// start, and mapped to exit 1 (something was attempted, and failed).
func (e *env) panicked(ctx context.Context, r any) error {
	err := fmt.Errorf("panic: %v", r)
	if e.log != nil {
		e.log.Error("offsite panicked; this is a bug", zap.Error(err), zap.String("stack", string(debug.Stack())))
	}
	if mon := e.mon; mon != nil && !mon.started.IsZero() {
		mon.finish(ctx, monitor.Run{}, err)
	}
	return err
}
