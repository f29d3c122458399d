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
	rgw, minio  *harness.Minio
	root        string // the repository, where make runs
	evidence    string // EVIDENCE
	calls       string // the stand-ins' record of their calls
	snapDir     string // the node's snapshot directory
	snapshot    string // the newest local snapshot's name
	secretFiles string // the node's secret files (ETCD_SECRET_FILES)
	unitDir     string // where the node's etcd-offload.service is, for systemd-analyze
	env         []string
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
	unitDir := filepath.Join(tmp, "unit")
	for name, dst := range map[string]string{"kubectl": bin, "ssh": bin, "etcd-offload.service": unitDir} {
		b, err := os.ReadFile(filepath.Join("testdata", "validate", name))
		if err == nil {
			err = os.MkdirAll(dst, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, name), b, 0o755)
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
		calls: filepath.Join(tmp, "standin", "calls"), snapDir: snapDir, snapshot: offloadtest.Name(host, now.Unix()), unitDir: unitDir}
	offloadtest.WriteRaw(t, snapDir, r.snapshot, offloadtest.Snapshot(3, 2))
	r.secretFiles = nodeSecrets(t, filepath.Join(tmp, "secrets"), minio.SecretKey)

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
		"STANDIN_UNIT_DIR=" + unitDir,
	}
	// The MinIO side is set up as the deployment sets it up.
	setup := harness.Command(t.Context(), 2*time.Minute, filepath.Join(bin, "offsite"), "setup", "minio")
	setup.Env = r.env
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("setup minio: %v\n%s", err, out)
	}
	return r
}

// nodeSecrets writes the node's sops-nix secrets into dir, root-only as
// sops-nix writes them, and returns their paths (ETCD_SECRET_FILES).
func nodeSecrets(t *testing.T, dir, value string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range []string{"minio_etcd_access_key_id", "minio_etcd_secret_access_key"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(value), 0o400); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return strings.Join(paths, " ")
}

