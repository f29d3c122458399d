package rcloneconf

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// Env vars of the link limits, shared by mirror and offload.
const (
	EnvBwLimit  = "OFFSITE_BWLIMIT"
	EnvTPSLimit = "OFFSITE_TPS_LIMIT"
)

// maxTPS bounds OFFSITE_TPS_LIMIT: above it the limit limits nothing.
const maxTPS = 100000

// Limits throttle the link through rclone's own accounting: Bandwidth in
// rclone's --bwlimit syntax ("10M", "10M:off" for upload:download, or a
// timetable "08:00,2M 23:00,off"), TPS in HTTP requests per second. The
// zero value limits nothing.
type Limits struct {
	Bandwidth string  // "" or "off": no limit
	TPS       float64 // 0: no limit
}

// ParseTPS parses OFFSITE_TPS_LIMIT ("" is 0, no limit).
func ParseTPS(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) {
		return 0, exitcode.Configf(EnvTPSLimit, "%q is not a number of requests per second (0 for no limit)", s)
	}
	return v, nil
}

// Validate checks both limits; errors are *exitcode.ConfigError naming
// the env var.
func (l Limits) Validate() error {
	if _, err := l.timetable(); err != nil {
		return err
	}
	if !(l.TPS >= 0 && l.TPS <= maxTPS) {
		return exitcode.Configf(EnvTPSLimit, "%v is out of range 0..%d (0 for no limit)", l.TPS, maxTPS)
	}
	return nil
}

func (l Limits) timetable() (fs.BwTimetable, error) {
	var tt fs.BwTimetable
	s := strings.TrimSpace(l.Bandwidth)
	if s == "" {
		return nil, nil
	}
	if err := tt.Set(s); err != nil {
		return nil, exitcode.Configf(EnvBwLimit, "%q is not a bandwidth (10M, 10M:off) or a timetable (\"08:00,2M 23:00,off\"): %v", s, err)
	}
	for _, slot := range tt {
		if slot.Bandwidth.Tx == 0 || slot.Bandwidth.Rx == 0 {
			// rclone would read a zero rate as "no tokens ever": a hang.
			return nil, exitcode.Configf(EnvBwLimit, "%q has a zero rate; use off for no limit", s)
		}
	}
	return tt, nil
}

// applied is the process's limits: rclone's bandwidth limiter and its
// request limiter are global, and its timetable ticker, once started,
// runs for the life of the process.
var applied struct {
	sync.Mutex
	limits *Limits
}

// Apply starts rclone's limiters for l. The limiters are global to the
// process: the first non-zero limits win, and a later call asking for
// different ones is refused rather than silently ignored. l must have
// passed Validate.
func (l Limits) Apply() error {
	tt, err := l.timetable()
	if err != nil {
		return err
	}
	applied.Lock()
	defer applied.Unlock()
	if applied.limits != nil {
		if *applied.limits != l {
			return exitcode.Configf(EnvBwLimit, "this process already runs with %s=%q %s=%v; one process has one set of limits",
				EnvBwLimit, applied.limits.Bandwidth, EnvTPSLimit, applied.limits.TPS)
		}
		return nil
	}
	if l == (Limits{}) {
		return nil
	}
	startOnce.Do(func() { accounting.Start(context.Background()) })
	// The global config is copied into every command's context (fs.AddConfig),
	// and the timetable ticker keeps reading it: set once, never changed.
	ci := fs.GetConfig(nil)
	ci.BwLimit = tt
	ci.TPSLimit = l.TPS
	ci.TPSLimitBurst = 1
	ctx := context.Background()
	if len(tt) > 0 {
		accounting.TokenBucket.StartTokenBucket(ctx)
		accounting.TokenBucket.StartTokenTicker(ctx) // only runs for a timetable
	}
	if l.TPS > 0 {
		accounting.StartLimitTPS(ctx)
	}
	l2 := l
	applied.limits = &l2
	return nil
}

// String is the limits for a log line.
func (l Limits) String() string {
	bw, tps := "off", "off"
	if strings.TrimSpace(l.Bandwidth) != "" {
		bw = l.Bandwidth
	}
	if l.TPS > 0 {
		tps = fmt.Sprintf("%g/s", l.TPS)
	}
	return "bandwidth " + bw + ", requests " + tps
}
