package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/internal/monitor"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// TestDrillEtcdIsLoud drills a host whose newest snapshot restores, then
// one whose newest is no etcd database: the failure shows four ways that
// agree (exit 4, the report naming the snapshot, /fail, the metrics), and
// the last passed drill is kept.
func TestDrillEtcdIsLoud(t *testing.T) {
	m := harness.StartMinio(t, etcdTestBucket)
	snapDir := t.TempDir()
	offloadtest.WriteRaw(t, snapDir, offloadtest.Name("node1", time.Now().Add(-time.Hour).Unix()), offloadtest.Snapshot(16, 1))
	if code, _, stderr := runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(m, snapDir, t.TempDir())...)...); code != exitcode.OK {
		t.Fatalf("offload once: exit %d\n%s", code, stderr)
	}

	l := newLoud(t)
	drill := append(append([]string{"drill", "etcd"}, l.args()...), etcdArgs(m)...)
	code, stdout, stderr := runOffsite(context.Background(), drill...)
	if code != exitcode.OK || !strings.Contains(stdout, "REVISION") || !strings.Contains(stdout, " ok") {
		t.Fatalf("drill: exit %d\n%s\n%s", code, stdout, stderr)
	}
	l.check(t, exitcode.OK)
	passed := metric(t, l.metrics, monitor.MetricDrillLastSuccess)
	if got := metric(t, l.metrics, monitor.MetricDrillSuccess); got != 1 || passed == 0 {
		t.Fatalf("drill metrics: success %v, last success %v; want 1 and a time", got, passed)
	}

	// A newer snapshot, its sidecar and trailer right, that is no database.
	planted := offloadtest.Name("node1", time.Now().Unix())
	data := offloadtest.NotADatabase(16, 2)
	m.Put(t, etcdTestBucket, "node1/"+planted, data)
	m.Put(t, etcdTestBucket, "node1/"+planted+offload.SidecarSuffix, offload.Sidecar(offloadtest.SHA256(data), planted))
	l = &loud{pings: newRecorder(t), metrics: l.metrics}
	drill = append(append([]string{"drill", "etcd", "--output", "json"}, l.args()...), etcdArgs(m)...)
	code, stdout, stderr = runOffsite(context.Background(), drill...)
	if code != exitcode.Verify || !strings.Contains(stderr, "node1/"+planted) {
		t.Fatalf("drill of a file that is no database: exit %d, want %d naming it\n%s", code, exitcode.Verify, stderr)
	}
	var report offload.DrillReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || len(report.Hosts) != 1 || report.Hosts[0].OK() ||
		report.Hosts[0].Snapshot != "node1/"+planted || !strings.Contains(strings.Join(report.Hosts[0].Problems, ""), "not an etcd database") {
		t.Fatalf("report (%v):\n%s", err, stdout)
	}
	l.check(t, exitcode.Verify)
	if got := metric(t, l.metrics, monitor.MetricDrillSuccess); got != 0 {
		t.Errorf("%s = %v, want 0", monitor.MetricDrillSuccess, got)
	}
	if got := metric(t, l.metrics, monitor.MetricDrillLastSuccess); got != passed {
		t.Errorf("%s = %v after a failed drill, want the last passed one, %v", monitor.MetricDrillLastSuccess, got, passed)
	}
}
