package monitor

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

func TestOutputsFinishPublishesThenPings(t *testing.T) {
	pings := newPingServer(t)
	gateway := newGatewayServer(t)
	log, logs := observedLogger()
	s := &Outputs{
		Ping:     fastPinger(t, pings.URL+"/"+secretUUID, log),
		Textfile: filepath.Join(t.TempDir(), "offsite-mirror.prom"),
		Push:     newTestGateway(t, gateway.URL, ""),
		Log:      log,
	}
	ctx := context.Background()

	s.Start(ctx)
	if got := len(pings.received()); got != 1 {
		t.Fatalf("pings after Start = %d, want 1", got)
	}
	s.Finish(ctx, mirrorRun(t0, false), errors.New("bucket photos: 2 errors"))

	got := pings.received()
	if len(got) != 2 {
		t.Fatalf("got %d pings, want 2", len(got))
	}
	if got, want := got[1].path, "/"+secretUUID+"/fail"; got != want {
		t.Errorf("finish pinged %s, want %s", got, want)
	}
	if !strings.Contains(got[1].body, "failed: photos (2 errors)") {
		t.Errorf("fail body lacks the failed bucket:\n%s", got[1].body)
	}
	families := parseTextfile(t, s.Textfile)
	if got, want := value(t, families, MetricRunExitCode, map[string]string{JobLabel: "mirror"}), 1.0; got != want {
		t.Errorf("textfile exit code = %v, want %v", got, want)
	}
	if got, want := len(gateway.received()), 1; got != want {
		t.Errorf("pushes = %d, want %d", got, want)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Errorf("logged %d errors:\n%s", n, logText(logs))
	}
}

// TestOutputsDeliverAfterACancel: a run stopped by SIGTERM (its context
// cancelled) still pushes its metrics and pings /fail.
func TestOutputsDeliverAfterACancel(t *testing.T) {
	pings := newPingServer(t)
	gateway := newGatewayServer(t)
	s := &Outputs{Ping: fastPinger(t, pings.URL+"/"+secretUUID, nil), Push: newTestGateway(t, gateway.URL, "")}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Finish(ctx, mirrorRun(t0, false), context.Canceled)
	if got := pings.received(); len(got) != 1 || got[0].path != "/"+secretUUID+"/fail" {
		t.Errorf("pings after a cancel: %+v, want one /fail", got)
	}
	if got, want := len(gateway.received()), 1; got != want {
		t.Errorf("pushes after a cancel = %d, want %d", got, want)
	}
}

func TestOutputsFailuresAreLoggedNotFatal(t *testing.T) {
	log, logs := observedLogger()
	s := &Outputs{
		Ping:     fastPinger(t, unreachableURL(t), log),
		Textfile: filepath.Join(t.TempDir(), "gone", "offsite-mirror.prom"),
		Push:     newTestGateway(t, strings.SplitN(unreachableURL(t), "/ping/", 2)[0], ""),
		Log:      log,
	}
	s.Start(context.Background())
	s.Finish(context.Background(), mirrorRun(t0, true), nil)
	for _, msg := range []string{"ping failed", "metrics textfile not written", "metrics not pushed"} {
		if logs.FilterMessage(msg).Len() == 0 {
			t.Errorf("no %q in the log:\n%s", msg, logText(logs))
		}
	}
	if text := logText(logs); strings.Contains(text, secretUUID) || strings.Contains(text, "hunter22") {
		t.Errorf("log shows a secret:\n%s", text)
	}
}

func TestOutputsRecordDoesNotPing(t *testing.T) {
	pings := newPingServer(t)
	s := &Outputs{
		Ping:     fastPinger(t, pings.URL+"/"+secretUUID, nil),
		Textfile: filepath.Join(t.TempDir(), "offsite-offload.prom"),
	}
	s.Record(context.Background(), Run{Job: "offload", Start: t0, End: t1, OK: true, Items: []Item{{Name: "k3s-1", Objects: 1, OK: true}}})
	if got := len(pings.received()); got != 0 {
		t.Errorf("Record sent %d pings, want 0", got)
	}
	families := parseTextfile(t, s.Textfile)
	if got, want := value(t, families, MetricObjectsTransferred, map[string]string{"host": "k3s-1"}), 1.0; got != want {
		t.Errorf("objects = %v, want %v", got, want)
	}
}
