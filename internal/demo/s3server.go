package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/rclone/rclone/cmd/serve/s3" // registers serve type "s3"
	"github.com/rclone/rclone/fs/rc"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// s3Server is rclone's S3 server, in process, serving a local directory:
// each subdirectory is a bucket.
type s3Server struct {
	id     string
	remote rcloneconf.Remote
}

// startS3 serves dir on a free loopback port with the given keys and
// returns it as a remote called name. Buckets are created as directories.
func startS3(ctx context.Context, name, dir, key, secret string, buckets ...string) (*s3Server, error) {
	for _, b := range buckets {
		if err := os.MkdirAll(filepath.Join(dir, b), 0o755); err != nil {
			return nil, err
		}
	}
	out, err := rc.Calls.Get("serve/start").Fn(ctx, rc.Params{
		"type":     "s3",
		"fs":       dir,
		"addr":     "127.0.0.1:0",
		"auth_key": []string{key + "," + secret},
	})
	if err != nil {
		return nil, fmt.Errorf("start s3 server for %s: %w", name, err)
	}
	addr, _ := out.GetString("addr")
	id, _ := out.GetString("id")
	return &s3Server{id: id, remote: rcloneconf.Remote{
		Name: name, Provider: rcloneconf.ProviderRclone, Endpoint: "http://" + addr,
		AccessKeyID: key, SecretAccessKey: secret,
	}}, nil
}

func (s *s3Server) stop(ctx context.Context) {
	_, _ = rc.Calls.Get("serve/stop").Fn(ctx, rc.Params{"id": s.id})
}
