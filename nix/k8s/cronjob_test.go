package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// requireNixEnv, set to 1 (as CI does), turns a missing nix-instantiate
// into a failure instead of a skip.
const requireNixEnv = "OFFSITE_TEST_REQUIRE_NIX"

// The arguments every call needs; the image digest is made up.
const required = `
  image = "registry.lan/offsite@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  rgwEndpoint = "http://rook-ceph-rgw-objectstore.rook-ceph.svc";
  minioEndpoint = "http://10.10.10.209:9000";
  buckets = "*";
  timeZone = "Europe/Berlin";
`

// nixEval evaluates expr (relative paths are relative to this directory)
// to JSON. It returns nix-instantiate's error output when evaluation fails.
func nixEval(t *testing.T, expr string) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("nix-instantiate")
	if err != nil {
		if ok, _ := strconv.ParseBool(os.Getenv(requireNixEnv)); ok {
			t.Fatalf("nix-instantiate not found (%s=1 forbids skipping): %v", requireNixEnv, err)
		}
		t.Skipf("nix-instantiate not found, cannot evaluate the Nix manifests: %v", err)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // an evaluation takes seconds
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--eval", "--strict", "--json", "--expr", expr)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func mustEval(t *testing.T, expr string) []byte {
	t.Helper()
	out, err := nixEval(t, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return out
}

// decodeStrict decodes JSON (or YAML) into v and fails on any field the
// Kubernetes type does not have: a misspelt key would otherwise be dropped
// by the API server without a word.
func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func cronJob(t *testing.T, args string) *batchv1.CronJob {
	t.Helper()
	var cj batchv1.CronJob
	// Later attributes win in `//`, so args override required.
	decodeStrict(t, mustEval(t, "(import ./cronjob.nix ({"+required+"} // {"+args+"})).cronJob"), &cj)
	return &cj
}

// cronJobs decodes every CronJob that is on, by name, from expr (an
// attribute set of CronJobs).
func cronJobs(t *testing.T, expr string) map[string]*batchv1.CronJob {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(mustEval(t, expr), &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]*batchv1.CronJob{}
	for name, data := range raw {
		var cj batchv1.CronJob
		decodeStrict(t, data, &cj)
		out[name] = &cj
	}
	return out
}

func TestDecodeStrictRejectsUnknownFields(t *testing.T) {
	var cj batchv1.CronJob
	err := yaml.UnmarshalStrict([]byte(`{"apiVersion":"batch/v1","kind":"CronJob","spec":{"scheduel":"0 4 * * *"}}`), &cj)
	if err == nil || !strings.Contains(err.Error(), "scheduel") {
		t.Fatalf("err=%v, want an unknown field error naming scheduel", err)
	}
}

// secretDir is where the jobs read their secrets, as files.
const secretDir = "/run/secrets/offsite"

// secretFiles maps each file of the job's secret volume to "Secret/key",
// and checks the volume is mounted read-only at secretDir.
func secretFiles(t *testing.T, cj *batchv1.CronJob) map[string]string {
	t.Helper()
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	mounted := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == secretDir {
			if !m.ReadOnly {
				t.Errorf("%s: %s mounted read-write", cj.Name, secretDir)
			}
			mounted = m.Name
		}
	}
	if mounted == "" {
		t.Fatalf("%s: nothing mounted at %s", cj.Name, secretDir)
	}
	files := map[string]string{}
	for _, v := range pod.Volumes {
		if v.Name != mounted {
			continue
		}
		if v.Projected == nil {
			t.Fatalf("%s: volume %s is not a projected volume", cj.Name, v.Name)
		}
		if m := v.Projected.DefaultMode; m == nil || *m&0o007 != 0 {
			t.Errorf("%s: secret files mode %v, want none for others (0440)", cj.Name, m)
		}
		for _, src := range v.Projected.Sources {
			if src.Secret == nil || len(src.Secret.Items) == 0 {
				t.Errorf("%s: a source that is not a Secret with items: %+v", cj.Name, src)
				continue
			}
			for _, it := range src.Secret.Items {
				files[secretDir+"/"+it.Path] = src.Secret.Name + "/" + it.Key
			}
		}
	}
	return files
}