// make runs a make target in the repository with the rig's environment
// and returns its exit code and output.
func (r *validateRig) make(t *testing.T, target string, env ...string) (int, string) {
	t.Helper()
	cmd := harness.Command(t.Context(), 10*time.Minute, "make", "--no-print-directory", "-C", r.root, target,
		"NODE=root@k3s-1", "VALIDATE_BUCKET="+validateBucket, "OFFSITE=offsite",
		"EVIDENCE="+r.evidence, "SNAPSHOT_DIR="+r.snapDir, "ETCD_SECRET_FILES="+r.secretFiles, "STEP_TIMEOUT=120", "MIRROR_TIMEOUT=120")
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

// validateSteps are make validate's steps, in order, by the plan's
// evidence file each is recorded in.
var validateSteps = []struct{ id, file string }{
	{"01-rgw-secret-keys", "phase4-rgw-secret-keys"},
	{"02-put-test-object", "phase4-rgw-mirror-happy"},
	{"03-mirror-job-create", "phase4-rgw-mirror-happy"},
	{"04-mirror-job-wait", "phase4-rgw-mirror-happy"},
	{"05-mirror-job-log", "phase4-rgw-mirror-happy"},
	{"06-mirror-check-object", "phase4-rgw-mirror-happy"},
	{"07-mirror-delete-mode", "phase4-rgw-mirror-delete-safety"},
	{"08-etcd-secret-files", "phase4-etcd-secrets-on-cp"},
	{"09-node-hostname", "phase4-etcd-offload-happy"},
	{"10-etcd-list-snapshots", "phase4-etcd-offload-happy"},
	{"11-etcd-offload", "phase4-etcd-offload-happy"},
	{"12-etcd-offload-journal", "phase4-etcd-offload-happy"},
	{"13-etcd-check-snapshot", "phase4-etcd-offload-happy"},
	{"14-etcd-offload-security", "phase4-etcd-offload-security"},
	{"15-verify-minio", "verify-and-status"},
	{"16-verify-rgw", "verify-and-status"},
	{"17-verify-etcd", "verify-and-status"},
	{"18-status", "verify-and-status"},
	{"19-remove-test-object", "phase4-rgw-mirror-happy"},
}

// evidence is one run's evidence: the files by name (without .txt), each
// step's record by id, and the summary.
type evidence struct {
	files, steps map[string]string
	summary      string
}

// readEvidence reads the run's evidence, the files right in EVIDENCE (an
// earlier run's are in earlier-<run>/).
func (r *validateRig) readEvidence(t *testing.T) evidence {
	t.Helper()
	entries, err := os.ReadDir(r.evidence)
	if err != nil {
		t.Fatal(err)
	}
	ev := evidence{files: map[string]string{}, steps: map[string]string{}}
	for _, f := range entries {
		if f.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.evidence, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if f.Name() == "summary.txt" {
			ev.summary = string(b)
			continue
		}
		ev.files[strings.TrimSuffix(f.Name(), ".txt")] = string(b)
		for _, rec := range strings.Split(string(b), "\nstep: ") {
			id, _, _ := strings.Cut(strings.TrimPrefix(rec, "step: "), "\n")
			ev.steps[id] = "step: " + strings.TrimPrefix(rec, "step: ")
		}
	}
	return ev
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
func (r *validateRig) checkNoSecrets(t *testing.T, files map[string]string, summary string) {
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
	files["summary"] = summary
	for name, text := range files {
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
	ev := r.readEvidence(t)
	files := map[string]bool{}
	for _, s := range validateSteps {
		files[s.file] = true
		checkStep(t, s.id, ev.steps[s.id], "0")
		if !strings.Contains(ev.files[s.file], "step: "+s.id+"\n") {
			t.Errorf("step %s is not in %s.txt", s.id, s.file)
		}
	}
	if got, want := len(ev.files), len(files); got != want {
		t.Errorf("%d evidence files, want %d: %v", got, want, files)
	}
	if !strings.Contains(ev.summary, "validate: ok") || !strings.Contains(out, "validate: ok") {
		t.Errorf("summary does not say ok:\n%s", ev.summary)
	}
	r.checkNoSecrets(t, ev.files, ev.summary)
	for id, want := range map[string][]string{
		"01-rgw-secret-keys": {"secret/s3-credentials holds the keys: AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY",
			"ok: MINIO_SECRET_ACCESS_KEY reads secret/rgw-mirror-s3-credentials key AWS_SECRET_ACCESS_KEY"},
		"07-mirror-delete-mode": {"the log's \"mirror run finished\": status ok, mode copy, delete_mode after",
			"the run report: status ok, mode copy, delete_mode after, max_delete 10%"},
		"08-etcd-secret-files":     {"400:", "minio_etcd_access_key_id", "minio_etcd_secret_access_key"},
		"14-etcd-offload-security": {"--threshold=16 etcd-offload.service", "Overall exposure level for etcd-offload.service: 1.6", "result: ok"},
		"18-status":                {`"ok":true`, `"problems":[]`}, // OFFSITE_LOG_FORMAT=json: one JSON document
	} {
		for _, w := range want {
			if !strings.Contains(ev.steps[id], w) {
				t.Errorf("evidence of %s lacks %q:\n%s", id, w, ev.steps[id])
			}
		}
	}

	// The test object went through the mirror, then left RGW.
	mirrored := testObjects(t, r.minio, mirror.DefaultDestBucket, validateBucket+"/"+mirror.CanaryPrefix)
	if len(mirrored) != 1 {
		t.Fatalf("mirror holds test objects %v, want one", mirrored)
	}
	key := strings.TrimPrefix(mirrored[0], validateBucket+"/")
	if !strings.Contains(ev.steps["02-put-test-object"], key) || !strings.Contains(ev.steps["06-mirror-check-object"], "mirrored: ") {
		t.Errorf("evidence does not follow test object %s:\n%s\n%s", key, ev.steps["02-put-test-object"], ev.steps["06-mirror-check-object"])
	}
	if left := testObjects(t, r.rgw, validateBucket, mirror.CanaryPrefix); len(left) != 0 {
		t.Errorf("RGW still holds test objects %v", left)
	}
	if !strings.Contains(ev.steps["19-remove-test-object"], "removed "+validateBucket+"/"+key) {
		t.Errorf("remove evidence:\n%s", ev.steps["19-remove-test-object"])
	}

	r.checkSnapshotShipped(t, ev)
	calls := r.readCalls(t)
	for _, want := range []string{"kubectl -n applications create job --from=cronjob/rgw-mirror rgw-mirror-validate-",
		"ssh -o BatchMode=yes root@k3s-1 sudo -n systemctl start etcd-offload.service",
		"kubectl -n applications get secret/rgw-mirror-s3-credentials -o go-template="} {
		if !strings.Contains(calls, want) {
			t.Errorf("no call %q in:\n%s", want, calls)
		}
	}

	// A second run keeps the first one's evidence beside its own.
	if code, _ := r.make(t, "validate"); code != 0 {
		t.Fatalf("second make validate exit code %d", code)
	}
	earlier, err := filepath.Glob(filepath.Join(r.evidence, "earlier-*", "phase4-rgw-mirror-happy.txt"))
	if err != nil || len(earlier) != 1 {
		t.Errorf("the first run's evidence was not kept: %v %v", earlier, err)
	}
}

// checkSnapshotShipped asserts the newest local snapshot and its sidecar
// reached MinIO, and the check fetched that one.
func (r *validateRig) checkSnapshotShipped(t *testing.T, ev evidence) {
	t.Helper()
	host, _, _ := strings.Cut(strings.TrimPrefix(r.snapshot, "etcd-snapshot-"), "-")
	etcd := r.minio.List(t, offload.DefaultBucket, host+"/")
	for _, k := range []string{host + "/" + r.snapshot, host + "/" + r.snapshot + offload.SidecarSuffix} {
		if _, ok := etcd[k]; !ok {
			t.Errorf("MinIO has no %s: %v", k, etcd)
		}
	}
	if !strings.Contains(ev.steps["13-etcd-check-snapshot"], "--name "+r.snapshot) || !strings.Contains(ev.steps["13-etcd-check-snapshot"], "verified: sidecar hash") {
		t.Errorf("etcd check evidence:\n%s", ev.steps["13-etcd-check-snapshot"])
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
// shows a secret here, which the evidence must not. On the node, a Secret
// lacks a key, the secret files are readable by all, and the unit is not
// hardened: each of those steps fails and says why.
func TestMakeValidateFailuresAreNamed(t *testing.T) {
	r := newValidateRig(t)
	for _, f := range strings.Fields(r.secretFiles) {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	weak := "[Service]\nExecStart=/run/current-system/sw/bin/offsite offload watch\n"
	if err := os.WriteFile(filepath.Join(r.unitDir, "etcd-offload.service"), []byte(weak), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := r.make(t, "validate", "STANDIN_MIRROR_FAIL=1", "STANDIN_LEAK=1", "STANDIN_SECRET_MISSING=rgw-mirror-s3-credentials/AWS_SECRET_ACCESS_KEY")
	if code == 0 {
		t.Fatal("make validate exit code 0 with a failing mirror job")
	}
	ev := r.readEvidence(t)
	checkStep(t, "04-mirror-job-wait", ev.steps["04-mirror-job-wait"], "1")
	if !strings.Contains(ev.steps["04-mirror-job-wait"], "failed, mirror exit code 1") {
		t.Errorf("wait evidence does not say the job failed:\n%s", ev.steps["04-mirror-job-wait"])
	}
	checkStep(t, "05-mirror-job-log", ev.steps["05-mirror-job-log"], "0")
	// The job's log printed a secret (STANDIN_LEAK): the evidence has it redacted.
	if !strings.Contains(ev.steps["05-mirror-job-log"], "a secret: [redacted]") {
		t.Errorf("the job log's secret is not redacted:\n%s", ev.steps["05-mirror-job-log"])
	}
	if rec := ev.steps["06-mirror-check-object"]; !strings.Contains(rec, "result: skipped: 04-mirror-job-wait failed") || strings.Contains(rec, "command:") {
		t.Errorf("the check of the test object ran after the job failed:\n%s", rec)
	}
	for _, want := range []string{
		"01-rgw-secret-keys: FAILED (exit code 1)",
		"04-mirror-job-wait: FAILED (exit code 1)", "06-mirror-check-object: skipped: 04-mirror-job-wait failed",
		"07-mirror-delete-mode: ok", // the failed run states it too
		"08-etcd-secret-files: FAILED (not mode 0400: ", "14-etcd-offload-security: FAILED (",
		"18-status: FAILED (exit code 4)", "19-remove-test-object: ok", "validate: FAILED: 01-rgw-secret-keys 04-mirror-job-wait",
	} {
		if !strings.Contains(ev.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, ev.summary)
		}
	}
	if !strings.Contains(ev.steps["01-rgw-secret-keys"], "MISSING: MINIO_SECRET_ACCESS_KEY reads secret/rgw-mirror-s3-credentials key AWS_SECRET_ACCESS_KEY") {
		t.Errorf("secret keys evidence:\n%s", ev.steps["01-rgw-secret-keys"])
	}
	if !strings.Contains(out, "validate: FAILED: 01-rgw-secret-keys 04-mirror-job-wait") {
		t.Errorf("output does not name the failed steps")
	}
	checkStep(t, "19-remove-test-object", ev.steps["19-remove-test-object"], "0")
	r.checkNoSecrets(t, ev.files, ev.summary)
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
	for _, s := range validateSteps {
		if !strings.Contains(out, s.id+" (timeout ") || !strings.Contains(out, "evidence "+s.file+".txt") {
			t.Errorf("dry run does not print step %s and its evidence file", s.id)
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
