package bucketsetup

import (
	"strings"
	"testing"
)

func TestLifecycleWithExpiry(t *testing.T) {
	foreign := `<ID>logs</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Expiration><Days>30</Days></Expiration>`
	minioOnly := `<ID>markers</ID><Status>Enabled</Status><Filter></Filter><DelMarkerExpiration><Days>7</Days></DelMarkerExpiration>`
	own := func(days int) string { return ownRule(days).Raw }
	for _, tt := range []struct {
		name       string
		rules      []string
		wantAction string
		wantKept   []string // raw rules the result holds, ours last when changed
	}{
		{"none", nil, "added", []string{own(14)}},
		{"foreign rules kept as they are", []string{foreign, minioOnly}, "added", []string{foreign, minioOnly, own(14)}},
		{"ours already", []string{foreign, own(14)}, "", []string{foreign, own(14)}},
		{"ours at another age", []string{own(30), foreign}, "updated", []string{foreign, own(14)}},
		{"ours shorter is set to the retention", []string{own(7)}, "updated", []string{own(14)}},
		{"ours disabled", []string{strings.Replace(own(14), "Enabled", "Disabled", 1)}, "updated", []string{own(14)}},
		{"a foreign rule within the retention", []string{`<ID>old</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter><NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays></NoncurrentVersionExpiration>`}, "", nil},
		{"a foreign rule in the old Prefix form", []string{`<ID>old</ID><Prefix></Prefix><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>10</NoncurrentDays></NoncurrentVersionExpiration>`}, "", nil},
		{"a foreign rule past the retention", []string{`<ID>slow</ID><Status>Enabled</Status><Filter></Filter><NoncurrentVersionExpiration><NoncurrentDays>90</NoncurrentDays></NoncurrentVersionExpiration>`}, "added", nil},
		{"a foreign rule for a prefix only", []string{`<ID>p</ID><Status>Enabled</Status><Filter><Prefix>a/</Prefix></Filter><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>`}, "added", nil},
		{"a foreign rule for tagged objects", []string{`<ID>p</ID><Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>`}, "added", nil},
		{"a foreign rule keeping versions", []string{`<ID>p</ID><Status>Enabled</Status><Filter></Filter><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>`}, "added", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var in strings.Builder
			in.WriteString(`<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
			for _, r := range tt.rules {
				in.WriteString("<Rule>" + r + "</Rule>")
			}
			in.WriteString("</LifecycleConfiguration>")
			lc, err := parseLifecycle([]byte(in.String()))
			if err != nil {
				t.Fatal(err)
			}
			out, action := lc.withExpiry(14)
			if action != tt.wantAction {
				t.Fatalf("action %q, want %q", action, tt.wantAction)
			}
			if action == "" && lc.covering(14) == nil {
				t.Errorf("left alone, but no rule covers the retention")
			}
			if tt.wantKept == nil {
				return
			}
			var got []string
			for _, r := range out.Rules {
				got = append(got, r.Raw)
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantKept, "\n") {
				t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantKept, "\n"))
			}
			// What is written reads back as the same rules.
			again, err := parseLifecycle(out.encode())
			if err != nil || len(again.Rules) != len(out.Rules) || again.covering(14) == nil {
				t.Errorf("encoded configuration reads back as %+v, %v", again, err)
			}
		})
	}
}
