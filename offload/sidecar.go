package offload

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// SidecarSuffix names the checksum object written after each snapshot.
const SidecarSuffix = ".sha256"

// Sidecar is the content of <name>.sha256 for a snapshot: the line
// `sha256sum -c` reads, "<hex>  <name>\n".
func Sidecar(sum, name string) []byte {
	return []byte(sum + "  " + name + "\n")
}

// ParseSidecar reads a sidecar and returns the hex SHA-256 it holds, after
// checking it is one well-formed line naming name (sha256sum's binary mode
// marker "*" is accepted too).
func ParseSidecar(data []byte, name string) (string, error) {
	line, ok := strings.CutSuffix(string(data), "\n")
	if !ok || strings.Contains(line, "\n") {
		return "", fmt.Errorf("sidecar is not one line ending in a newline")
	}
	sum, file, ok := strings.Cut(line, " ")
	if !ok {
		return "", fmt.Errorf("sidecar is not \"<sha256>  <name>\"")
	}
	if len(sum) != 64 || strings.ToLower(sum) != sum {
		return "", fmt.Errorf("sidecar hash %q is not 64 lowercase hex digits", sum)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", fmt.Errorf("sidecar hash %q is not hex", sum)
	}
	switch {
	case strings.HasPrefix(file, " "):
		file = file[1:]
	case strings.HasPrefix(file, "*"):
		file = file[1:]
	default:
		return "", fmt.Errorf("sidecar is not \"<sha256>  <name>\"")
	}
	if file != name {
		return "", fmt.Errorf("sidecar names %q, not %q", file, name)
	}
	return sum, nil
}
