package rcloneconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/rclone/rclone/fs"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// End is one of the two S3 endpoints offsite talks to, as its env vars
// name it: RGW_ENDPOINT, MINIO_SECRET_ACCESS_KEY_FILE...
type End string

// The ends.
const (
	RGW   End = "RGW"   // the cluster's Ceph RGW: mirrored from, restored to
	MinIO End = "MINIO" // the offsite MinIO: the mirror and the snapshots
	// MinIOEtcd is the etcd bucket's own keys, for the commands that touch
	// both buckets (setup minio, verify minio, status); unset, MinIO's.
	MinIOEtcd End = "MINIO_ETCD"
)

// Var is the name of one of the end's env vars: RGW.Var("ENDPOINT") is
// RGW_ENDPOINT.
func (e End) Var(suffix string) string { return string(e) + "_" + suffix }

// credentialErrorCodes are the S3 error codes of keys that are wrong,
// rather than of a server that is down.
var credentialErrorCodes = map[string]bool{
	"InvalidAccessKeyId":           true,
	"SignatureDoesNotMatch":        true,
	"AccessDenied":                 true,
	"InvalidToken":                 true,
	"AuthorizationHeaderMalformed": true,
}

// Classify is the one place that tells an operator's mistake from a failed
// run in an error from talking to end: refused credentials are a
// configuration error naming <END>_ACCESS_KEY_ID, a certificate that does
// not verify one naming <END>_CA_FILE (exit 2 both). Anything else is
// returned as it is. Every command classifies its S3 errors here, so the
// same wrong key is the same exit code everywhere.
func Classify(end End, err error) error {
	var cfg *exitcode.ConfigError
	if err == nil || errors.As(err, &cfg) {
		return err
	}
	if tlsErr := tlsError(end, err); tlsErr != nil {
		return tlsErr
	}
	if code := errorCode(err); credentialErrorCodes[code] || httpStatus(err) == http.StatusForbidden {
		return &exitcode.ConfigError{Var: end.Var("ACCESS_KEY_ID"), Err: err}
	}
	if notS3(err) {
		return exitcode.Configf(end.Var("ENDPOINT"), "answered 404 with no S3 error in its body: it does not answer like S3 (a reverse proxy's page, or the wrong port?): %v", err)
	}
	return err
}

// notS3 reports whether err is an answer no S3 server gives: a 404 to a
// request that has a body to its answer (not a HEAD), with no S3 error
// code in it. S3 says NoSuchBucket or NoSuchKey; a reverse proxy in front
// of nothing says 404 and a page of its own.
func notS3(err error) bool {
	var op interface{ Operation() string }
	if httpStatus(err) != http.StatusNotFound || errorCode(err) != "" && errorCode(err) != "NotFound" {
		return false
	}
	return errors.As(err, &op) && !strings.HasPrefix(op.Operation(), "Head")
}

// errorCode is the S3 error code in err ("NoSuchBucket"), or "".
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	// rclone sometimes flattens the SDK error into text.
	for code := range credentialErrorCodes {
		if strings.Contains(err.Error(), code) {
			return code
		}
	}
	return ""
}

// httpStatus is the HTTP status of the S3 answer in err, or 0. A HEAD's
// answer has no body, so no error code: only its status says 403.
func httpStatus(err error) int {
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		return resp.HTTPStatusCode()
	}
	return 0
}

// tlsError is a configuration error naming end's CA file when err is a
// failure to verify the server's certificate (an unknown CA, a name the
// certificate does not hold), and nil otherwise.
func tlsError(end End, err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &verify) ||
		// rclone sometimes flattens the error into text.
		strings.Contains(err.Error(), "tls: failed to verify certificate") || strings.Contains(err.Error(), "x509: ") {
		return exitcode.Configf(end.Var("CA_FILE"), "the %s endpoint's certificate does not verify: %v (the file names the CA that signs it; the certificate must hold the endpoint's name and be valid now)", end, err)
	}
	return nil
}

// IsNotFound reports whether err says a bucket or directory does not exist.
func IsNotFound(err error) bool {
	return err != nil && (errors.Is(err, fs.ErrorDirNotFound) || errorCode(err) == "NoSuchBucket" ||
		strings.Contains(err.Error(), "NoSuchBucket"))
}
