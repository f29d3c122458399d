// Package realetcd runs a real etcd for tests: the etcd server of the
// version k3s ships (v3.6), embedded, on loopback. Snapshots are taken
// through the client snapshot API, as k3s takes them, and restored with
// etcd's own restore code (etcdutl), into a data dir a second embedded
// etcd then serves: the proof that a snapshot restores with every key.
// Only tests import it: etcd's server never reaches offsite's binary.
package realetcd

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/harness"
)

// startTimeout bounds an etcd's start (a few seconds on a quiet machine).
const startTimeout = 2 * time.Minute

// Etcd is a running single-member etcd.
type Etcd struct {
	server *embed.Etcd
	client *clientv3.Client
	url    string // the client URL
}

// Start starts an etcd with a new data dir; the test's end stops it.
func Start(t testing.TB) *Etcd {
	t.Helper()
	return start(t, "offsite-test", filepath.Join(t.TempDir(), "etcd"), nil)
}

// start runs an etcd called name on dataDir, with peer as its peer URL
// when the data dir's member already has one (a restored one), else a new
// one.
func start(t testing.TB, name, dataDir string, peer *url.URL) *Etcd {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = name, dataDir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop()) // its close is noisy
	client := loopbackURL(t)
	if peer == nil {
		peer = loopbackURL(t)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(name)
	server, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(server.Close)
	select {
	case <-server.Server.ReadyNotify():
	case err := <-server.Err():
		t.Fatalf("etcd: %v", err)
	case <-time.After(startTimeout):
		t.Fatalf("etcd not ready within %v", startTimeout)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Etcd{server: server, client: c, url: client.String()}
}

func loopbackURL(t testing.TB) *url.URL {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
}

// callTimeout bounds one request to an etcd.
const callTimeout = 30 * time.Second

// Fill writes what a cluster's history looks like: n keys under prefix,
// every third one written twice and every fifth then deleted. It returns
// the keys left, with their values.
func (e *Etcd) Fill(t testing.TB, prefix string, n int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	want := map[string]string{}
	for i := range n {
		key := fmt.Sprintf("%s%04d", prefix, i)
		value := fmt.Sprintf("value %d of %s", i, prefix)
		if i%3 == 0 {
			e.put(ctx, t, key, "first "+value)
		}
		e.put(ctx, t, key, value)
		want[key] = value
		if i%5 == 0 {
			if _, err := e.client.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			delete(want, key)
		}
	}
	return want
}

func (e *Etcd) put(ctx context.Context, t testing.TB, key, value string) {
	t.Helper()
	if _, err := e.client.Put(ctx, key, value); err != nil {
		t.Fatal(err)
	}
}

// All is every key the etcd serves, with its value.
func (e *Etcd) All(t testing.TB) map[string]string {
	t.Helper()
	all, _ := e.read(t)
	return all
}

// Revision is the etcd's current revision.
func (e *Etcd) Revision(t testing.TB) int64 {
	t.Helper()
	_, rev := e.read(t)
	return rev
}

func (e *Etcd) read(t testing.TB) (map[string]string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := e.client.Get(ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	all := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		all[string(kv.Key)] = string(kv.Value)
	}
	return all, resp.Header.Revision
}

// Snapshot writes a snapshot to path as k3s does: through the client
// snapshot API, to path.part, then renamed into place.
func (e *Etcd) Snapshot(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := snapshot.SaveWithVersion(ctx, zap.NewNop(), clientv3.Config{Endpoints: []string{e.url}, DialTimeout: 10 * time.Second}, path); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
}

// Restore restores the snapshot at path with etcdutl's restore code (it
// checks the trailer) into a new data dir, starts an etcd on it, and
// returns every key that etcd serves, with its value.
func Restore(t testing.TB, path string) map[string]string {
	t.Helper()
	const name = "restored"
	dataDir := filepath.Join(t.TempDir(), "restored.etcd")
	peer := loopbackURL(t)
	err := etcdutl.NewV3(zap.NewNop()).Restore(etcdutl.RestoreConfig{
		SnapshotPath:        path,
		Name:                name,
		OutputDataDir:       dataDir,
		PeerURLs:            []string{peer.String()},
		InitialCluster:      name + "=" + peer.String(),
		InitialClusterToken: "etcd-cluster",
	})
	if err != nil {
		t.Fatalf("etcdutl restore of %s: %v", filepath.Base(path), err)
	}
	return start(t, name, dataDir, peer).All(t)
}