// checkSecretsAsFiles: no env var of the job carries a secret, by value or
// by reference; every *_FILE points into the secret volume, at the key want
// names ("X_FILE": "Secret/key").
func checkSecretsAsFiles(t *testing.T, cj *batchv1.CronJob, want map[string]string) {
	t.Helper()
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	files := secretFiles(t, cj)
	env := envByName(t, c.Env)
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Errorf("%s: env %s comes from %+v: secrets are files, never env values", cj.Name, e.Name, e.ValueFrom)
		}
		for _, secret := range []string{"ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "PING_URL", "PUSHGATEWAY_URL"} {
			if strings.HasSuffix(e.Name, secret) {
				t.Errorf("%s: env %s set as a value", cj.Name, e.Name)
			}
		}
	}
	for name, ref := range want {
		e, ok := env[name]
		if !ok {
			t.Errorf("%s: %s not set", cj.Name, name)
			continue
		}
		if got := files[e.Value]; got != ref {
			t.Errorf("%s: %s=%s holds %q, want %q", cj.Name, name, e.Value, got, ref)
		}
	}
	for name, e := range env {
		if strings.HasSuffix(name, "_FILE") && want[name] == "" {
			t.Errorf("%s: unexpected %s=%s", cj.Name, name, e.Value)
		}
	}
}

func TestCronJobDefaults(t *testing.T) {
	cj := cronJob(t, "")

	if got, want := cj.APIVersion+" "+cj.Kind, "batch/v1 CronJob"; got != want {
		t.Errorf("type=%q, want %q", got, want)
	}
	if got, want := cj.Namespace+"/"+cj.Name, "applications/rgw-mirror"; got != want {
		t.Errorf("object=%q, want %q", got, want)
	}
	spec := cj.Spec
	if got, want := spec.Schedule, "0 4 * * *"; got != want {
		t.Errorf("schedule=%q, want %q", got, want)
	}
	if spec.TimeZone == nil {
		t.Errorf("timeZone unset: the schedule would follow the kube-controller-manager's zone")
	} else if _, err := time.LoadLocation(*spec.TimeZone); err != nil {
		t.Errorf("timeZone %q: %v", *spec.TimeZone, err)
	}
	if got, want := spec.ConcurrencyPolicy, batchv1.ForbidConcurrent; got != want {
		t.Errorf("concurrencyPolicy=%q, want %q", got, want)
	}
	for name, p := range map[string]*int64{"startingDeadlineSeconds": spec.StartingDeadlineSeconds} {
		if p == nil || *p <= 0 {
			t.Errorf("%s unset", name)
		}
	}
	for name, p := range map[string]*int32{"successfulJobsHistoryLimit": spec.SuccessfulJobsHistoryLimit, "failedJobsHistoryLimit": spec.FailedJobsHistoryLimit} {
		if p == nil || *p <= 0 {
			t.Errorf("%s unset", name)
		}
	}

	job := spec.JobTemplate.Spec
	if job.BackoffLimit == nil || job.ActiveDeadlineSeconds == nil || *job.ActiveDeadlineSeconds <= 0 {
		t.Errorf("backoffLimit=%v activeDeadlineSeconds=%v, want both set", job.BackoffLimit, job.ActiveDeadlineSeconds)
	}
	pod := job.Template.Spec
	if got, want := pod.RestartPolicy, corev1.RestartPolicyNever; got != want {
		t.Errorf("restartPolicy=%q, want %q (podFailurePolicy requires it)", got, want)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken=%v, want false: offsite never talks to the API server", pod.AutomountServiceAccountToken)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 60 {
		t.Errorf("terminationGracePeriodSeconds=%v, want a minute or more for the report, pings and metrics after SIGTERM", g)
	}
	if got, want := len(pod.Containers), 1; got != want {
		t.Fatalf("containers=%d, want %d", got, want)
	}
	c := pod.Containers[0]

	t.Run("exit codes", func(t *testing.T) {
		checkExitCodes(t, cj, map[batchv1.PodFailurePolicyAction][]int32{batchv1.PodFailurePolicyActionFailJob: {2, 3, 4}})
	})

	t.Run("container", func(t *testing.T) {
		if !regexp.MustCompile(`^[^@]+@sha256:[0-9a-f]{64}$`).MatchString(c.Image) {
			t.Errorf("image %q not pinned by digest", c.Image)
		}
		if got, want := strings.Join(c.Args, " "), "mirror"; got != want {
			t.Errorf("args=%q, want %q", got, want)
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			req, lim := c.Resources.Requests[name], c.Resources.Limits[name]
			if req.IsZero() || lim.IsZero() || lim.Cmp(req) < 0 {
				t.Errorf("%s request=%s limit=%s, want both set, limit >= request", name, req.String(), lim.String())
			}
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || m.MountPath == "/tmp"
		}
		if !mounted {
			t.Errorf("no volume at /tmp: the root filesystem is read-only")
		}
		// /tmp is an emptyDir on the node's disk: it counts against the
		// container's ephemeral storage, and must fit in it.
		lim := c.Resources.Limits[corev1.ResourceEphemeralStorage]
		for _, v := range pod.Volumes {
			if v.EmptyDir != nil {
				if v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Cmp(lim) >= 0 {
					t.Errorf("emptyDir %s sizeLimit=%v, want one under the ephemeral-storage limit %s", v.Name, v.EmptyDir.SizeLimit, lim.String())
				}
			}
		}
	})

	t.Run("security context", func(t *testing.T) {
		checkSecurityContext(t, cj)
	})

	t.Run("env", func(t *testing.T) {
		checkSecretsAsFiles(t, cj, map[string]string{
			"RGW_ACCESS_KEY_ID_FILE":       "s3-credentials/AWS_ACCESS_KEY_ID",
			"RGW_SECRET_ACCESS_KEY_FILE":   "s3-credentials/AWS_SECRET_ACCESS_KEY",
			"MINIO_ACCESS_KEY_ID_FILE":     "rgw-mirror-s3-credentials/AWS_ACCESS_KEY_ID",
			"MINIO_SECRET_ACCESS_KEY_FILE": "rgw-mirror-s3-credentials/AWS_SECRET_ACCESS_KEY",
		})
		env := envByName(t, c.Env)
		values := map[string]string{
			"RGW_ENDPOINT":       "http://rook-ceph-rgw-objectstore.rook-ceph.svc",
			"MINIO_ENDPOINT":     "http://10.10.10.209:9000",
			"MINIO_BUCKET":       "homelab-backup-rgw",
			"MINIO_REGION":       "us-east-1",
			"OFFSITE_MODE":       "copy",
			"OFFSITE_LOG_FORMAT": "json",
			"RGW_BUCKETS":        "*",
		}
		for name, want := range values {
			if got := env[name].Value; got != want {
				t.Errorf("%s=%q, want %q", name, got, want)
			}
		}
		for _, name := range []string{"RGW_EXCLUDE_BUCKETS", "RGW_REGION", "OFFSITE_PING_URL_FILE", "OFFSITE_PUSHGATEWAY_URL_FILE"} {
			if e, ok := env[name]; ok {
				t.Errorf("%s=%q set by default", name, e.Value)
			}
		}
	})
}

