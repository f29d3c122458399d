package offload

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// putSnapshot writes a snapshot and its sidecar straight into the bucket.
func putSnapshot(t *testing.T, f *fixture, host, name string, data []byte) {
	t.Helper()
	f.minio.Put(t, testBucket, host+"/"+name, data)
	f.minio.Put(t, testBucket, host+"/"+name+SidecarSuffix, Sidecar(offloadtest.SHA256(data), name))
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	now := time.Unix(1700100000, 0)
	older, newest := offloadtest.Name("n", 1700090000), offloadtest.Name("n", 1700099000)
	snap := offloadtest.Snapshot(8, 900)

	tests := []struct {
		name     string
		setup    func(host string)
		download string
		problem  string // "" for none; else a substring naming the object
	}{
		{"all good", func(h string) {
			putSnapshot(t, f, h, older, offloadtest.Snapshot(8, 901))
			putSnapshot(t, f, h, newest+".zip", offloadtest.Zip(t, newest, snap))
		}, DownloadAll, ""},
		{"missing sidecar", func(h string) {
			putSnapshot(t, f, h, newest, snap)
			f.minio.Put(t, testBucket, h+"/"+older, offloadtest.Snapshot(8, 901))
		}, DownloadNone, h0(older) + ": no sidecar"},
		{"wrong hash in sidecar", func(h string) {
			putSnapshot(t, f, h, newest, snap)
			f.minio.Put(t, testBucket, h+"/"+newest+SidecarSuffix, Sidecar(strings.Repeat("0", 64), newest))
		}, DownloadLatest, h0(newest) + " has SHA-256"},
		{"sidecar names another file", func(h string) {
			putSnapshot(t, f, h, newest, snap)
			f.minio.Put(t, testBucket, h+"/"+newest+SidecarSuffix, Sidecar(offloadtest.SHA256(snap), older))
		}, DownloadNone, h0(newest) + SidecarSuffix + ": sidecar names"},
		{"bytes changed after upload", func(h string) {
			putSnapshot(t, f, h, older, snap)
			changed := bytes.Clone(snap)
			changed[5] ^= 1
			f.minio.Put(t, testBucket, h+"/"+older, changed)
			putSnapshot(t, f, h, newest, snap)
		}, DownloadAll, h0(older) + " has SHA-256"},
		{"zero-byte object", func(h string) {
			putSnapshot(t, f, h, newest, nil)
		}, DownloadLatest, h0(newest) + ": empty object"},
		{"stale newest", func(h string) {
			putSnapshot(t, f, h, offloadtest.Name("n", 1700000000), snap)
		}, DownloadLatest, "is 27h47m0s old"},
		{"nothing there", func(string) {}, DownloadLatest, "no snapshots under"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := "h" + string(rune('a'+i))
			tt.setup(host)
			report, err := Verify(context.Background(), VerifyConfig{
				Dest: f.cfg.Dest, Bucket: testBucket, Host: host, MaxAge: 25 * time.Hour, Download: tt.download, Now: now,
			}, zaptest.NewLogger(t))
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("Verify=%v, problems %v", err, report.Hosts)
				}
				return
			}
			if !errors.Is(err, exitcode.ErrVerifyFailed) {
				t.Fatalf("Verify=%v, want exitcode.ErrVerifyFailed", err)
			}
			want := strings.ReplaceAll(tt.problem, "HOST", host)
			got := strings.Join(report.Hosts[0].Problems, "\n")
			if !strings.Contains(got, want) {
				t.Fatalf("problems:\n%s\nwant one containing %q", got, want)
			}
		})
	}

	// Every host at once: the broken ones make the whole run fail.
	report, err := Verify(context.Background(), VerifyConfig{Dest: f.cfg.Dest, Bucket: testBucket, AllHosts: true,
		MaxAge: 25 * time.Hour, Download: DownloadNone, Now: now}, zaptest.NewLogger(t))
	if !errors.Is(err, exitcode.ErrVerifyFailed) || len(report.Hosts) != len(tests)-1 {
		t.Fatalf("all hosts: %v, %d hosts; want exitcode.ErrVerifyFailed and %d hosts", err, len(report.Hosts), len(tests)-1)
	}
	var table bytes.Buffer
	if err := report.WriteTable(&table); err != nil || !strings.Contains(table.String(), "HOST") {
		t.Fatalf("table=%q, %v", table.String(), err)
	}
}

// h0 is a placeholder for the host prefix of the case, filled in by the test.
func h0(name string) string { return "HOST/" + name }

func TestFetchLatest(t *testing.T) {
	f := newFixture(t)
	// Newest by the time in the name, not by sorting names.
	onDemand := "on-demand-node1-1700001000.zip"
	latest := offloadtest.Name(testHost, 1700002000) + ".zip"
	raw := offloadtest.Snapshot(16, 1000)
	zipped := offloadtest.Zip(t, strings.TrimSuffix(latest, ".zip"), raw)
	putSnapshot(t, f, testHost, offloadtest.Name(testHost, 1700000000), offloadtest.Snapshot(16, 1001))
	putSnapshot(t, f, testHost, onDemand, offloadtest.Zip(t, "x", offloadtest.Snapshot(4, 1002)))
	putSnapshot(t, f, testHost, latest, zipped)
	// A newer upload cut short before its sidecar: not a snapshot to restore.
	f.minio.Put(t, testBucket, testHost+"/"+offloadtest.Name(testHost, 1700003000), offloadtest.Snapshot(16, 1003))

	dir := t.TempDir()
	cfg := FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost, Dir: dir}
	got, err := Fetch(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	path := got.Snapshot
	if got, want := path, filepath.Join(dir, latest); got != want {
		t.Fatalf("fetched %s, want %s", got, want)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, zipped) {
		t.Fatal("fetched bytes differ from the snapshot")
	}
	if _, err := Fetch(context.Background(), cfg, zaptest.NewLogger(t)); err == nil {
		t.Fatal("second fetch overwrote the first")
	}
	if got, want := RestoreCommand(path, ""), "k3s server --cluster-reset --cluster-reset-restore-path="+path; got != want {
		t.Fatalf("restore command %q, want %q", got, want)
	}
}

