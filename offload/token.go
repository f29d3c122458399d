package offload

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	rfs "github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/operations"
	"go.uber.org/zap"
	"golang.org/x/crypto/scrypt"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// EnvK3sTokenFile names the k3s server token file offload ships.
const EnvK3sTokenFile = "OFFSITE_K3S_TOKEN_FILE"

// K3sTokenFile is where a k3s server keeps its token: the usual value of
// EnvK3sTokenFile. A snapshot does not restore without it, and it is lost
// with the node.
const K3sTokenFile = "/var/lib/rancher/k3s/server/token"

// TokenObject is the k3s token's object under the host prefix, always
// encrypted; its sidecar holds the hash of the ciphertext, as a snapshot's.
const TokenObject = "k3s-server-token" + AgeSuffix

// TokenFile is the name fetch gives the decrypted token.
const TokenFile = "k3s-server-token"

// tokenLimit bounds the token: k3s writes about a hundred bytes.
const tokenLimit = 4 << 10

// readToken reads the token file, a regular file ("%d/NAME" works).
func readToken(path string) ([]byte, error) {
	token, err := rcloneconf.ReadFile(EnvK3sTokenFile, path, tokenLimit)
	if err == nil && len(bytes.TrimSpace(token)) == 0 {
		err = exitcode.Configf(EnvK3sTokenFile, "%s is empty", path)
	}
	return token, err
}

// fingerprintKey is the metadata of the token's object that holds its
// fingerprint, so that a lost state is rebuilt from the destination.
const fingerprintKey = "offsite-token-fingerprint"

// fingerprint tells tokens apart without showing them: scrypt of the token
// and a random salt, "scrypt:<salt>:<sum>" in hex. The state and the
// object's metadata hold it; a guesser gets nothing faster than scrypt.
func fingerprint(token []byte) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return fingerprintWith(token, salt)
}

func fingerprintWith(token, salt []byte) (string, error) {
	sum, err := scrypt.Key(token, salt, 1<<14, 8, 1, 32)
	if err != nil {
		return "", err
	}
	return "scrypt:" + hex.EncodeToString(salt) + ":" + hex.EncodeToString(sum), nil
}

// fingerprints reports whether fp is a fingerprint of token.
func fingerprints(fp string, token []byte) bool {
	parts := strings.Split(fp, ":")
	if len(parts) != 3 || parts[0] != "scrypt" {
		return false
	}
	salt, err := hex.DecodeString(parts[1])
	if err != nil {
		return false
	}
	again, err := fingerprintWith(token, salt)
	return err == nil && subtle.ConstantTimeCompare([]byte(again), []byte(fp)) == 1
}

// TokenRecord is what the state remembers of the token shipped.
type TokenRecord struct {
	Fingerprint string    `json:"fingerprint"`
	SHA256      string    `json:"sha256"` // of the object, as its sidecar says
	Shipped     time.Time `json:"shipped"`
}

// tokenShipper ships the k3s token to the host prefix when the destination
// does not hold it as it is now: after a change, or when it is gone.
type tokenShipper struct {
	path       string
	dst        rfs.Fs // <bucket>/<host>
	recipients []age.Recipient
	state      *state
	log        *zap.Logger
}

// ship reads the token and ships it unless the destination holds it
// already: as the state records it (one HEAD for its sidecar), or, with
// the state lost, as the fingerprint on the object says.
func (s *tokenShipper) ship(ctx context.Context) error {
	token, err := readToken(s.path)
	if err != nil {
		return err
	}
	if rec := s.state.data.Token; rec != nil && fingerprints(rec.Fingerprint, token) {
		_, err := s.dst.NewObject(ctx, TokenObject+SidecarSuffix)
		if !errors.Is(err, rfs.ErrorObjectNotFound) {
			return err // there, or the destination cannot say
		}
		s.log.Warn("the k3s token is no longer at the destination: shipping it again")
	} else if rec == nil {
		if rec, ok := s.atDestination(ctx, token); ok {
			return s.state.recordToken(rec)
		}
	}
	return s.upload(ctx, token)
}

