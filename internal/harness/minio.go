package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
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
	cmd      *exec.Cmd
	exited   chan struct{}
	logs     *os.File
}

// StartMinio starts a MinIO server with the given buckets and stops it when
// the test ends. Under -short it skips (or fails, when servers are required).
func StartMinio(t testing.TB, buckets ...string) *Minio {
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
	t.Cleanup(m.Stop)
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
	logs, err := os.OpenFile(filepath.Join(m.dir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	console, err := FreePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(m.bin, "server", filepath.Join(m.dir, "data"),
		"--address", "127.0.0.1:"+strconv.Itoa(m.port),
		"--console-address", "127.0.0.1:"+strconv.Itoa(console), "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=on")
	cmd.Stdout, cmd.Stderr = logs, logs
	// Killed with the test binary, even if it dies before its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logs.Close()
		return fmt.Errorf("start minio: %w", err)
	}
	m.cmd, m.logs, m.exited = cmd, logs, make(chan struct{})
	go func() { _ = cmd.Wait(); close(m.exited) }()
	return m.waitReady(30 * time.Second)
}

func (m *Minio) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := m.Endpoint + "/minio/health/ready"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.exited:
			return fmt.Errorf("minio exited before it was ready; see %s", m.logs.Name())
		case <-ctx.Done():
			return fmt.Errorf("minio not ready after %v; see %s", timeout, m.logs.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the server by PID (SIGTERM, then SIGKILL after 10 s). Its data
// stays, so Start brings the same server back.
func (m *Minio) Stop() {
	if m.cmd == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.exited
	}
	m.logs.Close()
	m.cmd = nil
}