func checkSecurityContext(t *testing.T, cj *batchv1.CronJob) {
	t.Helper()
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	psc, sc := pod.SecurityContext, pod.Containers[0].SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("pod securityContext=%v container securityContext=%v, want both", psc, sc)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"pod runAsNonRoot", isTrue(psc.RunAsNonRoot)},
		{"pod seccompProfile RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"pod fsGroup (the secret files' group)", psc.FSGroup != nil && *psc.FSGroup != 0},
		{"runAsNonRoot", isTrue(sc.RunAsNonRoot)},
		{"runAsUser not 0", sc.RunAsUser != nil && *sc.RunAsUser != 0},
		{"readOnlyRootFilesystem", isTrue(sc.ReadOnlyRootFilesystem)},
		{"allowPrivilegeEscalation false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"privileged false", sc.Privileged == nil || !*sc.Privileged},
		{"capabilities drop ALL, add none", sc.Capabilities != nil && equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0},
		{"seccompProfile RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
	}
	for _, check := range checks {
		if !check.ok {
			t.Errorf("%s: %s: not so in %+v / %+v", cj.Name, check.name, psc, sc)
		}
	}
}

// checkExitCodes: the exit codes each podFailurePolicy action takes (none
// other), and evictions ignored.
func checkExitCodes(t *testing.T, cj *batchv1.CronJob, want map[batchv1.PodFailurePolicyAction][]int32) {
	t.Helper()
	job := cj.Spec.JobTemplate.Spec
	if job.PodFailurePolicy == nil {
		t.Fatal("podFailurePolicy unset")
	}
	got := map[batchv1.PodFailurePolicyAction][]int32{}
	ignored := false
	for _, r := range job.PodFailurePolicy.Rules {
		if r.OnExitCodes != nil {
			if r.OnExitCodes.ContainerName == nil || *r.OnExitCodes.ContainerName != "offsite" {
				t.Errorf("rule names container %v, want offsite", r.OnExitCodes.ContainerName)
			}
			got[r.Action] = append(got[r.Action], r.OnExitCodes.Values...)
		}
		for _, p := range r.OnPodConditions {
			ignored = ignored || (r.Action == batchv1.PodFailurePolicyActionIgnore && p.Type == corev1.DisruptionTarget && p.Status == corev1.ConditionTrue)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: exit code rules %v, want %v", cj.Name, got, want)
	}
	for action, codes := range want {
		if !equal(got[action], codes) {
			t.Errorf("%s: exit codes that %s=%v, want %v", cj.Name, action, got[action], codes)
		}
	}
	if !ignored {
		t.Errorf("%s: evictions (DisruptionTarget=True) count as failed tries", cj.Name)
	}
}

func TestCronJobSettings(t *testing.T) {
	cj := cronJob(t, `
  name = "mirror-nightly";
  namespace = "backup";
  schedule = "30 2 * * *";
  timeZone = "America/New_York";
  mode = "sync";
  buckets = [ "photos" "documents" ];
  excludeBuckets = [ "scratch" ];
  rgwRegion = "default";
  minioBucket = "offsite-rgw";
  sourceSecret = "rgw-creds";
  destinationSecret = "minio-creds";
  pingUrlSecret = { name = "pings"; key = "mirror"; };
  pushgatewayUrlSecret = { name = "push"; key = "url"; };
  extraEnv = [ { name = "OFFSITE_MAX_DELETE"; value = "5%"; } ];
`)
	if got, want := cj.Namespace+"/"+cj.Name, "backup/mirror-nightly"; got != want {
		t.Errorf("object=%q, want %q", got, want)
	}
	if got, want := cj.Spec.Schedule+" "+*cj.Spec.TimeZone, "30 2 * * * America/New_York"; got != want {
		t.Errorf("schedule=%q, want %q", got, want)
	}
	env := envByName(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env)
	for name, want := range map[string]string{
		"OFFSITE_MODE":        "sync",
		"RGW_BUCKETS":         "photos,documents",
		"RGW_EXCLUDE_BUCKETS": "scratch",
		"RGW_REGION":          "default",
		"MINIO_BUCKET":        "offsite-rgw",
		"OFFSITE_MAX_DELETE":  "5%",
	} {
		if got := env[name].Value; got != want {
			t.Errorf("%s=%q, want %q", name, got, want)
		}
	}
	checkSecretsAsFiles(t, cj, map[string]string{
		"RGW_ACCESS_KEY_ID_FILE":       "rgw-creds/AWS_ACCESS_KEY_ID",
		"RGW_SECRET_ACCESS_KEY_FILE":   "rgw-creds/AWS_SECRET_ACCESS_KEY",
		"MINIO_ACCESS_KEY_ID_FILE":     "minio-creds/AWS_ACCESS_KEY_ID",
		"MINIO_SECRET_ACCESS_KEY_FILE": "minio-creds/AWS_SECRET_ACCESS_KEY",
		"OFFSITE_PING_URL_FILE":        "pings/mirror",
		"OFFSITE_PUSHGATEWAY_URL_FILE": "push/url",
	})
}

// resources merge over the defaults: setting one limit keeps the others.
func TestCronJobResourcesMerge(t *testing.T) {
	c := cronJob(t, `resources.limits.memory = "2Gi";`).Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if got, want := c.Resources.Limits[corev1.ResourceMemory], resource.MustParse("2Gi"); got.Cmp(want) != 0 {
		t.Errorf("memory limit=%s, want %s", got.String(), want.String())
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceEphemeralStorage} {
		if q := c.Resources.Limits[name]; q.IsZero() {
			t.Errorf("%s limit lost by setting the memory limit", name)
		}
		if q := c.Resources.Requests[name]; q.IsZero() {
			t.Errorf("%s request lost by setting the memory limit", name)
		}
	}
}

// Shards make the Job Indexed, every shard at once, each told the count,
// with retries and safety stops per shard; one shard is the plain Job.
// maxDurationSeconds sets the run's deadline.
func TestCronJobShards(t *testing.T) {
	cj := cronJob(t, `shards = 3; backoffLimit = 4;`)
	job := cj.Spec.JobTemplate.Spec
	if job.CompletionMode == nil || *job.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode=%v, want Indexed", job.CompletionMode)
	}
	if job.Completions == nil || job.Parallelism == nil || *job.Completions != 3 || *job.Parallelism != 3 {
		t.Errorf("completions=%v parallelism=%v, want 3 and 3", job.Completions, job.Parallelism)
	}
	// One backoffLimit would be shared by every shard: one shard's failures
	// would use up the retries of the others.
	if job.BackoffLimitPerIndex == nil || *job.BackoffLimitPerIndex != 4 || job.BackoffLimit != nil {
		t.Errorf("backoffLimitPerIndex=%v backoffLimit=%v, want 4 per index and no shared limit", job.BackoffLimitPerIndex, job.BackoffLimit)
	}
	env := envByName(t, job.Template.Spec.Containers[0].Env)
	if got := env["OFFSITE_SHARDS"].Value; got != "3" {
		t.Errorf("OFFSITE_SHARDS=%q, want 3", got)
	}
	checkExitCodes(t, cj, map[batchv1.PodFailurePolicyAction][]int32{
		batchv1.PodFailurePolicyActionFailJob:   {2},
		batchv1.PodFailurePolicyActionFailIndex: {3, 4},
	})

	timed := envByName(t, cronJob(t, `maxDurationSeconds = 5 * 3600; backoffLimit = 0;`).Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env)
	if got := timed["OFFSITE_MAX_DURATION"].Value; got != "18000s" {
		t.Errorf("OFFSITE_MAX_DURATION=%q, want 18000s", got)
	}

	one := cronJob(t, `shards = 1;`).Spec.JobTemplate.Spec
	if one.CompletionMode != nil || one.Completions != nil || one.Parallelism != nil || one.BackoffLimitPerIndex != nil {
		t.Errorf("one shard: completionMode=%v completions=%v parallelism=%v backoffLimitPerIndex=%v, want none", one.CompletionMode, one.Completions, one.Parallelism, one.BackoffLimitPerIndex)
	}
	if _, ok := envByName(t, one.Template.Spec.Containers[0].Env)["OFFSITE_SHARDS"]; ok {
		t.Errorf("one shard sets OFFSITE_SHARDS")
	}
}

// maxDurationSeconds must leave each run time for its report, pings and
// metrics before the Job's deadline, which counts every retry.
func TestCronJobMaxDuration(t *testing.T) {
	for _, tt := range []struct {
		args string
		ok   bool
	}{
		{`activeDeadlineSeconds = 21600; backoffLimit = 0; maxDurationSeconds = 21599;`, false},
		{`activeDeadlineSeconds = 21600; backoffLimit = 0; maxDurationSeconds = 19440;`, true}, // 10%
		{`activeDeadlineSeconds = 21600; backoffLimit = 0; maxDurationSeconds = 19441;`, false},
		{`activeDeadlineSeconds = 21600; backoffLimit = 2; maxDurationSeconds = 5 * 3600;`, false}, // three runs of 2 h
		{`activeDeadlineSeconds = 21600; backoffLimit = 2; maxDurationSeconds = 6480;`, true},
		{`activeDeadlineSeconds = 1800; backoffLimit = 0; maxDurationSeconds = 1620;`, false}, // 5 min at least
		{`activeDeadlineSeconds = 1800; backoffLimit = 0; maxDurationSeconds = 1500;`, true},
		{`shards = 4; activeDeadlineSeconds = 21600; backoffLimit = 1; maxDurationSeconds = 9720;`, true}, // per index
		{`shards = 4; activeDeadlineSeconds = 21600; backoffLimit = 1; maxDurationSeconds = 9721;`, false},
	} {
		_, err := nixEval(t, "(import ./cronjob.nix ({"+required+"} // {"+tt.args+"})).cronJob")
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.args, err)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "leaves no time for the report, pings and metrics")) {
			t.Errorf("%s: err=%v, want it refused for leaving no time", tt.args, err)
		}
	}
}

