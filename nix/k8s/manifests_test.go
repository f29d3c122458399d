package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The stand-in for a decrypted SOPS file (sops is not needed to test the
// rendering: manifests.sh takes a file without SOPS metadata as decrypted).
const exampleSecrets = "examples/secrets.example.json"

// Which SOPS key each rendered Secret key holds (nix/k8s/secrets.nix).
var sopsKeys = map[string]string{
	"rgw-mirror-s3-credentials/AWS_ACCESS_KEY_ID":     "minio_rgw_access_key_id",
	"rgw-mirror-s3-credentials/AWS_SECRET_ACCESS_KEY": "minio_rgw_secret_access_key",
	"s3-credentials/AWS_ACCESS_KEY_ID":                "rgw_access_key_id",
	"s3-credentials/AWS_SECRET_ACCESS_KEY":            "rgw_secret_access_key",
	"rgw-drill-s3-credentials/AWS_ACCESS_KEY_ID":      "rgw_drill_access_key_id",
	"rgw-drill-s3-credentials/AWS_SECRET_ACCESS_KEY":  "rgw_drill_secret_access_key",
	"offsite-ping-urls/rgw-mirror":                    "offsite_ping_rgw_mirror",
	"offsite-ping-urls/rgw-mirror-verify":             "offsite_ping_rgw_mirror_verify",
	"offsite-ping-urls/rgw-mirror-drill":              "offsite_ping_rgw_mirror_drill",
	"offsite-pushgateway/url":                         "offsite_pushgateway_url",
}

// makeManifests runs `make manifests` from the repository's root with
// vars, and returns its output and error.
func makeManifests(t *testing.T, vars ...string) (string, error) {
	t.Helper()
	if _, err := nixEval(t, "true"); err != nil {
		t.Fatalf("nix-instantiate: %v", err)
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		if ok, _ := strconv.ParseBool(os.Getenv(requireNixEnv)); ok {
			t.Fatalf("make not found (%s=1 forbids skipping): %v", requireNixEnv, err)
		}
		t.Skipf("make not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a render takes seconds
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, append([]string{"-s", "manifests"}, vars...)...)
	cmd.Dir = "../.."
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func abs(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// make manifests renders the example's CronJobs, as the plain function
// does, and their Secrets from the decrypted SOPS values, into files only
// their owner reads; no secret value reaches a CronJob.
func TestMakeManifests(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests")
	out, err := makeManifests(t, "MANIFESTS_OUT="+dir, "SOPS_FILE="+abs(t, exampleSecrets), "MANIFESTS_CONFIG="+abs(t, "examples/cluster.nix"))
	if err != nil {
		t.Fatalf("make manifests: %v\n%s", err, out)
	}
	if !strings.Contains(out, "is not encrypted") {
		t.Errorf("output does not warn that the SOPS file is not encrypted:\n%s", out)
	}
	raw, err := os.ReadFile(exampleSecrets)
	if err != nil {
		t.Fatal(err)
	}
	var decrypted map[string]string
	if err := json.Unmarshal(raw, &decrypted); err != nil {
		t.Fatal(err)
	}

	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("output directory: %v, mode %v, want 0700", err, fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cronJobFiles := map[string][]byte{}
	rendered := map[string]*corev1.Secret{}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		path := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (the Secrets hold their values)", e.Name(), fi.Mode().Perm())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct{ Kind string }
		if err := json.Unmarshal(data, &meta); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		switch meta.Kind {
		case "CronJob":
			cronJobFiles[e.Name()] = data
		case "Secret":
			var s corev1.Secret
			decodeStrict(t, data, &s)
			rendered[s.Name] = &s
		default:
			t.Errorf("%s: kind %q", e.Name(), meta.Kind)
		}
	}
	sort.Strings(names)
	if got, want := strings.Join(names, " "), "applications_CronJob_rgw-mirror-drill.json applications_CronJob_rgw-mirror-verify.json applications_CronJob_rgw-mirror.json "+
		"applications_Secret_offsite-ping-urls.json applications_Secret_offsite-pushgateway.json applications_Secret_rgw-drill-s3-credentials.json "+
		"applications_Secret_rgw-mirror-s3-credentials.json applications_Secret_s3-credentials.json"; got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}

	// The CronJobs are the function's, and carry no secret value.
	fromFunction := cronJobs(t, "(import ./cronjob.nix (import ./examples/cluster.nix)).cronJobs")
	for file, data := range cronJobFiles {
		var cj batchv1.CronJob
		decodeStrict(t, data, &cj)
		a, _ := yaml.Marshal(&cj)
		b, _ := yaml.Marshal(fromFunction[cj.Name])
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the function's %s:\n%s\nthe function's:\n%s", file, cj.Name, a, b)
		}
		for key, value := range decrypted {
			if bytes.Contains(data, []byte(value)) {
				t.Errorf("%s holds the value of %s", file, key)
			}
		}
		// Every Secret key a job reads is rendered.
		for _, ref := range secretFiles(t, &cj) {
			name, key, _ := strings.Cut(ref, "/")
			if s := rendered[name]; s == nil || s.StringData[key] == "" {
				t.Errorf("%s reads %s, which make manifests does not render", cj.Name, ref)
			}
		}
	}

	// Each Secret key holds its SOPS value, and nothing else is there.
	for name, s := range rendered {
		if s.Namespace != "applications" || s.Type != corev1.SecretTypeOpaque || len(s.Data) != 0 {
			t.Errorf("Secret %s: namespace %q type %q data keys %d, want applications, Opaque, stringData only", name, s.Namespace, s.Type, len(s.Data))
		}
		for key, value := range s.StringData {
			sops, ok := sopsKeys[name+"/"+key]
			if !ok {
				t.Errorf("Secret %s has the key %s, which it should not", name, key)
			} else if value != decrypted[sops] {
				t.Errorf("Secret %s key %s does not hold the SOPS value %s", name, key, sops)
			}
		}
	}
	for ref := range sopsKeys {
		name, key, _ := strings.Cut(ref, "/")
		if s := rendered[name]; s == nil || s.StringData[key] == "" {
			t.Errorf("Secret key %s not rendered", ref)
		}
	}
	// The nodes' MinIO user is sops-nix's, not a Kubernetes Secret's.
	for _, s := range rendered {
		for _, v := range s.StringData {
			if v == decrypted["minio_etcd_secret_access_key"] {
				t.Errorf("Secret %s holds minio_etcd_secret_access_key", s.Name)
			}
		}
	}

	// The kubenix modules, the plan's Secret module included, make the same
	// objects.
	var fromKubenix struct {
		CronJobs map[string]json.RawMessage `json:"cronJobs"`
		Secrets  map[string]json.RawMessage `json:"secrets"`
	}
	if err := json.Unmarshal(mustEval(t, `
let
  lib = import ../check/nixpkgs/lib.nix;
in
(lib.evalModules {
  specialArgs.sopsSecrets = builtins.fromJSON (builtins.readFile ./`+exampleSecrets+`);
  modules = [
    ./kubenix.nix
    ./examples/rgw-mirror-secrets.nix
    { options.kubernetes.resources = lib.mkOption { type = lib.types.attrsOf lib.types.attrs; default = { }; }; }
    { offsite.rgwMirror = { enable = true; settings = import ./examples/cluster.nix; }; }
  ];
}).config.kubernetes.resources`), &fromKubenix); err != nil {
		t.Fatal(err)
	}
	if got, want := len(fromKubenix.Secrets)+len(fromKubenix.CronJobs), len(entries); got != want {
		t.Errorf("kubenix renders %d objects, make manifests %d", got, want)
	}
	for name, data := range fromKubenix.Secrets {
		var s corev1.Secret
		decodeStrict(t, data, &s)
		s.APIVersion, s.Kind = "v1", "Secret" // kubenix adds them from the resource type
		if r := rendered[name]; r == nil {
			t.Errorf("kubenix renders Secret %s, make manifests does not", name)
		} else if a, b := mustMarshal(t, &s), mustMarshal(t, r); !bytes.Equal(a, b) {
			t.Errorf("kubenix's Secret %s differs from make manifests' (values not shown)", name)
		}
	}
	for name, data := range fromKubenix.CronJobs {
		var cj batchv1.CronJob
		decodeStrict(t, data, &cj)
		cj.APIVersion, cj.Kind = "batch/v1", "CronJob"
		if a, b := mustMarshal(t, &cj), mustMarshal(t, fromFunction[name]); !bytes.Equal(a, b) {
			t.Errorf("kubenix's CronJob %s differs from make manifests':\n%s\n%s", name, a, b)
		}
	}
}

// A SOPS file it cannot decrypt, or values without the rgw bucket's MinIO
// user, stop make manifests with the reason, and write nothing.
func TestMakeManifestsRefuses(t *testing.T) {
	tmp := t.TempDir()
	encrypted := filepath.Join(tmp, "secrets.enc.json")
	if err := os.WriteFile(encrypted, []byte(`{"minio_rgw_access_key_id": "ENC[AES256_GCM,data:x]", "sops": {"version": "3.9.0"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	incomplete := filepath.Join(tmp, "incomplete.json")
	if err := os.WriteFile(incomplete, []byte(`{"minio_etcd_access_key_id": "k", "minio_etcd_secret_access_key": "s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	plainYAML := filepath.Join(tmp, "secrets.yaml")
	if err := os.WriteFile(plainYAML, []byte("minio_rgw_access_key_id: k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		incomplete: "minio_rgw_access_key_id and minio_rgw_secret_access_key are required",
		plainYAML:  "has no SOPS metadata and is not JSON",
	}
	if _, err := exec.LookPath("sops"); err != nil {
		want[encrypted] = "is encrypted with SOPS, and sops is not installed"
	} else {
		want[encrypted] = "sops could not decrypt"
	}
	for file, msg := range want {
		dir := filepath.Join(tmp, "out-"+filepath.Base(file))
		out, err := makeManifests(t, "MANIFESTS_OUT="+dir, "SOPS_FILE="+file, "MANIFESTS_CONFIG="+abs(t, "examples/cluster.nix"))
		if err == nil || !strings.Contains(out, msg) {
			t.Errorf("%s: err=%v, output:\n%s\nwant a failure saying %q", filepath.Base(file), err, out, msg)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the output directory was made", filepath.Base(file))
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