func TestFetchRefusesCorrupt(t *testing.T) {
	f := newFixture(t)
	name := offloadtest.Name(testHost, 1700003000)
	data := offloadtest.Snapshot(16, 1100)
	putSnapshot(t, f, testHost, name, data)
	changed := bytes.Clone(data)
	changed[100] ^= 1
	f.minio.Put(t, testBucket, testHost+"/"+name, changed)

	badTrailer := offloadtest.Name(testHost, 1700002000)
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	putSnapshot(t, f, testHost, badTrailer, bad) // sidecar matches, trailer does not
	notDB := offloadtest.Name(testHost, 1700001000)
	putSnapshot(t, f, testHost, notDB, offloadtest.NotADatabase(16, 1)) // sidecar and trailer match

	for _, n := range []string{name, badTrailer, notDB} {
		dir := t.TempDir()
		_, err := Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost, Name: n, Dir: dir}, zaptest.NewLogger(t))
		if !errors.Is(err, exitcode.ErrVerifyFailed) {
			t.Fatalf("Fetch %s=%v, want exitcode.ErrVerifyFailed", n, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("fetch of %s left %v in the directory", n, entries)
		}
	}
}

// A snapshot named with a time ahead of now (a node whose clock runs
// ahead, or an object planted in the bucket) is never the newest: verify
// fails naming it, fetch passes over it with a warning.
func TestFutureDatedSnapshotIsNeverNewest(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	good := offloadtest.Name(testHost, now.Add(-time.Hour).Unix())
	future := offloadtest.Name(testHost, now.Add(30*24*time.Hour).Unix())
	putSnapshot(t, f, testHost, good, offloadtest.Snapshot(4, 1200))
	putSnapshot(t, f, testHost, future, offloadtest.Snapshot(4, 1201))

	report, err := Verify(context.Background(), VerifyConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost,
		MaxAge: 25 * time.Hour, Download: DownloadLatest}, zaptest.NewLogger(t))
	if !errors.Is(err, exitcode.ErrVerifyFailed) {
		t.Fatalf("Verify=%v, want exitcode.ErrVerifyFailed", err)
	}
	if got := strings.Join(report.Hosts[0].Problems, "\n"); !strings.Contains(got, future) || !strings.Contains(got, "dated in the future") {
		t.Fatalf("problems:\n%s\nwant %s named as dated in the future", got, future)
	}
	if got, want := report.Hosts[0].Newest, good; got != want {
		t.Fatalf("newest = %s, want %s", got, want)
	}

	core, logs := observer.New(zap.WarnLevel)
	got, err := Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost, Dir: t.TempDir()}, zap.New(core))
	if err != nil || filepath.Base(got.Snapshot) != good {
		t.Fatalf("Fetch = %s, %v; want %s", got.Snapshot, err, good)
	}
	if warned := logs.FilterMessageSnippet("dated in the future").FilterField(zap.String("name", future)); warned.Len() != 1 {
		t.Fatalf("fetch did not warn about %s: %v", future, logs.All())
	}
	drill, err := Drill(context.Background(), DrillConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost}, zaptest.NewLogger(t))
	if err != nil || drill.Hosts[0].Snapshot != testHost+"/"+good {
		t.Fatalf("Drill = %v, drilled %s; want %s", err, drill.Hosts[0].Snapshot, good)
	}
}

// fetch --to a directory that is not there yet (a restore at 3 am into a
// new folder) makes it, and its parents, for the owner only.
func TestFetchMakesItsDirectory(t *testing.T) {
	f := newFixture(t)
	name := offloadtest.Name(testHost, 1700003000)
	data := offloadtest.Snapshot(4, 1300)
	putSnapshot(t, f, testHost, name, data)
	base := t.TempDir()
	dir := filepath.Join(base, "restore", "cp1")
	got, err := Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost, Dir: dir}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(got.Snapshot); !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ from the snapshot")
	}
	for _, d := range []string{filepath.Join(base, "restore"), dir} {
		if info, err := os.Stat(d); err != nil || info.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v, %v; want a directory of mode 0700", d, info.Mode(), err)
		}
	}

	// Something else already there is still a configuration error.
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{file, filepath.Join(file, "sub")} {
		_, err = Fetch(context.Background(), FetchConfig{Dest: f.cfg.Dest, Bucket: testBucket, Host: testHost, Dir: d}, zaptest.NewLogger(t))
		var ce *exitcode.ConfigError
		if !errors.As(err, &ce) || ce.Var != EnvFetchDir {
			t.Fatalf("fetch into %s: %v, want a ConfigError naming %s", d, err, EnvFetchDir)
		}
	}
}
