package main

import (
	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/livebar"
)

// progressFlag is --progress: when the live display shows.
func progressFlag() cli.Flag {
	return stringFlag(livebar.EnvProgress, string(livebar.Auto), "live display of each running bucket or file: auto (when stdout is a terminal), always or never")
}

// liveDisplay reads --progress and returns what starts the live display
// for one piece of work, or nil when there is none (not a terminal, or
// --progress never). Logs print above the display while it is live; stop
// it before printing anything else to stdout.
func (e *env) liveDisplay(c *cli.Context) (start func() (livebar.Sink, func()), err error) {
	mode, err := livebar.ParseMode(c.String(flagName(livebar.EnvProgress)))
	if err != nil || !mode.On(e.stdout) {
		return nil, err
	}
	force := mode == livebar.Always && !livebar.IsTerminal(e.stdout)
	return func() (livebar.Sink, func()) {
		d := livebar.New(c.Context, e.stdout, e.logs, force)
		return d, d.Close
	}, nil
}

// underDisplay runs job with the live display, when --progress asks for
// one, as its sink (nil otherwise); the display is closed before it
// returns, so that what is printed next lands below it, and on a panic
// too, so that the terminal gets its lines back.
func (e *env) underDisplay(c *cli.Context, job func(sink livebar.Sink)) error {
	start, err := e.liveDisplay(c)
	if err != nil {
		return err
	}
	if start == nil {
		job(nil)
		return nil
	}
	sink, stop := start()
	defer stop()
	job(sink)
	return nil
}
