package offload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	rfs "github.com/rclone/rclone/fs"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// DrillConfig says whose newest snapshot Drill restores, as far as that
// goes without a cluster: fetched, decrypted, checked, and read as etcd
// reads it.
type DrillConfig struct {
	Dest     rcloneconf.Remote
	Bucket   string
	Host     string // the host to drill, unless AllHosts
	AllHosts bool   // every host prefix in the bucket
	// Identities decrypt encrypted snapshots; one is required when the
	// newest snapshot of a host is encrypted.
	Identities []age.Identity
}

// Validate checks the config; errors are *exitcode.ConfigError.
func (c DrillConfig) Validate() error {
	host := c.Host
	if c.AllHosts {
		host = "all"
	}
	return validateDest(c.Bucket, host)
}

// DrillHost is the drill of one host's newest snapshot.
type DrillHost struct {
	Host     string        `json:"host"`
	Snapshot string        `json:"snapshot,omitempty"` // its key in the bucket
	Taken    time.Time     `json:"taken,omitzero"`
	Bytes    int64         `json:"bytes"`    // as stored
	Database Database      `json:"database"` // what it holds, when it was read
	Token    string        `json:"token"`    // the k3s token: TokenOK, TokenNone or TokenFailed
	Duration time.Duration `json:"duration_ns"`
	Problems []string      `json:"problems"`         // why it would not restore
	Errors   []string      `json:"errors,omitempty"` // what kept the drill from finishing
}

// What a drill found of a host's k3s token.
const (
	TokenOK     = "ok"     // shipped, and it decrypts
	TokenNone   = "none"   // not shipped (OFFSITE_K3S_TOKEN_FILE unset on the node)
	TokenFailed = "failed" // shipped, and it does not check out: see the problems
)

// OK reports whether the host's snapshot passed every check.
func (h DrillHost) OK() bool { return len(h.Problems) == 0 && len(h.Errors) == 0 }

// DrillReport is the result of Drill, one row per host.
type DrillReport struct {
	Bucket  string      `json:"bucket"`
	Started time.Time   `json:"started"`
	Hosts   []DrillHost `json:"hosts"`
}

