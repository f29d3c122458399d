package offload

import (
	"os"
	"strings"
	"testing"

	"github.com/rclone/rclone/fs/config"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/offload/offloadtest"
	"github.com/offsite-backup/offsite/rcloneconf"
)

func TestMain(m *testing.M) {
	// rclone's logger is process-wide: not tied to any one test.
	rcloneconf.Init(zap.NewNop())
	if dirs := os.Getenv(unreadableEnv); dirs != "" {
		snapDir, stateDir, _ := strings.Cut(dirs, ":")
		onceUnreadable(snapDir, stateDir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// readOnlyDir is a new empty directory nobody can write to.
func readOnlyDir(t *testing.T) string {
	dir := t.TempDir()
	offloadtest.ReadOnly(t, dir)
	return dir
}

func setRemoteOption(remote, key, value string) {
	config.FileSetValue(remote, key, value)
}
