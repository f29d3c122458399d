package bucketsetup

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Ceph RGW (18.2, DBStore) takes the whole setup: it creates the bucket,
// turns versioning on, and keeps a lifecycle rule beside a foreign one; it
// answers the rules in the old Prefix form, which counts as the whole
// bucket. (Whether its lifecycle thread then expires versions is not
// something a test of minutes can see.)
func TestSetupOnRGW(t *testing.T) {
	r := harness.StartRGW(t)
	ctx := context.Background()
	cfg := Config{RetentionDays: DefaultRetentionDays, Targets: []Target{{Bucket: rgwBucket, Remote: r.Remote("offsite-rgw"), End: rcloneconf.RGW}}}
	rep, err := Setup(ctx, cfg, zaptest.NewLogger(t))
	if err != nil || actions(rep) != "homelab-backup-rgw/bucket=created homelab-backup-rgw/versioning=enabled homelab-backup-rgw/lifecycle=added" {
		t.Fatalf("fresh: %v %s", err, actions(rep))
	}
	putRules(t, &r.Server, rgwBucket, `<ID>logs</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Expiration><Days>30</Days></Expiration>`)
	if rep, err = Setup(ctx, cfg, zaptest.NewLogger(t)); err != nil || !strings.HasSuffix(actions(rep), "lifecycle=added") {
		t.Fatalf("beside a foreign rule: %v %s", err, actions(rep))
	}
	raw := rawLifecycle(t, &r.Server, rgwBucket)
	if !strings.Contains(raw, "<ID>logs</ID>") || !strings.Contains(raw, "<Prefix>logs/</Prefix>") || !strings.Contains(raw, "<NoncurrentDays>14</NoncurrentDays>") {
		t.Errorf("rules:\n%s", raw)
	}
	if rep, err = Setup(ctx, cfg, zaptest.NewLogger(t)); err != nil || strings.Count(actions(rep), "=unchanged") != 3 {
		t.Fatalf("second run: %v %s", err, actions(rep))
	}
	if rep, err = Verify(ctx, cfg, zaptest.NewLogger(t)); err != nil || !rep.Buckets[0].OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	suspendVersioning(t, &r.Server, rgwBucket)
	if rep, err = Verify(ctx, cfg, zaptest.NewLogger(t)); err == nil || rep.Buckets[0].VersioningOK() {
		t.Fatalf("verify, versioning suspended: %v %+v", err, rep)
	}
}
