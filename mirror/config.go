// Package mirror copies the selected buckets of an S3 source (Ceph RGW) into
// one destination bucket (MinIO), bucket B under the prefix B/, in copy or
// sync mode, with whole-bucket retries, a deletion cap and an empty-source
// guard, and writes a run report into the destination.
//
// One bucket copier (pass, merge, deletions, tries) serves three entry
// points, each with its own config and report: Run (the mirror), Restore
// (the mirror back into the RGW) and Verify (the mirror against its source,
// through the same streaming comparison and the same rule of equality).
package mirror

import (
	"math"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Env vars of the mirror and verify rgw commands, named in configuration
// errors. The cmd package builds its flags from the same names.
const (
	EnvBuckets          = "RGW_BUCKETS"
	EnvExcludeBuckets   = "RGW_EXCLUDE_BUCKETS"
	EnvDestBucket       = "MINIO_BUCKET"
	EnvMode             = "OFFSITE_MODE"
	EnvDryRun           = "OFFSITE_DRY_RUN"
	EnvTransfers        = "OFFSITE_TRANSFERS"
	EnvCheckers         = "OFFSITE_CHECKERS"
	EnvLowLevelRetries  = "OFFSITE_LOW_LEVEL_RETRIES"
	EnvRetries          = "OFFSITE_RETRIES"
	EnvRetriesSleep     = "OFFSITE_RETRIES_SLEEP"
	EnvMaxDelete        = "OFFSITE_MAX_DELETE"
	EnvAllowEmptySource = "OFFSITE_ALLOW_EMPTY_SOURCE"
	EnvReportPrefix     = "OFFSITE_REPORT_PREFIX"
	EnvProgressInterval = "OFFSITE_PROGRESS_INTERVAL"
	EnvMaxReportAge     = "OFFSITE_MAX_AGE" // shared with verify etcd: both jobs are daily
	EnvMaxDuration      = "OFFSITE_MAX_DURATION"
	EnvAudit            = "OFFSITE_AUDIT"
)

// AllBuckets, alone in RGW_BUCKETS, selects every bucket the source lists
// (less RGW_EXCLUDE_BUCKETS). Mirroring everything is a choice the
// operator makes out loud: an unset RGW_BUCKETS is a configuration error.
const AllBuckets = "*"

// bucketsRequired is the configuration error of an empty allow-list.
var bucketsRequired = exitcode.Configf(EnvBuckets, "is required: name the buckets to mirror (%s=a,b) or take every bucket the credentials list (%s=%s)", EnvBuckets, EnvBuckets, AllBuckets)

// DefaultAuditSlices is the default audit: 5% of a bucket a run, every
// object in 20 runs.
const DefaultAuditSlices = 20

// DefaultDestBucket is where the RGW mirror goes unless MINIO_BUCKET says
// otherwise, and DefaultReportPrefix where the reports go in it.
const (
	DefaultDestBucket   = "homelab-backup-rgw"
	DefaultReportPrefix = "_reports"
)

// Mode says whether a run may delete mirror objects whose source is gone.
type Mode string

// Modes.
const (
	ModeCopy Mode = "copy" // never deletes
	ModeSync Mode = "sync" // deletes mirror-only objects, after every transfer succeeded
	ModeAuto Mode = "auto" // sync a bucket once an earlier report shows a clean copy of it
)

// ParseMode parses copy, sync or auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeCopy, ModeSync, ModeAuto:
		return m, nil
	}
	return "", exitcode.Configf(EnvMode, "%q is not copy, sync or auto", s)
}

// Scope is what a mirror run and its verification share: both ends,
// which source buckets are mirrored, and where the run reports are.
type Scope struct {
	Source       rcloneconf.Remote // the RGW
	Dest         rcloneconf.Remote // the MinIO
	DestBucket   string            // must exist; bucket B goes to DestBucket/B/
	Buckets      []string          // allow-list, required; [AllBuckets] means every bucket the source lists
	Exclude      []string          // deny-list
	ReportPrefix string            // reports go to DestBucket/ReportPrefix/YYYY-MM-DD/...
}

