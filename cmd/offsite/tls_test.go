package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// A homelab MinIO over https:// with a private CA: trusted with
// MINIO_CA_FILE, refused (exit 2, naming the variable) with another CA,
// with none, and for a name the certificate does not hold.
func TestTLSWithAPrivateCA(t *testing.T) {
	ca := harness.NewTestCA(t, "127.0.0.1")
	src := harness.StartMinio(t, "alpha")
	dst := harness.StartMinioTLS(t, ca, mirrorTestBucket, etcdTestBucket)
	src.Put(t, "alpha", "a.txt", []byte("over tls"))
	mirrorWith := func(caFile string, extra ...string) (int, string) {
		args := append([]string{"mirror", "--retries", "1", "--low-level-retries", "1"}, mirrorArgs(src, dst)...)
		if caFile != "" {
			args = append(args, "--minio-ca-file", caFile)
		}
		code, stdout, stderr := runOffsite(context.Background(), append(args, extra...)...)
		return code, stdout + stderr
	}

	if code, out := mirrorWith(ca.CAFile); code != exitcode.OK {
		t.Fatalf("mirror with the CA: exit %d\n%s", code, out)
	}
	if got, ok := dst.Get(t, mirrorTestBucket, "alpha/a.txt"); !ok || !bytes.Equal(got, []byte("over tls")) {
		t.Fatal("object not mirrored over TLS")
	}
	for name, caFile := range map[string]string{
		"another CA":  harness.NewTestCA(t, "127.0.0.1").CAFile,
		"no CA given": "",
	} {
		if code, out := mirrorWith(caFile); code != exitcode.Config || !strings.Contains(out, "MINIO_CA_FILE") {
			t.Errorf("mirror with %s: exit %d, want %d naming MINIO_CA_FILE\n%s", name, code, exitcode.Config, out)
		}
	}

	// The right CA, but the certificate names another host.
	elsewhere := harness.NewTestCA(t, "minio.invalid")
	wrongName := harness.StartMinioTLS(t, elsewhere, mirrorTestBucket)
	args := append([]string{"mirror", "--retries", "1", "--low-level-retries", "1", "--minio-ca-file", elsewhere.CAFile}, mirrorArgs(src, wrongName)...)
	if code, stdout, stderr := runOffsite(context.Background(), args...); code != exitcode.Config || !strings.Contains(stderr, "MINIO_CA_FILE") || !strings.Contains(stderr, "127.0.0.1") {
		t.Errorf("mirror to a certificate for another name: exit %d, want %d naming MINIO_CA_FILE and the address\n%s%s", code, exitcode.Config, stdout, stderr)
	}

	// A CA file for an http:// endpoint, and one that is not PEM.
	args = append([]string{"mirror", "--rgw-ca-file", ca.CAFile}, mirrorArgs(src, dst)...)
	if code, _, stderr := runOffsite(context.Background(), args...); code != exitcode.Config || !strings.Contains(stderr, "RGW_CA_FILE") {
		t.Errorf("a CA for an http endpoint: exit %d\n%s", code, stderr)
	}
	if code, out := mirrorWith(ca.KeyFile); code != exitcode.Config || !strings.Contains(out, "no PEM certificate") {
		t.Errorf("a key as the CA file: exit %d\n%s", code, out)
	}

	// offload once over the same TLS endpoint.
	snapDir := t.TempDir()
	name := offloadtest.Name("node1", time.Now().Unix())
	offloadtest.WriteRaw(t, snapDir, name, offloadtest.Snapshot(4, 9))
	oargs := append([]string{"offload", "once", "--minio-ca-file", ca.CAFile}, offloadArgs(&harness.Minio{Server: dst.Server}, snapDir, t.TempDir())...)
	if code, _, stderr := runOffsite(context.Background(), oargs...); code != exitcode.OK {
		t.Fatalf("offload once over TLS: exit %d\n%s", code, stderr)
	}
	if _, ok := dst.Get(t, etcdTestBucket, "node1/"+name+".sha256"); !ok {
		t.Fatal("snapshot not shipped over TLS")
	}
	offloadtest.WriteRaw(t, snapDir, name+"-2", offloadtest.Snapshot(4, 10))
	oargs = append([]string{"offload", "once", "--minio-ca-file", elsewhere.CAFile}, offloadArgs(&harness.Minio{Server: dst.Server}, snapDir, t.TempDir())...)
	if code, _, stderr := runOffsite(context.Background(), oargs...); code != exitcode.Config || !strings.Contains(stderr, "MINIO_CA_FILE") {
		t.Fatalf("offload once with another CA: exit %d, want %d naming MINIO_CA_FILE\n%s", code, exitcode.Config, stderr)
	}
}
