package rcloneconf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rclone/rclone/fs"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestRcloneErrorsLogWithoutStackTraces(t *testing.T) {
	var buf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zapcore.InfoLevel)
	Init(zap.New(core))
	t.Cleanup(func() { Init(zap.NewNop()) })
	fs.Errorf(nil, "upload withheld: %s", "snapshot failed its check")
	out := buf.String()
	if !strings.Contains(out, "upload withheld") || !strings.Contains(out, `"level":"error"`) {
		t.Fatalf("rclone's error did not reach the log as an error: %q", out)
	}
	if strings.Contains(out, "stacktrace") || strings.Contains(out, "goroutine") {
		t.Fatalf("rclone's error logged a stack trace: %q", out)
	}
}
