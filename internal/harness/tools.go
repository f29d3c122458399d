package harness

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Promtool returns Prometheus's promtool, pinned, for the alert rule and
// dashboard tests, building it into the cache on first use (a large build:
// minutes); OFFSITE_TEST_PROMTOOL overrides. Under -short t skips; without
// promtool it skips, or fails when servers are required.
func Promtool(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds promtool: not run with -short")
	}
	if path := os.Getenv("OFFSITE_TEST_PROMTOOL"); path != "" {
		return path
	}
	path, err := goInstall("promtool", "github.com/prometheus/prometheus/cmd/promtool@v0.316.0")
	if err != nil {
		skip(t, "promtool: %v", err)
	}
	return path
}

// AgeCLI returns the age command of the age library offsite is built on,
// to prove what offload encrypts opens with `age -d`.
func AgeCLI() (string, error) {
	return goInstall("age", "filippo.io/age/cmd/age@v1.3.2")
}

// BuildOffsite builds the offsite binary from this checkout into dir and
// returns its path, for tests and benchmarks that run it as its own process.
func BuildOffsite(t testing.TB, dir string) string {
	t.Helper()
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "offsite")
	cmd := Command(context.Background(), buildTimeout, "go", "build", "-o", bin, "./cmd/offsite")
	cmd.Dir = filepath.Dir(cache) // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build offsite: %v\n%s", err, out)
	}
	return bin
}
