package mirror

import (
	"errors"
	"fmt"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// TestSpilledDeletions: past their limit the planned deletions are kept by
// key in a temp file; the cap, the dry run and the deletion itself see all
// of them, odd keys included.
func TestSpilledDeletions(t *testing.T) {
	files := map[string]string{"keep": "k", "gone with\nnewline": "x", `gone "quoted" ✓`: "x"}
	for i := range 10 {
		files[fmt.Sprintf("gone-%02d", i)] = "x"
	}
	c, cfg, dst, ctx := passSetup(t, map[string]string{"keep": "k"}, files)
	pol := &mirrorPolicy{deletions: &plannedDeletions{limit: 3}, log: c.log}
	res := runPass(ctx, c, pol)
	defer pol.release()
	planned := int64(len(files) - 1)
	if got := pol.deletions.count(); len(res.errs) > 0 || got != planned || pol.deletions.spill == nil {
		t.Fatalf("errors %v, %d planned (spilled: %v), want %d spilled past 3", res.errs, got, pol.deletions.spill != nil, planned)
	}
	r := &runner{cfg: cfg, log: c.log}
	r.cfg.MaxDelete = MaxDelete{Count: planned - 1}
	var br BucketReport
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, c.dst, c.log); !errors.Is(err, exitcode.ErrSafetyStop) || br.DeletionsRefused != planned {
		t.Fatalf("over the cap: err=%v, %+v", err, br)
	}
	r.cfg.MaxDelete, r.cfg.DryRun, br = MaxDelete{Count: planned}, true, BucketReport{}
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, c.dst, c.log); err != nil || br.Deleted != planned {
		t.Fatalf("dry run: err=%v, %+v", err, br)
	}
	if got := len(dst.List(t, destBucket, "alpha/")); got != len(files) {
		t.Fatalf("after the refusal and the dry run the mirror holds %d objects, want %d", got, len(files))
	}
	r.cfg.DryRun, br = false, BucketReport{}
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, c.dst, c.log); err != nil || br.Deleted != planned {
		t.Fatalf("sync: err=%v, %+v", err, br)
	}
	if got := dst.List(t, destBucket, "alpha/"); len(got) != 1 || got["alpha/keep"] == 0 {
		t.Fatalf("mirror holds %v, want only alpha/keep", got)
	}
}
