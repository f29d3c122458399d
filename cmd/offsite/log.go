package main

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// newLogger builds the zap logger for --log-format and --log-level.
// tty says whether the logs go to a terminal.
func newLogger(format, level string, w io.Writer, tty bool) (*zap.Logger, error) {
	var lvl zapcore.Level
	// Higher levels (dpanic, panic, fatal) would silence error logs.
	if err := lvl.UnmarshalText([]byte(level)); err != nil || lvl > zapcore.ErrorLevel {
		return nil, exitcode.Configf(envLogLevel, "%q is not one of debug, info, warn, error", level)
	}
	var enc zapcore.Encoder
	switch format {
	case "":
		format = "console"
		if !tty {
			format = "json"
		}
		return newLogger(format, level, w, tty)
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339TimeEncoder
		cfg.TimeKey = "time"
		enc = zapcore.NewJSONEncoder(cfg)
	case "console":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		return nil, exitcode.Configf(envLogFormat, "%q is not json or console", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}