// The verify job checks the mirror daily, after it, with the same
// settings and Secrets.
func TestVerifyCronJob(t *testing.T) {
	all := cronJobs(t, "(import ./cronjob.nix ({"+required+`} // {
  sourceSecret = "rgw-creds";
  excludeBuckets = [ "scratch" ];
  pushgatewayUrlSecret = { name = "push"; key = "url"; };
  verify.pingUrlSecret = { name = "pings"; key = "verify"; };
})).cronJobs`)
	if got, want := sortedKeys(all), "rgw-mirror rgw-mirror-verify"; got != want {
		t.Fatalf("CronJobs %s, want %s (the drill is off by default)", got, want)
	}
	mirror, cj := all["rgw-mirror"], all["rgw-mirror-verify"]
	if got, want := cj.Spec.Schedule, "0 6 * * *"; got != want {
		t.Errorf("schedule=%q, want %q (after the mirror's 04:00)", got, want)
	}
	if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != *mirror.Spec.TimeZone {
		t.Errorf("timeZone=%v, want the mirror's %v", cj.Spec.TimeZone, *mirror.Spec.TimeZone)
	}
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if got, want := strings.Join(c.Args, " "), "verify rgw"; got != want {
		t.Errorf("args=%q, want %q", got, want)
	}
	env := envByName(t, c.Env)
	menv := envByName(t, mirror.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env)
	for _, name := range []string{"RGW_ENDPOINT", "RGW_BUCKETS", "RGW_EXCLUDE_BUCKETS", "MINIO_ENDPOINT", "MINIO_BUCKET", "MINIO_REGION"} {
		if env[name].Value == "" || env[name].Value != menv[name].Value {
			t.Errorf("%s=%q, want the mirror's %q", name, env[name].Value, menv[name].Value)
		}
	}
	for _, name := range []string{"OFFSITE_MODE", "OFFSITE_SHARDS", "OFFSITE_MAX_DURATION"} {
		if _, ok := env[name]; ok {
			t.Errorf("verify sets the mirror's %s", name)
		}
	}
	checkSecretsAsFiles(t, cj, map[string]string{
		"RGW_ACCESS_KEY_ID_FILE":       "rgw-creds/AWS_ACCESS_KEY_ID",
		"RGW_SECRET_ACCESS_KEY_FILE":   "rgw-creds/AWS_SECRET_ACCESS_KEY",
		"MINIO_ACCESS_KEY_ID_FILE":     "rgw-mirror-s3-credentials/AWS_ACCESS_KEY_ID",
		"MINIO_SECRET_ACCESS_KEY_FILE": "rgw-mirror-s3-credentials/AWS_SECRET_ACCESS_KEY",
		"OFFSITE_PING_URL_FILE":        "pings/verify",
		"OFFSITE_PUSHGATEWAY_URL_FILE": "push/url",
	})
	checkSecurityContext(t, cj)
	checkExitCodes(t, cj, map[batchv1.PodFailurePolicyAction][]int32{batchv1.PodFailurePolicyActionFailJob: {2, 3, 4}})
	if job := cj.Spec.JobTemplate.Spec; job.ActiveDeadlineSeconds == nil || job.BackoffLimit == nil || job.CompletionMode != nil {
		t.Errorf("activeDeadlineSeconds=%v backoffLimit=%v completionMode=%v, want a deadline, a backoffLimit, no shards", job.ActiveDeadlineSeconds, job.BackoffLimit, job.CompletionMode)
	}

	// Shards are the mirror's alone; verify can be turned off.
	sharded := cronJobs(t, "(import ./cronjob.nix ({"+required+"} // { shards = 3; })).cronJobs")
	if sharded["rgw-mirror-verify"].Spec.JobTemplate.Spec.CompletionMode != nil {
		t.Errorf("verify is sharded with the mirror")
	}
	off := cronJobs(t, "(import ./cronjob.nix ({"+required+"} // { verify.enable = false; })).cronJobs")
	if got, want := sortedKeys(off), "rgw-mirror"; got != want {
		t.Errorf("verify.enable = false: CronJobs %s, want %s", got, want)
	}
}

