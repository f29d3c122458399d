// Package rcloneconf is the only place that knows how offsite's S3 remotes
// are configured in rclone: values from env vars, flags and *_FILE secrets,
// their validation, redaction, and registration in rclone's in-memory config.
// No rclone.conf is ever read or written.
package rcloneconf

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	_ "github.com/rclone/rclone/backend/local" // local snapshot dirs and tests
	_ "github.com/rclone/rclone/backend/s3"    // every remote offsite talks to
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/config"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// S3 providers offsite uses (rclone's names).
const (
	ProviderCeph   = "Ceph"
	ProviderMinio  = "Minio"
	ProviderRclone = "Rclone" // rclone's own serve s3, used by the demo
)

// Remote is one S3 endpoint offsite talks to.
type Remote struct {
	Name            string // rclone remote name, e.g. "offsite-src"
	Provider        string
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// CAFile is a PEM bundle of the CAs that sign the endpoint's
	// certificate (a homelab's private CA); empty: the system's roots.
	// There is no switch that turns verification off.
	CAFile string
	// VersionAt, an RFC 3339 time, makes the remote list and read its
	// versioned buckets as they were then (rclone's s3 version_at). rclone
	// refuses every write through such a remote. Give it a name of its
	// own: one name holds one set of options.
	VersionAt string
	// CreateBucket lets writes create a missing bucket (and Mkdir create
	// it). Off everywhere but restore --create-bucket: offsite never
	// creates the buckets it mirrors into.
	CreateBucket bool
	// NoHead trusts each upload's answer instead of reading the object back
	// with a HEAD (rclone's no_head): one request less per object. Safe
	// where the answer proves the upload, see register.
	NoHead bool
}

// String describes the remote without its credentials, for logs and errors.
func (r Remote) String() string {
	region := r.Region
	if region == "" {
		region = "-"
	}
	return fmt.Sprintf("%s (%s %s, region %s, credentials %s)", r.Name, r.Provider, r.Endpoint, region, redacted(r.AccessKeyID, r.SecretAccessKey))
}

// GoString keeps %#v from printing the secret too.
func (r Remote) GoString() string { return "rcloneconf.Remote{" + r.String() + "}" }

func redacted(values ...string) string {
	for _, v := range values {
		if v == "" {
			return "missing"
		}
	}
	return "set"
}

// registered holds the values each remote name was last put into rclone's
// in-memory config with, so that Fs writes them only when they change.
var registered = struct {
	sync.Mutex
	remotes map[string]Remote
}{remotes: map[string]Remote{}}

// Register puts the remote into rclone's in-memory config under r.Name,
// replacing any values registered under that name before. Fs does it when
// needed: call Register only to change the remote's rclone options after it
// (config.FileSetValue), which Fs then keeps as long as r is unchanged.
func (r Remote) Register() {
	registered.Lock()
	defer registered.Unlock()
	r.register()
}

// ensureRegistered registers r unless it is already registered with these
// very values: once per process per remote, again only when they differ.
func (r Remote) ensureRegistered() {
	registered.Lock()
	defer registered.Unlock()
	if old, ok := registered.remotes[r.Name]; ok && old == r {
		return
	}
	r.register()
}

// register writes r into rclone's config; registered must be locked.
func (r Remote) register() {
	config.LoadedData().DeleteSection(r.Name)
	for k, v := range map[string]string{
		"type":              "s3",
		"provider":          r.Provider,
		"endpoint":          r.Endpoint,
		"region":            r.Region,
		"access_key_id":     r.AccessKeyID,
		"secret_access_key": r.SecretAccessKey,
		"env_auth":          "false",
		"force_path_style":  "true",
		// offsite never creates buckets: the destination's carry versioning
		// and lifecycle rules, so a missing one is an operator error.
		"no_check_bucket": strconv.FormatBool(!r.CreateBucket),
	} {
		config.FileSetValue(r.Name, k, v)
	}
	if r.VersionAt != "" {
		config.FileSetValue(r.Name, "version_at", r.VersionAt)
	}
	if r.NoHead {
		// What the HEAD after an upload would prove, the upload already has:
		// a single-part PUT carries Content-MD5, so the server refuses a body
		// that differs (BadDigest), and rclone compares the ETag it answers
		// with the source's MD5 ("corrupted on transfer" otherwise). A
		// multipart upload is checked by rclone against the ETag that
		// CompleteMultipartUpload answers, the MD5 of the parts' MD5s
		// (use_multipart_etag); the HEAD would only add the size, which the
		// parts' MD5s already cover, and the MD5 metadata rclone wrote itself.
		config.FileSetValue(r.Name, "no_head", "true")
	}
	registered.remotes[r.Name] = r
}

