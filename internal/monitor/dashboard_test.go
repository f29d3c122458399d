package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/offsite-backup/offsite/internal/harness"
)

// The Grafana dashboard's queries, evaluated by promtool over the series
// offsite's own outputs produce (as TestAlertRules does for the alerts):
// each query must name only metrics offsite exports and give the values
// the scenario below implies.

const dashboardFile = "../../docs/grafana-dashboard.json"

// Metrics the drill and verify minio commands export by contract; they
// are not in metrics.go yet. Move them there with the commands.
const (
	metricDrillLastSuccess = "offsite_drill_last_success_timestamp_seconds"
	metricDrillSuccess     = "offsite_drill_success"
	metricLifecycleOK      = "offsite_destination_lifecycle_ok"
)

// exported is every metric name a query may use.
var exported = []string{
	MetricRunSuccess, MetricRunExitCode, MetricRunStart, MetricRunEnd, MetricRunDuration,
	MetricRunLastSuccess, MetricSuccess, MetricLastSuccess, MetricObjectsTransferred,
	MetricBytesTransferred, MetricObjectsDeleted, MetricErrors, MetricObjectsPending, MetricVersioning,
	metricDrillLastSuccess, metricDrillSuccess, metricLifecycleOK,
}

type panelQuery struct {
	panel, refID, expr string
}

