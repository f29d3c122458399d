package status

import (
	"testing"
	"time"
)

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		20 * time.Second:              "0m",
		42 * time.Minute:              "42m",
		13*time.Hour + 5*time.Minute:  "13h05m",
		47*time.Hour + 59*time.Minute: "47h59m",
		76 * time.Hour:                "3d04h",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%v) = %s, want %s", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{25 * time.Hour: "25h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %s, want %s", d, got, want)
		}
	}
}
