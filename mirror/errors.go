package mirror

import (
	"errors"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/rclone/rclone/fs"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// credentialErrorCodes are the S3 error codes of keys that are wrong,
// rather than of a server that is down.
var credentialErrorCodes = map[string]bool{
	"InvalidAccessKeyId":           true,
	"SignatureDoesNotMatch":        true,
	"AccessDenied":                 true,
	"InvalidToken":                 true,
	"AuthorizationHeaderMalformed": true,
}

// classify turns err from talking to a remote into a configuration error
// when the remote refused the credentials or its certificate did not
// verify: a wrong key or CA is an operator's mistake (exit 2), not a failed
// run. prefix names the env vars (RGW, MINIO).
func classify(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if tlsErr := rcloneconf.TLSError(prefix, err); tlsErr != nil {
		return tlsErr
	}
	var api smithy.APIError
	if errors.As(err, &api) && credentialErrorCodes[api.ErrorCode()] {
		return &exitcode.ConfigError{Var: prefix + "_ACCESS_KEY_ID", Err: err}
	}
	// rclone sometimes flattens the SDK error into text.
	for code := range credentialErrorCodes {
		if strings.Contains(err.Error(), code) {
			return &exitcode.ConfigError{Var: prefix + "_ACCESS_KEY_ID", Err: err}
		}
	}
	return err
}

// isNotFound reports whether err says a bucket or directory does not exist.
func isNotFound(err error) bool {
	if errors.Is(err, fs.ErrorDirNotFound) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket"
}