// dashboardQueries returns every query of the dashboard, rows included.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		UID    string            `json:"uid"`
		Title  string            `json:"title"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard uid=%q title=%q, want both", dash.UID, dash.Title)
	}
	var queries []panelQuery
	ids := map[int]bool{}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the dashboard's Prometheus variable", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				queries = append(queries, panelQuery{p.Title, tg.RefID, tg.Expr})
			}
		}
	}
	walk(dash.Panels)
	return queries
}

// Every metric a query names is one offsite exports.
func TestDashboardMetricNames(t *testing.T) {
	name := regexp.MustCompile(`\boffsite_[a-z_]+`)
	for _, q := range dashboardQueries(t) {
		found := name.FindAllString(q.expr, -1)
		if len(found) == 0 {
			t.Errorf("panel %q %s: no offsite metric in %q", q.panel, q.refID, q.expr)
		}
		for _, m := range found {
			if m == JobLabel {
				continue
			}
			if !slices.Contains(exported, m) {
				t.Errorf("panel %q %s: %s is not a metric offsite exports", q.panel, q.refID, m)
			}
		}
	}
}

// sample is one expected result of a query: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

func TestDashboardQueries(t *testing.T) {
	promtool := harness.Promtool(t)
	node := map[string]string{"instance": "node1:9100", "job": "node"}
	// timed is r ending at end after d, with exit code exit.
	timed := func(r Run, end time.Time, d time.Duration, exit int, items ...Item) Run {
		r.Start, r.End, r.OK, r.ExitCode, r.Items = end.Add(-d), end, exit == 0, exit, items
		return r
	}
	withLabels := func(labels map[string]string, name string, value float64) series {
		s := series{labels: map[string]string{model.MetricNameLabel: name}, value: value}
		for k, v := range node {
			s.labels[k] = v
		}
		for k, v := range labels {
			s.labels[k] = v
		}
		return s
	}
	drill := func(kind, target string, ok bool, lastSuccess time.Time) []series {
		l := map[string]string{JobLabel: "drill_" + kind, "kind": kind, "target": target}
		return []series{
			withLabels(l, metricDrillSuccess, boolValue(ok)),
			withLabels(l, metricDrillLastSuccess, seconds(lastSuccess)),
		}
	}
	// The jobs of the commands still to come (verify minio, the drills),
	// as their runs' series, written by hand until the code knows the
	// jobs; then textfileSeries writes them like the others.
	newJob := func(job string, end time.Time, d time.Duration, exit int, lastSuccess time.Time) []series {
		l := map[string]string{JobLabel: job}
		return []series{
			withLabels(l, MetricRunSuccess, boolValue(exit == 0)),
			withLabels(l, MetricRunExitCode, float64(exit)),
			withLabels(l, MetricRunStart, seconds(end.Add(-d))),
			withLabels(l, MetricRunEnd, seconds(end)),
			withLabels(l, MetricRunDuration, d.Seconds()),
			withLabels(l, MetricRunLastSuccess, seconds(lastSuccess)),
		}
	}
	verifyRGW := timed(Run{Job: "verify_rgw"}, at(2*time.Hour), time.Minute, 0, Item{Name: "photos", OK: true}, Item{Name: "gitea", OK: true})
	verifyRGW.Versioning = map[string]bool{"homelab-backup-rgw": true}
	bucketState := func(metric, bucket string, v float64) series {
		return withLabels(map[string]string{JobLabel: "verify_minio", "destination_bucket": bucket}, metric, v)
	}

	// A day: the mirror's last run was a safety stop in gitea after a
	// clean run 27 h ago; node1 ships snapshots by textfile, node2 to a
	// Pushgateway with two pending; verify etcd finds node2's missing;
	// the etcd drill fails, the RGW drill passed 12 h ago.
	input := slices.Concat(
		textfileSeries(t,
			timed(Run{Job: "mirror"}, at(27*time.Hour), 20*time.Minute, 0, Item{Name: "photos", OK: true}, Item{Name: "gitea", OK: true}),
			timed(Run{Job: "mirror"}, at(3*time.Hour), 20*time.Minute, 3,
				Item{Name: "photos", OK: true, Objects: 10, Bytes: 1000, Deletions: 2},
				Item{Name: "gitea", Objects: 5, Bytes: 500, Errors: 4})),
		textfileSeries(t, timed(Run{Job: "offload"}, at(time.Hour), 10*time.Second, 0, Item{Name: "node1", OK: true, Objects: 3, Bytes: 3000, Errors: 1})),
		pushedSeries(t, "node2", timed(Run{Job: "offload"}, at(2*time.Hour), 10*time.Second, 0, Item{Name: "node2", OK: true, Objects: 1, Pending: 2})),
		textfileSeries(t, verifyRGW),
		textfileSeries(t,
			timed(Run{Job: "verify_etcd"}, at(26*time.Hour), time.Minute, 0, Item{Name: "node1", OK: true}, Item{Name: "node2", OK: true}),
			timed(Run{Job: "verify_etcd"}, at(2*time.Hour), time.Minute, 4, Item{Name: "node1", OK: true}, Item{Name: "node2"})),
		newJob("verify_minio", at(5*time.Hour), 5*time.Second, 0, at(5*time.Hour)),
		[]series{
			bucketState(MetricVersioning, "homelab-backup-rgw", 1),
			bucketState(MetricVersioning, "homelab-backup-etcd", 0),
			bucketState(metricLifecycleOK, "homelab-backup-rgw", 1),
			bucketState(metricLifecycleOK, "homelab-backup-etcd", 0),
		},
		newJob("drill_rgw", at(12*time.Hour), 10*time.Minute, 0, at(12*time.Hour)),
		drill("rgw", "paperless", true, at(12*time.Hour)),
		newJob("drill_etcd", at(time.Hour), 30*time.Second, 4, time.Unix(0, 0)), // never passed
		drill("etcd", "node1", false, at(24*time.Hour)),
	)

	h := func(d time.Duration) float64 { return d.Seconds() }
	job := func(j string, v float64) sample { return sample{map[string]string{JobLabel: j}, v} }
	by := func(label, value string, v float64) sample { return sample{map[string]string{label: value}, v} }
	drilled := func(kind, target string, v float64) sample {
		return sample{map[string]string{"kind": kind, "target": target}, v}
	}
	want := map[string][]sample{
		`time() - max by (offsite_job) (offsite_run_last_success_timestamp_seconds)`: {
			job("mirror", h(27*time.Hour)), job("offload", h(time.Hour)), job("verify_rgw", h(2*time.Hour)),
			job("verify_etcd", h(26*time.Hour)), job("verify_minio", h(5*time.Hour)),
			job("drill_rgw", h(12*time.Hour)), job("drill_etcd", h(evalAt)), // never: 0, the epoch
		},
		`min by (offsite_job) (offsite_run_success)`: {
			job("mirror", 0), job("offload", 1), job("verify_rgw", 1), job("verify_etcd", 0),
			job("verify_minio", 1), job("drill_rgw", 1), job("drill_etcd", 0),
		},
		`max by (offsite_job) (offsite_run_exit_code)`: {
			job("mirror", 3), job("offload", 0), job("verify_rgw", 0), job("verify_etcd", 4),
			job("verify_minio", 0), job("drill_rgw", 0), job("drill_etcd", 4),
		},
		`max by (offsite_job) (offsite_run_duration_seconds)`: {
			job("mirror", h(20*time.Minute)), job("offload", 10), job("verify_rgw", 60), job("verify_etcd", 60),
			job("verify_minio", 5), job("drill_rgw", h(10*time.Minute)), job("drill_etcd", 30),
		},
		`sum by (bucket) (offsite_bytes_transferred{offsite_job="mirror"})`:   {by("bucket", "photos", 1000), by("bucket", "gitea", 500)},
		`sum by (bucket) (offsite_objects_transferred{offsite_job="mirror"})`: {by("bucket", "photos", 10), by("bucket", "gitea", 5)},
		`sum by (bucket) (offsite_objects_deleted{offsite_job="mirror"})`:     {by("bucket", "photos", 2), by("bucket", "gitea", 0)},
		`max(offsite_run_exit_code{offsite_job="mirror"} == bool 3)`:          {{map[string]string{}, 1}},
		`time() - max by (bucket) (offsite_last_success_timestamp_seconds{offsite_job="mirror"})`: {
			by("bucket", "photos", h(3*time.Hour)), by("bucket", "gitea", h(27*time.Hour)),
		},
		`sum by (bucket) (offsite_errors{offsite_job="mirror"})`: {by("bucket", "photos", 0), by("bucket", "gitea", 4)},
		`time() - max by (host) (offsite_last_success_timestamp_seconds{offsite_job="offload"})`: {
			by("host", "node1", h(time.Hour)), by("host", "node2", h(2*time.Hour)),
		},
		`sum by (host) (offsite_objects_pending{offsite_job="offload"})`: {by("host", "node1", 0), by("host", "node2", 2)},
		`sum by (host) (offsite_errors{offsite_job="offload"})`:          {by("host", "node1", 1), by("host", "node2", 0)},
		`min by (offsite_job) (offsite_run_success{offsite_job=~"verify_.*"})`: {
			job("verify_rgw", 1), job("verify_etcd", 0), job("verify_minio", 1),
		},
		`min by (offsite_job, bucket, host) (offsite_success{offsite_job=~"verify_.*"})`: {
			{map[string]string{JobLabel: "verify_rgw", "bucket": "photos"}, 1},
			{map[string]string{JobLabel: "verify_rgw", "bucket": "gitea"}, 1},
			{map[string]string{JobLabel: "verify_etcd", "host": "node1"}, 1},
			{map[string]string{JobLabel: "verify_etcd", "host": "node2"}, 0},
		},
		`min by (kind, target) (offsite_drill_success)`: {drilled("rgw", "paperless", 1), drilled("etcd", "node1", 0)},
		`(time() - max by (kind, target) (offsite_drill_last_success_timestamp_seconds)) / 86400`: {
			drilled("rgw", "paperless", 0.5), drilled("etcd", "node1", 1),
		},
		`min by (destination_bucket) (offsite_destination_versioning_enabled)`: {
			by("destination_bucket", "homelab-backup-rgw", 1), by("destination_bucket", "homelab-backup-etcd", 0),
		},
		`min by (destination_bucket) (offsite_destination_lifecycle_ok)`: {
			by("destination_bucket", "homelab-backup-rgw", 1), by("destination_bucket", "homelab-backup-etcd", 0),
		},
	}

	queries := dashboardQueries(t)
	tested := map[string]bool{}
	for _, q := range queries {
		if _, ok := want[q.expr]; !ok {
			t.Errorf("panel %q %s: no expected result for %q: add it to this test", q.panel, q.refID, q.expr)
		}
		tested[q.expr] = true
	}
	for expr := range want {
		if !tested[expr] {
			t.Errorf("no panel queries %q", expr)
		}
	}
	if t.Failed() {
		return
	}

	dir := t.TempDir()
	testFile := filepath.Join(dir, "offsite-dashboard.test.yml")
	if err := os.WriteFile(testFile, promqlTests(t, input, want), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := harness.Command(context.Background(), 2*time.Minute, promtool, "test", "rules", testFile).CombinedOutput()
	t.Logf("promtool test rules:\n%s", out)
	if err != nil {
		t.Fatalf("promtool: %v", err)
	}
}

// promqlTests writes one promtool test: the input series, and each query
// with the samples it must return at evalAt, no more, no fewer.
func promqlTests(t *testing.T, input []series, want map[string][]sample) []byte {
	t.Helper()
	type expSample struct {
		Labels string  `json:"labels"`
		Value  float64 `json:"value"`
	}
	type exprTest struct {
		Expr       string      `json:"expr"`
		EvalTime   string      `json:"eval_time"`
		ExpSamples []expSample `json:"exp_samples"`
	}
	type inputSeries struct {
		Series string `json:"series"`
		Values string `json:"values"`
	}
	steps := int(evalAt/time.Minute) + 10
	test := struct {
		Interval    string        `json:"interval"`
		InputSeries []inputSeries `json:"input_series"`
		Exprs       []exprTest    `json:"promql_expr_test"`
	}{Interval: "1m"}
	for _, s := range input {
		test.InputSeries = append(test.InputSeries, inputSeries{Series: seriesName(s.labels),
			Values: fmt.Sprintf("%s+0x%d", model.SampleValue(s.value), steps)})
	}
	exprs := make([]string, 0, len(want))
	for expr := range want {
		exprs = append(exprs, expr)
	}
	sort.Strings(exprs)
	for _, expr := range exprs {
		et := exprTest{Expr: expr, EvalTime: model.Duration(evalAt).String(), ExpSamples: []expSample{}}
		for _, s := range want[expr] {
			et.ExpSamples = append(et.ExpSamples, expSample{Labels: labelSet(s.labels), Value: s.value})
		}
		test.Exprs = append(test.Exprs, et)
	}
	b, err := yaml.Marshal(map[string]any{
		"rule_files":          []string{},
		"evaluation_interval": "1m",
		"tests":               []any{test},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// labelSet writes labels as promtool reads an expected sample's: {k="v",...}.
func labelSet(labels map[string]string) string {
	name := seriesName(labels)
	return name[strings.Index(name, "{"):]
}
