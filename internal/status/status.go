// Package status is offsite status: one view of both backups from run
// reports, listings and records alone (seconds, never a compare): each
// mirrored bucket's last run, each host's newest etcd snapshot, each
// destination bucket's protection, and the newest verify and drill.
package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/runrecord"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Config says where both backups are and how fresh they must be.
type Config struct {
	Mirror        bucketsetup.Target // the mirror's bucket (MINIO_*)
	Etcd          bucketsetup.Target // the etcd bucket (MINIO_ETCD_*, else MINIO_*)
	ReportPrefix  string
	MaxAge        time.Duration // the last mirror run and each host's newest snapshot must be younger
	RetentionDays int
	Now           time.Time // zero: time.Now()
}

// maxMaxAge bounds MaxAge: past it, freshness checks nothing.
const maxMaxAge = 90 * 24 * time.Hour

// Validate checks the config; errors are *exitcode.ConfigError.
func (c Config) Validate() error {
	if c.MaxAge <= 0 || c.MaxAge > maxMaxAge {
		return exitcode.Configf(offload.EnvMaxAge, "%v is out of range 0..%v", c.MaxAge, maxMaxAge)
	}
	if err := mirror.CheckReportPrefix(c.ReportPrefix); err != nil {
		return err
	}
	return bucketsetup.Config{Targets: []bucketsetup.Target{c.Mirror, c.Etcd}, RetentionDays: c.RetentionDays}.Validate()
}

// Report is the view: what was read, and what of it is wrong.
type Report struct {
	Checked      time.Time                  `json:"checked"`
	MaxAge       time.Duration              `json:"max_age_ns"`
	OK           bool                       `json:"ok"`
	Mirror       Mirror                     `json:"mirror"`
	Etcd         Etcd                       `json:"etcd"`
	Destinations []bucketsetup.BucketReport `json:"destinations"`
	Records      []Record                   `json:"records"`
	Problems     []string                   `json:"problems"`         // stale, failed or unprotected
	Errors       []string                   `json:"errors,omitempty"` // what could not be read
}

// Mirror is the mirror's side: the newest run of each shard.
type Mirror struct {
	Bucket string              `json:"bucket"`
	Runs   []mirror.RunSummary `json:"runs"`
}

// Etcd is the snapshots' side: each host's newest complete snapshot.
type Etcd struct {
	Bucket string               `json:"bucket"`
	Hosts  []offload.HostLatest `json:"hosts"`
}

// Record is the newest record of a kind of check or drill; nil: never.
type Record struct {
	Kind   runrecord.Kind    `json:"kind"`
	Bucket string            `json:"bucket"`
	Last   *runrecord.Record `json:"last"`
}

// Run reads both backups and judges them. Its error wraps
// exitcode.ErrVerifyFailed when something is stale, failed or
// unprotected, and joins what could not be read (refused keys: exit 2).
// A bucket that cannot be reached, or does not exist, is not read further.
func Run(ctx context.Context, cfg Config, log *zap.Logger) (*Report, error) {
	now := cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	rep := &Report{Checked: now, MaxAge: cfg.MaxAge, Mirror: Mirror{Bucket: cfg.Mirror.Bucket, Runs: []mirror.RunSummary{}},
		Etcd: Etcd{Bucket: cfg.Etcd.Bucket, Hosts: []offload.HostLatest{}}, Records: []Record{}, Problems: []string{}}
	dest, err := bucketsetup.Verify(ctx, bucketsetup.Config{Targets: []bucketsetup.Target{cfg.Mirror, cfg.Etcd}, RetentionDays: cfg.RetentionDays}, log)
	errs := []error{err}
	rep.Destinations = dest.Buckets
	for _, b := range dest.Buckets {
		for _, p := range b.Problems {
			rep.problem("%s: %s", b.Bucket, p)
		}
	}
	if reachable(dest.Buckets[0]) {
		errs = append(errs, rep.readMirror(ctx, cfg, now), rep.readRecords(ctx, cfg.Mirror, cfg.ReportPrefix, runrecord.VerifyRGW, runrecord.DrillRGW))
	}
	if reachable(dest.Buckets[1]) {
		errs = append(errs, rep.readEtcd(ctx, cfg, now), rep.readRecords(ctx, cfg.Etcd, "", runrecord.VerifyEtcd, runrecord.DrillEtcd))
	}
	for _, b := range dest.Buckets {
		rep.Errors = append(rep.Errors, b.Errors...)
	}
	for _, e := range errs[1:] { // the first is dest's, whose errors are in its buckets
		if e != nil {
			rep.Errors = append(rep.Errors, e.Error())
		}
	}
	rep.OK = len(rep.Problems) == 0 && len(rep.Errors) == 0
	if n := len(rep.Problems); n > 0 {
		errs = append(errs, fmt.Errorf("%w: %d problems", exitcode.ErrVerifyFailed, n))
	}
	return rep, errors.Join(errs...)
}