// Config is one mirror run.
type Config struct {
	Scope
	Tuning
	Mode   Mode
	DryRun bool // plan only: count what would be copied and deleted

	// Limits throttle the link (OFFSITE_BWLIMIT, OFFSITE_TPS_LIMIT).
	Limits rcloneconf.Limits
	// MaxDuration, when not zero, is the run's deadline: after it no new
	// transfer starts, the running ones finish, and the buckets not
	// finished are incomplete, with nothing deleted in them.
	MaxDuration time.Duration
	// Shard, when sharded, is the part of the buckets this run mirrors.
	Shard Shard

	MaxDelete        MaxDelete // per-bucket cap on deletions in sync mode
	AllowEmptySource bool      // let a source bucket that lists empty empty its mirror
	// Audit is the share of a bucket whose headers and tags each run reads
	// again on both sides, a rotating slice, though the listings say the
	// pair is equal: no listing shows a change of tags alone.
	Audit Share

	Version string // offsite's version, for the report
}

// DefaultConfig returns the documented defaults; remotes are left empty.
func DefaultConfig() Config {
	return Config{
		Scope:     Scope{DestBucket: DefaultDestBucket, ReportPrefix: DefaultReportPrefix},
		Tuning:    DefaultTuning(),
		Mode:      ModeCopy,
		MaxDelete: MaxDelete{Percent: 10, IsPercent: true},
		Audit:     Share{Count: DefaultAuditSlices},
		Version:   "dev",
	}
}

