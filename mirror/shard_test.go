package mirror

import (
	"fmt"
	"testing"
)

func TestParseShard(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"", Shard{}, true},
		{"0/3", Shard{0, 3}, true},
		{" 2 / 3 ", Shard{2, 3}, true},
		{"0/1", Shard{0, 1}, true},
		{"3/3", Shard{}, false},
		{"-1/3", Shard{}, false},
		{"0/0", Shard{}, false},
		{"1", Shard{}, false},
		{"a/b", Shard{}, false},
		{"0/1001", Shard{}, false},
	} {
		got, err := ParseShard(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if _, err := IndexedShard("", 3); err == nil {
		t.Error("OFFSITE_SHARDS without JOB_COMPLETION_INDEX accepted")
	}
	if sh, err := IndexedShard("2", 3); err != nil || sh != (Shard{2, 3}) {
		t.Errorf("IndexedShard(2, 3) = %v, %v", sh, err)
	}
}

// Every bucket belongs to exactly one shard, and no shard of a few is
// left without buckets when there are many.
func TestShardsPartitionBuckets(t *testing.T) {
	for n := 1; n <= 5; n++ {
		per := make([]int, n)
		for b := range 200 {
			name := fmt.Sprintf("bucket-%d", b)
			owners := 0
			for i := range n {
				if (Shard{i, n}).Has(name) {
					owners++
					per[i]++
				}
			}
			if owners != 1 {
				t.Fatalf("%s has %d owners among %d shards", name, owners, n)
			}
		}
		for i, c := range per {
			if c == 0 {
				t.Errorf("shard %d/%d has none of 200 buckets", i, n)
			}
		}
	}
	if !(Shard{}).Has("anything") {
		t.Error("the zero shard must hold every bucket")
	}
}
