// Package snapdb makes etcd snapshots without an etcd, for tests and the
// demo: bbolt databases laid out as etcd's backend lays them out (the key
// bucket of revisions holding mvccpb.KeyValue records, the meta bucket with
// the consistent index), written as etcd's snapshot API streams them, then
// followed by etcd's SHA-256 trailer. They are quick to make at any size;
// offloadtest/realetcd takes real ones from a real etcd.
package snapdb

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
)

// Spec is what a snapshot holds: Keys keys ("key-000000", ...), each put
// once with a pseudo-random value of ValueSize bytes drawn from Seed.
type Spec struct {
	Keys      int
	ValueSize int
	Seed      uint64
}

// Snapshot returns the snapshot Spec describes.
func Snapshot(spec Spec) ([]byte, error) {
	dir, err := os.MkdirTemp("", "snapdb-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "db"), 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fill(tx, spec) }); err != nil {
		return nil, fmt.Errorf("fill the database: %w", err)
	}
	var buf bytes.Buffer
	// What etcd's snapshot API sends: the database as one read transaction sees it.
	if err := db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&buf); return err }); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return append(buf.Bytes(), sum[:]...), nil
}

// fill writes etcd's buckets: revision 1 is etcd's own start, so the keys
// are revisions 2 onwards.
func fill(tx *bolt.Tx, spec Spec) error {
	keys, err := tx.CreateBucket([]byte("key"))
	if err != nil {
		return err
	}
	keys.FillPercent = 0.9 // as etcd: revisions only ever grow
	r := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	value := make([]byte, spec.ValueSize)
	for i := range spec.Keys {
		for j := range value {
			value[j] = byte(r.Uint32())
		}
		rev := int64(i + 2)
		if err := keys.Put(Revision(rev), KeyValue(fmt.Sprintf("key-%06d", i), value, rev)); err != nil {
			return err
		}
	}
	meta, err := tx.CreateBucket([]byte("meta"))
	if err != nil {
		return err
	}
	for k, v := range map[string]uint64{"consistent_index": uint64(spec.Keys + 10), "term": 2} {
		if err := meta.Put([]byte(k), binary.BigEndian.AppendUint64(nil, v)); err != nil {
			return err
		}
	}
	for _, name := range []string{"lease", "cluster", "members", "members_removed", "alarm", "auth"} {
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return err
		}
	}
	return nil
}

// Revision is the key etcd stores revision main under in the key bucket:
// main and sub (0) big-endian, joined by '_'.
func Revision(main int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(main))
	b = append(b, '_')
	return binary.BigEndian.AppendUint64(b, 0)
}

// KeyValue is the mvccpb.KeyValue record of key put once at revision rev.
func KeyValue(key string, value []byte, rev int64) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte(key))
	for _, f := range []struct {
		n protowire.Number
		v int64
	}{{2, rev}, {3, rev}, {4, 1}} { // create revision, mod revision, version
		b = protowire.AppendTag(b, f.n, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(f.v))
	}
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendBytes(b, value)
}
