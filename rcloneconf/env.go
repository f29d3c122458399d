package rcloneconf

import (
	"sort"
	"strings"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// CheckEnv refuses rclone's own RCLONE_* env vars: rclone reads them inside
// fs.NewFs and they outrank the in-memory config, so one left in a pod or a
// shell would silently change where or how offsite copies.
func CheckEnv(environ []string) error {
	var found []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		// rclone sets RCLONE_CONFIG_DIR itself, for config files offsite
		// never reads; it changes no remote.
		if strings.HasPrefix(name, "RCLONE_") && name != "RCLONE_CONFIG_DIR" {
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Strings(found)
	return exitcode.Configf(found[0], "rclone env vars would silently override offsite's settings (%s); unset them or pass --allow-rclone-env (OFFSITE_ALLOW_RCLONE_ENV=true)", strings.Join(found, ", "))
}
