package mirror

import (
	"context"
	"time"

	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/livebar"
)

// displayInterval is how often a live display is fed.
const displayInterval = 250 * time.Millisecond

// progress logs the bucket's counters every interval until the returned
// stop is called: on a terminal (console logs) a line per bucket, in JSON
// logs a periodic stats entry. An interval of 0 logs nothing. A sink, if
// not nil, gets them more often for a live display, named name, and is
// told when the bucket is done.
func progress(ctx context.Context, stats *accounting.StatsInfo, log *zap.Logger, interval time.Duration, sink livebar.Sink, name string) (stop func()) {
	if interval <= 0 && sink == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var logTick, showTick <-chan time.Time
		if interval > 0 {
			t := time.NewTicker(interval)
			defer t.Stop()
			logTick = t.C
		}
		if sink != nil {
			t := time.NewTicker(displayInterval)
			defer t.Stop()
			showTick = t.C
			show(stats, sink, name)
			defer sink.Done(name)
			defer show(stats, sink, name) // the last counters stay in the totals
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-logTick:
				logProgress(stats, log)
			case <-showTick:
				show(stats, sink, name)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// show feeds the display the bucket's counters.
func show(stats *accounting.StatsInfo, sink livebar.Sink, name string) {
	s, err := stats.RemoteStats(true)
	if err != nil {
		return
	}
	st := livebar.Stat{Name: name, Checks: num(s["checks"]), TotalChecks: num(s["totalChecks"]),
		Objects: num(s["transfers"]), TotalObjects: num(s["totalTransfers"]),
		Bytes: num(s["bytes"]), TotalBytes: num(s["totalBytes"]), ETA: -1}
	if speed, ok := s["speed"].(float64); ok {
		st.Rate = speed
	}
	if eta, ok := s["eta"].(float64); ok {
		st.ETA = time.Duration(eta * float64(time.Second))
	}
	sink.Update(st)
}

// num reads one of RemoteStats' counters, whatever integer type it has.
func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

func logProgress(stats *accounting.StatsInfo, log *zap.Logger) {
	s, err := stats.RemoteStats(true)
	if err != nil {
		return
	}
	fields := []zap.Field{
		zap.Any("checks", s["checks"]), zap.Any("total_checks", s["totalChecks"]),
		zap.Any("transfers", s["transfers"]), zap.Any("total_transfers", s["totalTransfers"]),
		zap.Any("bytes", s["bytes"]), zap.Any("total_bytes", s["totalBytes"]),
		zap.Any("errors", s["errors"]),
	}
	if speed, ok := s["speed"].(float64); ok {
		fields = append(fields, zap.String("rate", formatRate(speed)))
	}
	if eta, ok := s["eta"].(float64); ok {
		fields = append(fields, zap.Duration("eta", time.Duration(eta*float64(time.Second)).Round(time.Second)))
	}
	log.Info("progress", fields...)
}

func formatRate(bytesPerSecond float64) string {
	const mib = 1 << 20
	return formatFloat(bytesPerSecond/mib) + " MiB/s"
}
