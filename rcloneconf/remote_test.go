package rcloneconf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/config"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

const testSecret = "s3cr3t-do-not-print"

func validSettings() Settings {
	return Settings{End: MinIO, Endpoint: "http://127.0.0.1:9000", AccessKeyID: "id", SecretAccessKey: testSecret}
}

func TestSettingsRemoteErrors(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("  "+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	large := filepath.Join(dir, "large")
	if err := os.WriteFile(large, []byte(strings.Repeat(testSecret, 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		edit    func(*Settings)
		wantVar string
		wantMsg string
	}{
		{"missing endpoint", func(s *Settings) { s.Endpoint = "" }, "MINIO_ENDPOINT", "required"},
		{"endpoint without scheme", func(s *Settings) { s.Endpoint = "10.0.0.1:9000" }, "MINIO_ENDPOINT", "not an http"},
		{"endpoint ftp", func(s *Settings) { s.Endpoint = "ftp://host" }, "MINIO_ENDPOINT", "not an http"},
		{"endpoint with credentials", func(s *Settings) { s.Endpoint = "http://u:" + testSecret + "@host" }, "MINIO_ENDPOINT", "credentials"},
		{"s3 URL with credentials", func(s *Settings) { s.Endpoint = "s3://AK:" + testSecret + "@rgw:80" }, "MINIO_ENDPOINT", "credentials"},
		{"credentials without a scheme", func(s *Settings) { s.Endpoint = "AK:" + testSecret + "@host" }, "MINIO_ENDPOINT", "credentials"},
		{"credentials in a URL that does not parse", func(s *Settings) { s.Endpoint = "http://u:" + testSecret + "@h/%zz" }, "MINIO_ENDPOINT", "credentials"},
		{"endpoint with a path", func(s *Settings) { s.Endpoint = "http://minio:9000/homelab-backup-rgw" }, "MINIO_ENDPOINT", "path"},
		{"endpoint with a query", func(s *Settings) { s.Endpoint = "http://minio:9000?X-Amz-Credential=" + testSecret }, "MINIO_ENDPOINT", "query"},
		{"secret file is a device", func(s *Settings) { s.SecretAccessKey, s.SecretAccessKeyFile = "", "/dev/zero" }, "MINIO_SECRET_ACCESS_KEY_FILE", "not a regular file"},
		{"secret file too large", func(s *Settings) { s.SecretAccessKey, s.SecretAccessKeyFile = "", large }, "MINIO_SECRET_ACCESS_KEY_FILE", "larger than 4 KiB"},
		{"credential path leaves its directory", func(s *Settings) { s.SecretAccessKey, s.SecretAccessKeyFile = "", "%d/../secret" }, "MINIO_SECRET_ACCESS_KEY_FILE", "leaves"},
		{"missing key id", func(s *Settings) { s.AccessKeyID = "" }, "MINIO_ACCESS_KEY_ID", "required"},
		{"missing secret", func(s *Settings) { s.SecretAccessKey = "" }, "MINIO_SECRET_ACCESS_KEY", "required"},
		{"secret and file", func(s *Settings) { s.SecretAccessKeyFile = secretFile }, "MINIO_SECRET_ACCESS_KEY", "both"},
		{"key id and file", func(s *Settings) { s.AccessKeyIDFile = secretFile }, "MINIO_ACCESS_KEY_ID", "both"},
		{"unreadable file", func(s *Settings) { s.SecretAccessKey, s.SecretAccessKeyFile = "", filepath.Join(dir, "nope") }, "MINIO_SECRET_ACCESS_KEY_FILE", "no such file"},
		{"empty file", func(s *Settings) { s.SecretAccessKey, s.SecretAccessKeyFile = "", empty }, "MINIO_SECRET_ACCESS_KEY_FILE", "empty"},
		{"credentials dir unset", func(s *Settings) { s.SecretAccessKey, s.SecretAccessKeyFile = "", "%d/secret" }, "MINIO_SECRET_ACCESS_KEY_FILE", "CREDENTIALS_DIRECTORY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", "")
			if tt.name == "credential path leaves its directory" {
				t.Setenv("CREDENTIALS_DIRECTORY", filepath.Join(dir, "creds"))
			}
			s := validSettings()
			tt.edit(&s)
			_, err := s.Remote("offsite-test", ProviderMinio)
			var cfg *exitcode.ConfigError
			if !errors.As(err, &cfg) {
				t.Fatalf("err=%v, want a *exitcode.ConfigError", err)
			}
			if got, want := cfg.Var, tt.wantVar; got != want {
				t.Errorf("Var=%q, want %q", got, want)
			}
			if !strings.HasPrefix(err.Error(), tt.wantVar+": ") || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not name %s and say %q", err, tt.wantVar, tt.wantMsg)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestSettingsRemoteFromFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("id-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	s := Settings{End: RGW, Endpoint: "https://rgw.example:443/", Region: " eu ",
		AccessKeyIDFile: filepath.Join(dir, "key"), SecretAccessKeyFile: "%d/secret"}
	r, err := s.Remote("offsite-src", ProviderCeph)
	if err != nil {
		t.Fatal(err)
	}
	want := Remote{Name: "offsite-src", Provider: ProviderCeph, Endpoint: "https://rgw.example:443", Region: "eu", AccessKeyID: "id-from-file", SecretAccessKey: testSecret}
	if r != want {
		t.Fatalf("got %+v, want %+v", r.String(), want.String())
	}
}

func TestRemoteNeverPrintsSecret(t *testing.T) {
	r, err := validSettings().Remote("offsite-dst", ProviderMinio)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{r.String(), fmt.Sprintf("%v %+v %#v %s", r, r, r, r)} {
		if strings.Contains(out, testSecret) {
			t.Fatalf("%q shows the secret", out)
		}
		if !strings.Contains(out, "http://127.0.0.1:9000") {
			t.Fatalf("%q does not show the endpoint", out)
		}
	}
}

func TestCheckEnv(t *testing.T) {
	if err := CheckEnv([]string{"HOME=/home/op", "MINIO_ENDPOINT=x", "RCLONE_CONFIG_DIR=/home/op/.config/rclone"}); err != nil {
		t.Fatalf("clean env refused: %v", err)
	}
	err := CheckEnv([]string{"RCLONE_S3_ENDPOINT=x", "RCLONE_CONFIG_OFFSITE_DST_TYPE=s3"})
	var cfg *exitcode.ConfigError
	if !errors.As(err, &cfg) || cfg.Var != "RCLONE_CONFIG_OFFSITE_DST_TYPE" || !strings.Contains(err.Error(), "RCLONE_S3_ENDPOINT") {
		t.Fatalf("err=%v, want both variables named", err)
	}
}

func TestFsRegistersOnceAndReplacesChangedValues(t *testing.T) {
	ctx := context.Background()
	r := Remote{Name: "offsite-test-lazy", Provider: ProviderMinio, Endpoint: "http://127.0.0.1:1", AccessKeyID: "id", SecretAccessKey: testSecret}
	endpoint := func() string {
		v, _ := config.FileGetValue(r.Name, "endpoint")
		return v
	}
	if _, err := r.Fs(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := endpoint(), r.Endpoint; got != want {
		t.Fatalf("endpoint=%q after Fs, want %q", got, want)
	}

	// Options set after Register survive Fs while the remote is unchanged.
	r.Register()
	config.FileSetValue(r.Name, "chunk_size", "5Mi")
	if _, err := r.Fs(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, ok := config.FileGetValue(r.Name, "chunk_size"); !ok || got != "5Mi" {
		t.Fatalf("chunk_size=%q (%v) after Fs of the same remote, want 5Mi kept", got, ok)
	}

	// The same name with other values replaces the registration whole.
	r.Endpoint = "http://127.0.0.1:2"
	if _, err := r.Fs(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := endpoint(), r.Endpoint; got != want {
		t.Fatalf("endpoint=%q after Fs with a new endpoint, want %q", got, want)
	}
	if _, ok := config.FileGetValue(r.Name, "chunk_size"); ok {
		t.Fatal("chunk_size of the old registration kept")
	}
}

// A directory is opened where it is asked for, even when the server cannot
// be reached: rclone must not guess "file" and root the Fs at the parent.
func TestFsOpensTheDirectoryEvenWhenTheServerFails(t *testing.T) {
	r, err := Settings{End: MinIO, Endpoint: "http://127.0.0.1:1", AccessKeyID: "id", SecretAccessKey: testSecret}.Remote("offsite-unreachable", ProviderMinio)
	if err != nil {
		t.Fatal(err)
	}
	ctx, ci := fs.AddConfig(context.Background())
	ci.LowLevelRetries = 1
	f, err := r.Fs(ctx, "mirror-bucket/photos")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Root(), "mirror-bucket/photos"; got != want {
		t.Fatalf("Root() = %q, want %q", got, want)
	}
}
