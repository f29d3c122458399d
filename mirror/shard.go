package mirror

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// Env vars of sharding: OFFSITE_SHARD=i/n, or OFFSITE_SHARDS=n with the
// index Kubernetes gives each pod of an Indexed Job.
const (
	EnvShard              = "OFFSITE_SHARD"
	EnvShards             = "OFFSITE_SHARDS"
	EnvJobCompletionIndex = "JOB_COMPLETION_INDEX"
)

// maxShards bounds the shard count.
const maxShards = 1000

// Shard is this run's part of the buckets when several processes share
// them: bucket B belongs to shard fnv32a(B) mod Count, so each bucket is
// mirrored by exactly one shard, and by the same one every run while Count
// stays. The zero value (or a Count of 1) is every bucket.
type Shard struct {
	Index int `json:"index"` // 0-based
	Count int `json:"count"`
}

// ParseShard parses OFFSITE_SHARD, "i/n" with 0 <= i < n ("" is no sharding).
func ParseShard(s string) (Shard, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, exitcode.Configf(EnvShard, "%q is not i/n, shard i (0-based) of n", s)
	}
	sh := Shard{Index: i, Count: n}
	return sh, sh.validate(EnvShard, EnvShard)
}

// IndexedShard is the shard of a pod of an Indexed Job: OFFSITE_SHARDS=n
// and the JOB_COMPLETION_INDEX Kubernetes sets.
func IndexedShard(index string, count int) (Shard, error) {
	if strings.TrimSpace(index) == "" {
		return Shard{}, exitcode.Configf(EnvShards, "needs %s, which an Indexed Job sets (completionMode: Indexed); outside one, use %s=i/n", EnvJobCompletionIndex, EnvShard)
	}
	i, err := strconv.Atoi(strings.TrimSpace(index))
	if err != nil {
		return Shard{}, exitcode.Configf(EnvJobCompletionIndex, "%q is not a number", index)
	}
	sh := Shard{Index: i, Count: count}
	return sh, sh.validate(EnvJobCompletionIndex, EnvShards)
}

func (s Shard) validate(indexVar, countVar string) error {
	if s.Count < 1 || s.Count > maxShards {
		return exitcode.Configf(countVar, "a shard count of %d is out of range 1..%d", s.Count, maxShards)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return exitcode.Configf(indexVar, "shard index %d is out of range 0..%d (0-based, under the count of %d)", s.Index, s.Count-1, s.Count)
	}
	return nil
}

// Sharded reports whether the buckets are split between several shards.
func (s Shard) Sharded() bool { return s.Count > 1 }

// Has reports whether bucket belongs to this shard.
func (s Shard) Has(bucket string) bool {
	if !s.Sharded() {
		return true
	}
	return ShardOf(bucket, s.Count) == s.Index
}

// ShardOf is the shard of n that bucket belongs to.
func ShardOf(bucket string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(bucket))
	return int(h.Sum32() % uint32(n))
}

// String is "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// keep filters names down to this shard's.
func (s Shard) keep(names []string) []string {
	if !s.Sharded() {
		return names
	}
	out := []string{}
	for _, n := range names {
		if s.Has(n) {
			out = append(out, n)
		}
	}
	return out
}
