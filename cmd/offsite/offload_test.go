package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

const etcdTestBucket = "etcd-test"

// syncBuffer is a bytes.Buffer that rclone's goroutines may log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOffsite runs the app with args and returns its exit code and output.
func runOffsite(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errs syncBuffer
	code = run(ctx, append([]string{"offsite", "--log-format=console"}, args...), &out, &errs, nil)
	return code, out.String(), errs.String()
}

// etcdArgs are the destination flags for m (or an unused port when m is nil).
func etcdArgs(m *harness.Minio) []string {
	endpoint, key, secret := "http://127.0.0.1:1", "key", "not-a-real-secret"
	if m != nil {
		endpoint, key, secret = m.Endpoint, m.AccessKey, m.SecretKey
	}
	return []string{"--minio-endpoint", endpoint, "--minio-access-key-id", key,
		"--minio-secret-access-key", secret, "--minio-bucket", etcdTestBucket, "--host", "node1"}
}

// offloadArgs adds the offload flags for a snapshot and a state dir.
func offloadArgs(m *harness.Minio, snapDir, stateDir string) []string {
	return append(etcdArgs(m), "--snapshot-dir", snapDir, "--state-dir", stateDir, "--quiet-period", "200ms")
}

func TestOffloadOnceMissingDirIsConfigError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	code, _, stderr := runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(nil, missing, t.TempDir())...)...)
	if code != exitcode.Config || !strings.Contains(stderr, offload.EnvSnapshotDir) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit %d naming %s", code, stderr, exitcode.Config, offload.EnvSnapshotDir)
	}
}

func TestOffloadStateDirNotWritableIsConfigError(t *testing.T) {
	stateParent := t.TempDir()
	offloadtest.ReadOnly(t, stateParent)
	for _, sub := range []string{"once", "watch"} {
		code, _, stderr := runOffsite(context.Background(), append([]string{"offload", sub}, offloadArgs(nil, t.TempDir(), filepath.Join(stateParent, "state"))...)...)
		if code != exitcode.Config || !strings.Contains(stderr, offload.EnvStateDir) {
			t.Fatalf("%s: exit %d, stderr:\n%s\nwant exit %d naming %s", sub, code, stderr, exitcode.Config, offload.EnvStateDir)
		}
	}
}