// Fs opens path ("bucket", "bucket/prefix" or "" for the bucket list) on
// the remote, registering it in rclone's in-memory config first if it is
// not there with these values yet.
//
// The path is always a directory: it is opened with a trailing slash, so
// rclone does not HEAD it to see whether it is a file. When that HEAD and
// the listing after it fail (a server that stalls or refuses), rclone
// guesses "file" and roots the Fs at the parent: a mirror would then land
// at the bucket's root, and a sync there would see every other bucket's
// mirror as its own to delete.
func (r Remote) Fs(ctx context.Context, path string) (fs.Fs, error) {
	r.ensureRegistered()
	if r.CAFile != "" {
		// rclone builds each Fs's HTTP client from the context it is opened
		// with, so the CA stays this remote's.
		var ci *fs.ConfigInfo
		ctx, ci = fs.AddConfig(ctx)
		ci.CaCert = []string{r.CAFile}
	}
	if path != "" && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	f, err := fs.NewFs(ctx, r.Name+":"+path)
	if errors.Is(err, fs.ErrorIsFile) {
		err = fmt.Errorf("it is a file, not a directory")
	}
	if err != nil {
		return nil, fmt.Errorf("open %s:%s: %w", r.Name, path, err)
	}
	return f, nil
}

// Settings are one remote's raw values as given by env vars or flags.
// End names the env vars: RGW -> RGW_ENDPOINT, RGW_SECRET_ACCESS_KEY_FILE...
type Settings struct {
	End                 End
	Endpoint            string
	Region              string
	AccessKeyID         string
	AccessKeyIDFile     string
	SecretAccessKey     string
	SecretAccessKeyFile string
	CAFile              string // PEM bundle; "%d/NAME" reads $CREDENTIALS_DIRECTORY/NAME
}

// Remote validates the settings and returns the remote they describe.
// Every error is a *exitcode.ConfigError naming the env var at fault.
func (s Settings) Remote(name, provider string) (Remote, error) {
	r := Remote{Name: name, Provider: provider, Region: strings.TrimSpace(s.Region)}
	var err error
	if r.Endpoint, err = endpoint(s.End.Var("ENDPOINT"), s.Endpoint); err != nil {
		return Remote{}, err
	}
	if r.AccessKeyID, err = Secret(s.End.Var("ACCESS_KEY_ID"), s.AccessKeyID, s.AccessKeyIDFile); err != nil {
		return Remote{}, err
	}
	if r.SecretAccessKey, err = Secret(s.End.Var("SECRET_ACCESS_KEY"), s.SecretAccessKey, s.SecretAccessKeyFile); err != nil {
		return Remote{}, err
	}
	if r.CAFile, err = caFile(s.End, s.CAFile, r.Endpoint); err != nil {
		return Remote{}, err
	}
	return r, nil
}

// caFile checks a CA bundle now: rclone would read it only when it first
// connects, and end the process if it could not.
func caFile(end End, path, endpoint string) (string, error) {
	if path == "" {
		return "", nil
	}
	name := end.Var("CA_FILE")
	if !strings.HasPrefix(endpoint, "https://") {
		return "", exitcode.Configf(name, "is set, but %s %q is not https://", end.Var("ENDPOINT"), endpoint)
	}
	b, err := ReadFile(name, path, caFileLimit)
	if err != nil {
		return "", err
	}
	if path, err = CredentialPath(name, path); err != nil {
		return "", err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return "", exitcode.Configf(name, "%s holds no PEM certificate", path)
	}
	return path, nil
}

