package rcloneconf

import (
	"context"
	"log/slog"
	"math"
	"sync"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

var startOnce sync.Once

// Init routes rclone's logs into log and starts rclone's accounting, without
// which transfer errors are never counted. At zap's debug level rclone logs
// every object; otherwise only its notices and errors come through.
// Call it once, before any transfer.
func Init(log *zap.Logger) {
	if log == nil {
		log = zap.NewNop()
	}
	// rclone's errors are messages for the operator, not crashes: no Go
	// stack trace in the log.
	fs.SetLogger(zapslog.NewHandler(log.Core(), zapslog.WithName("rclone"), zapslog.AddStacktraceAt(slog.Level(math.MaxInt))))
	ci := fs.GetConfig(nil)
	ci.LogLevel = fs.LogLevelNotice
	if log.Core().Enabled(zapcore.DebugLevel) {
		ci.LogLevel = fs.LogLevelDebug
	}
	// rclone's periodic stats are replaced by offsite's own progress lines.
	ci.StatsLogLevel = fs.LogLevelDebug
	// Background: the limiters it starts must outlive any one command's context.
	startOnce.Do(func() { accounting.Start(context.Background()) })
}

// RcloneVersion is the version of the rclone library built in.
func RcloneVersion() string { return fs.VersionTag }
