package mirror

import (
	"fmt"
	"testing"
)

// TestSpilledDeletions: past maxHeldDeletions the planned deletions are
// kept by key in a temp file; the cap, dry run and the deletion itself see
// all of them, odd keys included.
func TestSpilledDeletions(t *testing.T) {
	old := maxHeldDeletions
	maxHeldDeletions = 3
	t.Cleanup(func() { maxHeldDeletions = old })

	src, dst, cfg := servers(t, "alpha")
	keys := []string{"keep"}
	for i := range 10 {
		keys = append(keys, fmt.Sprintf("gone-%02d", i))
	}
	keys = append(keys, "gone with\nnewline", `gone "quoted" ✓`)
	for _, k := range keys {
		src.Put(t, "alpha", k, []byte("x "+k))
	}
	cfg.Mode = ModeSync
	mustRun(t, cfg)
	for _, k := range keys[1:] {
		src.Delete(t, "alpha", k)
	}
	planned := int64(len(keys) - 1)

	cfg.MaxDelete = MaxDelete{Count: planned - 1}
	rep, err := run(t, cfg)
	if b := rep.Bucket("alpha"); err == nil || b.DeletionsRefused != planned || b.Deleted != 0 {
		t.Fatalf("over the cap: err=%v, %+v", err, b)
	}

	cfg.MaxDelete = MaxDelete{Count: planned}
	cfg.DryRun = true
	rep = mustRun(t, cfg)
	if b := rep.Bucket("alpha"); b.Deleted != planned {
		t.Fatalf("dry run: %+v", b)
	}
	if got := len(dst.List(t, destBucket, "alpha/")); got != len(keys) {
		t.Fatalf("after the refusal and the dry run the mirror holds %d objects, want %d", got, len(keys))
	}

	cfg.DryRun = false
	rep = mustRun(t, cfg)
	if b := rep.Bucket("alpha"); b.Deleted != planned || b.Status != StatusOK {
		t.Fatalf("sync: %+v", b)
	}
	if got := dst.List(t, destBucket, "alpha/"); len(got) != 1 || got["alpha/keep"] == 0 {
		t.Fatalf("mirror holds %v, want only alpha/keep", got)
	}
}