// reachable is a destination bucket whose contents can be read.
func reachable(b bucketsetup.BucketReport) bool { return b.Checked && b.Exists }

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// readMirror reads the newest run of each shard and judges each bucket of
// it: ok, and the run younger than the maximum age.
func (r *Report) readMirror(ctx context.Context, cfg Config, now time.Time) error {
	runs, err := mirror.LastRuns(ctx, cfg.Mirror.Remote, cfg.Mirror.Bucket, cfg.ReportPrefix, now.Add(-cfg.MaxAge))
	if errors.Is(err, mirror.ErrNoReport) {
		r.problem("mirror: no run report under %s/%s/: the mirror has never run", cfg.Mirror.Bucket, cfg.ReportPrefix)
		return nil
	}
	if err != nil {
		return fmt.Errorf("mirror reports: %w", err)
	}
	r.Mirror.Runs = runs
	for _, run := range runs {
		name := "mirror run"
		if run.Shard != nil {
			name = "mirror shard " + run.Shard.String()
		}
		if run.Status == mirror.StatusMissing {
			r.problem("%s: no report in the last %s", name, cfg.MaxAge)
			continue
		}
		if age := now.Sub(run.End); age > cfg.MaxAge {
			r.problem("%s: the last one ended %s ago, longer than the maximum age %s (%s)", name, ago(age), cfg.MaxAge, run.Report)
		}
		failed := 0
		for _, b := range run.Buckets {
			if b.Status != mirror.StatusOK {
				failed++
				r.problem("bucket %s: %s in the last mirror run (%s)", b.Name, b.Status, run.Report)
			}
		}
		if run.Status != mirror.StatusOK && failed == 0 {
			r.problem("%s: %s: %s (%s)", name, run.Status, run.Error, run.Report)
		}
	}
	return nil
}

// readEtcd reads each host's newest complete snapshot and judges its age.
func (r *Report) readEtcd(ctx context.Context, cfg Config, now time.Time) error {
	hosts, err := offload.LatestSnapshots(ctx, cfg.Etcd.Remote, cfg.Etcd.Bucket)
	r.Etcd.Hosts = append(r.Etcd.Hosts, hosts...)
	if err != nil {
		return fmt.Errorf("etcd snapshots: %w", err)
	}
	if len(hosts) == 0 {
		r.problem("etcd: no host has a snapshot in %s", cfg.Etcd.Bucket)
	}
	for _, h := range hosts {
		switch age := now.Sub(h.Time); {
		case h.Newest == "":
			r.problem("host %s: no complete snapshot (one with its sidecar) in %s/%s/", h.Host, cfg.Etcd.Bucket, h.Host)
		case age > cfg.MaxAge:
			r.problem("host %s: the newest snapshot is %s old, older than the maximum age %s (%s)", h.Host, ago(age), cfg.MaxAge, h.Newest)
		}
	}
	return nil
}

// readRecords reads the newest record of each kind under prefix in the
// target's bucket; a failed one is a problem, none is "never" and none of
// them.
func (r *Report) readRecords(ctx context.Context, t bucketsetup.Target, prefix string, kinds ...runrecord.Kind) error {
	client, err := t.Remote.S3Client(recordTimeout)
	if err != nil {
		return err
	}
	var errs []error
	for _, kind := range kinds {
		var last *runrecord.Record
		err := rcloneconf.Call(ctx, t.End, func(ctx context.Context) error {
			var err error
			last, err = runrecord.Get(ctx, client, t.Bucket, prefix, kind)
			return err
		})
		r.Records = append(r.Records, Record{Kind: kind, Bucket: t.Bucket, Last: last})
		errs = append(errs, err)
		if last != nil && last.Status != runrecord.StatusOK {
			r.problem("%s: the last one (%s) failed with exit code %d: %s", kind, last.End.Format(time.RFC3339), last.ExitCode, last.Error)
		}
	}
	return errors.Join(errs...)
}

// recordTimeout bounds one request for a record.
const recordTimeout = 20 * time.Second
