package harness

import "os"

// Promtool returns Prometheus's promtool, pinned, for the alert rule tests,
// building it into the cache on first use (a large build: minutes).
// OFFSITE_TEST_PROMTOOL overrides.
func Promtool() (string, error) {
	if path := os.Getenv("OFFSITE_TEST_PROMTOOL"); path != "" {
		return path, nil
	}
	return goInstall("promtool", "github.com/prometheus/prometheus/cmd/promtool@v0.316.0")
}

// AgeCLI returns the age command of the age library offsite is built on,
// to prove what offload encrypts opens with `age -d`.
func AgeCLI() (string, error) {
	return goInstall("age", "filippo.io/age/cmd/age@v1.3.2")
}
