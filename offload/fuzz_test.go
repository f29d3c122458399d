package offload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// Fuzz targets for what offload reads from outside: sidecars from the
// bucket, snapshot files from the disk, recipients from an operator.
// make fuzz runs each for a short time; the seeds below and the corpus in
// testdata/fuzz run with every go test.

func FuzzParseSidecar(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	f.Add([]byte(sum+"  snap\n"), "snap")
	f.Add([]byte(sum+" *snap\n"), "snap")
	f.Add([]byte(sum+"  snap"), "snap")
	f.Add([]byte(strings.ToUpper(sum)+"  snap\n"), "snap")
	f.Add([]byte("\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		got, err := ParseSidecar(data, name)
		if err != nil {
			return
		}
		// Whatever parses is exactly what Sidecar writes, or its binary-mode twin.
		if b, _ := hex.DecodeString(got); len(b) != sha256.Size || got != strings.ToLower(got) {
			t.Fatalf("ParseSidecar(%q) = %q: not 64 lowercase hex digits", data, got)
		}
		if !bytes.Equal(data, Sidecar(got, name)) && !bytes.Equal(data, []byte(got+" *"+name+"\n")) {
			t.Fatalf("ParseSidecar accepted %q, which Sidecar(%q, %q) does not write", data, got, name)
		}
	})
}

func FuzzTrailerChecker(f *testing.F) {
	f.Add(offloadtest.Snapshot(1, 1), 7)
	f.Add(offloadtest.Snapshot(2, 2), 512)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		c := NewTrailerChecker()
		for p := data; len(p) > 0; {
			n := min(chunk, len(p))
			c.Write(p[:n])
			p = p[n:]
		}
		full := sha256.Sum256(data)
		if !bytes.Equal(c.Sum(), full[:]) {
			t.Fatal("Sum is not the SHA-256 of everything written")
		}
		ok := len(data)%512 == trailerSize
		if ok {
			body := sha256.Sum256(data[:len(data)-trailerSize])
			ok = bytes.Equal(body[:], data[len(data)-trailerSize:])
		}
		if err := c.Check(); (err == nil) != ok {
			t.Fatalf("Check = %v for %d bytes, want ok=%v", err, len(data), ok)
		} else if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Check error %v does not wrap ErrCorrupt", err)
		}
	})
}

func FuzzCheckZip(f *testing.F) {
	good := zipOf(f, "etcd-snapshot-node1-1700000000", offloadtest.Snapshot(1, 3))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// It must not panic or hang; a failure is ErrCorrupt.
		if err := CheckZip(bytes.NewReader(data), int64(len(data))); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("CheckZip error %v does not wrap ErrCorrupt", err)
		}
	})
}

func FuzzParseRecipients(f *testing.F) {
	f.Add("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
	f.Add("# c\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb0ZBx5SzyEvFB6sNNXyHHI5NZ4g4iSjwlgC4MdUw7Y\n")
	f.Add("AGE-SECRET-KEY-1QQQQ")
	f.Fuzz(func(t *testing.T, text string) {
		_, err := ParseRecipients(EnvAgeRecipients, text)
		if err == nil {
			return
		}
		// An error names the variable and never quotes a line.
		msg := strings.TrimPrefix(err.Error(), EnvAgeRecipients+": ")
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); len(line) > 12 && strings.Contains(msg, line) {
				t.Fatalf("error %q quotes the input line %q", err, line)
			}
		}
	})
}

func zipOf(tb testing.TB, name string, raw []byte) []byte {
	tb.Helper()
	return offloadtest.Zip(tb, name, raw)
}
