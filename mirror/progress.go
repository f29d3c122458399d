package mirror

import (
	"context"
	"time"

	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap"
)

// progress logs the bucket's counters every interval until the returned
// stop is called: on a terminal (console logs) a line per bucket, in JSON
// logs a periodic stats entry. An interval of 0 logs nothing.
func progress(ctx context.Context, stats *accounting.StatsInfo, log *zap.Logger, interval time.Duration) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				logProgress(stats, log)
			}
		}
	}()
	return func() { cancel(); <-done }
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
