package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRunValidate(t *testing.T) {
	for _, c := range []struct {
		name     string
		run      Run
		wantKind string
		ok       bool
	}{
		{"mirror is per bucket", Run{Job: JobMirror}, KindBucket, true},
		{"verify rgw is per bucket", Run{Job: JobVerifyRGW}, KindBucket, true},
		{"restore is per bucket", Run{Job: JobRestore}, KindBucket, true},
		{"offload is per host", Run{Job: JobOffload}, KindHost, true},
		{"verify etcd is per host", Run{Job: JobVerifyEtcd}, KindHost, true},
		{"drill etcd is per host", Run{Job: JobDrillEtcd}, KindHost, true},
		{"drill rgw is per bucket", Run{Job: JobDrillRGW}, KindBucket, true},
		{"not a job of offsite's", Run{Job: "other"}, "", false},
		{"no job", Run{}, "", false},
		{"duplicate item", Run{Job: JobMirror, Items: []Item{{Name: "a"}, {Name: "a"}}}, KindBucket, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.run.validate(); (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if got := c.run.Job.Kind(); got != c.wantKind {
				t.Errorf("kind = %q, want %q", got, c.wantKind)
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
