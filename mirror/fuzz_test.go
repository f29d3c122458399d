package mirror

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// Fuzz targets for what the mirror reads from outside: OFFSITE_MAX_DELETE
// from an operator, run reports from the destination bucket.

func FuzzParseMaxDelete(f *testing.F) {
	for _, s := range []string{"10%", "0", "500", "100%", "NaN%", "1e3", " 7 %", "-1", "99.5%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMaxDelete(s)
		if err != nil {
			var cfg *exitcode.ConfigError
			if !errors.As(err, &cfg) || cfg.Var != EnvMaxDelete {
				t.Fatalf("error %v does not name %s", err, EnvMaxDelete)
			}
			return
		}
		if err := m.validate(); err != nil {
			t.Fatalf("ParseMaxDelete(%q) = %+v, which validate refuses: %v", s, m, err)
		}
		// The cap of any mirror is between none and all of it.
		for _, n := range []int64{0, 1, 7, 1000, math.MaxInt32} {
			if limit := m.Limit(n); limit < 0 || (m.IsPercent && limit > n) {
				t.Fatalf("%q: Limit(%d) = %d", s, n, limit)
			}
		}
		// What String writes parses back to the same cap.
		again, err := ParseMaxDelete(m.String())
		if err != nil || again.Limit(1000) != m.Limit(1000) {
			t.Fatalf("%q: String %q parses to %+v, %v", s, m.String(), again, err)
		}
	})
}

// FuzzReportJSON: a report read from the bucket, however odd, never
// panics, and auto mode syncs a bucket only when the report has an entry
// for it that was copied or synced ok, in a run that was not a dry run.
func FuzzReportJSON(f *testing.F) {
	f.Add(`{"mode":"copy","dry_run":false,"buckets":[{"name":"photos","mode":"copy","status":"ok"}]}`)
	f.Add(`{"mode":"copy","dry_run":true,"buckets":[{"name":"photos","mode":"copy","status":"ok"}]}`)
	f.Add(`{"buckets":[{"name":"photos","mode":"sync","status":"incomplete"},{"name":"photos","mode":"copy","status":"failed"}]}`)
	f.Add(`{"buckets":null}`)
	f.Fuzz(func(t *testing.T, data string) {
		var r Report
		if json.Unmarshal([]byte(data), &r) != nil {
			return
		}
		for _, name := range r.cleanBuckets() {
			if r.DryRun {
				t.Fatalf("a dry run made %q clean: %s", name, data)
			}
			ok := false
			for _, b := range r.Buckets {
				ok = ok || b.Name == name && b.Status == StatusOK && (b.Mode == ModeCopy || b.Mode == ModeSync)
			}
			if !ok {
				t.Fatalf("%q made clean without an ok copy or sync: %s", name, data)
			}
		}
		_ = r.Summary()
	})
}
