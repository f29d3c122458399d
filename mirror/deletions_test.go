package mirror

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// TestSpilledDeletions: past their limit the planned deletions are kept by
// key in a temp file; the cap, the dry run and the deletion itself see all
// of them, odd keys included.
func TestSpilledDeletions(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{"keep": "k"}
	for i := range 10 {
		files[fmt.Sprintf("gone-%02d", i)] = "x"
	}
	files["gone with\nnewline"], files[`gone "quoted" ✓`] = "x", "x"
	writeFiles(t, src, map[string]string{"keep": "k"})
	writeFiles(t, dst, files)
	ctx, ci := fs.AddConfig(accounting.WithStatsGroup(context.Background(), t.Name()))
	ci.CheckSum = true
	log := zaptest.NewLogger(t)
	fdst := localFs(t, dst)
	pol := &mirrorPolicy{deletions: &plannedDeletions{f: fdst, limit: 3}, log: log}
	res := runPass(ctx, localFs(t, src), fdst, false, pol, log)
	defer pol.release()
	planned := int64(len(files) - 1)
	if got := pol.deletions.count(); len(res.errs) > 0 || got != planned || pol.deletions.spill == nil {
		t.Fatalf("errors %v, %d planned (spilled: %v), want %d spilled past 3", res.errs, got, pol.deletions.spill != nil, planned)
	}
	r := &runner{cfg: DefaultConfig(), log: log}
	r.cfg.MaxDelete = MaxDelete{Count: planned - 1}
	var br BucketReport
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, log); !errors.Is(err, exitcode.ErrSafetyStop) || br.DeletionsRefused != planned {
		t.Fatalf("over the cap: err=%v, %+v", err, br)
	}
	r.cfg.MaxDelete, r.cfg.DryRun, br = MaxDelete{Count: planned}, true, BucketReport{}
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, log); err != nil || br.Deleted != planned {
		t.Fatalf("dry run: err=%v, %+v", err, br)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != len(files) {
		t.Fatalf("after the refusal and the dry run the mirror holds %d files, want %d", len(entries), len(files))
	}
	r.cfg.DryRun, br = false, BucketReport{}
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, log); err != nil || br.Deleted != planned {
		t.Fatalf("sync: err=%v, %+v", err, br)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 1 || entries[0].Name() != "keep" {
		t.Fatalf("mirror holds %v, want only keep", entries)
	}
}
