package offload

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// tokenFixture is a fixture that ships a k3s token, encrypted.
func tokenFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	f.encrypt()
	f.cfg.TokenFile = filepath.Join(t.TempDir(), "token")
	writeToken(t, f.cfg.TokenFile, "K10aaaa::server:first")
	return f, f.cfg.TokenFile
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// once runs Once and fails the test on an error.
func (f *fixture) once() Result {
	f.t.Helper()
	r, err := Once(context.Background(), f.cfg, zaptest.NewLogger(f.t))
	if err != nil {
		f.t.Fatalf("Once: %v", err)
	}
	return r
}

// storedToken is the token's object as stored, decrypted with the
// fixture's key, and checked against its sidecar.
func (f *fixture) storedToken() (sealed []byte, token string) {
	f.t.Helper()
	sealed, ok := f.minio.Get(f.t, testBucket, testHost+"/"+TokenObject)
	if !ok {
		f.t.Fatalf("%s not at the destination", TokenObject)
	}
	sidecar, _ := f.minio.Get(f.t, testBucket, testHost+"/"+TokenObject+SidecarSuffix)
	if want := Sidecar(offloadtest.SHA256(sealed), TokenObject); !bytes.Equal(sidecar, want) {
		f.t.Fatalf("token sidecar %q, want %q", sidecar, want)
	}
	return sealed, string(f.plaintext(sealed))
}

// shippedToken is the token's object once its sidecar says it is whole.
func (f *fixture) shippedToken() ([]byte, bool) {
	sealed, ok := f.minio.Get(f.t, testBucket, testHost+"/"+TokenObject)
	sidecar, _ := f.minio.Get(f.t, testBucket, testHost+"/"+TokenObject+SidecarSuffix)
	return sealed, ok && bytes.Equal(sidecar, Sidecar(offloadtest.SHA256(sealed), TokenObject))
}

// TestTokenShippedOnlyWhenItChanges: the k3s token goes once, encrypted;
// again when it changes or is gone from the destination; never otherwise,
// even with the state lost.
func TestTokenShippedOnlyWhenItChanges(t *testing.T) {
	f, path := tokenFixture(t)
	f.once()
	first, token := f.storedToken()
	if token != "K10aaaa::server:first\n" {
		t.Fatalf("the destination holds token %q", token)
	}
	f.once()
	if again, _ := f.storedToken(); !bytes.Equal(again, first) {
		t.Fatal("an unchanged token was shipped again")
	}

	// The state lost: the destination's fingerprint says it holds the token.
	if err := os.Remove(filepath.Join(f.cfg.StateDir, StateFile)); err != nil {
		t.Fatal(err)
	}
	f.once()
	if again, _ := f.storedToken(); !bytes.Equal(again, first) {
		t.Fatal("the token was shipped again after the state was lost, though the destination held it")
	}

	for _, step := range []struct {
		what   string
		change func()
	}{
		{"changed", func() { writeToken(t, path, "K10bbbb::server:second") }},
		{"changed while the state was lost", func() {
			writeToken(t, path, "K10cccc::server:third")
			if err := os.Remove(filepath.Join(f.cfg.StateDir, StateFile)); err != nil {
				t.Fatal(err)
			}
		}},
		{"gone from the destination", func() {
			f.minio.Delete(t, testBucket, testHost+"/"+TokenObject)
			f.minio.Delete(t, testBucket, testHost+"/"+TokenObject+SidecarSuffix)
		}},
	} {
		before, _ := f.minio.Get(t, testBucket, testHost+"/"+TokenObject)
		step.change()
		f.once()
		sealed, token := f.storedToken()
		want, _ := os.ReadFile(path)
		if bytes.Equal(sealed, before) || token != string(want) {
			t.Fatalf("token %s: the destination holds %q, want %q shipped again", step.what, token, want)
		}
	}
}

// Without recipients the token is refused: it leaves the node only
// encrypted. A token file that is not there is named too.
func TestTokenOnlyEncrypted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bucket, cfg.Hostname, cfg.SnapshotDir, cfg.StateDir = testBucket, testHost, t.TempDir(), t.TempDir()
	cfg.TokenFile = filepath.Join(t.TempDir(), "token")
	var ce *exitcode.ConfigError
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Var != EnvAgeRecipients {
		t.Fatalf("Validate = %v, want a ConfigError naming %s", err, EnvAgeRecipients)
	}
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Recipients = []age.Recipient{key.Recipient()}
	if _, err := Once(context.Background(), cfg, zaptest.NewLogger(t)); !errors.As(err, &ce) || ce.Var != EnvK3sTokenFile {
		t.Fatalf("Once without the token file = %v, want a ConfigError naming %s", err, EnvK3sTokenFile)
	}
}

// Fetch writes the token beside the snapshot, decrypted, mode 0600; the
// drill checks it decrypts, and fails naming it when it does not.
func TestTokenFetchedAndDrilled(t *testing.T) {
	f, _ := tokenFixture(t)
	name := offloadtest.Name(testHost, time.Now().Unix())
	f.write(name, offloadtest.Snapshot(4, 1))
	time.Sleep(testQuiet)
	f.once()

	dir := filepath.Join(t.TempDir(), "restore")
	ids := []age.Identity{f.key}
	got, err := Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost, Dir: dir, Identities: ids}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(got.Token)
	if err != nil || info.Mode().Perm() != 0o600 || got.Token != filepath.Join(dir, TokenFile) {
		t.Fatalf("token fetched to %s: %v, %v; want %s, mode 0600", got.Token, info, err, filepath.Join(dir, TokenFile))
	}
	if b, _ := os.ReadFile(got.Token); string(b) != "K10aaaa::server:first\n" {
		t.Fatalf("fetched token %q", b)
	}
	var out strings.Builder
	if err := got.WriteInstructions(&out); err != nil || !strings.Contains(out.String(), RestoreCommand(got.Snapshot, got.Token)) {
		t.Fatalf("instructions (%v):\n%s", err, out.String())
	}

	cfg := DrillConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost, Identities: ids}
	report, err := Drill(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil || report.Hosts[0].Token != TokenOK {
		t.Fatalf("Drill = %v, token %q; want it checked", err, report.Hosts[0].Token)
	}
	f.minio.Put(t, testBucket, testHost+"/"+TokenObject, []byte("not what was shipped"))
	report, err = Drill(context.Background(), cfg, zaptest.NewLogger(t))
	if !errors.Is(err, exitcode.ErrVerifyFailed) || report.Hosts[0].Token != TokenFailed || !strings.Contains(err.Error(), TokenObject) {
		t.Fatalf("Drill of a changed token = %v, token %q; want a failure naming %s", err, report.Hosts[0].Token, TokenObject)
	}
}

// Watch ships the token at its start and looks at it again at each
// rescan: a change goes, a token file gone is alerted on.
func TestWatchShipsTheToken(t *testing.T) {
	f, path := tokenFixture(t)
	f.cfg.RescanInterval = time.Second
	f.watch()
	var first []byte
	harness.WaitFor(t, 20*time.Second, "the token shipped", func() bool {
		var ok bool
		first, ok = f.shippedToken()
		return ok
	})
	writeToken(t, path, "K10dddd::server:changed")
	harness.WaitFor(t, 20*time.Second, "the changed token shipped", func() bool {
		sealed, ok := f.shippedToken()
		return ok && !bytes.Equal(sealed, first)
	})
	if _, token := f.storedToken(); token != "K10dddd::server:changed\n" {
		t.Fatalf("the destination holds token %q", token)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 20*time.Second, "an alert for the token file gone", func() bool { return f.alertCount() > 0 })
}
