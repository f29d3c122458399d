package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

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

// printUsageError prints a configuration or usage error as one line that
// names the variable or flag, then where the usage is: exit 2 needs no
// 50 lines of help to explain itself.
func (e *env) printUsageError(err error) {
	msg := err.Error()
	var cfg *exitcode.ConfigError
	if errors.As(err, &cfg) && cfg.Var == "usage" {
		msg = cfg.Err.Error()
	}
	msg = strings.ReplaceAll(msg, "\n", "; ")
	name := strings.TrimSpace("offsite " + e.command)
	fmt.Fprintf(e.stderr, "%s: %s\nrun '%s --help' for usage\n", name, msg, name)
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

// showCommands prints a command's subcommands (the app's commands at the
// top), one line each, on stdout as the help does: the short answer to a
// missing command; the error that follows goes to stderr.
func (e *env) showCommands(c *cli.Context) error {
	cmds := c.App.VisibleCommands()
	if c.Command != nil && c.Command.Name != c.App.Name {
		cmds = c.Command.VisibleCommands()
	}
	cmds = slices.DeleteFunc(cmds, func(cmd *cli.Command) bool { return cmd.Name == "help" })
	width := 0
	for _, cmd := range cmds {
		width = max(width, len(cmd.Name))
	}
	fmt.Fprintf(e.stdout, "usage: %s <command> [options]\ncommands:\n", strings.TrimSpace("offsite "+e.command))
	for _, cmd := range cmds {
		fmt.Fprintf(e.stdout, "  %-*s  %s\n", width, cmd.Name, cmd.Usage)
	}
	return nil
}

// oneLineUsage makes every command below parent report a flag it cannot
// parse as one usage error naming the flag or env var, instead of urfave's
// "Incorrect Usage" and the whole help. A command with subcommands given
// none lists them and fails as a usage error (urfave would show the help
// and exit 0).
func (e *env) oneLineUsage(parent string, cmds []*cli.Command) []*cli.Command {
	for _, cmd := range cmds {
		name := strings.TrimSpace(parent + " " + cmd.Name)
		cmd.OnUsageError = e.onUsageError(name)
		e.oneLineUsage(name, cmd.Subcommands)
		act := cmd.Action
		if act == nil {
			act = noCommand(e.showCommands)
		}
		cmd.Action = func(c *cli.Context) error {
			e.command = name
			return act(c)
		}
	}
	return cmds
}

func (e *env) onUsageError(command string) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, _ bool) error {
		e.command = command
		var flags []cli.Flag
		if c.Command != nil {
			flags = c.Command.Flags
		}
		return parseError(err, flags)
	}
}

// urfave's messages for a flag or env var it cannot parse.
var (
	envParseError  = regexp.MustCompile(`^could not parse "(.*)" as (\w+) value from environment variable "(\w+)" for flag [\w-]+: (.*)$`)
	flagParseError = regexp.MustCompile(`^invalid value "(.*)" for flag -([\w-]+): (.*)$`)
	boolParseError = regexp.MustCompile(`^invalid boolean value "(.*)" for -([\w-]+): .*$`)
	flagNoValue    = regexp.MustCompile(`^flag needs an argument: -+([\w-]+)$`)
	unknownFlag    = regexp.MustCompile(`^flag provided but not defined: -+([\w-]+)$`)
)

// parseError turns urfave's parse errors into a *exitcode.ConfigError
// naming the env var or the flag; flags are the command's, to name the
// kind of value a flag wants.
func parseError(err error, flags []cli.Flag) error {
	msg := err.Error()
	if m := envParseError.FindStringSubmatch(msg); m != nil {
		return exitcode.Configf(m[3], "%q is not %s", m[1], kind(m[2], m[4]))
	}
	if m := flagParseError.FindStringSubmatch(msg); m != nil {
		want := kind("", m[3])
		for _, f := range flags {
			if slices.Contains(f.Names(), m[2]) {
				want = kind(strings.TrimPrefix(strings.TrimPrefix(fmt.Sprintf("%T", f), "*cli."), "*"), m[3])
			}
		}
		return exitcode.Configf("--"+m[2], "%q is not %s", m[1], want)
	}
	if m := boolParseError.FindStringSubmatch(msg); m != nil {
		return exitcode.Configf("--"+m[2], "%q is not true or false", m[1])
	}
	if m := flagNoValue.FindStringSubmatch(msg); m != nil {
		return exitcode.Configf(dashes(m[1]), "needs a value")
	}
	if m := unknownFlag.FindStringSubmatch(msg); m != nil {
		return exitcode.Configf(dashes(m[1]), "no such flag")
	}
	return usageError(err)
}

// dashes is how a flag is written: -h, --transfers.
func dashes(flag string) string {
	if len(flag) == 1 {
		return "-" + flag
	}
	return "--" + flag
}

// kind names what a value of urfave's type (int, or its flag type
// IntFlag) must be; detail is the parser's complaint, kept for the rest.
func kind(typ, detail string) string {
	switch strings.TrimSuffix(strings.ToLower(typ), "flag") {
	case "int", "int64", "uint", "uint64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "duration":
		return "a duration (like 30s, 5m, 1h)"
	case "float64":
		return "a number"
	}
	return "a valid value (" + detail + ")"
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
