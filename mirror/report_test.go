package mirror

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestSummaryGolden renders reports as the table people read and compares
// them with golden files: a short run, and one with a long bucket name and
// numbers wide enough to push every column.
func TestSummaryGolden(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name string
		rep  Report
	}{
		{"short", Report{Start: start, Mode: ModeCopy, DeleteMode: DeleteMode, Buckets: []BucketReport{
			{Name: "gitea", Mode: ModeCopy, Status: StatusOK, Transferred: 2, Bytes: 27, Attempts: 1, DurationSeconds: 0.04},
			{Name: "photos", Mode: ModeCopy, Status: StatusOK, Checked: 3, Transferred: 1, Bytes: 1536, Attempts: 1, DurationSeconds: 0.2},
		}, Location: "_reports/2026-01-02/2026-01-02T03:04:05.000Z-copy.json"}},
		{"wide", Report{Start: start, Mode: ModeAuto, DeleteMode: DeleteMode, Buckets: []BucketReport{
			{Name: "a", Mode: ModeSync, Status: StatusOK, Checked: 1, Attempts: 1, DurationSeconds: 1},
			{Name: "camera-uploads-from-every-phone-in-the-house-since-2009", Mode: ModeSync, Status: StatusAborted,
				Checked: 12345678901, Transferred: 987654321, Bytes: 5 << 40, DeletionsRefused: 4200000, ByDate: 31337,
				Attempts: 1, DurationSeconds: 7384.4, ErrorMessages: []string{"safety stop: 4200000 deletions over the cap of 10%"}},
			{Name: "docs", Mode: ModeCopy, Status: StatusFailed, Checked: 10, Transferred: 3, Bytes: 3 << 20, Errors: 12,
				Attempts: 10, DurationSeconds: 61, ErrorMessages: []string{"first", "AccessDenied: access denied"}},
			{Name: "old", Mode: ModeCopy, Status: StatusSkipped},
		}, Orphaned: []string{"gone"}, Error: "bucket docs: 12 errors"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := tt.rep
			rep.finish(start.Add(2*time.Hour + 3*time.Minute + 4*time.Second))
			got := rep.Summary()
			path := filepath.Join("testdata", "summary-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("summary differs from %s:\n%s\nwant:\n%s", path, got, want)
			}
			checkAligned(t, got, len(rep.Buckets)+2)
		})
	}
}

// checkAligned checks that the table's first rows (the header, a row per
// bucket, the totals) have the same length and that each column ends at
// the same place in every row (numbers are right-aligned).
func checkAligned(t *testing.T, summary string, rows int) {
	t.Helper()
	lines := strings.Split(summary, "\n")[:rows]
	header := lines[0]
	for _, col := range []string{"CHECKED", "TRANSFERRED", "BYTES", "ERRORS", "DURATION"} {
		end := strings.Index(header, col) + len(col)
		for _, l := range lines[1:] {
			if len(l) < end || (end < len(l) && l[end] != ' ') || l[end-1] == ' ' {
				t.Errorf("column %s does not end at %d in %q", col, end, l)
			}
		}
	}
}
