package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/monitor"
)

const pingSecret = "0c3e9a53-7f4e-4b8e-a1a8-6f1f0f6c2d42"

// recorder is a local HTTP server that notes each request's method and path.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// runJob runs a stand-in command wired like a real one: a job monitor from
// the monitoring flags, start, work, finish.
func runJob(t *testing.T, args []string, work func() (monitor.Run, error)) error {
	t.Helper()
	e := &env{stdout: io.Discard, stderr: io.Discard, log: zaptest.NewLogger(t)}
	app := &cli.App{
		Name:           "offsite",
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:  "job",
			Flags: monitorFlags(),
			Action: e.action(func(c *cli.Context) error {
				mon, err := e.newJobMonitor(c, "mirror", jobPart{})
				if err != nil {
					return err
				}
				mon.start(c.Context)
				run, err := work()
				return mon.finish(c.Context, run, err)
			}),
		}},
	}
	return app.RunContext(context.Background(), append([]string{"offsite", "job"}, args...))
}

// metric is the value of the single series name in a metrics textfile.
func metric(t *testing.T, path, name string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("metrics file does not parse: %v", err)
	}
	mf := families[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("no single %s in %v", name, families)
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

func exitCodeMetric(t *testing.T, path string) float64 {
	t.Helper()
	return metric(t, path, monitor.MetricRunExitCode)
}

func TestJobMonitorFromEnvOnSuccess(t *testing.T) {
	pings, gateway := newRecorder(t), newRecorder(t)
	metrics := filepath.Join(t.TempDir(), "offsite-mirror.prom")
	t.Setenv(envPingURL, pings.URL+"/"+pingSecret)
	t.Setenv(envMetricsFile, metrics)
	t.Setenv(envPushgatewayURL, gateway.URL)

	err := runJob(t, nil, func() (monitor.Run, error) {
		return monitor.Run{Items: []monitor.Item{{Name: "photos", Objects: 3, OK: true}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(pings.got(), ", "), "POST /"+pingSecret+"/start, POST /"+pingSecret; got != want {
		t.Errorf("pings = %s, want %s", got, want)
	}
	if got, want := strings.Join(gateway.got(), ", "), "PUT /metrics/job/mirror"; got != want {
		t.Errorf("pushes = %s, want %s", got, want)
	}
	if got, want := exitCodeMetric(t, metrics), 0.0; got != want {
		t.Errorf("exit code metric = %v, want %v", got, want)
	}
}

func TestJobMonitorOnFailureCarryTheExitCode(t *testing.T) {
	pings := newRecorder(t)
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "ping-url")
	if err := os.WriteFile(urlFile, []byte(pings.URL+"/"+pingSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(dir, "offsite-mirror.prom")
	args := []string{"--ping-url-file", urlFile, "--metrics-file", metrics}

	failure := fmt.Errorf("%w: 2 objects missing", exitcode.ErrVerifyFailed)
	err := runJob(t, args, func() (monitor.Run, error) { return monitor.Run{}, failure })
	if got, want := exitcode.Of(err), exitcode.Verify; got != want {
		t.Errorf("exit code = %d, want %d (finish must return the work's error)", got, want)
	}
	if got, want := strings.Join(pings.got(), ", "), "POST /"+pingSecret+"/start, POST /"+pingSecret+"/fail"; got != want {
		t.Errorf("pings = %s, want %s", got, want)
	}
	if got, want := exitCodeMetric(t, metrics), float64(exitcode.Verify); got != want {
		t.Errorf("exit code metric = %v, want %v", got, want)
	}
}

func TestJobMonitorConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		args    []string
		wantVar string
	}{
		{"ping URL without scheme", []string{"--ping-url", "hc-ping.example/" + pingSecret}, envPingURL},
		{"ping URL and file", []string{"--ping-url", "https://hc-ping.example/" + pingSecret, "--ping-url-file", filepath.Join(dir, "x")}, envPingURL},
		{"ping URL file missing", []string{"--ping-url-file", filepath.Join(dir, "missing")}, envPingURL + "_FILE"},
		{"metrics file not .prom", []string{"--metrics-file", filepath.Join(dir, "offsite.txt")}, envMetricsFile},
		{"metrics directory missing", []string{"--metrics-file", filepath.Join(dir, "nope", "offsite.prom")}, envMetricsFile},
		{"pushgateway URL with query", []string{"--pushgateway-url", "http://pushgateway:9091/?" + pingSecret}, envPushgatewayURL},
	} {
		t.Run(c.name, func(t *testing.T) {
			worked := false
			err := runJob(t, c.args, func() (monitor.Run, error) { worked = true; return monitor.Run{}, nil })
			var cfg *exitcode.ConfigError
			if !errors.As(err, &cfg) {
				t.Fatalf("err = %v, want a *exitcode.ConfigError", err)
			}
			if got, want := cfg.Var, c.wantVar; got != want {
				t.Errorf("error names %s, want %s", got, want)
			}
			if got, want := exitcode.Of(err), exitcode.Config; got != want {
				t.Errorf("exit code = %d, want %d", got, want)
			}
			if strings.Contains(err.Error(), pingSecret) {
				t.Errorf("error shows the secret: %v", err)
			}
			if worked {
				t.Error("the work ran despite a configuration error")
			}
		})
	}
}

func TestJobMonitorWatchPublishesEachUpdate(t *testing.T) {
	pings := newRecorder(t)
	metrics := filepath.Join(t.TempDir(), "offsite-offload.prom")
	e := &env{log: zaptest.NewLogger(t)}
	app := &cli.App{
		Name:           "offsite",
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:  "watch",
			Flags: monitorFlags(),
			Action: func(c *cli.Context) error {
				mon, err := e.newJobMonitor(c, "offload", jobPart{instance: "k3s-1"})
				if err != nil {
					return err
				}
				progress := mon.watch(c.Context)
				defer progress.close()
				progress.update(monitor.Run{Items: []monitor.Item{{Name: "k3s-1", Objects: 1, OK: true}}}, nil)
				return nil
			},
		}},
	}
	args := []string{"offsite", "watch", "--ping-url", pings.URL + "/" + pingSecret, "--metrics-file", metrics}
	if err := app.RunContext(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(pings.got(), ", "), "POST /"+pingSecret; got != want {
		t.Errorf("pings = %s, want %s", got, want)
	}
	if got, want := exitCodeMetric(t, metrics), 0.0; got != want {
		t.Errorf("exit code metric = %v, want %v", got, want)
	}
}
