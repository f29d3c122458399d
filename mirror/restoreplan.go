package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/walk"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// restoreTarget is one bucket to restore: its mirror, and the RGW bucket
// it goes to.
type restoreTarget struct {
	name, target string
	create       bool // the RGW bucket is missing and --create-bucket was given
}

// plan checks, before anything is written, that every bucket can be
// restored as asked, and returns them. Every error is a configuration
// error: nothing has been attempted.
func (r *restorer) plan(ctx context.Context, fbucket fs.Fs, mirrors []string) ([]restoreTarget, error) {
	at := "now"
	if !r.cfg.At.IsZero() {
		at = r.cfg.At.UTC().Format(time.RFC3339)
		if err := r.needVersioning(ctx, fbucket); err != nil {
			return nil, err
		}
	}
	names := r.cfg.Buckets
	if r.cfg.All {
		var err error
		if names, err = r.mirroredBuckets(ctx); err != nil {
			return nil, err
		}
	}
	var found []string
	for _, name := range names {
		ok, err := r.hasObjects(ctx, name)
		switch {
		case err != nil:
			return nil, err
		case ok:
			found = append(found, name)
		case r.cfg.All:
			r.log.Info("not restored: its mirror held no object at that time", zap.String("bucket", name), zap.String("at", at))
		case slices.Contains(mirrors, name):
			return nil, exitcode.Configf(flagVar(FlagAt), "%s is before the first mirror of bucket %s: the mirror held none of its objects then", at, name)
		default:
			return nil, exitcode.Configf(flagVar(FlagBucket), "no mirror of bucket %s in %s/%s: it was never mirrored there (check the name and %s)", name, r.cfg.Mirror.Endpoint, r.cfg.MirrorBucket, EnvDestBucket)
		}
	}
	if len(found) == 0 {
		return nil, exitcode.Configf(flagVar(FlagAll), "the mirror in %s held no bucket at %s: nothing to restore", r.cfg.MirrorBucket, at)
	}
	return r.targets(ctx, found)
}

// needVersioning refuses --at on a mirror whose bucket keeps no old versions.
func (r *restorer) needVersioning(ctx context.Context, fbucket fs.Fs) error {
	status, err := VersioningStatus(ctx, fbucket)
	if err != nil {
		return rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("read the versioning status of %s: %w", r.cfg.MirrorBucket, err))
	}
	if status != VersioningEnabled {
		return exitcode.Configf(flagVar(FlagAt), "needs versioning on the mirror's bucket %s, whose versioning is %s: without it the mirror keeps no old versions to restore (offsite setup minio turns it on)", r.cfg.MirrorBucket, status)
	}
	return nil
}

// mirroredBuckets are the buckets the mirror holds (at the restore's time).
func (r *restorer) mirroredBuckets(ctx context.Context) ([]string, error) {
	fat, err := r.mirror.Fs(ctx, r.cfg.MirrorBucket)
	if err != nil {
		return nil, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	dirs, err := rcloneconf.Dirs(ctx, fat, "")
	if err != nil && !rcloneconf.IsNotFound(err) {
		return nil, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list the mirrors in %s: %w", r.cfg.MirrorBucket, err))
	}
	return slices.DeleteFunc(dirs, func(d string) bool { return d == reportRoot(r.cfg.ReportPrefix) }), nil
}

// targets are the RGW buckets found restores go to; a missing one needs
// --create-bucket (and is never created for a verify).
func (r *restorer) targets(ctx context.Context, found []string) ([]restoreTarget, error) {
	existing, err := listBuckets(ctx, r.cfg.Target)
	if err != nil {
		return nil, err
	}
	var targets []restoreTarget
	for _, name := range found {
		t := restoreTarget{name: name, target: name}
		if r.cfg.ToBucket != "" {
			t.target = r.cfg.ToBucket
		}
		if t.target == r.cfg.MirrorBucket && sameServer(r.cfg.Target, r.cfg.Mirror) {
			return nil, exitcode.Configf(flagVar(FlagToBucket), "would restore %s into %s, the mirror's own bucket on the same server: restore it into another bucket", name, t.target)
		}
		if !slices.Contains(existing, t.target) {
			if r.verifyOnly {
				return nil, exitcode.Configf(flagVar(FlagBucket), "the RGW bucket %s does not exist: nothing restored there to verify (restored under another name? give it as --%s)", t.target, FlagToBucket)
			}
			if !r.cfg.CreateBucket {
				return nil, exitcode.Configf(flagVar(FlagCreateBucket), "the RGW bucket %s does not exist: create it, or pass --%s", t.target, FlagCreateBucket)
			}
			t.create = true
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// errFound stops a listing at its first object.
var errFound = errors.New("found an object")

// hasObjects reports whether the mirror of bucket name held any object at
// the restore's time. A flat listing: a delimited one of old versions
// shows prefixes of objects made later.
func (r *restorer) hasObjects(ctx context.Context, name string) (bool, error) {
	f, err := r.mirror.Fs(ctx, r.cfg.MirrorBucket+"/"+name)
	if err != nil {
		return false, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	err = walk.ListR(ctx, f, "", true, -1, walk.ListObjects, func(entries fs.DirEntries) error {
		if len(entries) > 0 {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err == nil || rcloneconf.IsNotFound(err):
		return false, nil
	}
	return false, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list the mirror of %s: %w", name, err))
}

// Versioning statuses of a bucket, as S3 (and rclone's versioning backend
// command) name them.
const (
	VersioningEnabled     = "Enabled"
	VersioningSuspended   = "Suspended"
	VersioningUnversioned = "Unversioned"
)

// VersioningStatus asks the server for the versioning status of fbucket's
// bucket, through rclone's s3 backend command "versioning".
func VersioningStatus(ctx context.Context, fbucket fs.Fs) (string, error) {
	command := fbucket.Features().Command
	if command == nil {
		return "", fmt.Errorf("%s has no backend commands", fbucket.Name())
	}
	out, err := command(ctx, "versioning", nil, nil)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(out), nil
}
