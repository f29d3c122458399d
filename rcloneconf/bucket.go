package rcloneconf

import "github.com/offsite-backup/offsite/internal/exitcode"

// CheckBucketName applies S3's bucket naming rules to name, given in env
// var env, so a bad name fails at start rather than after network calls.
func CheckBucketName(env, name string) error {
	if len(name) < 3 || len(name) > 63 {
		return exitcode.Configf(env, "%q is not a bucket name: it must be 3 to 63 characters long", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (r == '-' || r == '.') && i > 0 && i < len(name)-1
		if !ok {
			return exitcode.Configf(env, "%q is not a bucket name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", name)
		}
	}
	return nil
}
