package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// TestMakeDrillRGW runs make drill-rgw on validate's rig: a versioned
// mirror of the photos bucket is restored into a scratch bucket, verified,
// and timed, with a projection for the whole mirror.
func TestMakeDrillRGW(t *testing.T) {
	r := newValidateRig(t)
	r.minio.EnableVersioning(t, mirror.DefaultDestBucket)
	r.rgw.MakeBucket(t, "notes")
	r.rgw.Put(t, "notes", "todo.txt", []byte("buy film"))
	var bin string
	for _, kv := range r.env {
		if v, ok := strings.CutPrefix(kv, "OFFSITE_BIN="); ok {
			bin = v
		}
	}
	mirrorCmd := harness.Command(t.Context(), 5*time.Minute, bin, "mirror")
	mirrorCmd.Env = append(r.env, "RGW_BUCKETS=*")
	if out, err := mirrorCmd.CombinedOutput(); err != nil {
		t.Fatalf("mirror: %v\n%s", err, out)
	}

	code, out := r.make(t, "drill-rgw", "DRILL_BUCKET="+validateBucket, "DRILL_TO=photos-drill")
	if code != 0 {
		t.Fatalf("make drill-rgw: exit code %d, want 0", code)
	}
	for key, size := range r.rgw.List(t, validateBucket, "") {
		data, ok := r.rgw.Get(t, "photos-drill", key)
		if !ok || int64(len(data)) != size {
			t.Errorf("scratch bucket: %s missing or of another size", key)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`drill: photos restored into photos-drill and verified: 2 objects, 20 B in the mirror \(2 restored, 20 B\), \d+ s`),
		regexp.MustCompile(`drill: the whole mirror holds 2 buckets, 3 objects, 28 B: restoring all of it at this pace takes about \d+ s`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %q", want)
		}
	}
	r.checkNoSecrets(t, map[string]string{"drill-rgw output": out}, "")

	// A bucket the mirror does not hold: the restore's exit code, said.
	code, out = r.make(t, "drill-rgw", "DRILL_BUCKET=nothere")
	if code == 0 || !strings.Contains(out, "the restore of nothere failed with exit code 2") {
		t.Fatalf("drill of a bucket not mirrored: exit code %d, want the restore's 2 named", code)
	}
	code, out = r.make(t, "drill-rgw")
	if code == 0 || !strings.Contains(out, "DRILL_BUCKET is not set") {
		t.Fatalf("drill without a bucket: exit code %d", code)
	}
}
