package offload

import (
	"strings"
	"testing"
)

func TestParseSidecar(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		name, data string
		ok         bool
	}{
		{"sha256sum text mode", sum + "  snap\n", true},
		{"sha256sum binary mode", sum + " *snap\n", true},
		{"what offload writes", string(Sidecar(sum, "snap")), true},
		{"no newline", sum + "  snap", false},
		{"two lines", sum + "  snap\n" + sum + "  snap\n", false},
		{"other file", sum + "  other\n", false},
		{"short hash", sum[:60] + "  snap\n", false},
		{"upper case", strings.ToUpper(sum) + "  snap\n", false},
		{"not hex", strings.Repeat("zz", 32) + "  snap\n", false},
		{"one space", sum + " snap\n", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSidecar([]byte(tt.data), "snap")
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSidecar err=%v, want ok=%v", err, tt.ok)
			}
			if tt.ok && got != sum {
				t.Fatalf("sum=%q, want %q", got, sum)
			}
		})
	}
}
