package offload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/ssh"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

func newKey(t *testing.T) *age.X25519Identity {
	t.Helper()
	k, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sshKey returns an ssh-ed25519 public key line and its private key in
// OpenSSH PEM form.
func sshKey(t *testing.T) (string, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), pem.EncodeToMemory(block)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseRecipients(t *testing.T) {
	key := newKey(t)
	sshPub, _ := sshKey(t)
	got, err := ParseRecipients(EnvAgeRecipients, "# the backup key\n"+key.Recipient().String()+"\n\n  "+sshPub+"  \n")
	if err != nil || len(got) != 2 {
		t.Fatalf("ParseRecipients = %d recipients, %v; want 2", len(got), err)
	}
	for _, tt := range []struct {
		name, text, want string
	}{
		{"empty", "# nothing\n\n", "no recipient"},
		{"garbage on line 2", key.Recipient().String() + "\nage1notakey\n", "line 2"},
		{"unknown kind", "ecdsa-sha2 AAAA", "line 1: not an age1"},
		{"private key pasted", key.String(), "private key"},
		{"broken ssh key", "ssh-ed25519 AAAAnot", "line 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRecipients(EnvAgeRecipients+"_FILE", tt.text)
			var cfg *exitcode.ConfigError
			if !errors.As(err, &cfg) || cfg.Var != EnvAgeRecipients+"_FILE" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a config error naming %s_FILE and saying %q", err, EnvAgeRecipients, tt.want)
			}
			if strings.Contains(err.Error(), key.String()) || strings.Contains(err.Error(), "AAAAnot") {
				t.Fatalf("err %q quotes the value", err)
			}
		})
	}
}

func TestReadIdentities(t *testing.T) {
	key := newKey(t)
	_, sshPriv := sshKey(t)
	for name, data := range map[string][]byte{
		"age":     []byte("# created: today\n" + key.String() + "\n"),
		"openssh": sshPriv,
	} {
		if ids, err := ReadIdentities(EnvAgeIdentityFile, writeFile(t, name, data)); err != nil || len(ids) != 1 {
			t.Errorf("%s: %d identities, %v; want 1", name, len(ids), err)
		}
	}
	for name, data := range map[string][]byte{
		"a recipient": []byte(key.Recipient().String() + "\n"),
		"too large":   bytes.Repeat([]byte("#"), keyFileLimit+1),
	} {
		_, err := ReadIdentities(EnvAgeIdentityFile, writeFile(t, "key", data))
		var cfg *exitcode.ConfigError
		if !errors.As(err, &cfg) || cfg.Var != EnvAgeIdentityFile {
			t.Errorf("%s: err = %v, want a config error naming %s", name, err, EnvAgeIdentityFile)
		}
	}
}

func TestEncryptingReaderSizeAndRoundTrip(t *testing.T) {
	key := newKey(t)
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3<<16 + 100} {
		plain := bytes.Repeat([]byte{7}, size)
		r, n, err := newEncryptingReader(bytes.NewReader(plain), int64(size), []age.Recipient{key.Recipient()})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(stored)) != n {
			t.Fatalf("size %d: %d bytes stored, %d announced", size, len(stored), n)
		}
		dr, err := age.Decrypt(bytes.NewReader(stored), key)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(dr); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip lost data: %v", size, err)
		}
	}
}

