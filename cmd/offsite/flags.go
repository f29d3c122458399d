package main

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// flagName is the flag twin of an env var: RGW_ENDPOINT -> rgw-endpoint,
// OFFSITE_MODE -> mode.
func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "OFFSITE_")), "_", "-")
}

func stringFlag(env, value, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: flagName(env), EnvVars: []string{env}, Value: value, Usage: usage}
}

func intFlag(env string, value int, usage string) *cli.IntFlag {
	return &cli.IntFlag{Name: flagName(env), EnvVars: []string{env}, Value: value, Usage: usage}
}

func boolFlag(env string, value bool, usage string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: flagName(env), EnvVars: []string{env}, Value: value, Usage: usage}
}

func durationFlag(env string, value time.Duration, usage string) *cli.DurationFlag {
	return &cli.DurationFlag{Name: flagName(env), EnvVars: []string{env}, Value: value, Usage: usage}
}

// list splits a comma-separated env var, dropping blanks.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// remoteFlags are the flags of one S3 end.
func remoteFlags(end rcloneconf.End, what, region string) []cli.Flag {
	return []cli.Flag{
		stringFlag(end.Var("ENDPOINT"), "", what+" S3 endpoint URL (http:// or https://)"),
		stringFlag(end.Var("REGION"), region, what+" region"),
		stringFlag(end.Var("ACCESS_KEY_ID"), "", what+" access key id"),
		stringFlag(end.Var("ACCESS_KEY_ID_FILE"), "", "file holding the "+what+" access key id"),
		stringFlag(end.Var("SECRET_ACCESS_KEY"), "", what+" secret key (prefer the env var or the _FILE form: flags show in ps)"),
		stringFlag(end.Var("SECRET_ACCESS_KEY_FILE"), "", "file holding the "+what+" secret key (%d/NAME reads $CREDENTIALS_DIRECTORY/NAME)"),
		stringFlag(end.Var("CA_FILE"), "", "PEM bundle of the CA that signs the "+what+" endpoint's certificate (https:// with a private CA)"),
	}
}

// remote builds the remote described by end's flags.
func remote(c *cli.Context, end rcloneconf.End, name, provider string) (rcloneconf.Remote, error) {
	return settings(c, end).Remote(name, provider)
}

// rgwAndMinio builds both ends of the mirror from their flags: the RGW
// (Ceph) and the MinIO holding the mirror.
func rgwAndMinio(c *cli.Context) (rgw, minio rcloneconf.Remote, err error) {
	if rgw, err = remote(c, rcloneconf.RGW, rgwRemote, rcloneconf.ProviderCeph); err != nil {
		return rgw, minio, err
	}
	minio, err = remote(c, rcloneconf.MinIO, minioRemote, rcloneconf.ProviderMinio)
	return rgw, minio, err
}

// settings are the values of end's flags (those it has; the rest are "").
func settings(c *cli.Context, end rcloneconf.End) rcloneconf.Settings {
	get := func(suffix string) string { return c.String(flagName(end.Var(suffix))) }
	return rcloneconf.Settings{
		End:                 end,
		Endpoint:            get("ENDPOINT"),
		Region:              get("REGION"),
		AccessKeyID:         get("ACCESS_KEY_ID"),
		AccessKeyIDFile:     get("ACCESS_KEY_ID_FILE"),
		SecretAccessKey:     get("SECRET_ACCESS_KEY"),
		SecretAccessKeyFile: get("SECRET_ACCESS_KEY_FILE"),
		CAFile:              get("CA_FILE"),
	}
}

// bwLimitFlag and tpsLimitFlag are the link limits mirror and offload share.
func bwLimitFlag() cli.Flag {
	return stringFlag(rcloneconf.EnvBwLimit, "", "bandwidth limit in rclone's --bwlimit syntax: 10M, 10M:off (upload:download), or a timetable \"08:00,2M 23:00,off\"")
}

func tpsLimitFlag() cli.Flag {
	return stringFlag(rcloneconf.EnvTPSLimit, "", "HTTP requests per second, for a slow destination (0 or unset: no limit)")
}

// limits reads the flags of bwLimitFlag and tpsLimitFlag.
func limits(c *cli.Context) (rcloneconf.Limits, error) {
	tps, err := rcloneconf.ParseTPS(c.String(flagName(rcloneconf.EnvTPSLimit)))
	l := rcloneconf.Limits{Bandwidth: c.String(flagName(rcloneconf.EnvBwLimit)), TPS: tps}
	if err != nil {
		return l, err
	}
	return l, l.Validate()
}
