package main

import (
	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/demo"
)

func (e *env) demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run mirror, offload and verify end to end on in-process S3 servers (nothing to install)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", EnvVars: []string{"OFFSITE_DEMO_DIR"}, Usage: "keep the demo's servers' data in this directory (default: a temp dir, removed afterwards)"},
		},
		Action: e.action(func(c *cli.Context) error {
			return demo.Run(c.Context, demo.Config{Out: e.stdout, Log: e.log, Version: Version, Dir: c.String("dir")})
		}),
	}
}