func TestEncryptingReaderNeverSealsAfterAnError(t *testing.T) {
	key := newKey(t)
	refused := errors.New("trailer check failed")
	src := io.MultiReader(bytes.NewReader(make([]byte, 100<<10)), iotestErrReader{refused})
	r, _, err := newEncryptingReader(src, 200<<10, []age.Recipient{key.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(r)
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v, want the source's", err)
	}
	// What got out does not decrypt to a whole file: the last chunk is missing.
	dr, err := age.Decrypt(bytes.NewReader(stored), key)
	if err == nil {
		_, err = io.ReadAll(dr)
	}
	if err == nil {
		t.Fatal("a stream cut by an error decrypted as a whole file")
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestOnceEncryptedRoundTrip(t *testing.T) {
	f := newFixture(t)
	second := newKey(t)
	f.encrypt()
	sshPub, sshPriv := sshKey(t)
	recipients, err := ParseRecipients(EnvAgeRecipients, f.key.Recipient().String()+"\n"+second.Recipient().String()+"\n"+sshPub)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.Recipients = recipients
	raw := offloadtest.Name(testHost, 1700008000)
	zipName := offloadtest.Name(testHost, 1700009000) + ".zip"
	rawData := offloadtest.Snapshot(64, 800)
	zipData := offloadtest.Zip(t, strings.TrimSuffix(zipName, ".zip"), offloadtest.Snapshot(64, 801))
	f.write(raw, rawData)
	f.write(zipName, zipData)
	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err != nil || len(res.Uploaded) != 2 {
		t.Fatalf("Once = %+v, %v; want 2 uploaded", res, err)
	}
	f.checkUploaded(raw, rawData)
	f.checkUploaded(zipName, zipData)
	if got := f.objects(); len(got) != 4 {
		t.Fatalf("objects = %v, want only the .age objects and their sidecars", got)
	}
	// Every identity opens it, as age -d -i KEY would.
	stored, _ := f.minio.Get(t, testBucket, testHost+"/"+raw+AgeSuffix)
	for i, idFile := range []string{
		writeFile(t, "second", []byte(second.String()+"\n")),
		writeFile(t, "id_ed25519", sshPriv),
	} {
		ids, err := ReadIdentities(EnvAgeIdentityFile, idFile)
		if err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(bytes.NewReader(stored), ids...)
		if err != nil {
			t.Fatalf("identity %d: %v", i, err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, rawData) {
			t.Fatalf("identity %d decrypts to other bytes", i)
		}
	}

	// And the age command opens it: the format is age's, not ours.
	ageCLI, err := harness.AgeCLI()
	if err != nil {
		t.Fatalf("age CLI: %v", err)
	}
	encrypted := writeFile(t, raw+AgeSuffix, stored)
	out := filepath.Join(t.TempDir(), raw)
	keyFile := writeFile(t, "key.txt", []byte(second.String()+"\n"))
	if msg, err := harness.Command(context.Background(), time.Minute, ageCLI, "-d", "-i", keyFile, "-o", out, encrypted).CombinedOutput(); err != nil {
		t.Fatalf("age -d: %v\n%s", err, msg)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, rawData) {
		t.Fatal("age -d gives other bytes than the snapshot")
	}

	verify := func(ids ...age.Identity) (*VerifyReport, error) {
		return Verify(context.Background(), VerifyConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost,
			MaxAge: 100 * 365 * 24 * time.Hour, Download: DownloadAll, Identities: ids}, zaptest.NewLogger(t))
	}
	if rep, err := verify(); err != nil || rep.Hosts[0].Downloaded != 2 {
		t.Fatalf("verify without a key: %v, %+v", err, rep)
	}
	if rep, err := verify(second); err != nil || rep.Hosts[0].Downloaded != 2 {
		t.Fatalf("verify with a key: %v, %+v", err, rep)
	}
	if _, err := verify(newKey(t)); !errors.Is(err, exitcode.ErrVerifyFailed) {
		t.Fatalf("verify with the wrong key = %v, want a verification failure", err)
	}

	fetch := func(name string, ids ...age.Identity) (string, error) {
		got, err := Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost,
			Name: name, Dir: t.TempDir(), Identities: ids}, zaptest.NewLogger(t))
		return got.Snapshot, err
	}
	for name, want := range map[string][]byte{raw: rawData, zipName: zipData} {
		path, err := fetch(name, second)
		if err != nil {
			t.Fatalf("fetch %s: %v", name, err)
		}
		info, _ := os.Stat(path)
		if got, _ := os.ReadFile(path); filepath.Base(path) != name || !bytes.Equal(got, want) || info.Mode().Perm() != 0o600 {
			t.Fatalf("fetch %s wrote %s (mode %v), not the plaintext 0600", name, path, info.Mode())
		}
	}
	path, err := fetch("")
	if got, _ := os.ReadFile(path); err != nil || filepath.Base(path) != zipName+AgeSuffix || len(got) == 0 {
		t.Fatalf("fetch latest without a key = %s, %v; want the .age file as stored", path, err)
	}
	wrongDir := t.TempDir()
	_, err = Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost,
		Name: raw, Dir: wrongDir, Identities: []age.Identity{newKey(t)}}, zaptest.NewLogger(t))
	if !errors.Is(err, exitcode.ErrVerifyFailed) || !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("fetch with the wrong key = %v, want ErrNoIdentity and a verification failure", err)
	}
	if entries, _ := os.ReadDir(wrongDir); len(entries) != 0 {
		t.Fatalf("fetch with the wrong key left %v", entries)
	}

	// A flipped bit in the stored ciphertext: verify finds it without a key.
	stored[len(stored)/2] ^= 1
	f.minio.Put(t, testBucket, testHost+"/"+raw+AgeSuffix, stored)
	rep, err := verify()
	if !errors.Is(err, exitcode.ErrVerifyFailed) || rep.Problems() != 1 || !strings.Contains(rep.Hosts[0].Problems[0], raw+AgeSuffix) {
		t.Fatalf("verify of a tampered ciphertext = %v, %+v; want one problem naming it", err, rep)
	}
	if _, err := fetch(raw, second); !errors.Is(err, exitcode.ErrVerifyFailed) {
		t.Fatalf("fetch of a tampered ciphertext = %v, want a verification failure", err)
	}
}

