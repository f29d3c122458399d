package mirror

import (
	"context"
	"errors"
	"testing"

	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
)

// passSetup puts src's objects in bucket alpha, then dst's in its mirror
// (written after: the mirror's copies are newer, as a mirror's are), and
// returns the copier of alpha and a context of its own stats.
func passSetup(t *testing.T, src, dst map[string]string) (copier, Config, *harness.Minio, context.Context) {
	t.Helper()
	s, d, cfg := servers(t, "alpha")
	for k, v := range src {
		s.Put(t, "alpha", k, []byte(v))
	}
	for k, v := range dst {
		d.Put(t, destBucket, "alpha/"+k, []byte(v))
	}
	ctx, ci := cfg.Tuning.rclone(accounting.WithStatsGroup(context.Background(), t.Name()))
	ci.Metadata = true
	c, err := cfg.Scope.copier(ctx, "alpha", cfg.Source.DataClient(ctx), cfg.Dest.DataClient(ctx))
	if err != nil {
		t.Fatal(err)
	}
	c.log = zaptest.NewLogger(t)
	return c, cfg, d, ctx
}

func TestPassPlansDeletionsWithoutDeleting(t *testing.T) {
	c, _, dst, ctx := passSetup(t,
		map[string]string{"a/one": "1", "a/b/two": "22", "same": "xyz", "changed": "new"},
		map[string]string{"same": "xyz", "changed": "old", "gone/1": "x", "gone/2": "y"})
	pol := &mirrorPolicy{deletions: newPlannedDeletions(), log: c.log}
	res := runPass(ctx, c, pol)
	if len(res.errs) > 0 {
		t.Fatal(res.errs)
	}
	for _, tt := range []struct {
		what      string
		got, want int64
	}{
		{"source objects", res.srcObjects, 4},
		{"mirror objects", res.dstObjects, 4},
		{"extra", res.extra, 2},
		{"planned deletions", pol.deletions.count(), 2},
		{"by date", res.byDate, 0},
	} {
		if tt.got != tt.want {
			t.Errorf("%s=%d, want %d", tt.what, tt.got, tt.want)
		}
	}
	for name, want := range map[string]string{"a/one": "1", "a/b/two": "22", "changed": "new", "gone/1": "x", "gone/2": "y"} {
		if got, ok := dst.Get(t, destBucket, "alpha/"+name); !ok || string(got) != want {
			t.Errorf("%s=%q (%v), want %q", name, got, ok, want)
		}
	}
}

func TestDeletionCapRefusesEveryDeletion(t *testing.T) {
	c, cfg, dst, ctx := passSetup(t, map[string]string{"keep": "k"}, map[string]string{"keep": "k", "x1": "1", "x2": "2", "x3": "3"})
	pol := &mirrorPolicy{deletions: newPlannedDeletions(), log: c.log}
	res := runPass(ctx, c, pol)
	for _, tt := range []struct {
		name        string
		cap         string
		wantSafety  bool
		wantDeleted int64
	}{
		{name: "over the cap", cap: "2", wantSafety: true},
		{name: "share over the cap", cap: "50%", wantSafety: true},
		{name: "at the cap", cap: "75%", wantDeleted: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner{cfg: cfg, log: c.log}
			r.cfg.MaxDelete, _ = ParseMaxDelete(tt.cap)
			r.cfg.DryRun = !tt.wantSafety && tt.wantDeleted > 0 // count only: the objects stay for the next case
			var br BucketReport
			err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, c.dst, c.log)
			if got := errors.Is(err, exitcode.ErrSafetyStop); got != tt.wantSafety {
				t.Fatalf("err=%v, safety stop %v, want %v", err, got, tt.wantSafety)
			}
			if tt.wantSafety && br.DeletionsRefused != 3 {
				t.Fatalf("refused=%d, want 3", br.DeletionsRefused)
			}
			if br.Deleted != tt.wantDeleted {
				t.Fatalf("deleted=%d, want %d", br.Deleted, tt.wantDeleted)
			}
			if got := len(dst.List(t, destBucket, "alpha/")); got != 4 {
				t.Fatalf("mirror holds %d objects, want 4", got)
			}
		})
	}
}

func TestEmptySourceGuard(t *testing.T) {
	c, cfg, dst, ctx := passSetup(t, nil, map[string]string{"x1": "1", "x2": "2"})
	pol := &mirrorPolicy{deletions: newPlannedDeletions(), log: c.log}
	res := runPass(ctx, c, pol)
	r := &runner{cfg: cfg, log: c.log}
	r.cfg.MaxDelete = MaxDelete{Percent: 100, IsPercent: true}
	var br BucketReport
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, c.dst, c.log); !errors.Is(err, exitcode.ErrSafetyStop) || br.DeletionsRefused != 2 {
		t.Fatalf("err=%v refused=%d, want a safety stop refusing 2", err, br.DeletionsRefused)
	}
	r.cfg.AllowEmptySource = true
	br = BucketReport{}
	if err := r.deleteMirrorOnly(ctx, &br, res, pol.deletions, c.dst, c.log); err != nil || br.Deleted != 2 {
		t.Fatalf("with the guard lifted: err=%v deleted=%d, want 2 deleted", err, br.Deleted)
	}
	if got := dst.List(t, destBucket, "alpha/"); len(got) != 0 {
		t.Fatalf("mirror still holds %v", got)
	}
}
