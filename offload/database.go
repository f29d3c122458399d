package offload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
)

// etcd's backend (server/storage/schema): every etcd database has these
// buckets, and its meta bucket the index of the last entry applied.
var (
	bucketKey          = []byte("key")
	bucketMeta         = []byte("meta")
	keyConsistentIndex = []byte("consistent_index")
)

// Database is what a snapshot holds, as etcdutl snapshot status reads it.
type Database struct {
	Revision        int64  `json:"revision"`         // the newest revision in the key bucket
	Keys            int    `json:"keys"`             // keys put and not deleted since: what a restored etcd serves
	ConsistentIndex uint64 `json:"consistent_index"` // the last raft entry applied
}

// checkDatabase checks that f is an etcd database: it opens as a bbolt
// database (etcd's snapshot trailer after it does not disturb bbolt), with
// the key and meta buckets and a consistent index. It reads a few pages.
func checkDatabase(f *os.File) (Database, error) {
	var db Database
	err := viewDatabase(f, func(tx *bolt.Tx) error {
		_, ci, err := etcdBuckets(tx)
		db.ConsistentIndex = ci
		return err
	})
	return db, err
}

// inspectDatabase checks f as checkDatabase does, then reads all of it as
// etcdutl snapshot status does: every page of every bucket, and every
// revision, for the newest and the keys still live. bbolt checks each page
// as it reads it. (Not with bbolt's tx.Check: it reads on goroutines of
// its own, where a damaged page's panic ends the process.)
func inspectDatabase(f *os.File) (Database, error) {
	var db Database
	err := viewDatabase(f, func(tx *bolt.Tx) error {
		keys, ci, err := etcdBuckets(tx)
		if err != nil {
			return err
		}
		db.ConsistentIndex = ci
		err = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if bytes.Equal(name, bucketKey) {
				return nil // read below, for the revisions
			}
			return b.ForEach(func(k, v []byte) error { return nil })
		})
		if err != nil {
			return err
		}
		db.Revision, db.Keys, err = liveKeys(keys)
		return err
	})
	return db, err
}

// viewDatabase runs fn in a read transaction on f opened read-only as a
// bbolt database. bbolt maps the file it opens: it gets a descriptor of
// f's own, never a path that may name another file by now.
func viewDatabase(f *os.File, fn func(*bolt.Tx) error) (err error) {
	// Damaged pages can make bbolt panic, and a file cut short under the
	// mapping makes a read fault: both are a bad snapshot, not a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corruptf("not an etcd database: bbolt cannot read it (a damaged page)")
		}
	}()
	db, err := bolt.Open(f.Name(), 0, &bolt.Options{ReadOnly: true, Timeout: time.Second,
		OpenFile: func(string, int, os.FileMode) (*os.File, error) { return dup(f) }})
	if err != nil {
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENOMEM) {
			return &localError{err}
		}
		return corruptf("not an etcd database: %v", err)
	}
	defer db.Close()
	return db.View(fn)
}

// dup is a second descriptor of f's open file.
func dup(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// etcdBuckets returns the key bucket and the consistent index, or why the
// transaction's database is not etcd's.
func etcdBuckets(tx *bolt.Tx) (*bolt.Bucket, uint64, error) {
	keys, meta := tx.Bucket(bucketKey), tx.Bucket(bucketMeta)
	if keys == nil || meta == nil {
		return nil, 0, corruptf("not an etcd database: no %q or %q bucket", bucketKey, bucketMeta)
	}
	ci := meta.Get(keyConsistentIndex)
	if len(ci) != 8 {
		return nil, 0, corruptf("not an etcd database: the meta bucket holds no consistent index")
	}
	return keys, binary.BigEndian.Uint64(ci), nil
}

// Revision keys (server/storage/mvcc): the main revision and the sub one,
// big-endian, joined by '_'; a deletion (tombstone) ends in 't'.
const (
	revisionLen  = 8 + 1 + 8
	tombstoneLen = revisionLen + 1
)

// liveKeys walks the key bucket in revision order: the newest revision,
// and the keys put and not deleted since. The errors name no key.
func liveKeys(b *bolt.Bucket) (revision int64, keys int, err error) {
	live := map[string]struct{}{}
	err = b.ForEach(func(k, v []byte) error {
		tombstone := len(k) == tombstoneLen && k[revisionLen] == 't'
		if len(k) != revisionLen && !tombstone {
			return corruptf("not an etcd database: a key of %d bytes in the key bucket, not a revision", len(k))
		}
		key, ok := keyOf(v)
		if !ok {
			return corruptf("not an etcd database: revision %d holds no key-value record", binary.BigEndian.Uint64(k))
		}
		if tombstone {
			delete(live, string(key))
		} else {
			live[string(key)] = struct{}{}
		}
		revision = int64(binary.BigEndian.Uint64(k))
		return nil
	})
	return revision, len(live), err
}

// keyOf is the key of an mvccpb.KeyValue record (field 1).
func keyOf(record []byte) ([]byte, bool) {
	for len(record) > 0 {
		num, typ, n := protowire.ConsumeTag(record)
		if n < 0 {
			return nil, false
		}
		record = record[n:]
		if num == 1 && typ == protowire.BytesType {
			key, n := protowire.ConsumeBytes(record)
			return key, n >= 0
		}
		if n = protowire.ConsumeFieldValue(num, typ, record); n < 0 {
			return nil, false
		}
		record = record[n:]
	}
	return nil, false
}

// databaseOf checks the snapshot in f, named name, with check: a raw
// snapshot is the database itself; each entry of a zip is written to a
// temporary file first (bbolt maps a file), on the pass that checks its
// CRC and trailer. A zip's Database is its last entry's (k3s writes one).
func databaseOf(f *os.File, name string, check func(*os.File) (Database, error)) (Database, error) {
	if !IsZip(name) {
		return check(f)
	}
	info, err := f.Stat()
	if err != nil {
		return Database{}, &localError{err}
	}
	var db Database
	err = checkZip(f, info.Size(), func(entry string, tmp *os.File) error {
		d, err := check(tmp)
		if err != nil {
			return fmt.Errorf("zip entry %s: %w", entry, err)
		}
		db = d
		return nil
	})
	return db, err
}

// scratchFile is an unlinked temporary file in $TMPDIR: nothing is left
// behind, whatever happens to the process.
func scratchFile() (*os.File, error) {
	f, err := os.CreateTemp("", "offsite-check-*")
	if err != nil {
		return nil, &localError{fmt.Errorf("temporary file for the check: %w", err)}
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, &localError{err}
	}
	return f, nil
}
