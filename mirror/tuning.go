package mirror

import (
	"context"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
)

// Tuning is how hard a run works and how it shows its progress: the
// settings mirror, restore and verify share.
type Tuning struct {
	Transfers        int
	Checkers         int
	LowLevelRetries  int           // tries of one request
	Retries          int           // tries of a whole bucket, the first included
	RetriesSleep     time.Duration // pause between tries, longer if the server asks
	ProgressInterval time.Duration // how often each bucket logs its progress; 0 never
	// Display, if set, is fed each running bucket's counters for a live
	// view on a terminal, and told when each bucket is done.
	Display livebar.Sink
}

// DefaultTuning returns the documented defaults.
func DefaultTuning() Tuning {
	return Tuning{
		Transfers:        4,
		Checkers:         8,
		LowLevelRetries:  10,
		Retries:          10,
		RetriesSleep:     5 * time.Second,
		ProgressInterval: time.Minute,
	}
}

// Upper bounds of the numeric settings.
const (
	maxParallel = 256  // transfers, checkers
	maxRetries  = 1000 // tries of a request, of a bucket
)

// validate checks the settings; errors are *exitcode.ConfigError.
func (t Tuning) validate() error {
	for _, n := range []struct {
		env      string
		value    int
		min, max int
	}{
		{EnvTransfers, t.Transfers, 1, maxParallel},
		{EnvCheckers, t.Checkers, 1, maxParallel},
		{EnvLowLevelRetries, t.LowLevelRetries, 1, maxRetries},
		{EnvRetries, t.Retries, 1, maxRetries},
	} {
		if err := validateRange(n.env, n.value, n.min, n.max); err != nil {
			return err
		}
	}
	if t.RetriesSleep < 0 || t.RetriesSleep > time.Hour {
		return exitcode.Configf(EnvRetriesSleep, "%v is out of range 0..1h", t.RetriesSleep)
	}
	if p := t.ProgressInterval; p != 0 && (p < time.Second || p > 24*time.Hour) {
		return exitcode.Configf(EnvProgressInterval, "%v is out of range 1s..24h (0 turns progress lines off)", p)
	}
	return nil
}

// rclone returns ctx with rclone's options for a run tuned by t. Hashes
// decide what is equal, never modification times (reading one is a HEAD
// per object on S3).
func (t Tuning) rclone(ctx context.Context) (context.Context, *fs.ConfigInfo) {
	ctx, ci := fs.AddConfig(ctx)
	ci.CheckSum = true
	ci.Transfers = t.Transfers
	ci.Checkers = t.Checkers
	ci.LowLevelRetries = t.LowLevelRetries
	ci.UseListR = true // the few listings rclone does (restore's look at a mirror) are flat too
	return ctx, ci
}

func validateRange(env string, value, lo, hi int) error {
	if value < lo || value > hi {
		return exitcode.Configf(env, "%d is out of range %d..%d", value, lo, hi)
	}
	return nil
}
