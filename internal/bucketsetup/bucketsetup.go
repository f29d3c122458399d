// Package bucketsetup sets up and checks what protects offsite's
// destination buckets on MinIO: the bucket exists, versioning is on, and a
// lifecycle rule expires noncurrent versions after the retention. rclone
// has no lifecycle rules, so this talks S3 through the AWS SDK, with the
// client rcloneconf builds from the same remote settings.
package bucketsetup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Env vars of setup minio and verify minio.
const (
	EnvBuckets       = "OFFSITE_MINIO_BUCKETS"
	EnvRetentionDays = "OFFSITE_RETENTION_DAYS"
)

// DefaultRetentionDays is how long an overwritten or deleted object's old
// version is kept: two weeks to notice a bad sync and restore with --at.
const DefaultRetentionDays = 14

// maxRetentionDays bounds the retention: past ten years it is a typo.
const maxRetentionDays = 3650

// Target is one destination bucket and the remote whose keys reach it.
type Target struct {
	Bucket string
	Remote rcloneconf.Remote
	End    rcloneconf.End // whose variables the keys came from, for errors
}

// Config says which buckets to set up or check, and the retention.
type Config struct {
	Targets       []Target
	RetentionDays int
	DryRun        bool // Setup: say what would change, change nothing
}

// Validate checks the config; errors are *exitcode.ConfigError.
func (c Config) Validate() error {
	if c.RetentionDays < 1 || c.RetentionDays > maxRetentionDays {
		return exitcode.Configf(EnvRetentionDays, "%d is out of range 1..%d days", c.RetentionDays, maxRetentionDays)
	}
	if len(c.Targets) == 0 {
		return exitcode.Configf(EnvBuckets, "names no bucket")
	}
	seen := map[string]bool{}
	for _, t := range c.Targets {
		if err := rcloneconf.CheckBucketName(EnvBuckets, t.Bucket); err != nil {
			return err
		}
		if seen[t.Bucket] {
			return exitcode.Configf(EnvBuckets, "names %s twice", t.Bucket)
		}
		seen[t.Bucket] = true
	}
	return nil
}

// Setup makes each bucket exist, turns versioning on and adds (or
// updates) its own lifecycle rule, merged into the bucket's other rules,
// unless a rule already expires noncurrent versions within the retention.
// What it changed it reads back. It carries on past a bucket that fails.
// With DryRun it changes nothing and reports what it would change.
func Setup(ctx context.Context, cfg Config, log *zap.Logger) (*Report, error) {
	return each(ctx, cfg, log, func(ctx context.Context, c *client, br *BucketReport) error {
		st, err := c.inspect(ctx)
		if err != nil {
			return err
		}
		s := &bucketSetup{c: c, days: cfg.RetentionDays, dry: cfg.DryRun}
		err = s.run(ctx, st)
		br.Changes = s.changes
		if err != nil {
			return err
		}
		if cfg.DryRun || !br.changed() {
			br.fill(st, cfg.RetentionDays)
			br.Problems = []string{} // a dry run says what it would do, and judges nothing
			return nil
		}
		if st, err = c.inspect(ctx); err != nil {
			return err
		}
		if br.fill(st, cfg.RetentionDays); len(br.Problems) > 0 {
			return fmt.Errorf("bucket %s was set up, but reads back: %s", c.bucket, strings.Join(br.Problems, "; "))
		}
		return nil
	})
}

// Verify checks, reading only, that each bucket exists, has versioning
// Enabled and a lifecycle rule that expires noncurrent versions within the
// retention. It carries on past every problem and returns them all: the
// error wraps exitcode.ErrVerifyFailed when it found any, and joins what
// kept a bucket from being checked.
func Verify(ctx context.Context, cfg Config, log *zap.Logger) (*Report, error) {
	rep, err := each(ctx, cfg, log, func(ctx context.Context, c *client, br *BucketReport) error {
		st, err := c.inspect(ctx)
		br.fill(st, cfg.RetentionDays)
		return err
	})
	if n := rep.problems(); n > 0 {
		err = errors.Join(fmt.Errorf("%w: %d problems in the destination buckets", exitcode.ErrVerifyFailed, n), err)
	}
	return rep, err
}

// each runs fn for every target's bucket and collects the reports; an
// error is the bucket's, and the others still run.
func each(ctx context.Context, cfg Config, log *zap.Logger, fn func(context.Context, *client, *BucketReport) error) (*Report, error) {
	if log == nil {
		log = zap.NewNop()
	}
	rep := &Report{RetentionDays: cfg.RetentionDays, DryRun: cfg.DryRun, Buckets: []BucketReport{}}
	var errs []error
	for _, t := range cfg.Targets {
		br := BucketReport{Bucket: t.Bucket, Problems: []string{}}
		c, err := newClient(t)
		if err == nil {
			err = fn(ctx, c, &br)
		}
		br.Checked = err == nil
		if err != nil {
			br.Errors = append(br.Errors, err.Error())
			errs = append(errs, err)
		}
		br.log(log.With(zap.String("bucket", t.Bucket)))
		rep.Buckets = append(rep.Buckets, br)
	}
	return rep, errors.Join(errs...)
}

// bucketSetup brings one bucket to its protection, one setting at a time,
// and notes what it did with each.
type bucketSetup struct {
	c       *client
	days    int
	dry     bool
	changes []Change
}

const unchanged = "unchanged"

// note records a setting: done is what was done, would what a dry run
// would do.
func (s *bucketSetup) note(setting, done, would, state string) {
	action := done
	if s.dry {
		action = would
	}
	s.changes = append(s.changes, Change{Setting: setting, Action: action, State: state})
}

func (s *bucketSetup) run(ctx context.Context, st state) error {
	if st.exists {
		s.note("bucket", unchanged, unchanged, "exists")
	} else {
		if !s.dry {
			if err := s.c.createBucket(ctx); err != nil {
				return err
			}
		}
		s.note("bucket", "created", "would create", "exists")
	}
	if st.versioning == VersioningEnabled {
		s.note("versioning", unchanged, unchanged, VersioningEnabled)
	} else {
		if !s.dry {
			if err := s.c.enableVersioning(ctx); err != nil {
				return err
			}
		}
		state := VersioningEnabled + " (was " + st.versioning + ")"
		if !st.exists {
			state = VersioningEnabled + " (a new bucket)"
		}
		s.note("versioning", "enabled", "would enable", state)
	}
	lc, action := st.lifecycle.withExpiry(s.days)
	if action == "" {
		s.note("lifecycle", unchanged, unchanged, st.lifecycle.covering(s.days).String())
		return nil
	}
	if !s.dry {
		if err := s.c.putLifecycle(ctx, lc); err != nil {
			return err
		}
	}
	state := ownRule(s.days).String()
	if kept := len(lc.Rules) - 1; kept > 0 {
		state += fmt.Sprintf(" (%d other rules kept)", kept)
	}
	s.note("lifecycle", action, map[string]string{"added": "would add", "updated": "would update"}[action], state)
	return nil
}
