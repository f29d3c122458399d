package bucketsetup

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/rcloneconf"
)

const (
	rgwBucket  = "homelab-backup-rgw"
	etcdBucket = "homelab-backup-etcd"
)

func config(s *harness.Server, buckets ...string) Config {
	cfg := Config{RetentionDays: DefaultRetentionDays}
	for _, b := range buckets {
		cfg.Targets = append(cfg.Targets, Target{Bucket: b, Remote: s.Remote("offsite-minio"), End: rcloneconf.MinIO})
	}
	return cfg
}

// actions is a setup report's actions, "bucket/setting=action" each.
func actions(rep *Report) string {
	var out []string
	for _, b := range rep.Buckets {
		for _, c := range b.Changes {
			out = append(out, b.Bucket+"/"+c.Setting+"="+c.Action)
		}
	}
	return strings.Join(out, " ")
}

// rawLifecycle is the bucket's lifecycle configuration as the server sends it.
func rawLifecycle(t *testing.T, s *harness.Server, bucket string) string {
	t.Helper()
	c, err := newClient(Target{Bucket: bucket, Remote: s.Remote("raw"), End: rcloneconf.MinIO})
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.lifecycleRequest(context.Background(), http.MethodGet, nil)
	if err != nil {
		t.Fatalf("lifecycle of %s: %v", bucket, err)
	}
	return string(data)
}

func putRules(t *testing.T, s *harness.Server, bucket string, rules ...string) {
	t.Helper()
	c, err := newClient(Target{Bucket: bucket, Remote: s.Remote("raw"), End: rcloneconf.MinIO})
	if err != nil {
		t.Fatal(err)
	}
	var lc lifecycle
	for _, r := range rules {
		lc.Rules = append(lc.Rules, rule{Raw: r})
	}
	if err := c.putLifecycle(context.Background(), lc); err != nil {
		t.Fatalf("put rules on %s: %v", bucket, err)
	}
}