// caFileLimit bounds a CA bundle: the system's whole bundle is ~200 KiB.
const caFileLimit = 1 << 20

func endpoint(name, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", exitcode.Configf(name, "is required (an http:// or https:// URL)")
	}
	if strings.Contains(value, "@") {
		// Whatever comes before an @ may be a key and a secret: never repeat it.
		prefix := strings.TrimSuffix(name, "_ENDPOINT")
		return "", exitcode.Configf(name, "%q must not carry credentials; give them as %s_ACCESS_KEY_ID and %s_SECRET_ACCESS_KEY", RedactURL(value), prefix, prefix)
	}
	// A query may carry a token: errors quote the value without it.
	shown, _, hasQuery := strings.Cut(value, "?")
	if hasQuery {
		shown += "?..."
	}
	u, err := url.Parse(value)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return "", exitcode.Configf(name, "%q is not an http:// or https:// URL", shown)
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return "", exitcode.Configf(name, "%q has a path or query: give only scheme, host and port (the bucket has a variable of its own)", shown)
	}
	return u.Scheme + "://" + u.Host, nil
}

// RedactURL hides the userinfo of a URL, or of a string that only looks
// like one: everything between the scheme (or the start) and the last @.
func RedactURL(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + 3
	}
	return s[:start] + "REDACTED" + s[at:]
}

// Secret returns the value of the secret env var name, given directly or
// through name_FILE (read and trimmed). It is required, and giving both is
// an error. A file path starting with "%d/" is read from systemd's
// $CREDENTIALS_DIRECTORY, so an EnvironmentFile can point at LoadCredential.
// Errors never contain the value.
func Secret(name, value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", exitcode.Configf(name, "both %s and %s_FILE are set; set only one", name, name)
	case file != "":
		return readSecretFile(name+"_FILE", file)
	case strings.TrimSpace(value) == "":
		return "", exitcode.Configf(name, "is required (or %s_FILE with a path to a file holding it)", name)
	}
	return strings.TrimSpace(value), nil
}

// CredentialPath resolves a file path given in env var name: "%d/NAME" is
// NAME in systemd's $CREDENTIALS_DIRECTORY, and must stay inside it.
func CredentialPath(name, path string) (string, error) {
	rest, ok := strings.CutPrefix(path, "%d/")
	if !ok {
		return path, nil
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", exitcode.Configf(name, "%q uses %%d/ but CREDENTIALS_DIRECTORY is not set (is LoadCredential= configured?)", path)
	}
	if !filepath.IsLocal(rest) {
		return "", exitcode.Configf(name, "%q leaves $CREDENTIALS_DIRECTORY", path)
	}
	return filepath.Join(dir, rest), nil
}

func readSecretFile(name, path string) (string, error) {
	b, err := ReadFile(name, path, secretFileLimit)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", exitcode.Configf(name, "file %q is empty", path)
	}
	return v, nil
}

// secretFileLimit bounds a secret file: keys and URLs are short, and a
// path to /dev/zero must not read until the memory runs out.
const secretFileLimit = 4 << 10

// ReadFile reads the file given in env var name ("%d/NAME" works), a
// regular file of at most limit bytes; errors are configuration errors
// naming the variable, never the content.
func ReadFile(name, path string, limit int64) ([]byte, error) {
	path, err := CredentialPath(name, path)
	if err != nil {
		return nil, err
	}
	b, err := readSmallFile(path, limit)
	if err != nil {
		return nil, &exitcode.ConfigError{Var: name, Err: err}
	}
	return b, nil
}

// readSmallFile reads a regular file of at most limit bytes. Its errors
// name the path and the cause, never the content.
func readSmallFile(path string, limit int64) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, limit>>10)
	}
	return b, nil
}

// Dirs lists the names of the directories in dir of f: an S3 remote's
// buckets at its root, or the prefixes one level down in a bucket.
func Dirs(ctx context.Context, f fs.Fs, dir string) ([]string, error) {
	entries, err := f.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if _, ok := e.(fs.Directory); ok {
			dirs = append(dirs, e.Remote())
		}
	}
	return dirs, nil
}
