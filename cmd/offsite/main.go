// Command offsite keeps a homelab's irreplaceable state off the cluster:
// it mirrors Ceph RGW buckets to MinIO, ships k3s etcd snapshots, and
// verifies both. This package only turns flags and env vars into the
// packages' configs and their errors into exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

const (
	envLogFormat      = "OFFSITE_LOG_FORMAT"
	envLogLevel       = "OFFSITE_LOG_LEVEL"
	envAllowRcloneEnv = "OFFSITE_ALLOW_RCLONE_ENV"
)

func main() {
	ctx, stop := interruptible(context.Background(), os.Stderr, os.Exit)
	code := run(ctx, os.Args, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// interruptible returns a context that the first SIGINT or SIGTERM cancels:
// the command stops cleanly, and says so the four ways. A second one ends
// the process at once with 128 + the signal (130, 143), as a shell reports
// it, for a stop that takes too long.
func interruptible(parent context.Context, stderr io.Writer, exit func(int)) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for first := true; ; first = false {
			select {
			case <-done:
				return
			case sig := <-signals:
				if first {
					cancel()
					continue
				}
				fmt.Fprintf(stderr, "offsite: a second %v: exiting now, without finishing\n", sig)
				exit(128 + int(sig.(syscall.Signal)))
			}
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		close(done)
		cancel()
	}
}

// env is what one invocation sees of the world; tests give their own.
type env struct {
	args           []string // the command line, for naming what in it is wrong
	stdout, stderr io.Writer
	environ        []string
	log            *zap.Logger
	logs           *livebar.Switch // the log's writer: stderr, or above a live display
	jsonLogs       bool            // --log-format json: the summary is JSON too
	acted          bool            // a command's action ran: its error is its own
	command        string          // the command run ("offload once"), for the usage hint
	mon            *jobMonitor     // the job's monitor: a panic after its start ends it as failed
}

// run runs offsite with args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	e := &env{args: args, stdout: stdout, stderr: stderr, environ: environ}
	return e.run(ctx, e.app())
}

// run runs app, offsite's commands, with e's args, and returns the exit
// code.
func (e *env) run(ctx context.Context, app *cli.App) (code int) {
	defer func() {
		// A panic outside a command's work (actions recover their own).
		if r := recover(); r != nil {
			err := e.panicked(ctx, r)
			fmt.Fprintf(e.stderr, "offsite: %v\n", err)
			code = exitcode.Of(err)
		}
	}()
	err := app.RunContext(ctx, e.args)
	if !e.acted {
		err = usageError(err) // urfave refused the arguments
	}
	code = exitcode.Of(err)
	switch {
	case err == nil:
	case code == exitcode.Config:
		// One line a person can act on, not the command's whole help.
		e.printUsageError(err)
	case e.log == nil: // flags could not even be parsed
		fmt.Fprintf(e.stderr, "offsite: %v\n", err)
	default:
		e.log.Error("offsite failed", zap.Error(err), zap.Int("exit_code", code))
	}
	if e.log != nil {
		_ = e.log.Sync()
	}
	return code
}

func (e *env) app() *cli.App {
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
	return &cli.App{
		Name:                  "offsite",
		Usage:                 "keep a homelab's irreplaceable state off the cluster",
		Version:               Version,
		Writer:                e.stdout,
		ErrWriter:             e.stderr,
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitcode.Help,
		EnableBashCompletion:  false,
		HideHelpCommand:       true,
		// main maps errors to exit codes; urfave must not exit on its own.
		ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-format", EnvVars: []string{envLogFormat}, Usage: "json or console (default: console on a terminal, else json)"},
			&cli.StringFlag{Name: "log-level", EnvVars: []string{envLogLevel}, Value: "info", Usage: "debug, info, warn or error"},
			&cli.BoolFlag{Name: "allow-rclone-env", EnvVars: []string{envAllowRcloneEnv}, Usage: "run even though RCLONE_* env vars are set (they override offsite's settings)"},
		},
		Before:       e.before,
		Action:       noCommand(e.showCommands),
		OnUsageError: e.onUsageError(""),
		Commands: e.oneLineUsage("", []*cli.Command{
			e.mirrorCommand(),
			e.offloadCommand(),
			e.verifyCommand(),
			e.drillCommand(),
			e.restoreCommand(),
			e.canaryCommand(),
			e.setupCommand(),
			e.statusCommand(),
			e.demoCommand(),
			e.versionCommand(),
		}),
	}
}

// before sets up logging and refuses rclone env vars, for every command.
func (e *env) before(c *cli.Context) error {
	e.logs = livebar.NewSwitch(e.stderr)
	log, err := newLogger(c.String("log-format"), c.String("log-level"), e.logs, livebar.IsTerminal(e.stderr))
	if err != nil {
		return err
	}
	e.log = log
	e.jsonLogs = c.String("log-format") == "json"
	if !c.Bool("allow-rclone-env") {
		if err := rcloneconf.CheckEnv(e.environ); err != nil {
			return err
		}
	}
	rcloneconf.Init(log)
	return nil
}

// action marks that a command's work ran, so run maps its error as it is
// rather than as a usage error. A panic in the work is recovered: it is
// logged with its stack, the job's monitor (if it pinged the start) pings
// /fail and records the failure, and offsite exits 1.
func (e *env) action(fn cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) (err error) {
		e.acted = true
		defer func() {
			if r := recover(); r != nil {
				err = e.panicked(c.Context, r)
			}
		}()
		return fn(c)
	}
}

func (e *env) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print offsite's, rclone's and Go's versions",
		Action: e.action(func(c *cli.Context) error {
			_, err := fmt.Fprintf(e.stdout, "offsite %s\nrclone %s\n%s %s/%s\n", Version, rcloneconf.RcloneVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		}),
	}
}
