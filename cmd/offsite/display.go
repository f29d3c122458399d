package main

import (
	"github.com/urfave/cli/v2"

	livebar "github.com/offsite-backup/offsite/internal/progress"
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