func TestOffloadOnceAndVerifyAndFetch(t *testing.T) {
	m := harness.StartMinio(t, etcdTestBucket)
	snapDir, stateDir := t.TempDir(), t.TempDir()
	name := offloadtest.Name("node1", time.Now().Unix())
	data := offloadtest.Snapshot(16, 1)
	offloadtest.WriteRaw(t, snapDir, name, data)

	code, stdout, stderr := runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(m, snapDir, stateDir)...)...)
	if code != exitcode.OK {
		t.Fatalf("once: exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, m.SecretKey) {
		t.Fatal("the secret key reached the output")
	}
	if got, ok := m.Get(t, etcdTestBucket, "node1/"+name); !ok || !bytes.Equal(got, data) {
		t.Fatal("snapshot not uploaded intact")
	}

	// verify etcd: all good, in JSON.
	code, stdout, stderr = runOffsite(context.Background(), append([]string{"verify", "etcd", "--output", "json"}, etcdArgs(m)...)...)
	var report offload.VerifyReport
	if code != exitcode.OK || json.Unmarshal([]byte(stdout), &report) != nil || report.Hosts[0].Snapshots != 1 {
		t.Fatalf("verify: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// fetch: the latest, with the restore command.
	dir := t.TempDir()
	code, stdout, stderr = runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", dir}, etcdArgs(m)...)...)
	path := filepath.Join(dir, name)
	if code != exitcode.OK || !strings.Contains(stdout, offload.RestoreCommand(path, "")) {
		t.Fatalf("fetch: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// A corrupt snapshot fails once with 1 and is not uploaded.
	bad := offloadtest.Name("node1", time.Now().Unix()+1)
	corrupt := bytes.Clone(data)
	corrupt[0] ^= 1
	offloadtest.WriteRaw(t, snapDir, bad, corrupt)
	code, _, stderr = runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(m, snapDir, stateDir)...)...)
	if code != exitcode.Failed || !strings.Contains(stderr, bad) {
		t.Fatalf("once with a corrupt snapshot: exit %d, stderr:\n%s\nwant %d naming %s", code, stderr, exitcode.Failed, bad)
	}
	if _, ok := m.Get(t, etcdTestBucket, "node1/"+bad); ok {
		t.Fatal("corrupt snapshot uploaded")
	}
	// So does a file with a right trailer that is no etcd database.
	if err := os.Remove(filepath.Join(snapDir, bad)); err != nil {
		t.Fatal(err)
	}
	notDB := offloadtest.Name("node1", time.Now().Unix()+2)
	offloadtest.WriteRaw(t, snapDir, notDB, offloadtest.NotADatabase(16, 1))
	code, _, stderr = runOffsite(context.Background(), append([]string{"offload", "once"}, offloadArgs(m, snapDir, stateDir)...)...)
	if code != exitcode.Failed || !strings.Contains(stderr, notDB) || !strings.Contains(stderr, "not an etcd database") {
		t.Fatalf("once with a file that is no database: exit %d, stderr:\n%s\nwant %d naming %s", code, stderr, exitcode.Failed, notDB)
	}
	if _, ok := m.Get(t, etcdTestBucket, "node1/"+notDB); ok {
		t.Fatal("a file that is no etcd database was uploaded")
	}

	// Changed bytes at the destination: verify and fetch exit 4 naming it.
	m.Put(t, etcdTestBucket, "node1/"+name, corrupt)
	code, stdout, _ = runOffsite(context.Background(), append([]string{"verify", "etcd"}, etcdArgs(m)...)...)
	if code != exitcode.Verify || !strings.Contains(stdout, "node1/"+name) {
		t.Fatalf("verify of a changed object: exit %d, stdout:\n%s\nwant %d naming it", code, stdout, exitcode.Verify)
	}
	dir = t.TempDir()
	code, _, stderr = runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", dir}, etcdArgs(m)...)...)
	if entries, _ := os.ReadDir(dir); code != exitcode.Verify || len(entries) != 0 {
		t.Fatalf("fetch of a changed object: exit %d, %d files left, stderr:\n%s", code, len(entries), stderr)
	}

	// Stale: the newest snapshot is older than --max-age.
	code, stdout, _ = runOffsite(context.Background(), append([]string{"verify", "etcd", "--download", "none", "--max-age", "1ms"}, etcdArgs(m)...)...)
	if code != exitcode.Verify || !strings.Contains(stdout, "old") {
		t.Fatalf("verify with a stale snapshot: exit %d, stdout:\n%s", code, stdout)
	}
}

func TestOffloadWatchStopsCleanly(t *testing.T) {
	m := harness.StartMinio(t, etcdTestBucket)
	snapDir, stateDir := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr string
	go func() {
		var code int
		code, _, stderr = runOffsite(ctx, append([]string{"offload", "watch"}, offloadArgs(m, snapDir, stateDir)...)...)
		done <- code
	}()
	name := offloadtest.Name("node1", 1700000000)
	offloadtest.WriteRaw(t, snapDir, name, offloadtest.Snapshot(4, 2))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := m.List(t, etcdTestBucket, "node1/")["node1/"+name+offload.SidecarSuffix]; ok {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("snapshot not uploaded by watch; stderr:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitcode.OK {
			t.Fatalf("watch exit %d after SIGTERM, want 0; stderr:\n%s", code, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not stop")
	}
}

func TestOffloadWatchPingsFailure(t *testing.T) {
	pings := newRecorder(t)
	url := pings.URL + "/" + pingSecret
	fails := func() int {
		n := 0
		for _, p := range pings.got() {
			if strings.HasSuffix(p, "/fail") {
				n++
			}
		}
		return n
	}

	// A start-up failure: the state dir cannot be written.
	stateParent := t.TempDir()
	offloadtest.ReadOnly(t, stateParent)
	metrics := filepath.Join(t.TempDir(), "offsite-offload.prom")
	args := append([]string{"offload", "watch", "--ping-url", url, "--metrics-file", metrics},
		offloadArgs(nil, t.TempDir(), filepath.Join(stateParent, "state"))...)
	if code, _, stderr := runOffsite(context.Background(), args...); code != exitcode.Config || fails() != 1 {
		t.Fatalf("watch with an unwritable state dir: exit %d, pings %v, stderr:\n%s\nwant exit %d and a /fail ping", code, pings.got(), stderr, exitcode.Config)
	}
	if got, want := exitCodeMetric(t, metrics), float64(exitcode.Config); got != want {
		t.Fatalf("exit code metric = %v, want %v", got, want)
	}

	// A snapshot that fails its check while watching, then its fixed version.
	m := harness.StartMinio(t, etcdTestBucket)
	snapDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := runOffsite(ctx, append([]string{"offload", "watch", "--ping-url", url}, offloadArgs(m, snapDir, t.TempDir())...)...)
		done <- code
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != exitcode.OK {
				t.Errorf("watch stopped with exit %d, want 0", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("watch did not stop within 30 s of its cancel")
		}
	}()
	name := offloadtest.Name("node1", time.Now().Unix())
	good := offloadtest.Snapshot(8, 5)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	offloadtest.WriteRaw(t, snapDir, name, bad)
	harness.WaitFor(t, 20*time.Second, "a /fail ping for the corrupt snapshot", func() bool { return fails() == 2 })
	offloadtest.WriteRaw(t, snapDir, name, good)
	harness.WaitFor(t, 20*time.Second, "a success ping after the fix", func() bool {
		got := pings.got()
		return got[len(got)-1] == "POST /"+pingSecret
	})
}

func TestOffloadEncryptedOnceFetchAndBadRecipient(t *testing.T) {
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runOffsite(context.Background(), append([]string{"offload", "once", "--age-recipients", "age1nope," + key.Recipient().String()},
		offloadArgs(nil, t.TempDir(), t.TempDir())...)...)
	if code != exitcode.Config || !strings.Contains(stderr, offload.EnvAgeRecipients+": line 1") {
		t.Fatalf("a bad recipient: exit %d, stderr:\n%s\nwant %d naming %s and the line", code, stderr, exitcode.Config, offload.EnvAgeRecipients)
	}

	m := harness.StartMinio(t, etcdTestBucket)
	snapDir := t.TempDir()
	name := offloadtest.Name("node1", time.Now().Unix())
	data := offloadtest.Snapshot(16, 7)
	offloadtest.WriteRaw(t, snapDir, name, data)
	recipients := filepath.Join(t.TempDir(), "recipients.txt")
	if err := os.WriteFile(recipients, []byte("# offsite\n"+key.Recipient().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"offload", "once", "--age-recipients-file", recipients}, offloadArgs(m, snapDir, t.TempDir())...)
	if code, _, stderr := runOffsite(context.Background(), args...); code != exitcode.OK {
		t.Fatalf("encrypted once: exit %d, stderr:\n%s", code, stderr)
	}
	if _, ok := m.Get(t, etcdTestBucket, "node1/"+name); ok {
		t.Fatal("a plain copy was uploaded")
	}

	// Without a key, fetch writes the .age file and says how to decrypt it.
	dir := t.TempDir()
	code, stdout, stderr := runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", dir}, etcdArgs(m)...)...)
	if code != exitcode.OK || !strings.Contains(stdout, "age -d -i KEY -o "+filepath.Join(dir, name)) {
		t.Fatalf("fetch without a key: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// With the key (as a systemd credential), the plaintext.
	credDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(credDir, "etcd-age"), []byte(key.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", credDir)
	dir = t.TempDir()
	code, stdout, stderr = runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", dir, "--identity", "%d/etcd-age"}, etcdArgs(m)...)...)
	if got, _ := os.ReadFile(filepath.Join(dir, name)); code != exitcode.OK || !bytes.Equal(got, data) {
		t.Fatalf("fetch with the key: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// With the wrong key: exit 4.
	other, _ := age.GenerateX25519Identity()
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte(other.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", t.TempDir(), "--identity", wrong}, etcdArgs(m)...)...)
	if code != exitcode.Verify || !strings.Contains(stderr, "no identity matches") {
		t.Fatalf("fetch with the wrong key: exit %d, stderr:\n%s\nwant %d", code, stderr, exitcode.Verify)
	}
	if strings.Contains(stderr, other.String()) || strings.Contains(stderr, key.String()) {
		t.Fatal("a private key reached the output")
	}
	// verify etcd with the key decrypts and checks the trailer.
	if code, stdout, stderr := runOffsite(context.Background(), append([]string{"verify", "etcd", "--identity", "%d/etcd-age"}, etcdArgs(m)...)...); code != exitcode.OK {
		t.Fatalf("verify with the key: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestFetchPrintsCommandsAPersonCanPaste: the commands fetch prints are
// pasted into a root shell, so every path in them is quoted: a space in
// --to, or a name planted in the bucket with shell characters in it, must
// come out as one word each, and nothing in them may run.
func TestFetchPrintsCommandsAPersonCanPaste(t *testing.T) {
	m := harness.StartMinio(t, etcdTestBucket)
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	planted := "etcd-snapshot-node1-$(touch PWNED) it's `touch PWNED`-" + strconv.FormatInt(time.Now().Unix(), 10)
	data := offloadtest.Snapshot(4, 11)
	m.Put(t, etcdTestBucket, "node1/"+planted, data)
	m.Put(t, etcdTestBucket, "node1/"+planted+offload.SidecarSuffix, offload.Sidecar(offloadtest.SHA256(data), planted))

	dir := filepath.Join(work, "restore here's $HOME")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runOffsite(context.Background(), append([]string{"offload", "fetch", "--to", dir}, etcdArgs(m)...)...)
	if code != exitcode.OK {
		t.Fatalf("fetch: exit %d\n%s\n%s", code, stdout, stderr)
	}
	path := filepath.Join(dir, planted)
	checkPastedCommand(t, stdout, "k3s server", "server", "--cluster-reset", "--cluster-reset-restore-path="+path)

	// Encrypted, fetched without the key: the age command too.
	enc := planted + "-2" + offload.AgeSuffix
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, key.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(data)
	_ = w.Close()
	m.Put(t, etcdTestBucket, "node1/"+enc, sealed.Bytes())
	m.Put(t, etcdTestBucket, "node1/"+enc+offload.SidecarSuffix, offload.Sidecar(offloadtest.SHA256(sealed.Bytes()), enc))
	code, stdout, stderr = runOffsite(context.Background(), append([]string{"offload", "fetch", "--name", enc, "--to", dir}, etcdArgs(m)...)...)
	if code != exitcode.OK {
		t.Fatalf("fetch of the encrypted one: exit %d\n%s\n%s", code, stdout, stderr)
	}
	encPath := filepath.Join(dir, enc)
	checkPastedCommand(t, stdout, "age -d", "-d", "-i", "KEY", "-o", strings.TrimSuffix(encPath, offload.AgeSuffix), encPath)
}

// checkPastedCommand finds the line of out that starts with prefix (after
// its indent), has a POSIX shell split it into words, without running it,
// and checks the words after the program's name.
func checkPastedCommand(t *testing.T, out, prefix string, want ...string) {
	t.Helper()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			line = strings.TrimSpace(l)
		}
	}
	if line == "" {
		t.Fatalf("no %q command in:\n%s", prefix, out)
	}
	program, _, _ := strings.Cut(line, " ")
	// The shell reads the line as the person's would, with printf in the
	// program's place: one word per line comes back.
	cmd := harness.Command(context.Background(), 30*time.Second, "sh", "-c", "printf '%s\\n'"+strings.TrimPrefix(line, program))
	cmd.Dir = t.TempDir()
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	if ran, _ := os.ReadDir(cmd.Dir); len(ran) > 0 {
		t.Errorf("pasting\n  %s\nran a command that an object's name held: it made %s", line, ran[0].Name())
	}
	if words := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n"); !slices.Equal(words, want) {
		t.Fatalf("the shell splits\n  %s\ninto %q, want %q", line, words, want)
	}
}

// TestOffloadShipsTheToken: with OFFSITE_K3S_TOKEN_FILE the server token
// goes with the snapshots, encrypted; fetch --identity writes it beside the
// snapshot (mode 0600) and prints the whole restore command, ready to
// paste; the drill checks it decrypts.
func TestOffloadShipsTheToken(t *testing.T) {
	m := harness.StartMinio(t, etcdTestBucket)
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	keyFile, tokenFile := filepath.Join(work, "key.txt"), filepath.Join(work, "token")
	for path, data := range map[string]string{keyFile: key.String() + "\n", tokenFile: "K10" + pingSecret + "::server:" + pingSecret + "\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	snapDir := t.TempDir()
	name := offloadtest.Name("node1", time.Now().Unix())
	offloadtest.WriteRaw(t, snapDir, name, offloadtest.Snapshot(4, 21))
	once := append([]string{"offload", "once", "--k3s-token-file", tokenFile, "--age-recipients", key.Recipient().String()}, offloadArgs(m, snapDir, t.TempDir())...)
	if code, _, stderr := runOffsite(context.Background(), once...); code != exitcode.OK {
		t.Fatalf("once: exit %d\n%s", code, stderr)
	}
	if _, ok := m.Get(t, etcdTestBucket, "node1/"+offload.TokenObject); !ok {
		t.Fatalf("%s not shipped", offload.TokenObject)
	}

	dir := filepath.Join(work, "restore at 3 am")
	code, stdout, stderr := runOffsite(context.Background(), append([]string{"offload", "fetch", "--latest", "--identity", keyFile, "--to", dir}, etcdArgs(m)...)...)
	if code != exitcode.OK {
		t.Fatalf("fetch: exit %d\n%s\n%s", code, stdout, stderr)
	}
	token := filepath.Join(dir, offload.TokenFile)
	if info, err := os.Stat(token); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token %s: %v, %v; want mode 0600", token, info, err)
	}
	checkPastedCommand(t, stdout, "k3s server", "server", "--cluster-reset", "--cluster-reset-restore-path="+filepath.Join(dir, name), "--token-file="+token)
	if strings.Contains(stdout+stderr, pingSecret) {
		t.Fatal("the token reached the output")
	}

	code, stdout, stderr = runOffsite(context.Background(), append([]string{"drill", "etcd", "--identity", keyFile}, etcdArgs(m)...)...)
	if code != exitcode.OK || !strings.Contains(stdout, " ok ") {
		t.Fatalf("drill: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