// The drill restores a bucket into a scratch bucket weekly, with the RGW
// credentials it is given.
func TestDrillCronJob(t *testing.T) {
	all := cronJobs(t, "(import ./cronjob.nix ({"+required+`} // {
  drill = {
    enable = true;
    bucket = "paperless";
    sample = 200;
    sourceSecret = "rgw-drill-creds";
    pingUrlSecret = { name = "pings"; key = "drill"; };
  };
})).cronJobs`)
	cj := all["rgw-mirror-drill"]
	if cj == nil {
		t.Fatalf("no rgw-mirror-drill CronJob in %s", sortedKeys(all))
	}
	if got, want := cj.Spec.Schedule, "0 13 * * 0"; got != want {
		t.Errorf("schedule=%q, want %q (weekly)", got, want)
	}
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if got, want := strings.Join(c.Args, " "), "drill rgw --bucket paperless --sample 200"; got != want {
		t.Errorf("args=%q, want %q", got, want)
	}
	env := envByName(t, c.Env)
	for _, name := range []string{"RGW_ENDPOINT", "MINIO_ENDPOINT", "MINIO_BUCKET"} {
		if env[name].Value == "" {
			t.Errorf("%s not set", name)
		}
	}
	if _, ok := env["RGW_BUCKETS"]; ok {
		t.Errorf("the drill sets RGW_BUCKETS; it restores --bucket")
	}
	checkSecretsAsFiles(t, cj, map[string]string{
		"RGW_ACCESS_KEY_ID_FILE":       "rgw-drill-creds/AWS_ACCESS_KEY_ID",
		"RGW_SECRET_ACCESS_KEY_FILE":   "rgw-drill-creds/AWS_SECRET_ACCESS_KEY",
		"MINIO_ACCESS_KEY_ID_FILE":     "rgw-mirror-s3-credentials/AWS_ACCESS_KEY_ID",
		"MINIO_SECRET_ACCESS_KEY_FILE": "rgw-mirror-s3-credentials/AWS_SECRET_ACCESS_KEY",
		"OFFSITE_PING_URL_FILE":        "pings/drill",
	})
	checkSecurityContext(t, cj)

	plain := cronJobs(t, "(import ./cronjob.nix ({"+required+`} // { drill = { enable = true; bucket = "photos"; }; })).cronJobs`)
	if got, want := strings.Join(plain["rgw-mirror-drill"].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, " "), "drill rgw --bucket photos"; got != want {
		t.Errorf("args=%q, want %q", got, want)
	}
}

