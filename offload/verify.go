package offload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	rfs "github.com/rclone/rclone/fs"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Download modes for Verify: which snapshots are downloaded and hashed.
const (
	DownloadLatest = "latest"
	DownloadAll    = "all"
	DownloadNone   = "none"
)

// Env vars of verify etcd and fetch.
const (
	EnvMaxAge   = "OFFSITE_MAX_AGE"
	EnvDownload = "OFFSITE_DOWNLOAD"
	EnvFetchDir = "OFFSITE_FETCH_DIR"
)

// DefaultMaxAge is how old the newest snapshot may be: k3s snapshots every
// 12 hours by default, so a day and an hour of slack.
const DefaultMaxAge = 25 * time.Hour

// VerifyConfig says what Verify checks.
type VerifyConfig struct {
	Dest     rcloneconf.Remote
	Bucket   string
	Host     string // the host prefix to check, unless AllHosts
	AllHosts bool   // every host prefix in the bucket
	MaxAge   time.Duration
	Download string    // DownloadLatest, DownloadAll or DownloadNone
	Now      time.Time // zero: time.Now()
	// Identities also decrypt the encrypted snapshots downloaded and check
	// their plaintext: a full restore proof. Without them an encrypted
	// snapshot's stored bytes are checked against its sidecar.
	Identities []age.Identity
}

// Validate checks the config; errors are *exitcode.ConfigError.
func (c VerifyConfig) Validate() error {
	if c.AllHosts {
		if err := validateDest(c.Bucket, "all"); err != nil {
			return err
		}
	} else if err := validateDest(c.Bucket, c.Host); err != nil {
		return err
	}
	if c.MaxAge <= 0 || c.MaxAge > 90*24*time.Hour { // past that, freshness checks nothing
		return exitcode.Configf(EnvMaxAge, "%v is out of range 0..2160h", c.MaxAge)
	}
	switch c.Download {
	case DownloadLatest, DownloadAll, DownloadNone:
		return nil
	}
	return exitcode.Configf(EnvDownload, "%q is not latest, all or none", c.Download)
}

// HostReport is what Verify found under one host prefix.
type HostReport struct {
	Host       string        `json:"host"`
	Snapshots  int           `json:"snapshots"`
	Newest     string        `json:"newest,omitempty"`
	NewestTime time.Time     `json:"newest_time,omitzero"`
	NewestAge  time.Duration `json:"newest_age_ns"`
	Bytes      int64         `json:"bytes"`
	Downloaded int           `json:"downloaded"`
	Problems   []string      `json:"problems"`         // what is missing, corrupt or stale
	Errors     []string      `json:"errors,omitempty"` // what could not be checked
}

// VerifyReport is the result of Verify, one row per host.
type VerifyReport struct {
	Bucket  string        `json:"bucket"`
	MaxAge  time.Duration `json:"max_age_ns"`
	Checked time.Time     `json:"checked"`
	Hosts   []HostReport  `json:"hosts"`
}

// Problems counts the problems of every host.
func (r *VerifyReport) Problems() int {
	n := 0
	for _, h := range r.Hosts {
		n += len(h.Problems)
	}
	return n
}

