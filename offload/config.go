// Package offload ships k3s etcd snapshots to S3: it watches the snapshot
// directory, waits until each file is quiet, checks its integrity, uploads it
// with a <name>.sha256 sidecar exactly once, and remembers what it uploaded.
// It also verifies what is in the bucket (Verify) and brings a snapshot back
// for a restore (Fetch).
package offload

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Env vars the offload configuration comes from; errors name them.
const (
	EnvBucket         = "MINIO_BUCKET"
	EnvHostname       = "OFFSITE_HOSTNAME"
	EnvSnapshotDir    = "OFFSITE_SNAPSHOT_DIR"
	EnvStateDir       = "OFFSITE_STATE_DIR"
	EnvQuietPeriod    = "OFFSITE_QUIET_PERIOD"
	EnvRescanInterval = "OFFSITE_RESCAN_INTERVAL"
	EnvInclude        = "OFFSITE_INCLUDE"
	EnvVerifyFormat   = "OFFSITE_VERIFY_FORMAT"
	EnvBackoffMin     = "OFFSITE_BACKOFF_MIN"
	EnvBackoffMax     = "OFFSITE_BACKOFF_MAX"
)

// AlertAfterFailures is how many uploads in a row the destination refuses
// before Watch calls OnFailure: a blip is retried quietly, an outage is not.
const AlertAfterFailures = 3

// Defaults for the offload configuration.
const (
	DefaultBucket         = "homelab-backup-etcd"
	DefaultSnapshotDir    = "/var/lib/rancher/k3s/server/db/snapshots"
	DefaultStateDir       = "/var/lib/offsite"
	DefaultQuietPeriod    = 30 * time.Second
	DefaultRescanInterval = time.Hour
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = 5 * time.Minute
)

// Config is one offload: which directory goes where.
type Config struct {
	Dest        rcloneconf.Remote // the destination (MinIO)
	Bucket      string            // must exist; offload never creates it
	Hostname    string            // objects go to <Bucket>/<Hostname>/<name>
	SnapshotDir string
	StateDir    string

	QuietPeriod    time.Duration // a file must be unchanged this long
	RescanInterval time.Duration // full rescan, plus up to 10% jitter
	Include        string        // glob on the file name; "" takes every file
	VerifyFormat   bool          // check etcd trailers and zip CRCs before upload

	BackoffMin, BackoffMax time.Duration // retry delays while the destination fails

	// Limits throttle the link (OFFSITE_BWLIMIT, OFFSITE_TPS_LIMIT).
	Limits rcloneconf.Limits

	// Recipients, when there are any, get every new snapshot encrypted to
	// them, stored as <name>.age.
	Recipients []age.Recipient
	// TokenFile, if set, is the k3s server token file (K3sTokenFile): it is
	// shipped encrypted to Recipients, as TokenObject, whenever it changes.
	TokenFile string

	// OnUpload, if set, is called after each upload, once its sidecar is
	// written. It runs on the upload path: keep it short.
	OnUpload func(Upload)
	// OnFailure, if set, is called when Watch stops being healthy: a
	// snapshot failed its check or could not be read, the destination
	// refused AlertAfterFailures uploads in a row, or the snapshot
	// directory is missing at a rescan. The next OnUpload means it
	// recovered. It runs on the watch loop: keep it short.
	OnFailure func(error)
	// Counters, if set, is kept up to date while offload runs.
	Counters *Counters
	// Display, if set, is fed each running upload's counters for a live
	// view on a terminal.
	Display livebar.Sink
}

// DefaultConfig returns the documented defaults. StateDir follows systemd's
// $STATE_DIRECTORY when it is set.
func DefaultConfig() Config {
	c := Config{
		Bucket:         DefaultBucket,
		Hostname:       ShortHostname(),
		SnapshotDir:    DefaultSnapshotDir,
		StateDir:       DefaultStateDir,
		QuietPeriod:    DefaultQuietPeriod,
		RescanInterval: DefaultRescanInterval,
		VerifyFormat:   true,
		BackoffMin:     DefaultBackoffMin,
		BackoffMax:     DefaultBackoffMax,
	}
	if dir := os.Getenv("STATE_DIRECTORY"); dir != "" {
		// systemd may list several, colon-separated: the first is ours.
		c.StateDir, _, _ = strings.Cut(dir, ":")
	}
	return c
}

// ShortHostname is the host name up to its first dot ("" if unknown).
func ShortHostname() string {
	h, _ := os.Hostname()
	h, _, _ = strings.Cut(h, ".")
	return h
}

// Validate checks the values that need no file system or network. Every
// error is a *exitcode.ConfigError naming the env var.
func (c Config) Validate() error {
	if err := validateDest(c.Bucket, c.Hostname); err != nil {
		return err
	}
	switch {
	case c.SnapshotDir == "":
		return exitcode.Configf(EnvSnapshotDir, "is required")
	case c.StateDir == "":
		return exitcode.Configf(EnvStateDir, "is required (or $STATE_DIRECTORY)")
	case filepath.Clean(c.StateDir) == filepath.Clean(c.SnapshotDir):
		return exitcode.Configf(EnvStateDir, "must not be the snapshot directory: offload never writes there")
	case c.BackoffMax < c.BackoffMin:
		return exitcode.Configf(EnvBackoffMax, "%v is less than %s %v", c.BackoffMax, EnvBackoffMin, c.BackoffMin)
	}
	for _, d := range []struct {
		env       string
		value     time.Duration
		low, high time.Duration
	}{
		{EnvQuietPeriod, c.QuietPeriod, 100 * time.Millisecond, 24 * time.Hour},
		{EnvRescanInterval, c.RescanInterval, time.Second, 7 * 24 * time.Hour}, // shorter spins a core
		{EnvBackoffMin, c.BackoffMin, 10 * time.Millisecond, time.Hour},
		{EnvBackoffMax, c.BackoffMax, 10 * time.Millisecond, 24 * time.Hour},
	} {
		if d.value < d.low || d.value > d.high {
			return exitcode.Configf(d.env, "%v is out of range %v..%v", d.value, d.low, d.high)
		}
	}
	if c.TokenFile != "" && len(c.Recipients) == 0 {
		return exitcode.Configf(EnvAgeRecipients, "is required with %s: the k3s token leaves the node only encrypted", EnvK3sTokenFile)
	}
	if _, err := path.Match(c.Include, ""); err != nil {
		return exitcode.Configf(EnvInclude, "%q is not a valid glob: %v", c.Include, err)
	}
	return c.Limits.Validate()
}

// validateDest checks the bucket and host prefix shared by every command.
func validateDest(bucket, host string) error {
	if err := rcloneconf.CheckBucketName(EnvBucket, bucket); err != nil {
		return err
	}
	return validateHost(host)
}

func validateHost(host string) error {
	switch {
	case host == "":
		return exitcode.Configf(EnvHostname, "is required (the host name could not be read)")
	case host == "." || host == ".." || strings.ContainsAny(host, "/\\"):
		return exitcode.Configf(EnvHostname, "%q cannot be an object prefix", host)
	}
	return nil
}

// wanted reports whether a file name is a snapshot offload handles: not a
// temporary or hidden file, and matching the include pattern.
func (c Config) wanted(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".part") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, SidecarSuffix) {
		return false
	}
	if c.Include == "" {
		return true
	}
	ok, _ := path.Match(c.Include, name)
	return ok
}
