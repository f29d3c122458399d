package offload

import (
	"errors"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func TestConfigValidate(t *testing.T) {
	base := DefaultConfig()
	base.Hostname = "node1"
	base.SnapshotDir, base.StateDir = "/snap", "/state"
	tests := []struct {
		name    string
		edit    func(*Config)
		wantVar string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no bucket", func(c *Config) { c.Bucket = "" }, EnvBucket},
		{"bucket with path", func(c *Config) { c.Bucket = "b/x" }, EnvBucket},
		{"no host", func(c *Config) { c.Hostname = "" }, EnvHostname},
		{"host with slash", func(c *Config) { c.Hostname = "a/b" }, EnvHostname},
		{"host dotdot", func(c *Config) { c.Hostname = ".." }, EnvHostname},
		{"no snapshot dir", func(c *Config) { c.SnapshotDir = "" }, EnvSnapshotDir},
		{"state in snapshot dir", func(c *Config) { c.StateDir = "/snap/" }, EnvStateDir},
		{"zero quiet", func(c *Config) { c.QuietPeriod = 0 }, EnvQuietPeriod},
		{"zero rescan", func(c *Config) { c.RescanInterval = 0 }, EnvRescanInterval},
		{"backoff max below min", func(c *Config) { c.BackoffMax = time.Millisecond }, EnvBackoffMax},
		{"bad glob", func(c *Config) { c.Include = "[" }, EnvInclude},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			err := c.Validate()
			var ce *exitcode.ConfigError
			switch {
			case tt.wantVar == "" && err != nil:
				t.Fatalf("Validate()=%v, want nil", err)
			case tt.wantVar != "" && !errors.As(err, &ce):
				t.Fatalf("Validate()=%v, want a ConfigError", err)
			case tt.wantVar != "" && ce.Var != tt.wantVar:
				t.Fatalf("Var=%s, want %s", ce.Var, tt.wantVar)
			}
		})
	}
}

func TestWanted(t *testing.T) {
	c := Config{}
	for name, want := range map[string]bool{
		"etcd-snapshot-n1-1700000000":     true,
		"etcd-snapshot-n1-1700000000.zip": true,
		"etcd-snapshot-n1-1.part":         false,
		"x.tmp":                           false,
		".hidden":                         false,
		"snap.sha256":                     false,
	} {
		if got := c.wanted(name); got != want {
			t.Errorf("wanted(%q)=%v, want %v", name, got, want)
		}
	}
	c.Include = "on-demand-*"
	if c.wanted("etcd-snapshot-n1-1") || !c.wanted("on-demand-n1-1") {
		t.Errorf("include %q not applied", c.Include)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 100: 5 * time.Minute} {
		if got := backoff(time.Second, 5*time.Minute, n); got != want {
			t.Errorf("backoff(%d)=%v, want %v", n, got, want)
		}
	}
}