// The Secret shapes the function documents are the ones the jobs read.
func TestSecretShapes(t *testing.T) {
	args := "{" + required + `} // {
  pingUrlSecret = { name = "pings"; key = "mirror"; };
  verify.pingUrlSecret = { name = "pings"; key = "verify"; };
  pushgatewayUrlSecret = { name = "push"; key = "url"; };
  drill = { enable = true; bucket = "photos"; sourceSecret = "rgw-drill"; pingUrlSecret = { name = "pings"; key = "drill"; }; };
}`
	var shapes []struct {
		Name      string   `json:"name"`
		Namespace string   `json:"namespace"`
		Keys      []string `json:"keys"`
		Holds     string   `json:"holds"`
	}
	decodeStrict(t, mustEval(t, "(import ./cronjob.nix ("+args+")).secrets"), &shapes)
	documented := map[string]bool{}
	for _, s := range shapes {
		if s.Namespace != "applications" || s.Holds == "" {
			t.Errorf("secret %+v: want namespace applications and what it holds", s)
		}
		for _, k := range s.Keys {
			documented[s.Name+"/"+k] = true
		}
	}
	read := map[string]bool{}
	for _, cj := range cronJobs(t, "(import ./cronjob.nix ("+args+")).cronJobs") {
		for _, ref := range secretFiles(t, cj) {
			read[ref] = true
		}
	}
	if got, want := len(read), 10; got != want {
		t.Errorf("secret keys read=%d, want %d: %v", got, want, read)
	}
	for k := range read {
		if !documented[k] {
			t.Errorf("a job reads %s, which the secret shapes do not list", k)
		}
	}
	for k := range documented {
		if !read[k] {
			t.Errorf("secret shapes list %s, which no job reads", k)
		}
	}
}

