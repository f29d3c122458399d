package mirror

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func TestCanaryValidate(t *testing.T) {
	for _, c := range []struct {
		bucket, key string
		ok          bool
	}{
		{"photos", CanaryPrefix + "20261202T061706Z-46d27a6f", true},
		{"photos", CanaryPrefix + "a/b", true},
		{"photos", "2026/beach.jpg", false}, // an operator's object: never
		{"photos", CanaryPrefix, false},
		{"photos", CanaryPrefix + "x/", false},
		{"photos", CanaryPrefix + "../2026/beach.jpg", false},
		{"photos", "/" + CanaryPrefix + "x", false},
		{"", CanaryPrefix + "x", false},
		{"photos/2026", CanaryPrefix + "x", false},
	} {
		err := Canary{Bucket: c.bucket, Key: c.key}.Validate()
		var cfg *exitcode.ConfigError
		if got := err == nil; got != c.ok || (err != nil && !errors.As(err, &cfg)) {
			t.Errorf("Validate(%q, %q) = %v, want ok %v (or a configuration error)", c.bucket, c.key, err, c.ok)
		}
	}
}

// A canary goes into the source, is found missing from the mirror until
// a run copies it, then matches; a changed copy differs; removing it
// leaves the rest of the bucket alone and may be repeated.
func TestCanary(t *testing.T) {
	src, dst, cfg := servers(t, "photos")
	src.Put(t, "photos", "2026/beach.jpg", []byte("a photo"))
	ctx := context.Background()
	c := Canary{Bucket: "photos", Key: CanaryPrefix + "test-1"}

	size, err := PutCanary(ctx, cfg.Source, c, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := src.List(t, "photos", CanaryPrefix)[c.Key], size; got != want || size == 0 {
		t.Fatalf("canary in the source: %d bytes, want %d", got, want)
	}
	if _, err := CheckCanary(ctx, cfg.Scope, c); !errors.Is(err, exitcode.ErrVerifyFailed) {
		t.Fatalf("check before a mirror run: %v, want a failed verification", err)
	}
	if _, err := Run(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	where, err := CheckCanary(ctx, cfg.Scope, c)
	if err != nil {
		t.Fatalf("check after a mirror run: %v", err)
	}
	if want := destBucket + "/photos/" + c.Key; where != want {
		t.Errorf("where = %q, want %q", where, want)
	}

	dst.Put(t, destBucket, "photos/"+c.Key, []byte("not the canary"))
	if _, err := CheckCanary(ctx, cfg.Scope, c); !errors.Is(err, exitcode.ErrVerifyFailed) {
		t.Errorf("check of a changed copy: %v, want a failed verification", err)
	}

	for i, want := range []bool{true, false} {
		existed, err := RemoveCanary(ctx, cfg.Source, c)
		if err != nil || existed != want {
			t.Fatalf("remove #%d: existed %v, %v; want %v", i+1, existed, err, want)
		}
	}
	if got := src.List(t, "photos", ""); len(got) != 1 || got["2026/beach.jpg"] == 0 {
		t.Errorf("source after remove: %v, want only 2026/beach.jpg", got)
	}
	if _, err := CheckCanary(ctx, cfg.Scope, c); !errors.Is(err, exitcode.ErrVerifyFailed) {
		t.Errorf("check after remove: %v, want a failed verification", err)
	}

	// offsite never creates buckets, not even for a test object.
	_, err = PutCanary(ctx, cfg.Source, Canary{Bucket: "no-such-bucket", Key: c.Key}, time.Now())
	var cfgErr *exitcode.ConfigError
	if !errors.As(err, &cfgErr) {
		t.Errorf("put into a missing bucket: %v, want a configuration error", err)
	}
}
