package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

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
// and exit 0). A command that takes no arguments refuses a stray word: urfave
// stops reading flags at the first one, so every flag after it, --dry-run
// included, would be silently ignored.
func (e *env) oneLineUsage(parent string, cmds []*cli.Command) []*cli.Command {
	for _, cmd := range cmds {
		name := strings.TrimSpace(parent + " " + cmd.Name)
		cmd.OnUsageError = e.onUsageError(name)
		e.oneLineUsage(name, cmd.Subcommands)
		act := cmd.Action
		if act == nil {
			act = noCommand(e.showCommands)
		}
		leaf := len(cmd.Subcommands) == 0
		cmd.Action = func(c *cli.Context) error {
			e.command = name
			if leaf && c.Args().Present() {
				return strayWord(cmd.Flags, e.commandArgs(name))
			}
			return act(c)
		}
	}
	return cmds
}

// onUsageError is urfave's hook for a flag or env var it could not parse:
// the error is a usage error, and checkFlags names the flag.
func (e *env) onUsageError(command string) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, _ bool) error {
		e.command = command
		var flags []cli.Flag
		if c.Command != nil {
			flags = c.Command.Flags
		}
		if command == "" {
			flags = c.App.Flags
		}
		if named := checkFlags(flags, e.commandArgs(command)); named != nil {
			return named
		}
		return usageError(err)
	}
}

// commandArgs are the words of the command line after command's name.
func (e *env) commandArgs(command string) []string {
	args := e.args
	if len(args) > 0 {
		args = args[1:] // the program
	}
	for _, word := range strings.Fields(command) {
		i := slices.Index(args, word)
		if i < 0 {
			return nil
		}
		args = args[i+1:]
	}
	return args
}

// checkFlags parses each value given to flags, from their env vars and then
// from args, the command's words, as the flag's type, and returns a
// configuration error naming the first that does not parse, the first
// unknown flag, or a flag missing its value; nil when all are well.
func checkFlags(flags []cli.Flag, args []string) error {
	for _, f := range flags {
		for _, env := range envVars(f) {
			if value := os.Getenv(env); value != "" {
				if want := wants(f, value); want != "" {
					return exitcode.Configf(env, "%q is not %s", value, want)
				}
			}
		}
	}
	_, err := scanArgs(flags, args)
	return err
}

// scanArgs reads args as flag.FlagSet does and returns the index of the
// first word that is not a flag or a flag's value (-1 when there is none),
// or a configuration error naming a flag that is unknown, lacks its value
// or has one that does not parse.
func scanArgs(flags []cli.Flag, args []string) (int, error) {
	byName := map[string]cli.Flag{}
	for _, f := range flags {
		for _, n := range f.Names() {
			byName[n] = f
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return i + 1, nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			return i, nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		f, ok := byName[name]
		switch {
		case !ok:
			return -1, exitcode.Configf(dashes(name), "no such flag")
		case isBool(f) && !hasValue:
			continue
		case !hasValue && i+1 == len(args):
			return -1, exitcode.Configf(dashes(name), "needs a value")
		case !hasValue:
			i++
			value = args[i]
		}
		if want := wants(f, value); want != "" {
			return -1, exitcode.Configf(dashes(name), "%q is not %s", value, want)
		}
	}
	return -1, nil
}

// strayWord is the usage error of a command given an argument it does not
// take. A true or false after a boolean flag is named as such: --overwrite
// false turns overwrite on.
func strayWord(flags []cli.Flag, args []string) error {
	i, err := scanArgs(flags, args)
	if err != nil || i < 0 || i >= len(args) {
		return exitcode.Configf("usage", "this command takes no arguments; the flags after the first one were not read")
	}
	word := args[i]
	if _, err := strconv.ParseBool(word); err == nil && i > 0 && strings.HasPrefix(args[i-1], "-") && !strings.Contains(args[i-1], "=") {
		flag := args[i-1]
		return exitcode.Configf(flag, "takes no separate value: %q was read as an argument, and the flags after it were not; write %s=%s", word, flag, word)
	}
	return exitcode.Configf("unexpected argument "+strconv.Quote(word), "this command takes none, and the flags after it were not read (quote a value that has spaces)")
}

// dashes is how a flag is written: -h, --transfers.
func dashes(flag string) string {
	if len(flag) == 1 {
		return "-" + flag
	}
	return "--" + flag
}

// isBool reports whether f is a flag that takes no separate value.
func isBool(f cli.Flag) bool {
	_, ok := f.(*cli.BoolFlag)
	return ok
}

// envVars are the env vars of f.
func envVars(f cli.Flag) []string {
	if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
		return ev.GetEnvVars()
	}
	return nil
}

// wants parses value as f's type, as urfave does, and names what it must
// be when it does not parse; "" when it does, or f takes any string.
func wants(f cli.Flag, value string) string {
	var err error
	var want string
	switch f.(type) {
	case *cli.IntFlag:
		_, err = strconv.ParseInt(value, 0, 64)
		want = "a whole number"
	case *cli.BoolFlag:
		_, err = strconv.ParseBool(value)
		want = "true or false"
	case *cli.DurationFlag:
		_, err = time.ParseDuration(value)
		want = "a duration (like 30s, 5m, 1h)"
	}
	if err != nil {
		return want
	}
	return ""
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
