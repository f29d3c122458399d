package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// validateRig is make validate's world: one MinIO standing in for RGW,
// one for the offsite MinIO, the offsite binary, and kubectl and ssh
// stand-ins (testdata/validate) on PATH that record their calls.
type validateRig struct {
	rgw, minio *harness.Minio
	root       string // the repository, where make runs
	evidence   string // EVIDENCE
	calls      string // the stand-ins' record of their calls
	snapDir    string // the node's snapshot directory
	snapshot   string // the newest local snapshot's name
	env        []string
}

const validateBucket = "photos"

func newValidateRig(t *testing.T) *validateRig {
	t.Helper()
	rgw := harness.StartMinio(t, validateBucket)
	minio := harness.StartMinio(t, mirror.DefaultDestBucket, offload.DefaultBucket)
	rgw.Put(t, validateBucket, "2026/beach.jpg", []byte("a photo"))
	rgw.Put(t, validateBucket, "2026/dunes.jpg", []byte("another photo"))

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	harness.BuildOffsite(t, bin)
	for _, name := range []string{"kubectl", "ssh"} {
		b, err := os.ReadFile(filepath.Join("testdata", "validate", name))
		if err == nil {
			err = os.WriteFile(filepath.Join(bin, name), b, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// The node: an older snapshot and a fresh one, the newest by mtime.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	snapDir, state := filepath.Join(tmp, "snapshots"), filepath.Join(tmp, "state")
	for _, d := range []string{snapDir, state, filepath.Join(tmp, "standin")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	old := offloadtest.WriteRaw(t, snapDir, offloadtest.Name(host, now.Add(-12*time.Hour).Unix()), offloadtest.Snapshot(2, 1))
	if err := os.Chtimes(old, now.Add(-12*time.Hour), now.Add(-12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := &validateRig{rgw: rgw, minio: minio, root: root, evidence: filepath.Join(tmp, "evidence"),
		calls: filepath.Join(tmp, "standin", "calls"), snapDir: snapDir, snapshot: offloadtest.Name(host, now.Unix())}
	offloadtest.WriteRaw(t, snapDir, r.snapshot, offloadtest.Snapshot(3, 2))

	r.env = []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + tmp,
		"OFFSITE_BIN=" + filepath.Join(bin, "offsite"),
		"STANDIN_CALLS=" + r.calls,
		"STANDIN_STATE=" + filepath.Join(tmp, "standin"),
		"RGW_ENDPOINT=" + rgw.Endpoint, "RGW_ACCESS_KEY_ID=" + rgw.AccessKey, "RGW_SECRET_ACCESS_KEY=" + rgw.SecretKey,
		"RGW_BUCKETS=" + validateBucket,
		"MINIO_ENDPOINT=" + minio.Endpoint, "MINIO_ACCESS_KEY_ID=" + minio.AccessKey, "MINIO_SECRET_ACCESS_KEY=" + minio.SecretKey,
		"OFFSITE_RETRIES=1",
		"OFFSITE_SNAPSHOT_DIR=" + snapDir, "OFFSITE_STATE_DIR=" + state,
		"OFFSITE_LOG_FORMAT=json",
		"OFFSITE_QUIET_PERIOD=1s", // the fresh snapshot was written moments ago
	}
	return r
}

// make runs a make target in the repository with the rig's environment
// and returns its exit code and output.
func (r *validateRig) make(t *testing.T, target string, env ...string) (int, string) {
	t.Helper()
	cmd := harness.Command(t.Context(), 10*time.Minute, "make", "--no-print-directory", "-C", r.root, target,
		"NODE=root@k3s-1", "VALIDATE_BUCKET="+validateBucket, "OFFSITE=offsite",
		"EVIDENCE="+r.evidence, "SNAPSHOT_DIR="+r.snapDir, "STEP_TIMEOUT=120", "MIRROR_TIMEOUT=120")
	cmd.Env = append(append(r.env, env...), "MAKEFLAGS=")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		if cmd.ProcessState == nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		code = cmd.ProcessState.ExitCode()
	}
	t.Logf("make %s: exit code %d\n%s", target, code, out)
	return code, string(out)
}

// validateSteps are make validate's steps, in order.
var validateSteps = []string{"01-put-test-object", "02-mirror-job-create", "03-mirror-job-wait", "04-mirror-job-log",
	"05-mirror-check-object", "06-node-hostname", "07-etcd-list-snapshots", "08-etcd-offload", "09-etcd-offload-journal",
	"10-etcd-check-snapshot", "11-verify-rgw", "12-verify-etcd", "13-remove-test-object"}

// readEvidence returns the run's evidence files by step, and the summary.
// There is one directory, named by the UTC date.
func (r *validateRig) readEvidence(t *testing.T) (map[string]string, string) {
	t.Helper()
	days, err := os.ReadDir(r.evidence)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`).MatchString(days[0].Name()) {
		t.Fatalf("evidence directories %v, want one named YYYY-MM-DD", days)
	}
	dir := filepath.Join(r.evidence, days[0].Name())
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]string{}
	var summary string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if f.Name() == "summary.txt" {
			summary = string(b)
			continue
		}
		steps[strings.TrimSuffix(f.Name(), ".txt")] = string(b)
	}
	return steps, summary
}

// checkStep asserts a step's evidence holds its command, both timestamps
// and the exit code want.
func checkStep(t *testing.T, name, text, want string) {
	t.Helper()
	stamp := `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`
	for _, re := range []string{`(?m)^command: \S+`, `(?m)^start: ` + stamp + `$`, `(?m)^end: ` + stamp + `$`,
		`(?m)^exit code: ` + want + `$`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("evidence %s does not match %s:\n%s", name, re, text)
		}
	}
}

// checkNoSecrets asserts no test secret appears in any evidence file.
func (r *validateRig) checkNoSecrets(t *testing.T, steps map[string]string, summary string) {
	t.Helper()
	f, err := os.Open(filepath.Join(r.root, "internal", "harness", "test-secrets.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var secrets []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			secrets = append(secrets, line)
		}
	}
	if len(secrets) == 0 || !strings.Contains(strings.Join(secrets, "\n"), r.rgw.SecretKey) {
		t.Fatalf("test-secrets.txt does not list the servers' secret %d", len(r.rgw.SecretKey))
	}
	steps["summary"] = summary
	for name, text := range steps {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("evidence %s holds a secret", name)
			}
		}
	}
}

// testObjects lists the test objects under the canary prefix, in RGW's
// bucket or in its mirror.
func testObjects(t *testing.T, s *harness.Minio, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for k := range s.List(t, bucket, prefix) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestMakeValidate(t *testing.T) {
	r := newValidateRig(t)
	code, out := r.make(t, "validate")
	if code != 0 {
		t.Fatalf("make validate exit code %d, want 0", code)
	}
	steps, summary := r.readEvidence(t)
	if got, want := len(steps), len(validateSteps); got != want {
		t.Errorf("%d evidence files, want %d: %v", got, want, steps)
	}
	for _, name := range validateSteps {
		checkStep(t, name, steps[name], "0")
	}
	if !strings.Contains(summary, "validate: ok") || !strings.Contains(out, "validate: ok") {
		t.Errorf("summary does not say ok:\n%s", summary)
	}
	r.checkNoSecrets(t, steps, summary)

	// The test object went through the mirror, then left RGW.
	mirrored := testObjects(t, r.minio, mirror.DefaultDestBucket, validateBucket+"/"+mirror.CanaryPrefix)
	if len(mirrored) != 1 {
		t.Fatalf("mirror holds test objects %v, want one", mirrored)
	}
	key := strings.TrimPrefix(mirrored[0], validateBucket+"/")
	if !strings.Contains(steps["01-put-test-object"], key) || !strings.Contains(steps["05-mirror-check-object"], "mirrored: ") {
		t.Errorf("evidence does not follow test object %s:\n%s\n%s", key, steps["01-put-test-object"], steps["05-mirror-check-object"])
	}
	if left := testObjects(t, r.rgw, validateBucket, mirror.CanaryPrefix); len(left) != 0 {
		t.Errorf("RGW still holds test objects %v", left)
	}
	if !strings.Contains(steps["13-remove-test-object"], "removed "+validateBucket+"/"+key) {
		t.Errorf("remove evidence:\n%s", steps["13-remove-test-object"])
	}

	// The newest local snapshot and its sidecar reached MinIO, and the
	// check fetched that one.
	host, _, _ := strings.Cut(strings.TrimPrefix(r.snapshot, "etcd-snapshot-"), "-")
	etcd := r.minio.List(t, offload.DefaultBucket, host+"/")
	for _, k := range []string{host + "/" + r.snapshot, host + "/" + r.snapshot + offload.SidecarSuffix} {
		if _, ok := etcd[k]; !ok {
			t.Errorf("MinIO has no %s: %v", k, etcd)
		}
	}
	if !strings.Contains(steps["10-etcd-check-snapshot"], "--name "+r.snapshot) || !strings.Contains(steps["10-etcd-check-snapshot"], "verified: sidecar hash") {
		t.Errorf("etcd check evidence:\n%s", steps["10-etcd-check-snapshot"])
	}
	calls := r.readCalls(t)
	for _, want := range []string{"kubectl -n applications create job --from=cronjob/rgw-mirror rgw-mirror-validate-",
		"ssh -o BatchMode=yes root@k3s-1 sudo -n systemctl start etcd-offload.service"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no call %q in:\n%s", want, calls)
		}
	}
}

func (r *validateRig) readCalls(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(r.calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// A mirror Job that fails fails make validate, the evidence says which
// step, and the test object is removed all the same. The Job's log also
// shows a secret here, which the evidence must not.
func TestMakeValidateMirrorFails(t *testing.T) {
	r := newValidateRig(t)
	code, out := r.make(t, "validate", "STANDIN_MIRROR_FAIL=1", "STANDIN_LEAK=1")
	if code == 0 {
		t.Fatal("make validate exit code 0 with a failing mirror job")
	}
	steps, summary := r.readEvidence(t)
	checkStep(t, "03-mirror-job-wait", steps["03-mirror-job-wait"], "1")
	if !strings.Contains(steps["03-mirror-job-wait"], "failed, mirror exit code 1") {
		t.Errorf("wait evidence does not say the job failed:\n%s", steps["03-mirror-job-wait"])
	}
	checkStep(t, "04-mirror-job-log", steps["04-mirror-job-log"], "0")
	// The job's log printed a secret (STANDIN_LEAK): the evidence has it redacted.
	if !strings.Contains(steps["04-mirror-job-log"], "a secret: [redacted]") {
		t.Errorf("the job log's secret is not redacted:\n%s", steps["04-mirror-job-log"])
	}
	if _, ok := steps["05-mirror-check-object"]; ok {
		t.Errorf("the check of the test object ran after the job failed")
	}
	for _, want := range []string{"03-mirror-job-wait: FAILED (exit code 1)", "05-mirror-check-object: skipped: 03-mirror-job-wait failed",
		"13-remove-test-object: ok", "validate: FAILED: 03-mirror-job-wait"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if !strings.Contains(out, "validate: FAILED: 03-mirror-job-wait") {
		t.Errorf("output does not name the failed step")
	}
	checkStep(t, "13-remove-test-object", steps["13-remove-test-object"], "0")
	r.checkNoSecrets(t, steps, summary)
	if left := testObjects(t, r.rgw, validateBucket, mirror.CanaryPrefix); len(left) != 0 {
		t.Errorf("RGW still holds test objects %v", left)
	}
	if m := testObjects(t, r.minio, mirror.DefaultDestBucket, validateBucket+"/"); len(m) != 0 {
		t.Errorf("the failed job mirrored %v", m)
	}
}

// The dry mode prints every step and runs none: no stand-in is called,
// no object written, no evidence.
func TestMakeValidateDry(t *testing.T) {
	r := newValidateRig(t)
	code, out := r.make(t, "validate-dry")
	if code != 0 {
		t.Fatalf("make validate-dry exit code %d", code)
	}
	for _, name := range validateSteps {
		if !strings.Contains(out, name+" (timeout ") {
			t.Errorf("dry run does not print step %s", name)
		}
	}
	if calls := r.readCalls(t); calls != "" {
		t.Errorf("dry run called the stand-ins:\n%s", calls)
	}
	if _, err := os.Stat(r.evidence); !os.IsNotExist(err) {
		t.Errorf("dry run wrote evidence: %v", err)
	}
	if objs := r.rgw.List(t, validateBucket, ""); len(objs) != 2 {
		t.Errorf("RGW bucket after a dry run: %v", objs)
	}
	if bytes.Contains([]byte(out), []byte(r.rgw.SecretKey)) {
		t.Error("dry run printed a secret")
	}
}