func TestOnceMixedPlainAndEncrypted(t *testing.T) {
	f := newFixture(t)
	plain := offloadtest.Name(testHost, 1700010000)
	f.write(plain, offloadtest.Snapshot(4, 1000))
	if res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t)); err != nil || len(res.Uploaded) != 1 {
		t.Fatalf("plain run: %+v, %v", res, err)
	}
	f.encrypt() // new snapshots only: the plain one is not shipped again
	encrypted := offloadtest.Name(testHost, 1700011000)
	f.write(encrypted, offloadtest.Snapshot(4, 1001))
	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err != nil || len(res.Uploaded) != 1 || res.Uploaded[0].Name != encrypted || !res.Uploaded[0].Encrypted {
		t.Fatalf("encrypted run: %+v, %v; want only the new snapshot, encrypted", res, err)
	}
	objs := f.objects()
	for _, want := range []string{plain, plain + SidecarSuffix, encrypted + AgeSuffix, encrypted + AgeSuffix + SidecarSuffix} {
		if _, ok := objs[want]; !ok {
			t.Fatalf("objects = %v, missing %s", objs, want)
		}
	}
	if len(objs) != 4 {
		t.Fatalf("objects = %v, want 4", objs)
	}
	// The state lost: both copies are found at the destination, nothing goes.
	f.cfg.StateDir = t.TempDir()
	if res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t)); err != nil || len(res.Uploaded) != 0 || len(res.Skipped) != 2 {
		t.Fatalf("run without state: %+v, %v; want both skipped", res, err)
	}
	rep, err := Verify(context.Background(), VerifyConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost,
		MaxAge: 100 * 365 * 24 * time.Hour, Download: DownloadAll, Identities: []age.Identity{f.key}}, zaptest.NewLogger(t))
	if err != nil || rep.Hosts[0].Snapshots != 2 || rep.Hosts[0].Newest != encrypted+AgeSuffix {
		t.Fatalf("verify of a mixed prefix: %v, %+v", err, rep)
	}
}

func TestOnceEncryptedCorruptNotUploaded(t *testing.T) {
	f := newFixture(t)
	f.encrypt()
	bad := offloadtest.Snapshot(256, 1200) // 1 MiB: a multipart upload is cut short too
	bad[len(bad)-1] ^= 1
	name := offloadtest.Name(testHost, 1700012000)
	f.write(name, bad)
	res, err := Once(context.Background(), f.cfg, zaptest.NewLogger(t))
	if err == nil || len(res.Failed) != 1 || !errors.Is(res.Failed[0].Err, ErrCorrupt) {
		t.Fatalf("Once = %+v, %v; want the corrupt snapshot failed", res, err)
	}
	if objs := f.objects(); len(objs) != 0 {
		t.Fatalf("objects = %v, want none", objs)
	}
}

// A recipients file as people write them: commas in comments, and more
// than a secret file's 4 KiB of keys.
func TestReadRecipientsFile(t *testing.T) {
	text := "# backup keys: alice, bob, and the offline one\n"
	for range 80 {
		text += newKey(t).Recipient().String() + " \n"
	}
	if len(text) <= 4<<10 {
		t.Fatalf("test file is only %d bytes", len(text))
	}
	got, err := ReadRecipients(EnvAgeRecipients+"_FILE", writeFile(t, "recipients.txt", []byte(text)))
	if err != nil || len(got) != 80 {
		t.Fatalf("ReadRecipients = %d recipients, %v; want 80", len(got), err)
	}
}
