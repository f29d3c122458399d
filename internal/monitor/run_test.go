package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRunNormalize(t *testing.T) {
	for _, c := range []struct {
		name     string
		run      Run
		wantKind string
		ok       bool
	}{
		{"mirror is per bucket", Run{Job: "mirror"}, KindBucket, true},
		{"verify rgw is per bucket", Run{Job: "verify_rgw"}, KindBucket, true},
		{"offload is per host", Run{Job: "offload"}, KindHost, true},
		{"verify etcd is per host", Run{Job: "verify_etcd"}, KindHost, true},
		{"explicit kind wins", Run{Job: "mirror", Kind: KindHost}, KindHost, true},
		{"other job without items", Run{Job: "other"}, "", true},
		{"other job with items needs a kind", Run{Job: "other", Items: []Item{{Name: "a"}}}, "", false},
		{"unknown kind", Run{Job: "mirror", Kind: "rack"}, "", false},
		{"no job", Run{}, "", false},
		{"duplicate item", Run{Job: "mirror", Items: []Item{{Name: "a"}, {Name: "a"}}}, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.run.normalize()
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if c.ok && got.Kind != c.wantKind {
				t.Errorf("kind = %q, want %q", got.Kind, c.wantKind)
			}
		})
	}
}

func TestRunSummary(t *testing.T) {
	run := mirrorRun(t0, false)
	got := run.Summary(errors.New("bucket photos: 2 errors"))
	for _, want := range []string{
		"offsite mirror: failed (exit 1) in 1m30s\n",
		"buckets: 2, failed: 1\n",
		"objects: 15, bytes: 1052672, deletions: 1, errors: 2, pending: 0\n",
		"failed: photos (2 errors)\n",
		"error: bucket photos: 2 errors\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if got, want := mirrorRun(t0, true).Summary(nil), "offsite mirror: ok in 1m30s\n"; !strings.HasPrefix(got, want) {
		t.Errorf("summary = %q, want prefix %q", got, want)
	}
}

func TestRunSummaryNamesAFewFailures(t *testing.T) {
	run := Run{Job: "mirror", ExitCode: 1}
	for i := range 25 {
		run.Items = append(run.Items, Item{Name: fmt.Sprintf("b%02d", i), Errors: 1})
	}
	got := run.Summary(nil)
	if !strings.Contains(got, "b09 (1 errors), and 15 more\n") {
		t.Errorf("summary does not cut the list of failures:\n%s", got)
	}
	if strings.Contains(got, "b10") {
		t.Errorf("summary names more than %d failures:\n%s", maxSummaryFailures, got)
	}
}
