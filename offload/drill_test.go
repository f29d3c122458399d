package offload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/offload/offloadtest"
	"github.com/offsite-backup/offsite/offload/offloadtest/realetcd"
)

// TestDrillRealSnapshots drills snapshots a real etcd took, raw, zipped
// and encrypted, as offload ships them: each reads back with the
// revision and the keys the etcd had; a file with a right trailer and
// sidecar that is no etcd database fails, named; the temporary copies
// are gone when the drill returns.
func TestDrillRealSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd server")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	etcd := realetcd.Start(t)
	keys := len(etcd.Fill(t, "/registry/configmaps/kube-system/cm-", 200))
	revision := etcd.Revision(t)

	f := newFixture(t)
	f.encrypt()
	hosts := map[string]string{"raw": "", "zipped": "", "encrypted": ""}
	for host := range hosts {
		cfg := f.cfg
		cfg.Hostname, cfg.StateDir, cfg.SnapshotDir = host, t.TempDir(), t.TempDir()
		if host != "encrypted" {
			cfg.Recipients = nil
		}
		name := offloadtest.Name(host, time.Now().Unix())
		if host == "zipped" {
			name = zipSnapshot(t, etcd, cfg.SnapshotDir, name)
		} else {
			etcd.Snapshot(t, filepath.Join(cfg.SnapshotDir, name))
		}
		hosts[host] = name
		time.Sleep(testQuiet)
		if _, err := Once(context.Background(), cfg, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
	}
	notDB := offloadtest.Name("planted", time.Now().Unix())
	putSnapshot(t, f, "planted", notDB, offloadtest.NotADatabase(16, 1))

	cfg := DrillConfig{Dest: f.cfg.Dest, Bucket: testBucket, AllHosts: true, Identities: []age.Identity{f.key}}
	report, err := Drill(context.Background(), cfg, zaptest.NewLogger(t))
	if !errors.Is(err, exitcode.ErrVerifyFailed) || !strings.Contains(err.Error(), "planted/"+notDB) {
		t.Fatalf("Drill = %v, want exitcode.ErrVerifyFailed naming planted/%s", err, notDB)
	}
	for _, h := range report.Hosts {
		if h.Host == "planted" {
			if h.OK() || !strings.Contains(strings.Join(h.Problems, "\n"), "not an etcd database") {
				t.Errorf("planted: problems %q, want it named as no etcd database", h.Problems)
			}
			continue
		}
		if !h.OK() || h.Database.Revision != revision || h.Database.Keys != keys {
			t.Errorf("%s: %+v, want %d keys at revision %d", h.Host, h, keys, revision)
		}
		if !strings.HasPrefix(h.Snapshot, h.Host+"/"+hosts[h.Host]) {
			t.Errorf("%s: drilled %s, want its newest, %s", h.Host, h.Snapshot, hosts[h.Host])
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the drill left %d files in $TMPDIR", len(left))
	}

	// An encrypted snapshot and no identity: a configuration error, named.
	cfg.Identities, cfg.AllHosts, cfg.Host = nil, false, "encrypted"
	_, err = Drill(context.Background(), cfg, zaptest.NewLogger(t))
	var ce *exitcode.ConfigError
	if !errors.As(err, &ce) || ce.Var != EnvAgeIdentityFile {
		t.Fatalf("Drill of an encrypted snapshot without a key = %v, want a ConfigError naming %s", err, EnvAgeIdentityFile)
	}
}
