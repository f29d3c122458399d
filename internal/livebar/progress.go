// Package livebar is the live display of a run on a terminal: one line
// per running bucket or file, with objects and bytes done of the total
// known so far, rate and ETA, and a totals line, redrawn in place. It knows
// nothing of rclone: mirror and offload poll their accounting and feed it
// Stats through the Sink interface.
package livebar

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// EnvProgress chooses when the display shows; its flag is --progress.
const EnvProgress = "OFFSITE_PROGRESS"

// Mode is when the display shows.
type Mode string

// Modes: auto shows the display when stdout is a terminal.
const (
	Auto   Mode = "auto"
	Always Mode = "always"
	Never  Mode = "never"
)

// ParseMode reads auto, always or never ("" is auto).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Auto, nil
	case Auto, Always, Never:
		return m, nil
	}
	return "", exitcode.Configf(EnvProgress, "%q is not auto, always or never", s)
}

// On reports whether the display shows on out in this mode.
func (m Mode) On(out io.Writer) bool {
	switch m {
	case Always:
		return true
	case Never:
		return false
	}
	return IsTerminal(out)
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Stat is one running item's counters, as its accounting last saw them.
// Totals grow while the item is listed and compared.
type Stat struct {
	Name                  string
	Checks, TotalChecks   int64
	Objects, TotalObjects int64 // transfers
	Bytes, TotalBytes     int64
	Rate                  float64       // bytes per second
	ETA                   time.Duration // negative when unknown
}

// Sink receives the counters of running items.
type Sink interface {
	// Update shows the latest counters of the item s.Name; the first
	// update of a name adds its line.
	Update(s Stat)
	// Done ends the item's line; its last counters stay in the totals.
	Done(name string)
}

// Bytes formats n in binary units: 512 B, 1.5 KiB, 27.3 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 6 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i-1])
}

// Rate formats a rate in bytes per second.
func Rate(bps float64) string { return Bytes(int64(bps)) + "/s" }

// ETA formats a time left: 0:42, 1:02:03, or - when unknown.
func ETA(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
