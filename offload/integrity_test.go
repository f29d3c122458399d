package offload

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/offsite-backup/offsite/offload/offloadtest"
)

func TestTrailerCheckerAnyChunking(t *testing.T) {
	snap := offloadtest.Snapshot(3, 1)
	for _, chunk := range []int{1, 7, 31, 32, 33, 512, 4096, len(snap)} {
		c := NewTrailerChecker()
		for off := 0; off < len(snap); off += chunk {
			c.Write(snap[off:min(off+chunk, len(snap))])
		}
		if err := c.Check(); err != nil {
			t.Errorf("chunk %d: %v", chunk, err)
		}
	}
}

func TestTrailerCheckerRejects(t *testing.T) {
	good := offloadtest.Snapshot(2, 2)
	flipped := bytes.Clone(good)
	flipped[100] ^= 1
	badTrailer := bytes.Clone(good)
	badTrailer[len(badTrailer)-1] ^= 1
	for name, data := range map[string][]byte{
		"empty":        nil,
		"no trailer":   good[:len(good)-32],
		"truncated":    good[:len(good)-512],
		"body changed": flipped,
		"bad trailer":  badTrailer,
	} {
		t.Run(name, func(t *testing.T) {
			c := NewTrailerChecker()
			c.Write(data)
			if err := c.Check(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Check()=%v, want ErrCorrupt", err)
			}
		})
	}
}

func TestCheckZip(t *testing.T) {
	raw := offloadtest.Snapshot(4, 3)
	good := offloadtest.Zip(t, "snap", raw)
	badInner := bytes.Clone(raw)
	badInner[len(badInner)-1] ^= 1
	// A flipped byte in stored (uncompressed) data is caught by the CRC.
	crc := offloadtest.Zip(t, "snap", raw)
	crc[len(crc)/2] ^= 0xff
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"good", good, true},
		{"truncated", good[:len(good)/2], false},
		{"inner trailer bad", offloadtest.Zip(t, "snap", badInner), false},
		{"byte flipped", crc, false},
		{"not a zip", raw, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckZip(bytes.NewReader(tt.data), int64(len(tt.data)))
			if got := err == nil; got != tt.ok {
				t.Fatalf("CheckZip ok=%v (%v), want %v", got, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
		})
	}
}

func TestTrailerCheckerSumIsWholeFileHash(t *testing.T) {
	snap := offloadtest.Snapshot(2, 4)
	for _, chunk := range []int{5, 32, 4096} {
		c := NewTrailerChecker()
		for off := 0; off < len(snap); off += chunk {
			c.Write(snap[off:min(off+chunk, len(snap))])
		}
		if got, want := hex.EncodeToString(c.Sum()), offloadtest.SHA256(snap); got != want {
			t.Fatalf("chunk %d: Sum=%s, want %s", chunk, got, want)
		}
	}
}
