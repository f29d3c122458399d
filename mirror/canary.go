package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/operations"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// CanaryPrefix is where test objects live in a source bucket. A canary
// command touches no key outside it: removing objects from the source,
// the only copy that is not a backup, is limited to the ones it wrote.
const CanaryPrefix = "offsite-validate/"

// Canary is a test object written into a mirrored source bucket to prove
// the mirror end to end: written, mirrored, compared, removed.
type Canary struct {
	Bucket string // the source bucket
	Key    string // under CanaryPrefix
}

// Validate checks the bucket and key; errors are *exitcode.ConfigError.
func (c Canary) Validate() error {
	if c.Bucket == "" || strings.Contains(c.Bucket, "/") {
		return exitcode.Configf("--bucket", "%q is not a bucket name", c.Bucket)
	}
	name, ok := strings.CutPrefix(c.Key, CanaryPrefix)
	if !ok || name == "" || strings.HasSuffix(name, "/") || strings.Contains("/"+name+"/", "/../") {
		return exitcode.Configf("--key", "%q is not a test object key: it must be %s<name>", c.Key, CanaryPrefix)
	}
	return nil
}

// canaryBody is what a canary holds: small, so it goes up in one PUT and
// its ETag is its MD5 on both sides, and it says what it is.
func canaryBody(c Canary, now time.Time) []byte {
	return fmt.Appendf(nil, "offsite test object %s/%s, written %s; safe to delete\n", c.Bucket, c.Key, now.UTC().Format(time.RFC3339))
}

// PutCanary writes c into its bucket on src. The bucket must exist:
// offsite never creates buckets.
func PutCanary(ctx context.Context, src rcloneconf.Remote, c Canary, now time.Time) (size int64, err error) {
	fsrc, err := src.Fs(ctx, c.Bucket)
	if err != nil {
		return 0, rcloneconf.Classify(rcloneconf.RGW, err)
	}
	body := canaryBody(c, now)
	_, err = operations.RcatSize(ctx, fsrc, c.Key, io.NopCloser(bytes.NewReader(body)), int64(len(body)), now, nil)
	if err != nil {
		return 0, canaryError(src, c.Bucket, fmt.Errorf("put %s/%s: %w", c.Bucket, c.Key, err))
	}
	return int64(len(body)), nil
}

// CheckCanary finds c in the source and its copy at
// <DestBucket>/<bucket>/<key> in the mirror, and compares their sizes and
// MD5s. A canary missing on either side, or differing, is a failed check
// (exitcode.ErrVerifyFailed); it returns where the copy is.
func CheckCanary(ctx context.Context, scope Scope, c Canary) (string, error) {
	where := scope.DestBucket + "/" + c.Bucket + "/" + c.Key
	fsrc, err := scope.Source.Fs(ctx, c.Bucket)
	if err != nil {
		return where, rcloneconf.Classify(rcloneconf.RGW, err)
	}
	src, err := fsrc.NewObject(ctx, c.Key)
	if errors.Is(err, fs.ErrorObjectNotFound) {
		return where, fmt.Errorf("%w: test object %s/%s is not in the source: put it first", exitcode.ErrVerifyFailed, c.Bucket, c.Key)
	}
	if err != nil {
		return where, canaryError(scope.Source, c.Bucket, fmt.Errorf("source %s/%s: %w", c.Bucket, c.Key, err))
	}
	fdst, _, err := openDestination(ctx, scope.Dest, scope.DestBucket)
	if err != nil {
		return where, err
	}
	dst, err := fdst.NewObject(ctx, c.Bucket+"/"+c.Key)
	if errors.Is(err, fs.ErrorObjectNotFound) {
		return where, fmt.Errorf("%w: test object %s/%s is not in the mirror at %s", exitcode.ErrVerifyFailed, c.Bucket, c.Key, where)
	}
	if err != nil {
		return where, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("mirror %s: %w", where, err))
	}
	if src.Size() != dst.Size() {
		return where, fmt.Errorf("%w: %s is %d bytes, its source %d", exitcode.ErrVerifyFailed, where, dst.Size(), src.Size())
	}
	same, ht, err := operations.CheckHashes(ctx, src, dst)
	if err != nil {
		return where, fmt.Errorf("compare %s with its source: %w", where, err)
	}
	if ht == hash.None {
		// A single-part PUT has an MD5 on both sides; without one the
		// check would prove nothing beyond the size.
		return where, fmt.Errorf("%w: %s: no common hash with its source", exitcode.ErrVerifyFailed, where)
	}
	if !same {
		return where, fmt.Errorf("%w: %s differs from its source (%s)", exitcode.ErrVerifyFailed, where, ht)
	}
	return where, nil
}

// RemoveCanary deletes c from its bucket on src. It reports whether the
// object was there: removing one that is already gone is not an error,
// so a cleanup may always run. The mirror's copy stays until a sync run
// deletes it, like any object deleted at the source.
func RemoveCanary(ctx context.Context, src rcloneconf.Remote, c Canary) (existed bool, err error) {
	fsrc, err := src.Fs(ctx, c.Bucket)
	if err != nil {
		return false, rcloneconf.Classify(rcloneconf.RGW, err)
	}
	obj, err := fsrc.NewObject(ctx, c.Key)
	if errors.Is(err, fs.ErrorObjectNotFound) {
		return false, nil
	}
	if err == nil {
		err = obj.Remove(ctx)
	}
	if err != nil {
		return true, canaryError(src, c.Bucket, fmt.Errorf("remove %s/%s: %w", c.Bucket, c.Key, err))
	}
	return true, nil
}

// canaryError names a missing bucket as the operator's mistake (exit 2)
// and classifies the rest like any source error.
func canaryError(src rcloneconf.Remote, bucket string, err error) error {
	if rcloneconf.IsNotFound(err) {
		return exitcode.Configf("--bucket", "bucket %q does not exist on %s: %v", bucket, src.Endpoint, err)
	}
	return rcloneconf.Classify(rcloneconf.RGW, err)
}
