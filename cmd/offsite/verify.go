package main

import "github.com/urfave/cli/v2"

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
