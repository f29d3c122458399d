package main

import (
	"encoding/json"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/monitor"
)

func (e *env) verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "prove the backups are there, whole and fresh (exit 4 when they are not)",
		Subcommands: []*cli.Command{
			e.verifyRGWCommand(),
			e.verifyEtcdCommand(),
			e.verifyMinioCommand(),
		},
	}
}

// verifyFlags are a verify command's own flags, then --output and the
// monitoring flags, which every verify command takes.
func verifyFlags(own ...cli.Flag) []cli.Flag {
	own = append(own, &cli.StringFlag{Name: "output", Value: "table", Usage: "table or json"})
	return append(own, monitorFlags()...)
}

// outputFormat is --output: table or json.
func outputFormat(c *cli.Context) (string, error) {
	output := c.String("output")
	if output != "table" && output != "json" {
		return "", exitcode.Configf("--output", "%q is not table or json", output)
	}
	return output, nil
}

// startVerify makes job's monitor, pings the start, then checks cfg. A
// configuration error is a failed run like any other, and as loud: it
// pings /fail and records the metrics (exit 2) before startVerify returns
// it; only a mistake in the monitoring settings themselves cannot.
// To have errors in reading the flags reported the same way, pass a
// validateFunc that reads them and then validates.
func (e *env) startVerify(c *cli.Context, job monitor.Job, cfg interface{ Validate() error }) (*jobMonitor, error) {
	mon, err := e.startJob(c, job, jobPart{})
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, mon.finish(c.Context, monitor.Run{}, err)
	}
	return mon, nil
}

// validateFunc is a configuration step for startVerify: it reads the
// flags into the config and validates it.
type validateFunc func() error

func (f validateFunc) Validate() error { return f() }

// withOutput is the configuration step read, after --output (into
// *output): every verify and drill prints a table or JSON.
func withOutput(c *cli.Context, output *string, read func() error) validateFunc {
	return func() error {
		var err error
		if *output, err = outputFormat(c); err != nil {
			return err
		}
		return read()
	}
}

// verifyReport is what mirror.Verify and offload.Verify report.
type verifyReport interface {
	WriteTable(w io.Writer) error
}

// printVerifyReport writes rep to stdout as indented JSON or as a table for
// people, and returns err, the verify's own error, or else the write's.
func (e *env) printVerifyReport(rep verifyReport, output string, err error) error {
	var werr error
	if output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		werr = enc.Encode(rep)
	} else {
		werr = rep.WriteTable(e.stdout)
	}
	if err != nil {
		return err
	}
	return werr
}
