package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// MinioModule is the MinIO server the tests build: MinIO publishes no semver
// tags to the module proxy, so this is a pseudo-version, pinned.
const MinioModule = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// MinioBinary returns the path of the MinIO server, building it into the
// cache on first use (about 3 minutes cold). OFFSITE_TEST_MINIO overrides.
func MinioBinary() (string, error) {
	if path := os.Getenv("OFFSITE_TEST_MINIO"); path != "" {
		return path, nil
	}
	return goInstall("minio", MinioModule)
}

// Minio is one MinIO server process on loopback with its own data dir.
type Minio struct {
	Server
	bin, dir string
	port     int
	certs    string // --certs-dir: serve https
	proc     daemon
}

// StartMinio starts a MinIO server with the given buckets and stops it when
// the test ends. Under -short it skips (or fails, when servers are required).
func StartMinio(t testing.TB, buckets ...string) *Minio {
	t.Helper()
	return startMinio(t, nil, buckets...)
}

// StartMinioTLS is StartMinio serving https:// with ca's server
// certificate; the server's CAFile is ca's CA.
func StartMinioTLS(t testing.TB, ca *TestCA, buckets ...string) *Minio {
	t.Helper()
	return startMinio(t, ca, buckets...)
}

func startMinio(t testing.TB, ca *TestCA, buckets ...string) *Minio {
	t.Helper()
	integration(t)
	bin, err := MinioBinary()
	if err != nil {
		skip(t, "MinIO server unavailable: %v", err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	m := &Minio{
		Server: Server{
			Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
			AccessKey: "offsite-test",
			SecretKey: "offsite-test-secret",
			Provider:  rcloneconf.ProviderMinio,
			Region:    "us-east-1",
		},
		bin: bin, dir: t.TempDir(), port: port,
	}
	if ca != nil {
		m.certs = filepath.Join(m.dir, "certs")
		for src, dst := range map[string]string{ca.CertFile: "public.crt", ca.KeyFile: "private.key"} {
			b, err := os.ReadFile(src)
			if err == nil {
				err = os.MkdirAll(m.certs, 0o700)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(m.certs, dst), b, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		m.Endpoint, m.CAFile = fmt.Sprintf("https://127.0.0.1:%d", port), ca.CAFile
		if net.ParseIP(ca.Name) == nil {
			m.TLSName = ca.Name
		}
	}
	t.Cleanup(func() {
		if err := m.proc.stop(10 * time.Second); err != nil {
			t.Logf("stop minio: %v", err)
		}
	})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		m.MakeBucket(t, b)
	}
	return m
}

// Start (re)starts the server on its port and data dir and waits until it
// is ready.
func (m *Minio) Start() error {
	console, err := FreePort()
	if err != nil {
		return err
	}
	args := []string{"server", filepath.Join(m.dir, "data"),
		"--address", "127.0.0.1:" + strconv.Itoa(m.port),
		"--console-address", "127.0.0.1:" + strconv.Itoa(console), "--quiet"}
	if m.certs != "" {
		args = append(args, "--certs-dir", m.certs)
	}
	cmd := Command(context.Background(), 0, m.bin, args...)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=on")
	logPath := filepath.Join(m.dir, "minio.log")
	if err := m.proc.start(cmd, logPath); err != nil {
		return err
	}
	url := m.Endpoint + "/minio/health/ready"
	client, err := httpClient(m.CAFile, m.TLSName)
	if err != nil {
		return err
	}
	err = m.proc.waitReady(30*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w; see %s", err, logPath)
	}
	return nil
}

// Stop stops the server: SIGTERM to its process group, SIGKILL after
// 10 s, and it returns within about half a minute whatever happens. Its
// data stays, so Start brings the same server back.
func (m *Minio) Stop() { _ = m.proc.stop(10 * time.Second) }
