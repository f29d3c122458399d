package main

import (
	"strings"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// etcdRemote is the rclone remote name of the etcd snapshot destination.
const etcdRemote = "offsite-etcd"

func (e *env) offloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "offload",
		Usage: "ship k3s etcd snapshots to MinIO, each with a .sha256 sidecar, exactly once",
		Subcommands: []*cli.Command{
			{
				Name:   "watch",
				Usage:  "upload what is new, then watch the snapshot directory until SIGTERM (systemd service)",
				Flags:  append(e.offloadFlags(), monitorFlags()...),
				Action: e.action(e.offloadWatch),
			},
			{
				Name:   "once",
				Usage:  "upload what is new, then exit: 0 all uploaded, 1 something failed (timer, manual trigger)",
				Flags:  append(append(e.offloadFlags(), progressFlag()), monitorFlags()...),
				Action: e.action(e.offloadOnce),
			},
			{
				Name:      "fetch",
				Usage:     "download a snapshot (default: the host's latest), verify it, and print the k3s restore command",
				UsageText: "offsite offload fetch [--host H] [--name N | --latest] --to DIR",
				Flags:     e.fetchFlags(),
				Action:    e.action(e.offloadFetch),
			},
		},
	}
}

// etcdDestFlags are the destination flags every etcd command shares.
func etcdDestFlags() []cli.Flag {
	return append(remoteFlags(rcloneconf.MinIO, "destination", "us-east-1"),
		stringFlag(offload.EnvBucket, offload.DefaultBucket, "destination bucket (must exist; offsite never creates buckets)"),
		&cli.StringFlag{Name: flagName(offload.EnvHostname), Aliases: []string{"host"}, EnvVars: []string{offload.EnvHostname},
			Value: offload.ShortHostname(), Usage: "host prefix: snapshots go to <bucket>/<hostname>/"},
	)
}

func (e *env) offloadFlags() []cli.Flag {
	stateDir := offload.DefaultConfig().StateDir // $STATE_DIRECTORY under systemd
	return append(etcdDestFlags(),
		stringFlag(offload.EnvSnapshotDir, offload.DefaultSnapshotDir, "k3s etcd snapshot directory (only ever read)"),
		stringFlag(offload.EnvStateDir, stateDir, "where offload remembers what it uploaded (default $STATE_DIRECTORY, else "+offload.DefaultStateDir+")"),
		durationFlag(offload.EnvQuietPeriod, offload.DefaultQuietPeriod, "a snapshot must be unchanged this long before upload"),
		durationFlag(offload.EnvRescanInterval, offload.DefaultRescanInterval, "full rescan of the directory (plus up to 10% jitter), the safety net for missed events"),
		stringFlag(offload.EnvInclude, "", "only files whose name matches this glob (default: every file but *.part, *.tmp and dotfiles)"),
		&cli.BoolFlag{Name: flagName(offload.EnvVerifyFormat), EnvVars: []string{offload.EnvVerifyFormat}, Value: true,
			Usage: "check etcd trailers and zip CRCs, and that each snapshot opens as an etcd database, before upload (--verify-format=false for other kinds of files)"},
		durationFlag(offload.EnvBackoffMin, offload.DefaultBackoffMin, "first retry delay while the destination fails"),
		durationFlag(offload.EnvBackoffMax, offload.DefaultBackoffMax, "longest retry delay while the destination fails"),
		stringFlag(offload.EnvAgeRecipients, "", "encrypt every new snapshot to these age1... or ssh- public keys (comma-separated), stored as <name>.age"),
		stringFlag(offload.EnvAgeRecipients+"_FILE", "", "file of age recipients, one per line, # comments (as age -R reads)"),
		stringFlag(offload.EnvK3sTokenFile, "", "ship this k3s server token file (usually "+offload.K3sTokenFile+"), encrypted, as <host>/"+offload.TokenObject+
			", again whenever it changes: a snapshot does not restore without it (needs "+offload.EnvAgeRecipients+")"),
		bwLimitFlag(), tpsLimitFlag(),
	)
}

// identityFlag is the age identity that decrypts snapshots.
func identityFlag() cli.Flag {
	return &cli.StringFlag{Name: "identity", Aliases: []string{"i"}, EnvVars: []string{offload.EnvAgeIdentityFile},
		Usage: "age identity file (or OpenSSH private key) that decrypts encrypted snapshots (%d/NAME reads $CREDENTIALS_DIRECTORY/NAME)"}
}

// etcdReader is what fetch and verify etcd read snapshots with: the
// destination, and the age identities of --identity, if given.
func etcdReader(c *cli.Context) (rcloneconf.Remote, []age.Identity, error) {
	dest, err := remote(c, rcloneconf.MinIO, etcdRemote, rcloneconf.ProviderMinio)
	path := c.String("identity")
	if err != nil || path == "" {
		return dest, nil, err
	}
	ids, err := offload.ReadIdentities(offload.EnvAgeIdentityFile, path)
	return dest, ids, err
}

// recipients reads OFFSITE_AGE_RECIPIENTS (comma-separated) or the file
// OFFSITE_AGE_RECIPIENTS_FILE names, if either is set.
func recipients(c *cli.Context) ([]age.Recipient, error) {
	env := offload.EnvAgeRecipients
	value, file := c.String(flagName(env)), c.String(flagName(env+"_FILE"))
	switch {
	case value != "" && file != "":
		return nil, exitcode.Configf(env, "both %s and %s_FILE are set; set only one", env, env)
	case file != "":
		return offload.ReadRecipients(env+"_FILE", file)
	case value != "":
		return offload.ParseRecipients(env, strings.ReplaceAll(value, ",", "\n"))
	}
	return nil, nil
}

