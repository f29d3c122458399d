package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// McModule is MinIO's client, pinned to the version the pinned server
// itself builds with.
const McModule = "github.com/minio/mc@v0.0.0-20250313080218-cf909e1063a9"

// McCLI returns MinIO's client mc, building it into the cache on first use
// (about 80 s). OFFSITE_TEST_MC overrides. The tests use it for what only
// MinIO's admin API does, whose request bodies are encrypted with the root
// secret: users and policies.
func McCLI() (string, error) {
	if path := os.Getenv("OFFSITE_TEST_MC"); path != "" {
		return path, nil
	}
	return goInstall("mc", McModule)
}

// AddUser creates a MinIO user whose policy allows everything on buckets
// (which need not exist yet) and nothing else, as an operator gives each
// job keys of its own.
func (m *Minio) AddUser(t testing.TB, accessKey, secretKey string, buckets ...string) {
	t.Helper()
	mc, err := McCLI()
	if err != nil {
		skip(t, "mc unavailable: %v", err)
	}
	dir := t.TempDir()
	var resources []string
	for _, b := range buckets {
		resources = append(resources, fmt.Sprintf(`"arn:aws:s3:::%s","arn:aws:s3:::%s/*"`, b, b))
	}
	policy := filepath.Join(dir, "policy.json")
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":[` + strings.Join(resources, ",") + `]}]}`
	if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	scheme, host, _ := strings.Cut(m.Endpoint, "://")
	name := "offsite-" + accessKey
	for _, args := range [][]string{
		{"admin", "user", "add", "test", accessKey}, // mc reads the secret from stdin
		{"admin", "policy", "create", "test", name, policy},
		{"admin", "policy", "attach", "test", name, "--user", accessKey},
	} {
		cmd := Command(context.Background(), 2*time.Minute, mc, append([]string{"--config-dir", dir, "--no-color"}, args...)...)
		// The alias comes from the environment and the user's secret from
		// stdin: neither is in mc's config or on a command line.
		cmd.Env = append(os.Environ(), "MC_HOST_test="+scheme+"://"+m.AccessKey+":"+m.SecretKey+"@"+host)
		cmd.Stdin = strings.NewReader(secretKey + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			shown := strings.NewReplacer(secretKey, "[secret]", m.SecretKey, "[secret]").Replace(string(out))
			t.Fatalf("mc %s for user %s: %v\n%s", strings.Join(args[:3], " "), accessKey, err, shown)
		}
	}
}