// Drill takes the newest complete snapshot of each host (passing over any
// dated in the future) through a restore as far as one goes without a
// cluster: it downloads it into an unlinked temporary file, decrypting it
// when it is encrypted, checks it against its sidecar and its etcd trailer
// (or zip CRCs), then reads all of it as etcd does, for its newest
// revision and its live keys; the file is gone when Drill returns. Where
// the host's k3s token is shipped, it checks that it decrypts. It carries
// on past every host's problems and returns them all: the error wraps
// exitcode.ErrVerifyFailed, naming each snapshot (or token) that failed,
// and joins what kept a drill from finishing. Something encrypted and no
// identity is a configuration error naming EnvAgeIdentityFile.
func Drill(ctx context.Context, cfg DrillConfig, log *zap.Logger) (*DrillReport, error) {
	if log == nil {
		log = zap.NewNop()
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
	report := &DrillReport{Bucket: cfg.Bucket, Started: time.Now()}
	var errs, failed []error
	for _, host := range hosts {
		h, err := drillHost(ctx, cfg, bucketFs, host, log)
		report.Hosts = append(report.Hosts, h)
		errs = append(errs, err)
		for _, p := range h.Problems {
			failed = append(failed, fmt.Errorf("%s: %s", host, p))
		}
	}
	if len(hosts) == 0 {
		report.Hosts = append(report.Hosts, DrillHost{Host: "*", Problems: []string{"no host prefixes in the bucket"}})
		failed = append(failed, errors.New("no host prefixes in the bucket"))
	}
	if len(failed) > 0 {
		errs = append([]error{fmt.Errorf("%w: the restore drill failed: %w", exitcode.ErrVerifyFailed, errors.Join(failed...))}, errs...)
	}
	return report, errors.Join(errs...)
}

// drillHost drills host's newest snapshot. Its problems and errors are in
// the report; the error is what kept the drill from finishing.
func drillHost(ctx context.Context, cfg DrillConfig, bucketFs rfs.Fs, host string, log *zap.Logger) (h DrillHost, err error) {
	start := time.Now()
	h = DrillHost{Host: host, Problems: []string{}}
	log = log.With(zap.String("host", host))
	defer func() {
		h.Duration = time.Since(start)
		if err != nil {
			h.Errors = append(h.Errors, err.Error())
		}
		if h.OK() {
			log.Info("restore drill passed", zap.String("snapshot", h.Snapshot), zap.Int64("revision", h.Database.Revision), zap.Int("keys", h.Database.Keys))
		} else {
			log.Error("restore drill failed", zap.String("snapshot", h.Snapshot), zap.Strings("problems", h.Problems), zap.Strings("errors", h.Errors))
		}
	}()
	objs, err := listHost(ctx, bucketFs, host)
	if err != nil {
		return h, err
	}
	name, at, future := objs.newest(ctx, time.Now())
	warnFuture(log, future)
	if name == "" {
		h.Problems = append(h.Problems, fmt.Sprintf("no complete snapshot (one with its %s sidecar) under %s/%s/", SidecarSuffix, cfg.Bucket, host))
		return h, nil
	}
	obj := objs.snapshots[name]
	h.Snapshot, h.Taken, h.Bytes = obj.Remote(), at, obj.Size()
	if strings.HasSuffix(name, AgeSuffix) && len(cfg.Identities) == 0 {
		return h, exitcode.Configf(EnvAgeIdentityFile, "is required: %s is encrypted", obj.Remote())
	}
	h.Database, err = drillSnapshot(ctx, objs, name, cfg.Identities)
	if problem, ok := problemOf(err); ok {
		h.Problems = append(h.Problems, problem)
		err = nil
	}
	if err != nil {
		return h, err
	}
	h.Token, err = drillToken(ctx, objs, cfg.Identities)
	if problem, ok := problemOf(err); ok {
		h.Problems = append(h.Problems, problem)
		return h, nil
	}
	return h, err
}

// drillToken checks that the host's k3s token, where one is shipped,
// matches its sidecar and decrypts.
func drillToken(ctx context.Context, objs hostObjects, ids []age.Identity) (string, error) {
	switch {
	case objs.token == nil:
		return TokenNone, nil
	case len(ids) == 0:
		return TokenFailed, exitcode.Configf(EnvAgeIdentityFile, "is required: the k3s token %s is encrypted", objs.token.Remote())
	}
	if _, err := openToken(ctx, objs, ids); err != nil {
		return TokenFailed, err
	}
	return TokenOK, nil
}

// drillSnapshot fetches the snapshot name into an unlinked temporary file,
// checked on the way, and reads it as etcd does.
func drillSnapshot(ctx context.Context, objs hostObjects, name string, ids []age.Identity) (Database, error) {
	sum, err := objs.sidecarSum(ctx, name)
	if err != nil {
		return Database{}, err
	}
	f, err := scratchFile()
	if err != nil {
		return Database{}, err
	}
	defer f.Close()
	if err := copyChecked(ctx, objs.snapshots[name], name, sum, f, ids); err != nil {
		return Database{}, err
	}
	db, err := databaseOf(f, strings.TrimSuffix(name, AgeSuffix), inspectDatabase)
	if err != nil {
		return Database{}, fmt.Errorf("%s: %w", objs.snapshots[name].Remote(), err)
	}
	return db, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteTable prints the report as a table, then each problem on its own line.
func (r *DrillReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSNAPSHOT\tAGE\tBYTES\tREVISION\tKEYS\tTOKEN\tTOOK\tRESULT")
	for _, h := range r.Hosts {
		snapshot, age, result := "-", "-", "ok"
		if h.Snapshot != "" {
			snapshot, age = h.Snapshot, r.Started.Sub(h.Taken).Round(time.Minute).String()
		}
		if !h.OK() {
			result = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", h.Host, snapshot, age, h.Bytes, h.Database.Revision, h.Database.Keys,
			orDash(h.Token), h.Duration.Round(10*time.Millisecond), result)
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
