package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Env vars of drill rgw; errors name them with their flags.
const (
	EnvDrillBucket = "OFFSITE_DRILL_BUCKET"
	EnvDrillAt     = "OFFSITE_DRILL_AT"
	EnvDrillSample = "OFFSITE_DRILL_SAMPLE"
)

// ScratchPrefix begins the name of every bucket a drill makes, and the
// drill removes no other.
const ScratchPrefix = "offsite-drill-"

// DrillConfig is one restore drill: a bucket's mirror (as it is, or as it
// was at At) restored into a scratch bucket of the RGW, compared with the
// mirror, timed, and removed.
type DrillConfig struct {
	Tuning
	Mirror       rcloneconf.Remote // the MinIO holding the mirror
	MirrorBucket string
	ReportPrefix string
	Target       rcloneconf.Remote // the RGW, where the scratch bucket is made and removed
	Bucket       string            // the mirrored bucket to drill
	At           time.Time         // zero: the mirror as it is
	Sample       int               // restore the first Sample objects only; 0: every one
	Version      string
}

// Validate checks the config; errors are *exitcode.ConfigError.
func (c *DrillConfig) Validate() error {
	if err := validateEnds(c.Target, c.Mirror, c.MirrorBucket); err != nil {
		return err
	}
	if err := rcloneconf.CheckBucketName("--bucket ("+EnvDrillBucket+")", c.Bucket); err != nil {
		return err
	}
	if c.Sample < 0 {
		return exitcode.Configf("--sample ("+EnvDrillSample+")", "%d is not a number of objects (0 for all)", c.Sample)
	}
	if c.At.After(time.Now()) {
		return exitcode.Configf("--at ("+EnvDrillAt+")", "%s is in the future", c.At.UTC().Format(time.RFC3339))
	}
	if err := c.Tuning.validate(); err != nil {
		return err
	}
	return validateReportPrefix(c.ReportPrefix)
}

// DrillReport is what a drill did and found.
type DrillReport struct {
	Start           time.Time  `json:"start"`
	End             time.Time  `json:"end"`
	DurationSeconds float64    `json:"duration_seconds"` // the restore and its comparison
	OK              bool       `json:"ok"`
	Bucket          string     `json:"bucket"`
	At              *time.Time `json:"at,omitempty"`
	Sample          int        `json:"sample,omitempty"`
	Scratch         string     `json:"scratch_bucket"` // "" when the drill stopped before making one
	ScratchRemoved  bool       `json:"scratch_removed"`
	Restored        int64      `json:"restored"`
	Bytes           int64      `json:"bytes"`
	Compared        int64      `json:"compared"` // bytes, headers and tags, each object
	Differing       int64      `json:"differing"`
	DifferingObj    []string   `json:"differing_objects,omitempty"`
	// The whole mirror at the drill's time, and how long restoring all of
	// it would take at the drill's pace: the larger of by bytes and by
	// objects.
	MirrorBuckets    int      `json:"mirror_buckets"`
	MirrorObjects    int64    `json:"mirror_objects"`
	MirrorBytes      int64    `json:"mirror_bytes"`
	ProjectedSeconds float64  `json:"projected_seconds"`
	Problems         []string `json:"problems"`
}

// Drill restores cfg.Bucket's mirror into a new scratch bucket on the
// RGW, compares every restored object with the mirror (bytes, headers,
// tags), projects how long restoring the whole mirror would take, and
// removes the scratch bucket, on every path: an error, a cancel (SIGTERM)
// included. It always returns the report. The error wraps
// exitcode.ErrVerifyFailed when an object differs or is missing; it is a
// *exitcode.ConfigError when the drill cannot start as asked.
func Drill(ctx context.Context, cfg DrillConfig, log *zap.Logger) (*DrillReport, error) {
	rep := &DrillReport{Start: time.Now().UTC(), Bucket: cfg.Bucket, Sample: cfg.Sample, Problems: []string{}}
	scratch := ScratchPrefix + rep.Start.Format("20060102-150405")
	if !cfg.At.IsZero() {
		at := cfg.At.UTC()
		rep.At = &at
	}
	ctx, ci := cfg.Tuning.rclone(ctx)
	ci.Metadata, ci.MaxDelete = true, 0
	cfg.Target.NoHead = true
	r := newRestorer(ctx, RestoreConfig{Tuning: cfg.Tuning, Mirror: cfg.Mirror, MirrorBucket: cfg.MirrorBucket, ReportPrefix: cfg.ReportPrefix,
		Target: cfg.Target, Buckets: []string{cfg.Bucket}, At: cfg.At, ToBucket: scratch, CreateBucket: true, Overwrite: true, Version: cfg.Version}, log)
	made, err := r.drillScratch(ctx, cfg, rep, log)
	if made {
		err = errors.Join(err, r.removeScratch(ctx, rep, log))
	}
	rep.End, rep.OK = time.Now().UTC(), err == nil
	return rep, err
}

