package rcloneconf

import (
	"errors"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func TestLimitsValidate(t *testing.T) {
	for _, tt := range []struct {
		l       Limits
		wantVar string // "" for valid
	}{
		{Limits{}, ""},
		{Limits{Bandwidth: "10M"}, ""},
		{Limits{Bandwidth: "off"}, ""},
		{Limits{Bandwidth: "10M:off"}, ""},
		{Limits{Bandwidth: "08:00,2M 23:00,off"}, ""},
		{Limits{Bandwidth: "Mon-08:00,512K Sat-00:00,off"}, ""},
		{Limits{TPS: 0.5}, ""},
		{Limits{Bandwidth: "fast"}, EnvBwLimit},
		{Limits{Bandwidth: "0"}, EnvBwLimit},
		{Limits{Bandwidth: "08:00,0 23:00,off"}, EnvBwLimit},
		{Limits{Bandwidth: "25:00,1M"}, EnvBwLimit},
		{Limits{Bandwidth: "08:00 1M"}, EnvBwLimit},
		{Limits{TPS: -1}, EnvTPSLimit},
		{Limits{TPS: 1e9}, EnvTPSLimit},
	} {
		err := tt.l.Validate()
		var cfg *exitcode.ConfigError
		switch {
		case tt.wantVar == "" && err != nil:
			t.Errorf("%+v: %v", tt.l, err)
		case tt.wantVar != "" && (!errors.As(err, &cfg) || cfg.Var != tt.wantVar):
			t.Errorf("%+v: err %v, want a configuration error naming %s", tt.l, err, tt.wantVar)
		}
	}
	for _, s := range []string{"slow", "NaN", "1,5"} {
		if _, err := ParseTPS(s); err == nil || !strings.Contains(err.Error(), EnvTPSLimit) {
			t.Errorf("ParseTPS(%q) = %v, want an error naming %s", s, err, EnvTPSLimit)
		}
	}
}

// rclone's limiters are one per process: the first limits stay, the same
// again is fine, and other ones are refused rather than ignored.
func TestLimitsApplyOncePerProcess(t *testing.T) {
	if err := (Limits{}).Apply(); err != nil {
		t.Fatalf("no limits: %v", err)
	}
	first := Limits{Bandwidth: "1G", TPS: 10000}
	if err := first.Apply(); err != nil {
		t.Fatal(err)
	}
	if err := first.Apply(); err != nil {
		t.Fatalf("the same limits again: %v", err)
	}
	for _, other := range []Limits{{Bandwidth: "2G", TPS: 10000}, {}} {
		if err := other.Apply(); err == nil {
			t.Errorf("%+v accepted after %+v", other, first)
		}
	}
}
