package mirror

import (
	"context"
	"fmt"
	"time"

	"github.com/rclone/rclone/fs"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// restorePolicy is the restore's side of a pass: it deletes nothing, and
// keeps what differs, naming it, unless asked to overwrite.
type restorePolicy struct {
	overwrite     bool
	mirror        bucketPlace // where the mirror's copies are, for restoreEqual
	kept, wouldDo names
	log           *zap.Logger
}

func (p *restorePolicy) extra(object) error { return nil }

func (p *restorePolicy) equal(ctx context.Context, src, dst object) (verdict, string, error) {
	return restoreRule(p.mirror)(ctx, src, dst)
}

func (p *restorePolicy) differs(src object) bool {
	if p.overwrite {
		return true
	}
	p.kept.add(src.key)
	p.log.Warn("differs; kept as it is (--overwrite replaces it)", zap.String("object", src.key))
	return false
}

// would names each object, and logs it: a restore's dry run is read by a
// person deciding.
func (p *restorePolicy) would(src object) {
	p.wouldDo.add(src.key)
	p.log.Info("would restore", zap.String("object", src.key), zap.Int64("size", src.size))
}

// edit drops what the mirror recorded of the copy's source: the restored
// object is that source again.
func (p *restorePolicy) edit(meta fs.Metadata, _ object) { delete(meta, sourceETagKey) }

// restoreBucket copies one bucket's mirror into its RGW bucket, trying it
// again on retryable errors, then verifies it when asked.
func (r *restorer) restoreBucket(ctx context.Context, t restoreTarget) (RestoreBucket, error) {
	start := time.Now()
	log := r.log.With(zap.String("bucket", t.name), zap.String("target", t.target))
	rb := RestoreBucket{Name: t.name, Target: t.target}
	ctx, stats, stop := watchBucket(ctx, "restore/"+t.name, t.name, r.cfg.Tuning, log)
	defer stop()
	var tl tally
	fail := func(err error) (RestoreBucket, error) {
		status, err := tl.fail(ctx, t.name, err, log)
		rb.ended(status, tl, start)
		return rb, err
	}
	if t.create && r.cfg.DryRun {
		log.Info("would create the RGW bucket")
	} else if t.create {
		if err := r.createBucket(ctx, t.target); err != nil {
			return fail(err)
		}
	}
	c, err := r.copier(ctx, t, log)
	if err != nil {
		return fail(err)
	}
	res, pol, tl := copyBucket(ctx, c, func() *restorePolicy { return &restorePolicy{overwrite: r.cfg.Overwrite, mirror: c.src, log: log} })
	rb.MirrorObjects, rb.MirrorBytes, rb.TargetObjects = res.srcObjects, res.srcBytes, res.dstObjects
	rb.BySourceETag, rb.Extra, rb.Differing, rb.DifferingObjects = res.byDate, res.extra, pol.kept.count(), pol.kept.list()
	rb.Checked, rb.Restored, rb.Bytes = stats.GetChecks(), stats.GetTransfers(), stats.GetBytes()
	if r.cfg.DryRun {
		rb.Restored, rb.Bytes, rb.WouldRestore = res.wouldCopy, res.wouldBytes, pol.wouldDo.list()
	}
	if len(res.errs) > 0 {
		return fail(fmt.Errorf("%d errors in the last of %d tries; last error: %w", len(res.errs), tl.attempts, rcloneconf.Classify(rcloneconf.RGW, res.errs[len(res.errs)-1])))
	}
	if r.cfg.Verify && !r.cfg.DryRun {
		vb, err := verifyPair(ctx, c, t.name, "the restored bucket", restoreRule(c.src), true, log)
		rb.Verify = &vb
		if err == nil && !vb.OK {
			err = fmt.Errorf("%w: the restored bucket %s differs from its mirror: %d objects missing, %d differing", exitcode.ErrVerifyFailed, t.target, vb.Missing, vb.Differing)
			tl.note(err.Error())
		}
		if err != nil {
			return fail(fmt.Errorf("verify: %w", err))
		}
	}
	rb.ended(StatusOK, tl, start)
	log.Info("bucket restored", zap.Int64("checked", rb.Checked), zap.Int64("restored", rb.Restored), zap.Int64("bytes", rb.Bytes),
		zap.Int64("differing_kept", rb.Differing), zap.Int64("compared_by_source_etag", rb.BySourceETag), zap.Int("attempts", rb.Attempts))
	return rb, nil
}

// ended fills in how the bucket ended, what the tries came to, and how
// long it took.
func (b *RestoreBucket) ended(status string, t tally, start time.Time) {
	b.Status = status
	b.Attempts, b.Errors, b.ErrorMessages, b.DurationSeconds = t.outcome(start)
}

// copier is the copier of t's mirror (at the restore's time) into its RGW
// bucket.
func (r *restorer) copier(ctx context.Context, t restoreTarget, log *zap.Logger) (copier, error) {
	c := copier{src: bucketPlace{client: r.mirrorClient, bucket: r.cfg.MirrorBucket, prefix: t.name + "/", at: r.cfg.At},
		dst: bucketPlace{client: r.targetClient, bucket: t.target, absent: t.create && r.cfg.DryRun}, dryRun: r.cfg.DryRun, tries: r.cfg.Retries, sleep: r.cfg.RetriesSleep, log: log}
	var err error
	if c.srcFs, err = r.mirror.Fs(ctx, r.cfg.MirrorBucket+"/"+t.name); err != nil {
		return c, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	if c.dstFs, err = r.cfg.Target.Fs(ctx, t.target); err != nil {
		return c, rcloneconf.Classify(rcloneconf.RGW, err)
	}
	return c, nil
}

// createBucket creates the RGW bucket name (--create-bucket).
func (r *restorer) createBucket(ctx context.Context, name string) error {
	rgw := r.cfg.Target
	rgw.Name += "-create"
	rgw.CreateBucket = true
	f, err := rgw.Fs(ctx, name)
	if err == nil {
		err = f.Mkdir(ctx, "")
	}
	if err != nil {
		return rcloneconf.Classify(rcloneconf.RGW, fmt.Errorf("create bucket %s: %w", name, err))
	}
	r.log.Info("created the RGW bucket", zap.String("bucket", name))
	return nil
}
