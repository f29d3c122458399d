package monitor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/offsite-backup/offsite/internal/harness"
)

// The shipped alert rules, tested with promtool against the series that
// offsite's own outputs produce: each scenario runs the real textfile or
// Pushgateway code, and its output becomes promtool's input series.

const alertRules = "../../docs/prometheus-alerts.yml"

// evalAt is when promtool evaluates the rules: series start at 0 (the
// epoch), so a run that ended at Unix second N ended evalAt-N ago.
const evalAt = 30 * time.Hour

func at(ago time.Duration) time.Time { return time.Unix(0, 0).Add(evalAt - ago).UTC() }

// series is one input series: its labels (with __name__) and value.
type series struct {
	labels map[string]string
	value  float64
}

// textfileSeries writes runs in turn to one job's textfile, as successive
// runs do, and returns what node_exporter would scrape from it.
func textfileSeries(t *testing.T, runs ...Run) []series {
	t.Helper()
	path := filepath.Join(t.TempDir(), "offsite.prom")
	for _, run := range runs {
		if err := WriteTextfile(path, run); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	// The scrape adds the target's labels.
	return flatten(families, map[string]string{"instance": "node1:9100", "job": "node"})
}

// pushedSeries pushes runs in turn to a Pushgateway stand-in and returns
// what the gateway then holds: a PUT replaces the group, a POST the metrics
// it sends; scraped with honor_labels, the grouping key becomes labels.
func pushedSeries(t *testing.T, instance string, runs ...Run) []series {
	t.Helper()
	srv := newGatewayServer(t)
	g := newTestGateway(t, srv.URL, instance)
	held := map[string]*dto.MetricFamily{}
	for i, run := range runs {
		if err := g.Push(context.Background(), run); err != nil {
			t.Fatal(err)
		}
		p := srv.received()[i]
		if p.method == "PUT" {
			clear(held)
		}
		for name, mf := range p.families {
			held[name] = mf
		}
	}
	grouping := map[string]string{"job": string(runs[0].Job)}
	if instance != "" {
		grouping["instance"] = instance
	}
	return flatten(held, grouping)
}

func flatten(families map[string]*dto.MetricFamily, extra map[string]string) []series {
	var out []series
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			s := series{labels: map[string]string{model.MetricNameLabel: name}, value: m.GetGauge().GetValue()}
			for k, v := range extra {
				s.labels[k] = v
			}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// rule is what the test needs of one alerting rule.
type rule struct {
	Alert       string            `json:"alert"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func loadRules(t *testing.T) map[string]rule {
	t.Helper()
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	rules := map[string]rule{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			rules[r.Alert] = r
		}
	}
	return rules
}

// scenario is one promtool test group: input series, and the alerts that
// must be firing at evalAt, each given by the labels that tell it apart
// (the rule's own labels are added).
type scenario struct {
	name   string
	series []series
	firing map[string][]map[string]string
}

func TestAlertRules(t *testing.T) {
	promtool := harness.Promtool(t)
	rules := loadRules(t)
	node := map[string]string{"instance": "node1:9100", "job": "node"}
	with := func(a, b map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	mirrorOK := func(end time.Time) Run {
		return Run{Job: "mirror", Start: end.Add(-time.Minute), End: end, OK: true,
			Items: []Item{{Name: "photos", OK: true}, {Name: "gitea", OK: true}}}
	}
	mirrorFailed := func(end time.Time) Run {
		return Run{Job: "mirror", Start: end.Add(-time.Minute), End: end, ExitCode: 1,
			Items: []Item{{Name: "photos"}, {Name: "gitea", OK: true}}}
	}
	offload := func(end time.Time, ok bool) Run {
		return Run{Job: "offload", Start: end, End: end, OK: ok, Items: []Item{{Name: "node1", OK: ok}}}
	}
	verify := func(job Job, end time.Time, ok bool) Run {
		r := Run{Job: job, Start: end.Add(-time.Minute), End: end, OK: ok, Items: []Item{{Name: "photos", OK: ok}}}
		if job == "verify_etcd" {
			r.Items[0].Name = "node1"
		} else {
			r.Versioning = map[string]bool{"homelab-backup-rgw": true}
		}
		if !ok {
			r.ExitCode = 4
		}
		return r
	}
	minio := func(end time.Time, versioning, lifecycle map[string]bool) Run {
		r := Run{Job: JobVerifyMinio, Start: end.Add(-time.Minute), End: end, OK: true, Versioning: versioning, Lifecycle: lifecycle}
		for name := range versioning {
			ok := versioning[name] && lifecycle[name]
			r.Items = append(r.Items, Item{Name: name, OK: ok})
			if !ok {
				r.OK, r.ExitCode = false, 4
			}
		}
		return r
	}
	both := map[string]bool{"homelab-backup-rgw": true, "homelab-backup-etcd": true}
	status := func(end time.Time, code int) Run {
		return Run{Job: JobStatus, Start: end.Add(-time.Second), End: end, OK: code == 0, ExitCode: code}
	}
	drill := func(job Job, end time.Time, failed ...string) Run {
		r := Run{Job: job, Start: end.Add(-time.Minute), End: end, OK: len(failed) == 0}
		for _, name := range []string{"node1", "node2"} {
			if job == JobDrillRGW {
				name = strings.Replace(name, "node", "bucket", 1)
			}
			r.Items = append(r.Items, Item{Name: name, OK: !slices.Contains(failed, name)})
		}
		if !r.OK {
			r.ExitCode = 4
		}
		return r
	}
	drillStopped := func(job Job, end time.Time) Run { // before it reached any target
		return Run{Job: job, Start: end, End: end, ExitCode: 2}
	}
	healthy := slices.Concat(
		textfileSeries(t, mirrorOK(at(2*time.Hour))),
		textfileSeries(t, offload(at(time.Hour), true)),
		textfileSeries(t, verify("verify_rgw", at(time.Hour), true)),
		textfileSeries(t, verify("verify_etcd", at(time.Hour), true)),
		textfileSeries(t, minio(at(time.Hour), both, both)),
		textfileSeries(t, status(at(time.Hour), 0)),
		textfileSeries(t, drill(JobDrillEtcd, at(3*24*time.Hour))),
		pushedSeries(t, "", drill(JobDrillRGW, at(7*24*time.Hour))),
	)
	alive := slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))), textfileSeries(t, offload(at(time.Hour), true)))
	drillTarget := func(job Job, target string, extra map[string]string) map[string]string {
		return with(extra, map[string]string{"offsite_job": string(job), "kind": job.Drill(), "target": target})
	}
	scenarios := []scenario{
		{name: "healthy", series: healthy},
		{name: "mirror failed after a success an hour before",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour)), mirrorFailed(at(0))), textfileSeries(t, offload(at(time.Hour), true))),
			firing: map[string][]map[string]string{
				"OffsiteMirrorFailed":       {with(node, map[string]string{"offsite_job": "mirror"})},
				"OffsiteMirrorBucketFailed": {with(node, map[string]string{"offsite_job": "mirror", "bucket": "photos"})},
			}},
		{name: "mirror failed, pushed to a Pushgateway",
			series: slices.Concat(pushedSeries(t, "", mirrorOK(at(time.Hour)), mirrorFailed(at(0))), textfileSeries(t, offload(at(time.Hour), true))),
			firing: map[string][]map[string]string{
				"OffsiteMirrorFailed":       {{"offsite_job": "mirror", "job": "mirror"}},
				"OffsiteMirrorBucketFailed": {{"offsite_job": "mirror", "job": "mirror", "bucket": "photos"}},
			}},
		{name: "mirror never succeeded",
			series: slices.Concat(textfileSeries(t, mirrorFailed(at(0))), textfileSeries(t, offload(at(time.Hour), true))),
			firing: map[string][]map[string]string{
				"OffsiteMirrorFailed":       {with(node, map[string]string{"offsite_job": "mirror"})},
				"OffsiteMirrorBucketFailed": {with(node, map[string]string{"offsite_job": "mirror", "bucket": "photos"})},
				"OffsiteMirrorStale":        {with(node, map[string]string{"offsite_job": "mirror"})},
			}},
		{name: "last mirror success 27 hours ago",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(27*time.Hour))), textfileSeries(t, offload(at(time.Hour), true))),
			firing: map[string][]map[string]string{
				"OffsiteMirrorStale": {with(node, map[string]string{"offsite_job": "mirror"})},
			}},
		{name: "offload failing, pushed per host",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))),
				pushedSeries(t, "node1", offload(at(2*time.Hour), true), offload(at(0), false))),
			firing: map[string][]map[string]string{
				"OffsiteOffloadFailing": {{"offsite_job": "offload", "job": "offload", "instance": "node1", "host": "node1"}},
			}},
		{name: "no etcd snapshot shipped in 27 hours",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))), textfileSeries(t, offload(at(27*time.Hour), true))),
			firing: map[string][]map[string]string{
				"OffsiteEtcdSnapshotStale": {with(node, map[string]string{"offsite_job": "offload", "host": "node1"})},
			}},
		{name: "verifications failed",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))), textfileSeries(t, offload(at(time.Hour), true)),
				textfileSeries(t, verify("verify_rgw", at(0), false)), textfileSeries(t, verify("verify_etcd", at(0), false))),
			firing: map[string][]map[string]string{
				"OffsiteVerifyFailed": {
					with(node, map[string]string{"offsite_job": "verify_rgw"}),
					with(node, map[string]string{"offsite_job": "verify_etcd"}),
				},
			}},
		{name: "versioning off on the mirror's bucket",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))), textfileSeries(t, offload(at(time.Hour), true)),
				textfileSeries(t, Run{Job: "verify_rgw", Start: at(time.Hour), End: at(0), OK: true,
					Items: []Item{{Name: "photos", OK: true}}, Versioning: map[string]bool{"homelab-backup-rgw": false}})),
			firing: map[string][]map[string]string{
				"OffsiteMirrorVersioningOff": {with(node, map[string]string{"offsite_job": "verify_rgw", "destination_bucket": "homelab-backup-rgw"})},
			}},
		{name: "a destination bucket without versioning, the other without its rule",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))), textfileSeries(t, offload(at(time.Hour), true)),
				textfileSeries(t, minio(at(0), map[string]bool{"homelab-backup-rgw": false, "homelab-backup-etcd": true},
					map[string]bool{"homelab-backup-rgw": true, "homelab-backup-etcd": false}))),
			firing: map[string][]map[string]string{
				"OffsiteMinioNotProtected": {
					with(node, map[string]string{"offsite_job": "verify_minio", "destination_bucket": "homelab-backup-rgw"}),
					with(node, map[string]string{"offsite_job": "verify_minio", "destination_bucket": "homelab-backup-etcd"}),
				},
				"OffsiteVerifyFailed": {with(node, map[string]string{"offsite_job": "verify_minio"})},
			}},
		{name: "a destination bucket with neither: one alert",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))), textfileSeries(t, offload(at(time.Hour), true)),
				pushedSeries(t, "", minio(at(0), map[string]bool{"homelab-backup-rgw": false}, map[string]bool{"homelab-backup-rgw": false}))),
			firing: map[string][]map[string]string{
				"OffsiteMinioNotProtected": {{"offsite_job": "verify_minio", "job": "verify_minio", "destination_bucket": "homelab-backup-rgw"}},
				"OffsiteVerifyFailed":      {{"offsite_job": "verify_minio", "job": "verify_minio"}},
			}},
		{name: "status found a stale backup",
			series: slices.Concat(textfileSeries(t, mirrorOK(at(time.Hour))), textfileSeries(t, offload(at(time.Hour), true)),
				textfileSeries(t, status(at(0), 4))),
			firing: map[string][]map[string]string{
				"OffsiteVerifyFailed": {with(node, map[string]string{"offsite_job": "status"})},
			}},
		{name: "drill of one host failed",
			series: slices.Concat(alive, textfileSeries(t, drill(JobDrillEtcd, at(48*time.Hour)), drill(JobDrillEtcd, at(0), "node2"))),
			firing: map[string][]map[string]string{
				"OffsiteDrillFailed": {drillTarget(JobDrillEtcd, "node2", node)},
			}},
		{name: "drill failed before reaching a target, pushed",
			series: slices.Concat(alive, pushedSeries(t, "", drill(JobDrillRGW, at(48*time.Hour)), drillStopped(JobDrillRGW, at(0)))),
			firing: map[string][]map[string]string{
				"OffsiteDrillFailed": {{"offsite_job": "drill_rgw", "job": "drill_rgw"}},
			}},
		{name: "drill stopped early in a textfile",
			series: slices.Concat(alive, textfileSeries(t, drill(JobDrillEtcd, at(48*time.Hour)), drillStopped(JobDrillEtcd, at(0)))),
			firing: map[string][]map[string]string{
				"OffsiteDrillFailed": {with(node, map[string]string{"offsite_job": "drill_etcd"})},
			}},
		{name: "last passed drill 9 days ago",
			series: slices.Concat(alive, pushedSeries(t, "", drill(JobDrillRGW, at(9*24*time.Hour)))),
			firing: map[string][]map[string]string{
				"OffsiteDrillStale": {drillTarget(JobDrillRGW, "bucket1", map[string]string{"job": "drill_rgw"}), drillTarget(JobDrillRGW, "bucket2", map[string]string{"job": "drill_rgw"})},
			}},
		// Its last passed drill is 0, "never": stale too, once the epoch is
		// 8 days behind (here it is 30 hours).
		{name: "first drill failed",
			series: slices.Concat(alive, textfileSeries(t, drill(JobDrillEtcd, at(0), "node1"))),
			firing: map[string][]map[string]string{
				"OffsiteDrillFailed": {drillTarget(JobDrillEtcd, "node1", node)},
			}},
		{name: "no metrics at all",
			firing: map[string][]map[string]string{
				"OffsiteMetricsAbsent": {{"offsite_job": "mirror"}, {"offsite_job": "offload"}},
			}},
	}

	dir := t.TempDir()
	rulesPath, err := filepath.Abs(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(dir, "offsite-alerts.test.yml")
	if err := os.WriteFile(testFile, promtoolTests(t, rulesPath, rules, scenarios), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := harness.Command(context.Background(), 2*time.Minute, promtool, "test", "rules", testFile).CombinedOutput()
	t.Logf("promtool test rules:\n%s", out)
	if err != nil {
		t.Fatalf("promtool: %v", err)
	}
}

// promtoolTests writes the scenarios as a promtool rule test file. Every
// rule is checked in every scenario: an alert not listed must not fire.
func promtoolTests(t *testing.T, rulesPath string, rules map[string]rule, scenarios []scenario) []byte {
	t.Helper()
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names)
	type expAlert struct {
		ExpLabels      map[string]string `json:"exp_labels"`
		ExpAnnotations map[string]string `json:"exp_annotations"`
	}
	type alertTest struct {
		EvalTime  string     `json:"eval_time"`
		Alertname string     `json:"alertname"`
		ExpAlerts []expAlert `json:"exp_alerts"`
	}
	type inputSeries struct {
		Series string `json:"series"`
		Values string `json:"values"`
	}
	type test struct {
		Name          string        `json:"name"`
		Interval      string        `json:"interval"`
		InputSeries   []inputSeries `json:"input_series"`
		AlertRuleTest []alertTest   `json:"alert_rule_test"`
	}
	steps := int(evalAt/time.Minute) + 10
	var tests []test
	for _, sc := range scenarios {
		tc := test{Name: sc.name, Interval: "1m", InputSeries: []inputSeries{}}
		for _, s := range sc.series {
			tc.InputSeries = append(tc.InputSeries, inputSeries{Series: seriesName(s.labels),
				Values: fmt.Sprintf("%s+0x%d", model.SampleValue(s.value), steps)})
		}
		for _, name := range names {
			at := alertTest{EvalTime: model.Duration(evalAt).String(), Alertname: name, ExpAlerts: []expAlert{}}
			for _, labels := range sc.firing[name] {
				r := rules[name]
				exp := expAlert{ExpLabels: map[string]string{}, ExpAnnotations: map[string]string{}}
				for k, v := range r.Labels {
					exp.ExpLabels[k] = v
				}
				for k, v := range labels {
					exp.ExpLabels[k] = v
				}
				for k, v := range r.Annotations {
					exp.ExpAnnotations[k] = expand(v, exp.ExpLabels)
				}
				at.ExpAlerts = append(at.ExpAlerts, exp)
			}
			tc.AlertRuleTest = append(tc.AlertRuleTest, at)
		}
		tests = append(tests, tc)
	}
	b, err := yaml.Marshal(map[string]any{
		"rule_files":          []string{rulesPath},
		"evaluation_interval": "1m",
		"tests":               tests,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seriesName writes labels as promtool reads a series: name{k="v",...}.
func seriesName(labels map[string]string) string {
	var pairs []string
	for k, v := range labels {
		if k != model.MetricNameLabel {
			pairs = append(pairs, k+"="+strconv.Quote(v))
		}
	}
	sort.Strings(pairs)
	return labels[model.MetricNameLabel] + "{" + strings.Join(pairs, ",") + "}"
}

// labelTemplate is the rules' only template form, {{ $labels.NAME }}.
var labelTemplate = regexp.MustCompile(`{{ \$labels\.(\w+) }}`)

// expand fills in the rules' templates; a label the alert lacks is empty.
func expand(text string, labels map[string]string) string {
	return labelTemplate.ReplaceAllStringFunc(text, func(m string) string {
		return labels[labelTemplate.FindStringSubmatch(m)[1]]
	})
}
