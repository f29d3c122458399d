package mirror

import (
	"errors"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func TestParseAt(t *testing.T) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time // zero with ok: the current mirror
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2026-12-01T04:00:00Z", time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC), true},
		{"2026-12-01T05:00:00+01:00", time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC), true},
		{"2026-12-01T04:00:00.250Z", time.Date(2026, 12, 1, 4, 0, 0, 250e6, time.UTC), true},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), true},
		{"36h", now.Add(-36 * time.Hour), true},
		{"2d", now.Add(-48 * time.Hour), true},
		{" 90m ", now.Add(-90 * time.Minute), true},
		{"2026-12-03", time.Time{}, false}, // the future
		{"-36h", time.Time{}, false},
		{"0s", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2026-13-01", time.Time{}, false},
		{"1700000000", time.Time{}, false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAt(EnvRestoreAt, tt.in, now)
			var cfg *exitcode.ConfigError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("error %v", err)
			case !tt.ok && (!errors.As(err, &cfg) || cfg.Var != flagVar(FlagAt)):
				t.Fatalf("got %v, %v; want a configuration error naming %s", got, err, FlagAt)
			case tt.ok && !got.Equal(tt.want):
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