// Verify checks the snapshots of one host (or all), with a config its
// caller has validated: every snapshot has a
// well-formed sidecar naming it, is not empty, and (per Download) its
// content matches the sidecar and passes its format check; the newest is
// younger than MaxAge. Like a checker, it carries on past every problem
// and every error (a host that cannot be listed, a sidecar that cannot be
// read) and returns them all: the report, and an error that wraps
// exitcode.ErrVerifyFailed when it found any problem, and joins the errors
// that kept something from being checked.
func Verify(ctx context.Context, cfg VerifyConfig, log *zap.Logger) (*VerifyReport, error) {
	if log == nil {
		log = zap.NewNop()
	}
	now := cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	ctx = remoteCtx(ctx)
	bucketFs, err := cfg.Dest.Fs(ctx, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	hosts, err := hostsOf(ctx, bucketFs, cfg.Host, cfg.AllHosts)
	if err != nil {
		return nil, err
	}
	report := &VerifyReport{Bucket: cfg.Bucket, MaxAge: cfg.MaxAge, Checked: now}
	var errs []error
	for _, host := range hosts {
		hr, err := verifyHost(ctx, cfg, bucketFs, host, now, log)
		report.Hosts = append(report.Hosts, hr)
		errs = append(errs, err)
	}
	if len(hosts) == 0 {
		report.Hosts = append(report.Hosts, HostReport{Host: "*", Problems: []string{"no host prefixes in the bucket"}})
	}
	if n := report.Problems(); n > 0 {
		errs = append([]error{fmt.Errorf("%w: %d problems in %s", exitcode.ErrVerifyFailed, n, cfg.Bucket)}, errs...)
	}
	return report, errors.Join(errs...)
}

// verifyHost checks one host prefix; the error joins what could not be
// checked, each also in the report's Errors.
func verifyHost(ctx context.Context, cfg VerifyConfig, bucketFs rfs.Fs, host string, now time.Time, log *zap.Logger) (hr HostReport, err error) {
	hr = HostReport{Host: host, Problems: []string{}}
	var errs []error
	defer func() {
		for _, e := range errs {
			hr.Errors = append(hr.Errors, e.Error())
		}
		if len(hr.Problems) > 0 || len(errs) > 0 {
			log.Error("etcd snapshots have problems", zap.String("host", host), zap.Strings("problems", hr.Problems), zap.Errors("errors", errs))
		}
		err = errors.Join(errs...)
	}()
	objs, err := listHost(ctx, bucketFs, host)
	if err != nil {
		errs = append(errs, err)
		return hr, nil
	}
	problem := func(format string, args ...any) {
		hr.Problems = append(hr.Problems, fmt.Sprintf(format, args...))
	}
	names := make([]string, 0, len(objs.snapshots))
	for n := range objs.snapshots {
		names = append(names, n)
	}
	sort.Strings(names)
	sums := map[string]string{}
	for _, n := range names {
		o := objs.snapshots[n]
		hr.Snapshots++
		hr.Bytes += o.Size()
		if o.Size() == 0 {
			problem("%s: empty object", o.Remote())
		}
		sum, err := objs.sidecarSum(ctx, n)
		if p, ok := problemOf(err); ok {
			problem("%s", p)
		} else if err != nil {
			errs = append(errs, err)
		} else {
			sums[n] = sum
		}
	}
	for n, o := range objs.sidecars {
		if _, ok := objs.snapshots[n]; !ok && n != TokenObject {
			problem("%s: sidecar without its snapshot %s/%s", o.Remote(), host, n)
		}
	}
	newest, at, future := objs.newest(ctx, now)
	for _, n := range future {
		problem("%s/%s is dated in the future (%s, more than %s ahead): a clock running ahead, or an object planted in the bucket",
			host, n, snapshotTime(n, objs.snapshots[n].ModTime(ctx)).UTC().Format(time.RFC3339), FutureTolerance)
	}
	if newest == "" {
		problem("no snapshots under %s/%s/", cfg.Bucket, host)
	} else {
		hr.Newest, hr.NewestTime, hr.NewestAge = newest, at, now.Sub(at)
		if hr.NewestAge > cfg.MaxAge {
			problem("newest snapshot %s/%s is %s old, more than the maximum age %s", host, newest, hr.NewestAge.Round(time.Minute), cfg.MaxAge)
		}
	}
	var download []string
	switch {
	case cfg.Download == DownloadAll:
		download = names
	case cfg.Download == DownloadLatest && newest != "":
		download = []string{newest}
	}
	hr.Downloaded, errs = downloadAll(ctx, cfg.Identities, objs, download, sums, problem, errs)
	return hr, nil
}

// downloadAll downloads the snapshots names and checks them against their
// sidecar's hash in sums (one without is reported already); problems go
// to problem, other errors are added to errs. It returns how many were
// checked.
func downloadAll(ctx context.Context, ids []age.Identity, objs hostObjects, names []string, sums map[string]string,
	problem func(string, ...any), errs []error) (int, []error) {
	checked := 0
	for _, n := range names {
		sum, ok := sums[n]
		if !ok || objs.snapshots[n].Size() == 0 {
			continue // already reported
		}
		err := downloadAndCheck(ctx, objs, n, sum, ids)
		if p, ok := problemOf(err); ok {
			problem("%s", p)
			if errors.Is(err, ErrNoIdentity) {
				continue // its plaintext was not checked
			}
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		checked++
	}
	return checked, errs
}

// problemOf is err as a problem with the backup, for a report: a
// snapshot that failed a check, or that the identities do not open. Any
// other error is not one: it kept something from being checked.
func problemOf(err error) (string, bool) {
	switch {
	case errors.Is(err, ErrCorrupt):
		return strings.Replace(err.Error(), ErrCorrupt.Error()+": ", "", 1), true
	case errors.Is(err, ErrNoIdentity):
		return err.Error(), true
	}
	return "", false
}

// hostsOf is the host prefixes a command looks at: host, or with all,
// every one in the bucket.
func hostsOf(ctx context.Context, bucketFs rfs.Fs, host string, all bool) ([]string, error) {
	if all {
		return listHosts(ctx, bucketFs)
	}
	return []string{host}, nil
}

// writeProblems prints a host's problems and errors, one a line.
func writeProblems(w io.Writer, host string, problems, errs []string) error {
	for _, p := range problems {
		if _, err := fmt.Fprintf(w, "%s: %s\n", host, p); err != nil {
			return err
		}
	}
	for _, e := range errs {
		if _, err := fmt.Fprintf(w, "%s: not checked: %s\n", host, e); err != nil {
			return err
		}
	}
	return nil
}

// downloadAndCheck downloads a snapshot and checks it; a zip goes through a
// temporary file, which its check needs.
func downloadAndCheck(ctx context.Context, objs hostObjects, name, sum string, ids []age.Identity) error {
	var tmp *os.File
	if needsFile(name, ids) {
		var err error
		if tmp, err = os.CreateTemp("", "offsite-verify-*.zip"); err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
	}
	return copyChecked(ctx, objs.snapshots[name], name, sum, tmp, ids)
}

// WriteTable prints the report as a table, then each problem on its own line.
func (r *VerifyReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSNAPSHOTS\tNEWEST\tAGE\tBYTES\tDOWNLOADED\tPROBLEMS")
	for _, h := range r.Hosts {
		newest, age := "-", "-"
		if h.Newest != "" {
			newest, age = h.Newest, h.NewestAge.Round(time.Minute).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\n", h.Host, h.Snapshots, newest, age, h.Bytes, h.Downloaded, len(h.Problems))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range r.Hosts {
		if err := writeProblems(w, h.Host, h.Problems, h.Errors); err != nil {
			return err
		}
	}
	return nil
}
