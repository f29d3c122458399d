package main

import (
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/offsite-backup/offsite/internal/demo"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func (e *env) demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run mirror, offload and verify end to end on in-process S3 servers (nothing to install)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", EnvVars: []string{"OFFSITE_DEMO_DIR"}, Usage: "keep the demo's servers' data in this directory (default: a temp dir, removed afterwards)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "on a terminal, show the commands' logs at info too (default: warnings and errors only)"},
			progressFlag(),
		},
		Action: e.action(func(c *cli.Context) error {
			live, err := e.liveDisplay(c)
			if err != nil {
				return err
			}
			cfg := demo.Config{Out: e.stdout, Log: e.log, Version: Version, Dir: c.String("dir"), Live: live}
			if livebar.IsTerminal(e.stdout) {
				// A person reads the steps and the tables; the logs at
				// info would say each thing twice.
				if !c.Bool("verbose") {
					cfg.Log = e.log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
					rcloneconf.Init(cfg.Log) // rclone's own notices too
				}
			}
			return demo.Run(c.Context, cfg)
		}),
	}
}
