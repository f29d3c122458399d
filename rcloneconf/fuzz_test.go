package rcloneconf

import (
	"strings"
	"testing"
)

// FuzzEndpoint: an endpoint is accepted only as scheme://host[:port], and
// no error ever repeats what stands before an @ (userinfo: a key and a
// secret), however malformed the value.
func FuzzEndpoint(f *testing.F) {
	f.Add("http://127.0.0.1:9000")
	f.Add("https://minio.lan/")
	f.Add("s3://AK:" + testSecret + "@rgw:80")
	f.Add("AK:" + testSecret + "@host")
	f.Add("http://u:" + testSecret + "@h/%zz")
	f.Add("http://h:9000/bucket?x=1")
	f.Fuzz(func(t *testing.T, value string) {
		s := validSettings()
		s.Endpoint = value
		r, err := s.Remote("offsite-fuzz", ProviderMinio)
		if err == nil {
			if strings.Contains(r.Endpoint, "@") || !strings.HasPrefix(r.Endpoint, "http") {
				t.Fatalf("accepted %q as %q", value, r.Endpoint)
			}
			return
		}
		at := strings.LastIndex(value, "@")
		if at < 0 {
			return
		}
		userinfo := value[:at]
		if i := strings.Index(userinfo, "://"); i >= 0 {
			userinfo = userinfo[i+3:]
		}
		if userinfo != "" && strings.Contains(err.Error(), userinfo+"@") {
			t.Fatalf("error %q repeats the userinfo %q", err, userinfo)
		}
	})
}

// FuzzSecret: a secret, however malformed, comes back trimmed or as an
// error that names the variable and never holds the value.
func FuzzSecret(f *testing.F) {
	f.Add(testSecret)
	f.Add("  " + testSecret + "\n")
	f.Add("")
	f.Add("%d/../x")
	f.Fuzz(func(t *testing.T, value string) {
		got, err := Secret("MINIO_SECRET_ACCESS_KEY", value, "")
		if err == nil {
			if got != strings.TrimSpace(value) || got == "" {
				t.Fatalf("Secret(%q) = %q", value, got)
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "MINIO_SECRET_ACCESS_KEY: ") {
			t.Fatalf("error %q does not name the variable", err)
		}
		if v := strings.TrimSpace(value); len(v) >= 4 && strings.Contains(err.Error(), v) {
			t.Fatalf("error %q holds the value", err)
		}
	})
}
