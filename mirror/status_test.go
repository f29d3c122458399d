package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
)

// putReport writes r as a run that ended at end, as Run would.
func putReport(t *testing.T, m *harness.Minio, r Report, end time.Time) {
	t.Helper()
	r.Start, r.End = end.Add(-time.Minute).UTC(), end.UTC()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	m.Put(t, DefaultDestBucket, reportKey("_reports", r.Start, r.Mode, r.Shard), data)
}

func TestLastRuns(t *testing.T) {
	m := harness.StartMinio(t, DefaultDestBucket)
	ctx := context.Background()
	now := time.Now()
	since := now.Add(-25 * time.Hour)
	dest := m.Remote("offsite-minio")
	if _, err := LastRuns(ctx, dest, DefaultDestBucket, "_reports", since); !errors.Is(err, ErrNoReport) {
		t.Fatalf("no report yet: %v", err)
	}

	photos := BucketReport{Name: "photos", Mode: ModeCopy, Status: StatusOK, SourceObjects: 12, Transferred: 2}
	putReport(t, m, Report{Mode: ModeCopy, Status: StatusFailed, Buckets: []BucketReport{{Name: "photos", Status: StatusFailed}}}, now.Add(-48*time.Hour))
	putReport(t, m, Report{Mode: ModeAuto, Status: StatusOK, Buckets: []BucketReport{photos, {Name: "scratch", Status: StatusSkipped}}}, now.Add(-2*time.Hour))
	// Newer, but not mirror runs: a restore's report, and another command's JSON.
	putReport(t, m, Report{Mode: ModeRestore, Status: StatusFailed}, now.Add(-time.Hour))
	m.Put(t, DefaultDestBucket, "_reports/"+now.UTC().Format("2006-01-02")+"/"+now.UTC().Format(reportTimeLayout)+"-drill-rgw.json", []byte(`{"kind":"drill-rgw","status":"failed"}`))

	runs, err := LastRuns(ctx, dest, DefaultDestBucket, "_reports", since)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Mode != ModeAuto || runs[0].Status != StatusOK || len(runs[0].Buckets) != 1 ||
		runs[0].Buckets[0] != (BucketRun{Name: "photos", Mode: ModeCopy, Status: StatusOK, Objects: 12, Transferred: 2}) {
		t.Fatalf("unsharded: %+v", runs)
	}

	// Sharded: the newest of each shard; shard 1's is too old, shard 2 has none.
	for i, age := range []time.Duration{time.Hour, 30 * time.Hour} {
		putReport(t, m, Report{Mode: ModeCopy, Status: StatusOK, Shard: &Shard{Index: i, Count: 3},
			Buckets: []BucketReport{{Name: "b" + string(rune('0'+i)), Status: StatusOK}}}, now.Add(-age))
	}
	putReport(t, m, Report{Mode: ModeCopy, Status: StatusFailed, Shard: &Shard{Index: 0, Count: 3}}, now.Add(-3*time.Hour))
	runs, err = LastRuns(ctx, dest, DefaultDestBucket, "_reports", since)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Shard.String()+"="+r.Status)
	}
	if want := "0/3=ok 1/3=missing 2/3=missing"; strings.Join(got, " ") != want {
		t.Errorf("sharded runs %s, want %s", strings.Join(got, " "), want)
	}
}