// atDestination is the destination's token, when it is the same as token.
func (s *tokenShipper) atDestination(ctx context.Context, token []byte) (TokenRecord, bool) {
	sidecar, err := readSidecar(ctx, s.dst, TokenObject)
	if err != nil {
		return TokenRecord{}, false
	}
	sum, err := ParseSidecar(sidecar, TokenObject)
	if err != nil {
		return TokenRecord{}, false
	}
	obj, err := s.dst.NewObject(ctx, TokenObject)
	if err != nil {
		return TokenRecord{}, false
	}
	meta, err := rfs.GetMetadata(ctx, obj)
	if err != nil || !fingerprints(meta[fingerprintKey], token) {
		return TokenRecord{}, false
	}
	return TokenRecord{Fingerprint: meta[fingerprintKey], SHA256: sum, Shipped: obj.ModTime(ctx)}, true
}

// upload encrypts the token, puts it with its fingerprint, then its sidecar.
func (s *tokenShipper) upload(ctx context.Context, token []byte) error {
	fp, err := fingerprint(token)
	if err != nil {
		return err
	}
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, s.recipients...)
	if err != nil {
		return fmt.Errorf("encrypt the k3s token: %w", err)
	}
	if _, err := w.Write(token); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	now := time.Now()
	mctx, ci := rfs.AddConfig(ctx)
	ci.Metadata = true // the fingerprint rides as the object's metadata
	_, err = operations.RcatSize(mctx, s.dst, TokenObject, io.NopCloser(bytes.NewReader(sealed.Bytes())), int64(sealed.Len()), now, rfs.Metadata{fingerprintKey: fp})
	if err != nil {
		return fmt.Errorf("upload %s: %w", TokenObject, err)
	}
	sum := sha256.Sum256(sealed.Bytes())
	rec := TokenRecord{Fingerprint: fp, SHA256: hex.EncodeToString(sum[:]), Shipped: now}
	body := Sidecar(rec.SHA256, TokenObject)
	if _, err := operations.RcatSize(ctx, s.dst, TokenObject+SidecarSuffix, io.NopCloser(bytes.NewReader(body)), int64(len(body)), now, nil); err != nil {
		return fmt.Errorf("upload %s%s: %w", TokenObject, SidecarSuffix, err)
	}
	s.log.Info("k3s token shipped, encrypted", zap.String("object", TokenObject), zap.String("sha256", rec.SHA256))
	return s.state.recordToken(rec)
}

// openToken downloads the host's token, checks it against its sidecar and
// decrypts it with ids. Check failures wrap ErrCorrupt, a key that does
// not fit ErrNoIdentity.
func openToken(ctx context.Context, objs hostObjects, ids []age.Identity) ([]byte, error) {
	sealed, err := sealedToken(ctx, objs)
	if err != nil {
		return nil, err
	}
	return decryptToken(objs.token.Remote(), sealed, ids)
}

// sealedToken is the host's token as stored, checked against its sidecar.
func sealedToken(ctx context.Context, objs hostObjects) ([]byte, error) {
	sum, err := objs.sidecarSum(ctx, TokenObject)
	if err != nil {
		return nil, err
	}
	rc, err := objs.token.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", objs.token.Remote(), err)
	}
	defer rc.Close()
	sealed, err := io.ReadAll(io.LimitReader(rc, 2*tokenLimit))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", objs.token.Remote(), err)
	}
	if got := sha256.Sum256(sealed); hex.EncodeToString(got[:]) != sum {
		return nil, corruptf("%s has SHA-256 %x, its sidecar says %s", objs.token.Remote(), got, sum)
	}
	return sealed, nil
}

// decryptToken opens the token stored as remote; it must not be empty.
func decryptToken(remote string, sealed []byte, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	if err != nil {
		return nil, ageError(remote, &sourceReader{}, err)
	}
	token, err := io.ReadAll(r)
	switch {
	case err != nil:
		return nil, corruptf("%s does not decrypt: %v", remote, err)
	case len(bytes.TrimSpace(token)) == 0:
		return nil, corruptf("%s holds an empty token", remote)
	}
	return token, nil
}