// Validate checks the config; every error is a *exitcode.ConfigError
// naming the env var at fault.
func (c *Config) Validate() error {
	if err := c.validateBuckets(); err != nil {
		return err
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return err
	}
	if err := c.Tuning.validate(); err != nil {
		return err
	}
	if c.MaxDuration < 0 || c.MaxDuration > maxDuration {
		return exitcode.Configf(EnvMaxDuration, "%v is out of range 0..%v (0 for no deadline)", c.MaxDuration, maxDuration)
	}
	if c.Shard != (Shard{}) {
		if err := c.Shard.validate(EnvShard, EnvShard); err != nil {
			return err
		}
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if err := c.MaxDelete.validate(); err != nil {
		return err
	}
	return validateReportPrefix(c.ReportPrefix)
}

// maxDuration bounds the run's deadline.
const maxDuration = 7 * 24 * time.Hour

// validateBuckets checks both ends, the destination bucket and the source
// buckets' allow- and deny-lists. The report prefix is checked last, by
// the configs that embed the scope.
func (s *Scope) validateBuckets() error {
	if err := validateEnds(s.Source, s.Dest, s.DestBucket); err != nil {
		return err
	}
	if sameServer(s.Source, s.Dest) && (slices.Contains(s.Buckets, s.DestBucket) ||
		slices.Contains(s.Buckets, AllBuckets) && !slices.Contains(s.Exclude, s.DestBucket)) {
		return exitcode.Configf(EnvBuckets, "takes %s, the mirror's own bucket: RGW_ENDPOINT and MINIO_ENDPOINT are the same server, and the mirror would copy itself into itself (exclude it: %s=%s)",
			s.DestBucket, EnvExcludeBuckets, s.DestBucket)
	}
	switch {
	case len(s.Buckets) == 0:
		return bucketsRequired
	case slices.Contains(s.Buckets, AllBuckets) && len(s.Buckets) > 1:
		return exitcode.Configf(EnvBuckets, "%q mixes %s with bucket names: use %s=%s alone for every bucket, or list the buckets", strings.Join(s.Buckets, ","), AllBuckets, EnvBuckets, AllBuckets)
	}
	for _, l := range []struct {
		env   string
		names []string
	}{{EnvBuckets, s.Buckets}, {EnvExcludeBuckets, s.Exclude}} {
		for _, b := range l.names {
			if l.env == EnvBuckets && b == AllBuckets {
				continue
			}
			if err := rcloneconf.CheckBucketName(l.env, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameServer reports whether a and b are one server: the same scheme,
// host and port.
func sameServer(a, b rcloneconf.Remote) bool {
	ua, errA := url.Parse(a.Endpoint)
	ub, errB := url.Parse(b.Endpoint)
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return errA == nil && errB == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Hostname(), ub.Hostname()) && port(ua) == port(ub)
}

// validateEnds checks the two ends, the RGW and the MinIO, and the bucket
// in MinIO that holds the mirror.
func validateEnds(rgw, minio rcloneconf.Remote, mirrorBucket string) error {
	if strings.TrimSpace(rgw.Endpoint) == "" {
		return exitcode.Configf(rcloneconf.RGW.Var("ENDPOINT"), "is required")
	}
	if strings.TrimSpace(minio.Endpoint) == "" {
		return exitcode.Configf(rcloneconf.MinIO.Var("ENDPOINT"), "is required")
	}
	if rgw.Name == "" || minio.Name == "" || rgw.Name == minio.Name {
		return exitcode.Configf(rcloneconf.RGW.Var("ENDPOINT"), "source and destination need distinct remote names (got %q and %q)", rgw.Name, minio.Name)
	}
	return rcloneconf.CheckBucketName(EnvDestBucket, mirrorBucket)
}

func validateReportPrefix(prefix string) error {
	if prefix == "" || prefix == "." || strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") || path.Clean(prefix) != prefix || strings.HasPrefix(prefix, "..") {
		return exitcode.Configf(EnvReportPrefix, "%q must be a relative path like _reports or offsite/reports", prefix)
	}
	return nil
}

// reportRoot is the first path segment of the report prefix: a bucket of
// that name would be mirrored over the reports, so it is refused.
func reportRoot(prefix string) string {
	root, _, _ := strings.Cut(prefix, "/")
	return root
}

// MaxDelete caps the deletions of one bucket in sync mode, as a count or
// as a percentage of the objects in the bucket's mirror.
type MaxDelete struct {
	Count     int64
	Percent   float64
	IsPercent bool
}

// ParseMaxDelete parses a count ("500") or a percentage ("10%"). Errors are
// *exitcode.ConfigError naming OFFSITE_MAX_DELETE.
func ParseMaxDelete(s string) (MaxDelete, error) {
	s = strings.TrimSpace(s)
	if num, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || !(p >= 0 && p <= 100) { // NaN fails both
			return MaxDelete{}, exitcode.Configf(EnvMaxDelete, "%q is not a percentage from 0%% to 100%%", s)
		}
		return MaxDelete{Percent: p, IsPercent: true}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return MaxDelete{}, exitcode.Configf(EnvMaxDelete, "%q is neither a count of objects (500) nor a percentage of the mirror (10%%)", s)
	}
	return MaxDelete{Count: n}, nil
}

func (m MaxDelete) validate() error {
	if m.Count < 0 || !(m.Percent >= 0 && m.Percent <= 100) {
		return exitcode.Configf(EnvMaxDelete, "%s is out of range", m)
	}
	return nil
}

// Limit is how many of mirrorObjects may be deleted in one run. A share
// rounds down: "no more than 10%" of 5 objects is none.
func (m MaxDelete) Limit(mirrorObjects int64) int64 {
	if !m.IsPercent {
		return m.Count
	}
	// The epsilon keeps 10% of 30 from rounding down to 2.
	return int64(math.Floor(float64(mirrorObjects)*m.Percent/100 + 1e-9))
}

func (m MaxDelete) String() string {
	if m.IsPercent {
		return strconv.FormatFloat(m.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(m.Count, 10)
}

func (m Mode) String() string { return string(m) }
