package offload

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/offsite-backup/offsite/offload/offloadtest"
	"github.com/offsite-backup/offsite/offload/offloadtest/snapdb"
)

// writeTemp writes data to a file of the test's and opens it.
func writeTemp(t testing.TB, name string, data []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestDatabaseOfASnapshot(t *testing.T) {
	data, err := snapdb.Snapshot(snapdb.Spec{Keys: 300, ValueSize: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	name := offloadtest.Name("n", 1700000000)
	for _, tt := range []struct {
		file  string
		bytes []byte
	}{{name, data}, {name + ".zip", offloadtest.Zip(t, name, data)}} {
		f := writeTemp(t, tt.file, tt.bytes)
		db, err := databaseOf(f, tt.file, checkDatabase)
		if err != nil || db.ConsistentIndex != 310 {
			t.Fatalf("%s: check = %+v, %v; want consistent index 310", tt.file, db, err)
		}
		db, err = databaseOf(f, tt.file, inspectDatabase)
		if want := (Database{Revision: 301, Keys: 300, ConsistentIndex: 310}); err != nil || db != want {
			t.Fatalf("%s: inspect = %+v, %v; want %+v", tt.file, db, err, want)
		}
	}
}

// Files whose etcd trailer is right and which are no etcd database.
func TestDatabaseRefusesOtherFiles(t *testing.T) {
	name := offloadtest.Name("n", 1700000000)
	otherBolt := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(otherBolt, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("key")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	noMeta, err := os.ReadFile(otherBolt)
	if err != nil {
		t.Fatal(err)
	}
	real := offloadtest.Snapshot(8, 2)
	// The page of one revision, with its header overwritten: the light
	// check reads no revision, the full one reads them all.
	damaged := append([]byte(nil), real...)
	page := bytes.Index(damaged, []byte("key-000003")) / 4096 * 4096
	copy(damaged[page:page+16], bytes.Repeat([]byte{0xff}, 16))
	for _, tt := range []struct {
		name, file string
		bytes      []byte
	}{
		{"random bytes", name, offloadtest.NotADatabase(8, 1)},
		{"zipped random bytes", name + ".zip", offloadtest.Zip(t, name, offloadtest.NotADatabase(8, 1))},
		{"a bbolt database that is not etcd's", name, noMeta},
		{"a cut-short database", name, real[:4096*3]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := writeTemp(t, tt.file, tt.bytes)
			for what, check := range map[string]func(*os.File) (Database, error){"check": checkDatabase, "inspect": inspectDatabase} {
				if _, err := databaseOf(f, tt.file, check); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s = %v, want ErrCorrupt", what, err)
				}
			}
		})
	}
	f := writeTemp(t, name, damaged)
	if _, err := checkDatabase(f); err != nil {
		t.Errorf("check of a damaged revision page = %v, want nil: it reads no revision", err)
	}
	if _, err := inspectDatabase(f); !errors.Is(err, ErrCorrupt) {
		t.Errorf("inspect of a damaged revision page = %v, want ErrCorrupt", err)
	}
}
