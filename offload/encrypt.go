package offload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// Env vars of encryption.
const (
	EnvAgeRecipients   = "OFFSITE_AGE_RECIPIENTS"
	EnvAgeIdentityFile = "OFFSITE_AGE_IDENTITY_FILE"
)

// AgeSuffix ends the name of an encrypted snapshot object: <name>.age, in
// the age format (age -d -i KEY reads it).
const AgeSuffix = ".age"

// ErrNoIdentity means none of the identities given opens an encrypted
// snapshot: the wrong key.
var ErrNoIdentity = errors.New("no identity matches the snapshot's recipients")

// keyFileLimit bounds what is read of a recipients or identity file: a
// key is a few hundred bytes.
const keyFileLimit = 64 << 10

// ParseRecipients reads age recipients: "age1..." public keys, or
// "ssh-ed25519 ..." and "ssh-rsa ..." keys, one per line as `age -R`
// reads them (blank lines and lines starting with # are skipped). env
// names the variable in errors, which never quote a line: a private key
// pasted by mistake must not reach a log.
func ParseRecipients(env, text string) ([]age.Recipient, error) {
	var recipients []age.Recipient
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRecipient(line)
		if err != nil {
			return nil, exitcode.Configf(env, "line %d: %v", i+1, err)
		}
		recipients = append(recipients, r)
	}
	if len(recipients) == 0 {
		return nil, exitcode.Configf(env, "holds no recipient")
	}
	return recipients, nil
}

func parseRecipient(s string) (age.Recipient, error) {
	switch {
	case strings.HasPrefix(s, "ssh-"):
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, errors.New("not an ssh-ed25519 or ssh-rsa public key")
		}
		return r, nil
	case strings.HasPrefix(s, "age1"): // X25519, or post-quantum age1pq1
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil || len(rs) != 1 { // age's message quotes the line
			return nil, errors.New("not a valid age1... public key")
		}
		return rs[0], nil
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"):
		return nil, errors.New("this is a private key, not a recipient: give its public key (age-keygen -y)")
	}
	return nil, errors.New("not an age1... or ssh- public key")
}

// ReadIdentities reads an age identity file (as age -i takes it: age
// secret keys, or one unencrypted OpenSSH private key) given in env var
// env; "%d/NAME" reads $CREDENTIALS_DIRECTORY/NAME.
func ReadIdentities(env, path string) ([]age.Identity, error) {
	b, err := rcloneconf.ReadFile(env, path, keyFileLimit)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(b)
		if err != nil {
			return nil, exitcode.Configf(env, "%s: not an unencrypted ssh-ed25519 or ssh-rsa private key", path)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		// age's message may quote a character of the key and its position:
		// say which line is wrong, never what is on it.
		return nil, exitcode.Configf(env, "%s: %s", path, badIdentityLine(b))
	}
	return ids, nil
}

// badIdentityLine says which line of an identity file age cannot read,
// without quoting any of it.
func badIdentityLine(b []byte) string {
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := age.ParseIdentities(strings.NewReader(line)); err != nil {
			return fmt.Sprintf("line %d is not an age secret key (AGE-SECRET-KEY-1...)", i+1)
		}
	}
	return "holds no age secret key (AGE-SECRET-KEY-1...) or unencrypted OpenSSH private key"
}

// ReadRecipients reads a recipients file (as age -R takes it) given in env
// var env; "%d/NAME" works.
func ReadRecipients(env, path string) ([]age.Recipient, error) {
	b, err := rcloneconf.ReadFile(env, path, keyFileLimit)
	if err != nil {
		return nil, err
	}
	recipients, err := ParseRecipients(env, string(b))
	var cfg *exitcode.ConfigError
	if errors.As(err, &cfg) {
		cfg.Err = fmt.Errorf("%s: %w", path, cfg.Err) // name the file
	}
	return recipients, err
}

// encryptedSize is the size of the age file that holds size bytes of
// plaintext after a header of header bytes (stanzas and nonce): each 64 KiB
// chunk gains a 16-byte tag, and empty plaintext is one empty chunk.
func encryptedSize(header, size int64) int64 {
	const chunk, tag = 64 << 10, 16
	chunks := max((size+chunk-1)/chunk, 1)
	return header + size + chunks*tag
}

// encryptingReader reads src and returns it encrypted to age recipients.
// An error from src is returned as is and the last chunk is never sealed,
// so an upload it feeds can never complete.
type encryptingReader struct {
	src    io.Reader
	w      io.WriteCloser // age's stream, writing into out
	out    bytes.Buffer
	chunk  []byte
	sealed bool
}

// newEncryptingReader also returns the size of the whole age file.
func newEncryptingReader(src io.Reader, size int64, recipients []age.Recipient) (io.Reader, int64, error) {
	r := &encryptingReader{src: src, chunk: make([]byte, 64<<10)}
	w, err := age.Encrypt(&r.out, recipients...)
	if err != nil {
		return nil, 0, fmt.Errorf("encrypt: %w", err)
	}
	r.w = w
	return r, encryptedSize(int64(r.out.Len()), size), nil
}

func (r *encryptingReader) Read(p []byte) (int, error) {
	for r.out.Len() == 0 {
		if r.sealed {
			return 0, io.EOF
		}
		n, err := r.src.Read(r.chunk)
		if _, werr := r.w.Write(r.chunk[:n]); werr != nil {
			return 0, werr
		}
		switch {
		case err == io.EOF:
			if err := r.w.Close(); err != nil {
				return 0, err
			}
			r.sealed = true
		case err != nil:
			return 0, err
		}
	}
	return r.out.Read(p)
}