// offloadConfig turns the flags into an offload.Config.
func (e *env) offloadConfig(c *cli.Context) (offload.Config, error) {
	dest, err := remote(c, rcloneconf.MinIO, etcdRemote, rcloneconf.ProviderMinio)
	if err != nil {
		return offload.Config{}, err
	}
	cfg := offload.DefaultConfig()
	cfg.Dest = dest
	cfg.Bucket = c.String(flagName(offload.EnvBucket))
	cfg.Hostname = c.String(flagName(offload.EnvHostname))
	cfg.SnapshotDir = c.String(flagName(offload.EnvSnapshotDir))
	cfg.StateDir = c.String(flagName(offload.EnvStateDir))
	cfg.QuietPeriod = c.Duration(flagName(offload.EnvQuietPeriod))
	cfg.RescanInterval = c.Duration(flagName(offload.EnvRescanInterval))
	cfg.Include = c.String(flagName(offload.EnvInclude))
	cfg.VerifyFormat = c.Bool(flagName(offload.EnvVerifyFormat))
	cfg.BackoffMin = c.Duration(flagName(offload.EnvBackoffMin))
	cfg.BackoffMax = c.Duration(flagName(offload.EnvBackoffMax))
	cfg.TokenFile = c.String(flagName(offload.EnvK3sTokenFile))
	cfg.Counters = &offload.Counters{}
	if cfg.Limits, err = limits(c); err != nil {
		return cfg, err
	}
	cfg.Recipients, err = recipients(c)
	return cfg, err // Watch and Once validate the rest
}

// offloadRun is the monitoring view of the counters: one host item.
func offloadRun(host string, v offload.CounterValues, ok bool) monitor.Run {
	return monitor.Run{Items: []monitor.Item{{Name: host, Objects: v.Uploaded, Bytes: v.Bytes,
		Errors: v.Failed, Pending: v.Pending, OK: ok}}}
}

// offloadMonitor makes the offload job's monitor before anything else is
// read, so that a configuration or start-up error is pinged and counted too.
func (e *env) offloadMonitor(c *cli.Context) (*jobMonitor, error) {
	return e.newJobMonitor(c, monitor.JobOffload, jobPart{instance: c.String(flagName(offload.EnvHostname))})
}

func (e *env) offloadWatch(c *cli.Context) error {
	mon, err := e.offloadMonitor(c)
	if err != nil {
		return err
	}
	progress := mon.watch(c.Context)
	defer progress.close()
	host := c.String(flagName(offload.EnvHostname))
	cfg, err := e.offloadConfig(c)
	if err == nil {
		cfg.OnUpload = func(offload.Upload) {
			progress.update(offloadRun(host, cfg.Counters.Values(), true), nil)
		}
		cfg.OnFailure = func(err error) {
			progress.update(offloadRun(host, cfg.Counters.Values(), false), err)
		}
		err = offload.Watch(c.Context, cfg, e.log)
	}
	if err != nil {
		progress.update(offloadRun(host, offload.CounterValues{}, false), err)
	}
	return err
}

func (e *env) offloadOnce(c *cli.Context) error {
	mon, err := e.offloadMonitor(c)
	if err != nil {
		return err
	}
	mon.start(c.Context) // watch has no start: it runs until stopped
	cfg, err := e.offloadConfig(c)
	if err == nil {
		if derr := e.underDisplay(c, func(sink livebar.Sink) {
			cfg.Display = sink
			_, err = offload.Once(c.Context, cfg, e.log)
		}); derr != nil {
			err = derr
		}
	}
	var counts offload.CounterValues
	if cfg.Counters != nil {
		counts = cfg.Counters.Values()
	}
	return mon.finish(c.Context, offloadRun(c.String(flagName(offload.EnvHostname)), counts, err == nil), err)
}

func (e *env) fetchFlags() []cli.Flag {
	return append(etcdDestFlags(),
		&cli.StringFlag{Name: "name", Usage: "the snapshot to fetch (default: the latest, by the time in its name)"},
		&cli.BoolFlag{Name: "latest", Usage: "fetch the latest snapshot (the default)"},
		&cli.StringFlag{Name: "to", EnvVars: []string{offload.EnvFetchDir}, Usage: "directory to write the snapshot into (made, mode 0700, with its parents, when missing)"},
		identityFlag(),
	)
}

func (e *env) offloadFetch(c *cli.Context) error {
	if c.Bool("latest") && c.String("name") != "" {
		return exitcode.Configf("--name", "give --name or --latest, not both")
	}
	dest, ids, err := etcdReader(c)
	if err != nil {
		return err
	}
	fetched, err := offload.Fetch(c.Context, offload.FetchConfig{
		Dest:       dest,
		Bucket:     c.String(flagName(offload.EnvBucket)),
		Host:       c.String(flagName(offload.EnvHostname)),
		Name:       c.String("name"),
		Dir:        c.String("to"),
		Identities: ids,
	}, e.log)
	if err != nil {
		return err
	}
	return fetched.WriteInstructions(e.stdout)
}
