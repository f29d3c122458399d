package mirror

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func TestParseMaxDelete(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    MaxDelete
		wantErr bool
	}{
		{in: "500", want: MaxDelete{Count: 500}},
		{in: "0", want: MaxDelete{Count: 0}},
		{in: "10%", want: MaxDelete{Percent: 10, IsPercent: true}},
		{in: " 2.5 % ", want: MaxDelete{Percent: 2.5, IsPercent: true}},
		{in: "100%", want: MaxDelete{Percent: 100, IsPercent: true}},
		{in: "101%", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "ten", wantErr: true},
		{in: "", wantErr: true},
		{in: "%", wantErr: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMaxDelete(tt.in)
			if tt.wantErr {
				var cfg *exitcode.ConfigError
				if !errors.As(err, &cfg) || cfg.Var != EnvMaxDelete {
					t.Fatalf("ParseMaxDelete(%q) err=%v, want a ConfigError naming %s", tt.in, err, EnvMaxDelete)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMaxDelete(%q)=%+v, %v, want %+v", tt.in, got, err, tt.want)
			}
			if back, _ := ParseMaxDelete(got.String()); back != got {
				t.Fatalf("round trip of %q: %+v, want %+v", got.String(), back, got)
			}
		})
	}
}

func TestMaxDeleteLimit(t *testing.T) {
	for _, tt := range []struct {
		cap    string
		mirror int64
		want   int64
	}{
		{"10%", 1000, 100},
		{"10%", 30, 3},
		{"10%", 9, 0}, // no more than 10%: rounds down
		{"100%", 7, 7},
		{"500", 3, 500},
		{"0", 100, 0},
	} {
		m, err := ParseMaxDelete(tt.cap)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Limit(tt.mirror); got != tt.want {
			t.Errorf("%s of %d = %d, want %d", tt.cap, tt.mirror, got, tt.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"copy": ModeCopy, "SYNC": ModeSync, " auto ": ModeAuto} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q)=%q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "mirror", "delete-before"} {
		var cfg *exitcode.ConfigError
		if _, err := ParseMode(in); !errors.As(err, &cfg) || cfg.Var != EnvMode {
			t.Errorf("ParseMode(%q) err=%v, want a ConfigError naming %s", in, err, EnvMode)
		}
	}
}

func validConfig() Config {
	c := DefaultConfig()
	c.Source = rcloneconf.Remote{Name: "src", Provider: "Ceph", Endpoint: "http://rgw:80", AccessKeyID: "k", SecretAccessKey: "s"}
	c.Dest = rcloneconf.Remote{Name: "dst", Provider: "Minio", Endpoint: "http://minio:9000", AccessKeyID: "k", SecretAccessKey: "s"}
	c.Buckets = []string{"photos"}
	return c
}

func TestValidate(t *testing.T) {
	if c := validConfig(); c.Validate() != nil {
		t.Fatalf("valid config: %v", c.Validate())
	}
	for _, tt := range []struct {
		name    string
		change  func(*Config)
		wantVar string
	}{
		{"dest bucket", func(c *Config) { c.DestBucket = "Bad_Bucket" }, EnvDestBucket},
		{"short bucket", func(c *Config) { c.DestBucket = "ab" }, EnvDestBucket},
		{"allow-list", func(c *Config) { c.Buckets = []string{"ok-bucket", "no/slash"} }, EnvBuckets},
		{"allow-list unset", func(c *Config) { c.Buckets = nil }, EnvBuckets},
		{"every bucket and names", func(c *Config) { c.Buckets = []string{AllBuckets, "photos"} }, EnvBuckets},
		{"deny-list", func(c *Config) { c.Exclude = []string{"-dash"} }, EnvExcludeBuckets},
		{"mode", func(c *Config) { c.Mode = "move" }, EnvMode},
		{"transfers", func(c *Config) { c.Transfers = 0 }, EnvTransfers},
		{"checkers", func(c *Config) { c.Checkers = -1 }, EnvCheckers},
		{"retries", func(c *Config) { c.Retries = 0 }, EnvRetries},
		{"low-level retries", func(c *Config) { c.LowLevelRetries = 0 }, EnvLowLevelRetries},
		{"sleep", func(c *Config) { c.RetriesSleep = -1 }, EnvRetriesSleep},
		{"max delete", func(c *Config) { c.MaxDelete = MaxDelete{Percent: 150, IsPercent: true} }, EnvMaxDelete},
		{"report prefix absolute", func(c *Config) { c.ReportPrefix = "/reports" }, EnvReportPrefix},
		{"report prefix empty", func(c *Config) { c.ReportPrefix = "" }, EnvReportPrefix},
		{"report prefix dots", func(c *Config) { c.ReportPrefix = "../x" }, EnvReportPrefix},
		{"source endpoint", func(c *Config) { c.Source.Endpoint = "" }, "RGW_ENDPOINT"},
		{"dest endpoint", func(c *Config) { c.Dest.Endpoint = "" }, "MINIO_ENDPOINT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			var cfg *exitcode.ConfigError
			if err := c.Validate(); !errors.As(err, &cfg) || cfg.Var != tt.wantVar {
				t.Fatalf("Validate()=%v, want a ConfigError naming %s", err, tt.wantVar)
			}
		})
	}
}