// drillScratch makes the scratch bucket, restores into it and compares.
// made is whether the bucket may exist now: once asked for, it may, even
// when the answer never came.
func (r *restorer) drillScratch(ctx context.Context, cfg DrillConfig, rep *DrillReport, log *zap.Logger) (made bool, err error) {
	fbucket, mirrors, err := openDestination(ctx, cfg.Mirror, cfg.MirrorBucket)
	if err != nil {
		return false, err
	}
	targets, err := r.plan(ctx, fbucket, mirrors)
	if err != nil {
		return false, err
	}
	if err := r.scratchIsFree(ctx, r.cfg.ToBucket); err != nil {
		return false, err
	}
	rep.Scratch = r.cfg.ToBucket
	if _, err := r.targetClient.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(rep.Scratch)}); err != nil {
		return true, rcloneconf.Classify(rcloneconf.RGW, fmt.Errorf("create the scratch bucket %s: %w", rep.Scratch, err))
	}
	log.Info("created the scratch bucket", zap.String("bucket", rep.Scratch))
	start := time.Now()
	err = r.drill(ctx, targets[0], cfg.Sample, rep, log)
	rep.DurationSeconds = time.Since(start).Seconds()
	if err == nil || errors.Is(err, exitcode.ErrVerifyFailed) { // restored: its pace is known
		err = errors.Join(err, r.project(ctx, rep))
	}
	return true, err
}

// drill restores t's mirror (its first sample objects, when not 0) into
// the scratch bucket and compares each object with its mirror copy.
func (r *restorer) drill(ctx context.Context, t restoreTarget, sample int, rep *DrillReport, log *zap.Logger) error {
	ctx, stats, stop := watchBucket(ctx, "drill/"+t.name, t.name, r.cfg.Tuning, log)
	defer stop()
	c, err := r.copier(ctx, t, log)
	if err != nil {
		return err
	}
	c.src.limit = sample
	res, _, tl := copyBucket(ctx, c, func() *restorePolicy { return &restorePolicy{overwrite: true, mirror: c.src, log: log} })
	rep.Restored, rep.Bytes = stats.GetTransfers(), stats.GetBytes()
	if len(res.errs) > 0 {
		return fmt.Errorf("restore into %s: %d errors in the last of %d tries; last error: %w", t.target, len(res.errs), tl.attempts, res.errs[len(res.errs)-1])
	}
	c.audit = Slice{Count: 1} // every object, whole
	vb, err := verifyPair(ctx, c, t.name, "the scratch bucket", drillRule, false, log)
	rep.Compared, rep.Differing, rep.DifferingObj = vb.Sampled, vb.Differing+vb.Missing, append(vb.MissingObj, vb.DifferObj...)
	if vb.Differing+vb.Missing > 0 {
		msg := fmt.Sprintf("%d objects missing from the scratch bucket, %d differing from their mirror", vb.Missing, vb.Differing)
		rep.Problems = append(rep.Problems, msg)
		err = errors.Join(fmt.Errorf("%w: the drill of %s: %s", exitcode.ErrVerifyFailed, rep.Bucket, msg), err)
	}
	return err
}

// drillRule leaves every pair to the whole comparison of the sample: a
// restored object is a new upload, so its ETag and date say nothing.
func drillRule(_ context.Context, src, dst object) (verdict, string, error) {
	if src.size != dst.size {
		return differs, fmt.Sprintf("size %d in the mirror, %d restored", src.size, dst.size), nil
	}
	return sameDate, "", nil
}

// project sizes the whole mirror (at the drill's time) and projects how
// long restoring all of it would take at the drill's pace.
func (r *restorer) project(ctx context.Context, rep *DrillReport) error {
	names, err := r.mirroredBuckets(ctx)
	if err != nil {
		return err
	}
	rep.MirrorBuckets = len(names)
	for _, name := range names {
		place := bucketPlace{client: r.mirrorClient, bucket: r.cfg.MirrorBucket, prefix: name + "/", at: r.cfg.At}
		err := place.list(ctx, func(page []object) error {
			for _, o := range page {
				rep.MirrorObjects, rep.MirrorBytes = rep.MirrorObjects+1, rep.MirrorBytes+o.size
			}
			return nil
		})
		if err != nil {
			return rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("size the mirror of %s: %w", name, err))
		}
	}
	seconds := max(rep.DurationSeconds, 1)
	var byBytes, byObjects float64
	if rep.Bytes > 0 {
		byBytes = seconds * float64(rep.MirrorBytes) / float64(rep.Bytes)
	}
	if rep.Restored > 0 {
		byObjects = seconds * float64(rep.MirrorObjects) / float64(rep.Restored)
	}
	rep.ProjectedSeconds = max(byBytes, byObjects)
	return nil
}

