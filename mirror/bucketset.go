package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rclone/rclone/fs"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// openDestination opens bucket on dest and lists its top level: the
// mirrors of buckets and the report prefix. A missing bucket is a
// configuration error: offsite never creates it, because the operator's
// bucket carries versioning and lifecycle rules a new one would not.
func openDestination(ctx context.Context, dest rcloneconf.Remote, bucket string) (fs.Fs, []string, error) {
	if err := probeBucket(ctx, dest, bucket); err != nil {
		return nil, nil, err
	}
	fbucket, err := dest.Fs(ctx, bucket)
	if err != nil {
		return nil, nil, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	dirs, err := rcloneconf.Dirs(ctx, fbucket, "")
	if rcloneconf.IsNotFound(err) {
		return nil, nil, exitcode.Configf(EnvDestBucket, "bucket %q does not exist on %s; create it (with versioning and lifecycle rules): offsite never creates it", bucket, dest.Endpoint)
	}
	if err != nil {
		return nil, nil, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list destination bucket %s: %w", bucket, err))
	}
	return fbucket, dirs, nil
}

// probeBucket asks dest for a key of bucket, so that a missing bucket is
// told by S3's own answer (NoSuchBucket), and an endpoint that does not
// answer like S3 (a proxy's 404 page) is not taken for one.
func probeBucket(ctx context.Context, dest rcloneconf.Remote, bucket string) error {
	_, err := dest.DataClient(ctx).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)})
	switch {
	case err == nil:
		return nil
	case rcloneconf.IsNotFound(err):
		return exitcode.Configf(EnvDestBucket, "bucket %q does not exist on %s; create it (offsite setup minio makes it, with versioning and a lifecycle rule): the mirror never creates it", bucket, dest.Endpoint)
	}
	return rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list destination bucket %s: %w", bucket, err))
}

// listBuckets lists every bucket the source credentials can see, sorted.
func listBuckets(ctx context.Context, src rcloneconf.Remote) ([]string, error) {
	froot, err := src.Fs(ctx, "")
	if err != nil {
		return nil, rcloneconf.Classify(rcloneconf.RGW, err)
	}
	buckets, err := rcloneconf.Dirs(ctx, froot, "")
	if err != nil {
		return nil, rcloneconf.Classify(rcloneconf.RGW, fmt.Errorf("list source buckets: %w", err))
	}
	slices.Sort(buckets)
	return buckets, nil
}

// selectBuckets applies the allow- and deny-lists and the shard to the
// source's buckets, and returns the buckets to mirror. The others get their
// report entries: skipped when excluded, failed when allow-listed but
// missing or colliding with the report prefix (with their errors). Nothing
// to mirror at all is a failure too, unless other shards have the buckets:
// wrong credentials, an emptied RGW or a bad allow-list must not look like
// a backup.
func (r *runner) selectBuckets(rep *Report, source []string) (selected []string, errs []error) {
	selected, missing, excluded, colliding := filterBuckets(source, r.cfg.Buckets, r.cfg.Exclude, reportRoot(r.cfg.ReportPrefix))
	whole := len(selected)
	// Each shard reports its own buckets only, failures included, so
	// that every bucket is in exactly one shard's report.
	sh := r.cfg.Shard
	selected, missing, excluded, colliding = sh.keep(selected), sh.keep(missing), sh.keep(excluded), sh.keep(colliding)
	for _, b := range excluded {
		rep.Buckets = append(rep.Buckets, BucketReport{Name: b, Mode: r.cfg.Mode, Status: StatusSkipped, ErrorMessages: []string{"excluded by " + EnvExcludeBuckets}})
	}
	failed := func(b, msg string) {
		rep.Buckets = append(rep.Buckets, BucketReport{Name: b, Mode: r.cfg.Mode, Status: StatusFailed, Errors: 1, ErrorMessages: []string{msg}})
		errs = append(errs, errors.New("bucket "+b+": "+msg))
		r.log.Error("bucket failed", zap.String("bucket", b), zap.String("error", msg))
	}
	for _, b := range missing {
		failed(b, "listed in "+EnvBuckets+" but not found in the source (or not visible to its credentials)")
	}
	for _, b := range colliding {
		failed(b, fmt.Sprintf("its mirror would overlap the reports under %q; set %s to another prefix", r.cfg.ReportPrefix, EnvReportPrefix))
	}
	switch {
	case len(selected) == 0 && whole > 0:
		r.log.Info("no bucket falls to this shard", zap.Stringer("shard", sh), zap.Int("buckets_of_all_shards", whole))
	case len(selected) == 0:
		err := noBuckets(source, r.cfg.Buckets)
		rep.Error = joinMessages(rep.Error, err.Error())
		errs = append(errs, err)
		r.log.Error("no bucket to mirror", zap.Error(err))
	}
	return selected, errs
}

// noBuckets is the error of a run or verify that selected no bucket.
func noBuckets(source, allow []string) error {
	return fmt.Errorf("no bucket selected: %s=%s matched none of the %d buckets the source credentials list", EnvBuckets, strings.Join(allow, ","), len(source))
}

// filterBuckets is selectBuckets without the reporting. allow is the
// allow-list, or [AllBuckets]; an empty one selects nothing.
func filterBuckets(source, allow, deny []string, reportRoot string) (selected, missing, excluded, colliding []string) {
	all := slices.Equal(allow, []string{AllBuckets})
	if all {
		allow = nil
	}
	for _, b := range source {
		switch {
		case !all && !slices.Contains(allow, b):
		case slices.Contains(deny, b):
			excluded = append(excluded, b)
		case b == reportRoot:
			colliding = append(colliding, b)
		default:
			selected = append(selected, b)
		}
	}
	for _, b := range allow {
		if !slices.Contains(source, b) && !slices.Contains(deny, b) && !slices.Contains(missing, b) {
			missing = append(missing, b)
		}
	}
	return selected, missing, excluded, colliding
}

// orphaned are the mirrors in the destination whose source bucket is gone.
func orphaned(mirrors, source []string, reportPrefix string) []string {
	out := []string{}
	for _, m := range mirrors {
		if m != reportRoot(reportPrefix) && !slices.Contains(source, m) {
			out = append(out, m)
		}
	}
	return out
}
