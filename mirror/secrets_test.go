package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// lockedBuffer collects log output from rclone's goroutines and ours.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNoSecretInReportLogsOrErrors(t *testing.T) {
	src, _, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "k", []byte("v"))
	const wrongSecret = "wrong-secret-Qv7pLk2"
	secrets := []string{cfg.Source.SecretAccessKey, cfg.Dest.SecretAccessKey, wrongSecret}

	// Debug level: rclone logs every request it makes.
	var logs lockedBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
	rcloneconf.Init(log)
	defer rcloneconf.Init(zap.NewNop())

	var texts []string
	record := func(rep *Report, err error) {
		data, _ := json.Marshal(rep)
		texts = append(texts, string(data), rep.Summary())
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	record(Run(context.Background(), cfg, log))
	cfg.Mode = ModeSync
	record(Run(context.Background(), cfg, log))
	bad := cfg
	bad.Source.SecretAccessKey = wrongSecret
	record(Run(context.Background(), bad, log))
	bad = cfg
	bad.Dest.SecretAccessKey = wrongSecret
	record(Run(context.Background(), bad, log))
	vrep, err := Verify(context.Background(), verifyConfig(cfg), log)
	data, _ := json.Marshal(vrep)
	texts = append(texts, string(data))
	if err != nil {
		texts = append(texts, err.Error())
	}
	texts = append(texts, logs.String())

	if !strings.Contains(logs.String(), "alpha") {
		t.Fatal("the logs do not even name the bucket: the test sees nothing")
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Fatalf("secret %q leaked into:\n%s", s, text)
			}
		}
	}
}
