package offload

import "testing"

func TestShellQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/var/tmp/restore/etcd-snapshot-cp1-1700000000.zip", "/var/tmp/restore/etcd-snapshot-cp1-1700000000.zip"},
		{"", "''"},
		{"/a dir/x", "'/a dir/x'"},
		{"it's", `'it'\''s'`},
		{"$(reboot)", "'$(reboot)'"},
		{"a\nb", "'a\nb'"},
	} {
		if got := ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