func TestCronJobRejects(t *testing.T) {
	tests := []struct {
		name, args, want string
	}{
		{"image by tag", `image = "registry.lan/offsite:1.0";`, "not pinned by digest"},
		{"short digest", `image = "registry.lan/offsite@sha256:0123";`, "not pinned by digest"},
		{"mode", `mode = "mirror";`, "is not copy, sync or auto"},
		{"schedule fields", `schedule = "0 4 * *";`, "five-field cron"},
		{"schedule zone", `schedule = "CRON_TZ=UTC 0 4 * * *";`, "set the zone with timeZone"},
		{"no time zone", `timeZone = null;`, "timeZone is required"},
		{"time zone Local", `timeZone = "Local";`, "not an IANA time zone name"},
		{"time zone with a space", `timeZone = "Europe/ Berlin";`, "not an IANA time zone name"},
		{"rgw endpoint", `rgwEndpoint = "rook-ceph-rgw:80";`, "rgwEndpoint rook-ceph-rgw:80 is not an http"},
		{"minio endpoint", `minioEndpoint = "http://user:pass@10.10.10.209:9000";`, "minioEndpoint"},
		{"no buckets", `buckets = null;`, "buckets is required"},
		{"empty bucket list", `buckets = [ ];`, "RGW_BUCKETS=*"},
		{"every bucket in a list", `buckets = [ "*" "photos" ];`, "buckets is required"},
		{"bucket string", `buckets = "photos";`, "buckets is required"},
		{"no shards", `shards = 0;`, "shards 0 is not a whole number"},
		{"shards a string", `shards = "3";`, "is not a whole number"},
		{"max duration past the deadline", `maxDurationSeconds = 6 * 3600;`, "leaves no time for the report"},
		{"max duration a string", `maxDurationSeconds = "5h";`, "is not a whole number of seconds"},
		{"no deadline", `activeDeadlineSeconds = null;`, "activeDeadlineSeconds null is not a whole number of seconds above 0: it is required"},
		{"deadline a string", `activeDeadlineSeconds = "6h";`, "activeDeadlineSeconds 6h is not a whole number"},
		{"ping URL as a value", `extraEnv = [ { name = "OFFSITE_PING_URL"; value = "https://hc.lan/ping/abc"; } ];`, "extraEnv may not set OFFSITE_PING_URL"},
		{"secret as a value", `extraEnv = [ { name = "MINIO_SECRET_ACCESS_KEY"; value = "x"; } ];`, "extraEnv may not set MINIO_SECRET_ACCESS_KEY"},
		{"env set twice", `extraEnv = [ { name = "RGW_BUCKETS"; value = "a"; } ];`, "extraEnv may not set RGW_BUCKETS"},
		{"ping secret without key", `pingUrlSecret = { name = "pings"; };`, "pingUrlSecret must be"},
		{"drill without bucket", `drill.enable = true;`, "drill.bucket is required"},
		{"drill sample zero", `drill = { enable = true; bucket = "photos"; sample = 0; };`, "drill.sample 0"},
		{"verify schedule", `verify.schedule = "daily";`, "verify.schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Later attributes win in `//`, so tt.args overrides required.
			_, err := nixEval(t, "builtins.attrValues (import ./cronjob.nix ({"+required+"} // {"+tt.args+"})).cronJobs")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%v, want one containing %q", err, tt.want)
			}
		})
	}
}

