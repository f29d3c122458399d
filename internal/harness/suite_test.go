package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSuite runs suite.sh, make test's runner, over a module of its own: a
// test that skips fails the suite when every test must run (CI), and not
// otherwise; a secret of test-secrets.txt in the output fails it always.
func TestSuite(t *testing.T) {
	script, err := filepath.Abs("suite.sh")
	if err != nil {
		t.Fatal(err)
	}
	secret := firstTestSecret(t)
	for _, tc := range []struct {
		name, body, require string
		fails               bool
		says                string
	}{
		{name: "all ran", body: `t.Log("fine")`, require: "1"},
		{name: "skip, required", body: `t.Skip("no server here")`, require: "1", fails: true,
			says: "tests skipped where every test must run"},
		{name: "skip, not required", body: `t.Skip("no server here")`, require: ""},
		{name: "secret", body: `t.Log("` + secret + `")`, require: "", fails: true,
			says: "a secret the tests use reached the test output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "go.mod"), "module suitecheck\n\ngo 1.22\n")
			write(t, filepath.Join(dir, "a_test.go"), "package a\n\nimport \"testing\"\n\nfunc TestA(t *testing.T) { "+tc.body+" }\n")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", script, "-count=1", "./...")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TEST_LOG="+filepath.Join(dir, "test.log"),
				RequireS3Env+"="+tc.require, "GOFLAGS=", "GOWORK=off")
			b, err := cmd.CombinedOutput()
			// suite.sh names a secret it finds; this test's own output must not.
			out := strings.ReplaceAll(string(b), secret, "<the secret>")
			if failed := err != nil; failed != tc.fails {
				t.Fatalf("suite.sh failed: %v, want %v; output:\n%s", err, tc.fails, out)
			}
			if !strings.Contains(out, tc.says) {
				t.Errorf("suite.sh output lacks %q:\n%s", tc.says, out)
			}
			if tc.says == "tests skipped where every test must run" && !strings.Contains(out, "no server here") {
				t.Errorf("suite.sh does not say why the test skipped:\n%s", out)
			}
		})
	}
}

func firstTestSecret(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("test-secrets.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	t.Fatal("test-secrets.txt lists no secret")
	return ""
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
