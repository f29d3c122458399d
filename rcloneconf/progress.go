package rcloneconf

import (
	"context"
	"strconv"
	"time"

	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/livebar"
)

// displayInterval is how often a live display is fed.
const displayInterval = 250 * time.Millisecond

// ShowProgress shows the counters of ctx's rclone stats group, the work of
// one bucket or upload named name, until the returned stop is called: to
// sink, a live display, four times a second (and, at stop, the last
// counters and Done); and as a log line every logEvery (0: none). adjust,
// if set, fills in what the caller knows better (an upload's total size).
// It is the one place rclone's accounting is read for people.
func ShowProgress(ctx context.Context, name string, sink livebar.Sink, log *zap.Logger, logEvery time.Duration, adjust func(*livebar.Stat)) (stop func()) {
	if logEvery <= 0 && sink == nil {
		return func() {}
	}
	stats := accounting.Stats(ctx)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var logTick, showTick <-chan time.Time
		if logEvery > 0 {
			t := time.NewTicker(logEvery)
			defer t.Stop()
			logTick = t.C
		}
		show := func() {}
		if sink != nil {
			t := time.NewTicker(displayInterval)
			defer t.Stop()
			showTick = t.C
			show = func() { sink.Update(stat(stats, name, adjust)) }
			show()
			defer sink.Done(name)
			defer show() // the last counters stay in the totals
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-logTick:
				logProgress(stats, log)
			case <-showTick:
				show()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// stat reads the group's counters for the display.
func stat(stats *accounting.StatsInfo, name string, adjust func(*livebar.Stat)) livebar.Stat {
	st := livebar.Stat{Name: name, ETA: -1}
	if s, err := stats.RemoteStats(true); err == nil {
		st.Checks, st.TotalChecks = num(s["checks"]), num(s["totalChecks"])
		st.Objects, st.TotalObjects = num(s["transfers"]), num(s["totalTransfers"])
		st.Bytes, st.TotalBytes = num(s["bytes"]), num(s["totalBytes"])
		if speed, ok := s["speed"].(float64); ok {
			st.Rate = speed
		}
		if eta, ok := s["eta"].(float64); ok {
			st.ETA = time.Duration(eta * float64(time.Second))
		}
	}
	if adjust != nil {
		adjust(&st)
	}
	return st
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
		fields = append(fields, zap.String("rate", strconv.FormatFloat(speed/(1<<20), 'f', 2, 64)+" MiB/s"))
	}
	if eta, ok := s["eta"].(float64); ok {
		fields = append(fields, zap.Duration("eta", time.Duration(eta*float64(time.Second)).Round(time.Second)))
	}
	log.Info("progress", fields...)
}
