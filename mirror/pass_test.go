package mirror

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// localFs opens dir with rclone's local backend.
func localFs(t *testing.T, dir string) fs.Fs {
	t.Helper()
	f, err := fs.NewFs(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPassPlansDeletionsWithoutDeleting(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{"a/one": "1", "a/b/two": "22", "same": "xyz", "changed": "new"})
	writeFiles(t, dst, map[string]string{"same": "xyz", "changed": "old", "gone/1": "x", "gone/2": "y"})
	ctx, ci := fs.AddConfig(accounting.WithStatsGroup(context.Background(), t.Name()))
	ci.CheckSum = true

	fdst := localFs(t, dst)
	pol := &mirrorPolicy{deletions: newPlannedDeletions(fdst), log: zaptest.NewLogger(t)}
	res := runPass(ctx, localFs(t, src), fdst, false, pol, pol.log)
	if len(res.errs) > 0 {
		t.Fatal(res.errs)
	}
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"source objects", res.srcObjects, 4},
		{"mirror objects", res.dstObjects, 4},
		{"extra", res.extra, 2},
		{"planned deletions", pol.deletions.count(), 2},
		{"size only", res.sizeOnly, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s=%d, want %d", c.what, c.got, c.want)
		}
	}
	for name, want := range map[string]string{"a/one": "1", "a/b/two": "22", "changed": "new", "gone/1": "x", "gone/2": "y"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(got) != want {
			t.Errorf("%s=%q, %v, want %q", name, got, err, want)
		}
	}
}

func TestDeletionCapRefusesEveryDeletion(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{"keep": "k"})
	writeFiles(t, dst, map[string]string{"keep": "k", "x1": "1", "x2": "2", "x3": "3"})
	ctx, ci := fs.AddConfig(accounting.WithStatsGroup(context.Background(), t.Name()))
	ci.CheckSum = true
	log := zaptest.NewLogger(t)
	fdst := localFs(t, dst)
	pol := &mirrorPolicy{deletions: newPlannedDeletions(fdst), log: log}
	res := runPass(ctx, localFs(t, src), fdst, false, pol, log)

	for _, tt := range []struct {
		name        string
		cap         string
		allowEmpty  bool
		wantSafety  bool
		wantDeleted int64
	}{
		{name: "over the cap", cap: "2", wantSafety: true},
		{name: "share over the cap", cap: "50%", wantSafety: true},
		{name: "at the cap", cap: "75%", wantDeleted: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{cfg: DefaultConfig(), log: log}
			r.cfg.MaxDelete, _ = ParseMaxDelete(tt.cap)
			r.cfg.DryRun = !tt.wantSafety && tt.wantDeleted > 0 // count only: the files stay for the next case
			var br BucketReport
			err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, log)
			if got := errors.Is(err, exitcode.ErrSafetyStop); got != tt.wantSafety {
				t.Fatalf("err=%v, safety stop %v, want %v", err, got, tt.wantSafety)
			}
			if tt.wantSafety && br.DeletionsRefused != 3 {
				t.Fatalf("refused=%d, want 3", br.DeletionsRefused)
			}
			if br.Deleted != tt.wantDeleted {
				t.Fatalf("deleted=%d, want %d", br.Deleted, tt.wantDeleted)
			}
			entries, _ := os.ReadDir(dst)
			if got, want := len(entries), 4; got != want {
				t.Fatalf("mirror holds %d files, want %d", got, want)
			}
		})
	}
}

func TestEmptySourceGuard(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeFiles(t, dst, map[string]string{"x1": "1", "x2": "2"})
	ctx, ci := fs.AddConfig(accounting.WithStatsGroup(context.Background(), t.Name()))
	ci.CheckSum = true
	log := zaptest.NewLogger(t)
	fdst := localFs(t, dst)
	pol := &mirrorPolicy{deletions: newPlannedDeletions(fdst), log: log}
	res := runPass(ctx, localFs(t, src), fdst, false, pol, log)

	r := &runner{cfg: DefaultConfig(), log: log}
	r.cfg.MaxDelete = MaxDelete{Percent: 100, IsPercent: true}
	var br BucketReport
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, log); !errors.Is(err, exitcode.ErrSafetyStop) || br.DeletionsRefused != 2 {
		t.Fatalf("err=%v refused=%d, want a safety stop refusing 2", err, br.DeletionsRefused)
	}
	r.cfg.AllowEmptySource = true
	br = BucketReport{}
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, log); err != nil || br.Deleted != 2 {
		t.Fatalf("with the guard lifted: err=%v deleted=%d, want 2 deleted", err, br.Deleted)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Fatalf("mirror still holds %d files", len(entries))
	}
}