func suspendVersioning(t *testing.T, s *harness.Server, bucket string) {
	t.Helper()
	_, err := s.Client().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: &bucket, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSetupFreshThenNothingToChange(t *testing.T) {
	m := harness.StartMinio(t)
	ctx := context.Background()
	cfg := config(&m.Server, rgwBucket, etcdBucket)

	dry := cfg
	dry.DryRun = true
	rep, err := Setup(ctx, dry, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(rep), "homelab-backup-rgw/bucket=would create homelab-backup-rgw/versioning=would enable homelab-backup-rgw/lifecycle=would add "+
		"homelab-backup-etcd/bucket=would create homelab-backup-etcd/versioning=would enable homelab-backup-etcd/lifecycle=would add"; got != want {
		t.Errorf("dry run:\n%s\nwant\n%s", got, want)
	}
	if m.BucketExists(t, rgwBucket) || m.BucketExists(t, etcdBucket) {
		t.Fatal("a dry run created a bucket")
	}

	rep, err = Setup(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(rep), "homelab-backup-rgw/bucket=created homelab-backup-rgw/versioning=enabled homelab-backup-rgw/lifecycle=added "+
		"homelab-backup-etcd/bucket=created homelab-backup-etcd/versioning=enabled homelab-backup-etcd/lifecycle=added"; got != want {
		t.Errorf("first run:\n%s\nwant\n%s", got, want)
	}
	before := rawLifecycle(t, &m.Server, rgwBucket)
	if !strings.Contains(before, RuleID) || !strings.Contains(before, "<NoncurrentDays>14</NoncurrentDays>") {
		t.Errorf("lifecycle after setup:\n%s", before)
	}

	rep, err = Setup(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep); strings.Count(got, "=unchanged") != 6 {
		t.Errorf("second run changed something: %s", got)
	}
	var out strings.Builder
	if err := rep.WriteChanges(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "setup minio: nothing to change in 2 buckets") {
		t.Errorf("second run does not say it changed nothing:\n%s", out.String())
	}
	if after := rawLifecycle(t, &m.Server, rgwBucket); after != before {
		t.Errorf("second run rewrote the rules:\n%s\nwas\n%s", after, before)
	}
	if rep, err := Verify(ctx, cfg, zaptest.NewLogger(t)); err != nil || !rep.Buckets[0].OK() || !rep.Buckets[1].OK() {
		t.Fatalf("verify after setup: %v %+v", err, rep)
	}
}

// Versioning on and no rule: setup adds the rule and leaves versioning.
// Rules of the bucket's own (a MinIO-only element among them) survive, and
// our rule at another age is set to the retention.
func TestSetupMergesWithTheBucketsRules(t *testing.T) {
	m := harness.StartMinio(t, rgwBucket)
	m.EnableVersioning(t, rgwBucket)
	ctx := context.Background()
	cfg := config(&m.Server, rgwBucket)

	rep, err := Setup(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(rep), "homelab-backup-rgw/bucket=unchanged homelab-backup-rgw/versioning=unchanged homelab-backup-rgw/lifecycle=added"; got != want {
		t.Errorf("versioning on, no rule: %s, want %s", got, want)
	}

	logs := `<ID>logs</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Expiration><Days>30</Days></Expiration>`
	markers := `<ID>markers</ID><Status>Enabled</Status><Filter></Filter><DelMarkerExpiration><Days>7</Days></DelMarkerExpiration>`
	putRules(t, &m.Server, rgwBucket, logs, markers, ownRule(30).Raw)
	rep, err = Setup(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep); !strings.HasSuffix(got, "lifecycle=updated") || !strings.Contains(rep.Buckets[0].Changes[2].State, "2 other rules kept") {
		t.Errorf("our rule at 30 days: %s %+v", got, rep.Buckets[0].Changes)
	}
	raw := rawLifecycle(t, &m.Server, rgwBucket)
	lc, err := parseLifecycle([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, r := range lc.Rules {
		ids[r.ID] = r.Raw
	}
	if len(lc.Rules) != 3 || !strings.Contains(ids["logs"], "<Prefix>logs/</Prefix>") || !strings.Contains(ids["logs"], "<Days>30</Days>") ||
		!strings.Contains(ids["markers"], "<DelMarkerExpiration><Days>7</Days></DelMarkerExpiration>") ||
		!strings.Contains(ids[RuleID], "<NoncurrentDays>14</NoncurrentDays>") {
		t.Errorf("rules after the merge:\n%s", raw)
	}

	// A foreign rule within the retention is enough: nothing is added.
	other := config(&m.Server, etcdBucket)
	m.MakeBucket(t, etcdBucket)
	m.EnableVersioning(t, etcdBucket)
	putRules(t, &m.Server, etcdBucket, `<ID>mine</ID><Status>Enabled</Status><Filter></Filter><NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays></NoncurrentVersionExpiration>`)
	if rep, err := Setup(ctx, other, zaptest.NewLogger(t)); err != nil || !strings.HasSuffix(actions(rep), "lifecycle=unchanged") {
		t.Fatalf("a foreign rule of 7 days: %v %s", err, actions(rep))
	}
	if raw := rawLifecycle(t, &m.Server, etcdBucket); strings.Contains(raw, RuleID) {
		t.Errorf("setup added its rule beside a foreign one that covers the retention:\n%s", raw)
	}
}

func TestVerify(t *testing.T) {
	m := harness.StartMinio(t, rgwBucket, etcdBucket)
	ctx := context.Background()
	cfg := config(&m.Server, rgwBucket, etcdBucket)
	if _, err := Setup(ctx, cfg, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("all good: %v", err)
	}
	for _, b := range rep.Buckets {
		if !b.OK() || !b.VersioningOK() || !b.LifecycleOK() {
			t.Errorf("all good: %+v", b)
		}
	}

	suspendVersioning(t, &m.Server, rgwBucket)
	putRules(t, &m.Server, etcdBucket, `<ID>logs</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Expiration><Days>30</Days></Expiration>`)
	rep, err = Verify(ctx, append2(cfg, "missing-bucket", &m.Server), zaptest.NewLogger(t))
	if !errors.Is(err, exitcode.ErrVerifyFailed) || exitcode.Of(err) != exitcode.Verify {
		t.Fatalf("err = %v, want a verify failure", err)
	}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"homelab-backup-rgw: versioning is Suspended, not Enabled",
		"homelab-backup-etcd: no lifecycle rule expires noncurrent versions within 14 days",
		"missing-bucket: the bucket does not exist",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if b := rep.Buckets[0]; b.VersioningOK() || !b.LifecycleOK() || b.OK() {
		t.Errorf("suspended: %+v", b)
	}
	if b := rep.Buckets[1]; !b.VersioningOK() || b.LifecycleOK() || b.OK() {
		t.Errorf("rule missing: %+v", b)
	}
}

func append2(cfg Config, bucket string, s *harness.Server) Config {
	cfg.Targets = append(cfg.Targets[:len(cfg.Targets):len(cfg.Targets)], config(s, bucket).Targets...)
	return cfg
}
