package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/mirror"
)

// progressFlag is --progress: when the live display shows.
func progressFlag() cli.Flag {
	return stringFlag(livebar.EnvProgress, string(livebar.Auto), "live display of each running bucket or file: auto (when stdout is a terminal), always or never")
}

// display starts the live display when --progress asks for it and stdout
// is a terminal; nil otherwise. Logs print above it while it is live;
// close it (stopDisplay) before printing anything else to stdout.
func (e *env) display(c *cli.Context) (*livebar.Display, error) {
	mode, err := livebar.ParseMode(c.String(flagName(livebar.EnvProgress)))
	if err != nil || !mode.On(e.stdout) {
		return nil, err
	}
	return livebar.New(c.Context, e.stdout, e.logs, mode == livebar.Always && !livebar.IsTerminal(e.stdout)), nil
}

// stopDisplay closes d, if there is one.
func stopDisplay(d *livebar.Display) {
	if d != nil {
		d.Close()
	}
}

// underDisplay runs job under the live display, when there is one: the
// display is fed through *sink and replaces the periodic progress lines
// unless --progress-interval was set. It is closed before job returns, so
// the summary printed next lands below it.
func (e *env) underDisplay(c *cli.Context, sink *livebar.Sink, interval *time.Duration, job func()) error {
	d, err := e.display(c)
	if err != nil {
		return err
	}
	defer stopDisplay(d) // also on a panic: the terminal gets its lines back
	if d != nil {
		*sink = d
		if !c.IsSet(flagName(mirror.EnvProgress)) {
			*interval = 0 // the display shows it
		}
	}
	job()
	stopDisplay(d)
	return nil
}
