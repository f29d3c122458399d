package main

import (
	"context"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// TestDemo runs `offsite demo` as a newcomer would: it must exit 0 and
// show every command at work.
func TestDemo(t *testing.T) {
	code, stdout, stderr := runOffsite(context.Background(), "demo")
	if code != exitcode.OK {
		t.Fatalf("exit=%d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"offsite mirror", "offsite offload once", "offsite verify rgw", "offsite verify etcd", "offsite offload fetch", "offsite drill rgw", "scratch bucket removed: true", "offsite drill etcd", "empty-source guard", "All steps did what they should"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
