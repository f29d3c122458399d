package main

import (
	"encoding/json"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func (e *env) verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "prove the backups are there, whole and fresh (exit 4 when they are not)",
		Subcommands: []*cli.Command{
			e.verifyRGWCommand(),
			e.verifyEtcdCommand(),
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

// startVerify checks cfg, then makes job's monitor and pings the start: a
// verify command refuses a bad configuration before any ping.
func (e *env) startVerify(c *cli.Context, job string, cfg interface{ Validate() error }) (*jobMonitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mon, err := e.newJobMonitor(c, job, "")
	if err != nil {
		return nil, err
	}
	mon.start(c.Context)
	return mon, nil
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