// Mirroring every bucket is a choice made out loud: RGW_BUCKETS=* (less
// the deny-list) takes them all; an unset RGW_BUCKETS is a configuration
// error whose message shows both forms.
func TestBucketsRequired(t *testing.T) {
	c := validConfig()
	c.Buckets = nil
	err := c.Validate()
	for _, want := range []string{"RGW_BUCKETS=a,b", "RGW_BUCKETS=*"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate()=%v, want a message showing %s", err, want)
		}
	}
	v := DefaultVerifyConfig()
	v.Scope = c.Scope
	var cfgErr *exitcode.ConfigError
	if err := v.Validate(); !errors.As(err, &cfgErr) || cfgErr.Var != EnvBuckets {
		t.Errorf("verify: Validate()=%v, want a ConfigError naming %s", err, EnvBuckets)
	}
	c.Buckets = []string{AllBuckets}
	c.Exclude = []string{"scratch"}
	if err := c.Validate(); err != nil {
		t.Errorf("%s=%s: %v", EnvBuckets, AllBuckets, err)
	}
}

func TestFilterBuckets(t *testing.T) {
	source := []string{"alpha", "beta", "gamma", "reports"}
	for _, tt := range []struct {
		name                                   string
		allow, deny                            []string
		root                                   string
		selected, missing, excluded, colliding []string
	}{
		{name: "all", allow: []string{AllBuckets}, root: "_reports", selected: []string{"alpha", "beta", "gamma", "reports"}},
		{name: "none", root: "_reports"},
		{name: "allow", allow: []string{"beta", "nope"}, root: "_reports", selected: []string{"beta"}, missing: []string{"nope"}},
		{name: "deny", allow: []string{AllBuckets}, deny: []string{"gamma"}, root: "_reports", selected: []string{"alpha", "beta", "reports"}, excluded: []string{"gamma"}},
		{name: "both", allow: []string{"alpha", "gamma"}, deny: []string{"gamma"}, root: "_reports", selected: []string{"alpha"}, excluded: []string{"gamma"}},
		{name: "collision", allow: []string{AllBuckets}, root: "reports", selected: []string{"alpha", "beta", "gamma"}, colliding: []string{"reports"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sel, miss, exc, col := filterBuckets(source, tt.allow, tt.deny, tt.root)
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"selected", sel, tt.selected}, {"missing", miss, tt.missing}, {"excluded", exc, tt.excluded}, {"colliding", col, tt.colliding}} {
				if len(c.got) != len(c.want) || (len(c.got) > 0 && !slices.Equal(c.got, c.want)) {
					t.Errorf("%s=%q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestOrphaned(t *testing.T) {
	got := orphaned([]string{"_reports", "alpha", "gone"}, []string{"alpha", "beta"}, "_reports")
	if want := []string{"gone"}; !slices.Equal(got, want) {
		t.Fatalf("orphaned=%q, want %q", got, want)
	}
}

func TestReportKeysSortInTimeOrder(t *testing.T) {
	a := reportKey("_reports", mustTime(t, "2026-11-26T04:00:00.5Z"), ModeCopy, nil)
	b := reportKey("_reports", mustTime(t, "2026-11-26T04:00:00.51Z"), ModeSync, nil)
	c := reportKey("_reports", mustTime(t, "2026-11-27T03:59:59Z"), ModeCopy, nil)
	if got, want := a, "_reports/2026-11-26/2026-11-26T04:00:00.500Z-copy.json"; got != want {
		t.Fatalf("key=%q, want %q", got, want)
	}
	if !(a < b && b < c) {
		t.Fatalf("keys out of time order: %q %q %q", a, b, c)
	}
}
