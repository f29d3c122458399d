package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// VerifyRestored proves that each RGW bucket a restore wrote to (the
// buckets of cfg, or cfg.ToBucket) holds every object of its mirror as it
// was at cfg.At (as it is, without one), equal by the one rule, and by
// download where a hash is missing. Objects only in the RGW are extra, not
// a difference: a restore never deletes. cfg must have passed Validate;
// its mirror, target, buckets, At, ToBucket and tuning count. Errors are
// as Verify's; there is no run report to judge.
func VerifyRestored(ctx context.Context, cfg RestoreConfig, log *zap.Logger) (*VerifyReport, error) {
	rep := &VerifyReport{Start: time.Now().UTC(), Problems: []string{}, Buckets: []VerifyBucket{}, Restored: true}
	if !cfg.At.IsZero() {
		at := cfg.At.UTC()
		rep.At = &at
	}
	defer func() { rep.End = time.Now().UTC() }()
	ctx, _ = cfg.Tuning.rclone(ctx)
	r := newRestorer(ctx, cfg, log)
	r.verifyOnly = true
	fbucket, mirrors, err := openDestination(ctx, cfg.Mirror, cfg.MirrorBucket)
	if err != nil {
		return rep, err
	}
	rep.Versioning = versioning(ctx, fbucket, cfg.MirrorBucket, rep, r.log)
	targets, err := r.plan(ctx, fbucket, mirrors)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, t := range targets {
		errs = append(errs, r.verifyTarget(ctx, rep, t))
	}
	return rep, rep.conclude(ctx, errors.Join(errs...), r.log)
}

// verifyTarget compares one bucket's mirror with the RGW bucket it was
// restored to, into rep under the RGW bucket's name.
func (r *restorer) verifyTarget(ctx context.Context, rep *VerifyReport, t restoreTarget) error {
	if ctx.Err() != nil {
		rep.Buckets = append(rep.Buckets, VerifyBucket{Name: t.target, ErrorMsgs: []string{"not verified: the verify was cancelled"}})
		return nil
	}
	log := r.log.With(zap.String("bucket", t.name), zap.String("target", t.target))
	c, err := r.copier(ctx, t, log)
	if err != nil {
		rep.Buckets = append(rep.Buckets, VerifyBucket{Name: t.target})
		return fmt.Errorf("bucket %s: %w", t.target, err)
	}
	vb, err := verifyPair(ctx, c, t.target, "the restored bucket", restoreRule(c.src), true, log)
	rep.Buckets = append(rep.Buckets, vb)
	if vb.Missing > 0 || vb.Differing > 0 {
		rep.problem(log, "RGW bucket %s: %d objects of its mirror missing, %d differing", t.target, vb.Missing, vb.Differing)
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", t.target, err)
	}
	return nil
}