// kubenixResources is the expression for the Kubernetes resources the
// kubenix modules make with module added ("" for none), evaluated with
// the project's stand-in lib and a stand-in for kubenix's
// kubernetes.resources option.
func kubenixResources(module string) string {
	return `
let
  lib = import ../check/nixpkgs/lib.nix;
in
(lib.evalModules {
  modules = [
    ./kubenix.nix
    { options.kubernetes.resources = lib.mkOption { type = lib.types.attrsOf lib.types.attrs; default = { }; }; }
    ` + module + `
  ];
}).config.kubernetes.resources`
}

// Without buckets the kubenix module fails too: RGW_BUCKETS is required.
func TestKubenixModuleRequiresBuckets(t *testing.T) {
	_, err := nixEval(t, kubenixResources(`{ offsite.rgwMirror = { enable = true; settings = removeAttrs {`+required+`} [ "buckets" ]; }; }`))
	if err == nil || !strings.Contains(err.Error(), "buckets is required") {
		t.Fatalf("err=%v, want one saying buckets is required", err)
	}
}

// kubenix adds apiVersion and kind from the resource type.
const withTypes = `builtins.mapAttrs (_: c: { apiVersion = "batch/v1"; kind = "CronJob"; } // c)`

// The kubenix module yields the same CronJobs as the plain function.
func TestKubenixModule(t *testing.T) {
	for _, settings := range []string{"{" + required + "}", "import ./examples/cluster.nix"} {
		fromModule := cronJobs(t, withTypes+" ("+kubenixResources(`{ offsite.rgwMirror = { enable = true; settings = `+settings+`; }; }`)+").cronJobs")
		fromFunction := cronJobs(t, "(import ./cronjob.nix ("+settings+")).cronJobs")
		if got, want := sortedKeys(fromModule), sortedKeys(fromFunction); got != want {
			t.Fatalf("%s: kubenix CronJobs %s, the function's %s", settings, got, want)
		}
		for name := range fromFunction {
			a, err := yaml.Marshal(fromModule[name])
			if err != nil {
				t.Fatal(err)
			}
			b, err := yaml.Marshal(fromFunction[name])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s: kubenix module's %s:\n%s\nthe function's:\n%s", settings, name, a, b)
			}
		}
	}

	// shards, as the option or as a setting.
	for _, module := range []string{
		`{ offsite.rgwMirror = { enable = true; shards = 4; settings = {` + required + `}; }; }`,
		`{ offsite.rgwMirror = { enable = true; settings = {` + required + `} // { shards = 4; }; }; }`,
		`{ offsite.rgwMirror = { enable = true; shards = 4; settings = {` + required + `} // { shards = 4; }; }; }`,
	} {
		sharded := cronJobs(t, withTypes+" ("+kubenixResources(module)+").cronJobs")["rgw-mirror"]
		if job := sharded.Spec.JobTemplate.Spec; job.CompletionMode == nil || *job.CompletionMode != batchv1.IndexedCompletion || job.Completions == nil || *job.Completions != 4 || job.Parallelism == nil || *job.Parallelism != 4 {
			t.Errorf("%s: completionMode=%v completions=%v parallelism=%v, want 4 Indexed", module, job.CompletionMode, job.Completions, job.Parallelism)
		}
	}
	if _, err := nixEval(t, kubenixResources(`{ offsite.rgwMirror = { enable = true; shards = 0; settings = {`+required+`}; }; }`)); err == nil {
		t.Errorf("kubenix shards = 0 accepted")
	}
	_, err := nixEval(t, kubenixResources(`{ offsite.rgwMirror = { enable = true; shards = 2; settings = {`+required+`} // { shards = 3; }; }; }`))
	if err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("shards = 2 with settings.shards = 3: err=%v, want them said to disagree", err)
	}

	disabled := mustEval(t, kubenixResources(""))
	if got, want := string(disabled), "{}"; got != want {
		t.Errorf("resources when disabled=%s, want %s", got, want)
	}
}

func sortedKeys[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

func envByName(t *testing.T, env []corev1.EnvVar) map[string]corev1.EnvVar {
	t.Helper()
	m := make(map[string]corev1.EnvVar, len(env))
	for _, e := range env {
		if _, dup := m[e.Name]; dup {
			t.Errorf("env %s set twice", e.Name)
		}
		m[e.Name] = e
	}
	return m
}

func isTrue(b *bool) bool { return b != nil && *b }

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
