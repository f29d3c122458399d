package offload

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
)

func TestLatestSnapshots(t *testing.T) {
	m := harness.StartMinio(t, DefaultBucket)
	now := time.Now().Truncate(time.Second)
	put := func(host string, at time.Time, sidecar bool) string {
		name := fmt.Sprintf("etcd-snapshot-%s-%d", host, at.Unix())
		m.Put(t, DefaultBucket, host+"/"+name, []byte("snapshot"))
		if sidecar {
			m.Put(t, DefaultBucket, host+"/"+name+SidecarSuffix, []byte("sum  "+name+"\n"))
		}
		return name
	}
	put("cp1", now.Add(-36*time.Hour), true)
	newest := put("cp1", now.Add(-2*time.Hour), true)
	put("cp1", now.Add(-time.Minute), false) // cut short: no sidecar
	put("cp2", now.Add(-time.Hour), false)
	m.Put(t, DefaultBucket, "_offsite-last-verify-etcd.json", []byte("{}")) // a record at the root is no host

	latest, err := LatestSnapshots(context.Background(), m.Remote("offsite-etcd"), DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	want := []HostLatest{{Host: "cp1", Snapshots: 3, Newest: newest, Time: now.Add(-2 * time.Hour)}, {Host: "cp2", Snapshots: 1}}
	if len(latest) != len(want) {
		t.Fatalf("got %+v, want %+v", latest, want)
	}
	for i := range want {
		if g, w := latest[i], want[i]; g.Host != w.Host || g.Snapshots != w.Snapshots || g.Newest != w.Newest || !g.Time.Equal(w.Time) {
			t.Errorf("host %d: got %+v, want %+v", i, g, w)
		}
	}
}