// scratchIsFree checks that no bucket has the scratch bucket's name: one
// that has is another drill's, running or left behind, and a drill
// removes only what it made.
func (r *restorer) scratchIsFree(ctx context.Context, name string) error {
	_, err := r.targetClient.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name), MaxKeys: aws.Int32(1)})
	switch {
	case err == nil:
		return fmt.Errorf("the scratch bucket %s exists already: another drill is running, or one left it behind (remove it with your RGW tools)", name)
	case !rcloneconf.IsNotFound(err):
		return rcloneconf.Classify(rcloneconf.RGW, fmt.Errorf("look for the scratch bucket %s: %w", name, err))
	}
	return nil
}

// removeScratchTimeout bounds the removal of the scratch bucket, which
// runs after a cancel too: within Kubernetes' grace period.
const (
	removeScratchTimeout = 20 * time.Second
	removeScratchTries   = 5
)

// removeScratch removes the drill's scratch bucket, whatever the drill's
// end, with a context of its own: its objects, then the bucket. It touches
// no bucket whose name is not the drill's.
func (r *restorer) removeScratch(ctx context.Context, rep *DrillReport, log *zap.Logger) error {
	if !strings.HasPrefix(rep.Scratch, ScratchPrefix) {
		return fmt.Errorf("%s is no scratch bucket: not removed", rep.Scratch)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeScratchTimeout)
	defer cancel()
	// Again while it fails: an upload cut short by a cancel may still land
	// after the listing that empties the bucket.
	var err error
	for range removeScratchTries {
		if err = r.emptyAndRemove(ctx, rep.Scratch); err == nil || rcloneconf.IsNotFound(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if err != nil && !rcloneconf.IsNotFound(err) { // not found: never made
		err = rcloneconf.Classify(rcloneconf.RGW, err)
		err = fmt.Errorf("the scratch bucket %s was not removed (remove it with your RGW tools): %w", rep.Scratch, err)
		rep.Problems = append(rep.Problems, err.Error())
		log.Error("scratch bucket left", zap.Error(err))
		return err
	}
	rep.ScratchRemoved = true
	log.Info("removed the scratch bucket", zap.String("bucket", rep.Scratch))
	return nil
}

// emptyAndRemove aborts the bucket's unfinished uploads (which keep a
// bucket from being removed), deletes its objects, then the bucket.
func (r *restorer) emptyAndRemove(ctx context.Context, bucket string) error {
	// A server that cannot list uploads (some answer NoSuchUpload when
	// there are none) has none to abort, or says so at DeleteBucket.
	if ups, err := r.targetClient.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}); err == nil {
		for _, up := range ups.Uploads {
			if _, err := r.targetClient.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: up.Key, UploadId: up.UploadId}); err != nil {
				return err
			}
		}
	}
	scratch := bucketPlace{client: r.targetClient, bucket: bucket}
	keys := newPlannedDeletions()
	defer keys.discard()
	err := scratch.list(ctx, func(page []object) error {
		for _, o := range page {
			if err := keys.add(o.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		_, err = keys.deleteAll(ctx, scratch)
	}
	if err == nil {
		_, err = r.targetClient.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	}
	return err
}

// WriteTable writes the report for people.
func (rep *DrillReport) WriteTable(w io.Writer) error {
	at := "as it is"
	if rep.At != nil {
		at = "as it was at " + rep.At.Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "BUCKET\tSCRATCH\tRESTORED\tBYTES\tCOMPARED\tDIFFERING\tSECONDS\n")
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%.1f\n", rep.Bucket, rep.Scratch, rep.Restored, humanBytes(rep.Bytes), rep.Compared, rep.Differing, rep.DurationSeconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Scratch == "" {
		fmt.Fprintf(w, "drill: %s's mirror %s: stopped before a scratch bucket was made\n", rep.Bucket, at)
	} else {
		fmt.Fprintf(w, "drill: %s's mirror %s restored into %s and compared, object by object (bytes, headers, tags)\n", rep.Bucket, at, rep.Scratch)
	}
	if rep.MirrorBuckets > 0 {
		fmt.Fprintf(w, "drill: the whole mirror holds %s, %d objects, %s: restoring all of it at this pace takes about %s\n",
			plural(rep.MirrorBuckets, "bucket"), rep.MirrorObjects, humanBytes(rep.MirrorBytes), time.Duration(rep.ProjectedSeconds*float64(time.Second)).Round(time.Second))
	}
	for _, o := range rep.DifferingObj {
		fmt.Fprintf(w, "differing: %s\n", o)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	if rep.Scratch != "" {
		fmt.Fprintf(w, "scratch bucket removed: %v\n", rep.ScratchRemoved)
	}
	_, err := fmt.Fprintf(w, "ok: %v\n", rep.OK)
	return err
}
