//go:build bench

package offload

import (
	"os"
	"testing"

	"github.com/offsite-backup/offsite/offload/offloadtest"
)

// The database check on its own, for a 256 MiB snapshot (go test -tags
// bench -run '^$' -bench Database ./offload): raw, it maps the file and
// reads a few pages; zipped, each entry is also written to a scratch file.
// bench/offload measures offload once with and without it.
func BenchmarkDatabaseCheck(b *testing.B) {
	name := offloadtest.Name("n", 1700000000)
	raw := offloadtest.Snapshot(256*256, 1)
	rawFile, zipFile := writeTemp(b, name, raw), writeTemp(b, name+".zip", offloadtest.Zip(b, name, raw))
	for _, bench := range []struct {
		name  string
		f     *os.File
		check func(f *os.File) error
	}{
		{"raw", rawFile, func(f *os.File) error { _, err := databaseOf(f, name, checkDatabase); return err }},
		{"zip", zipFile, func(f *os.File) error { _, err := databaseOf(f, name+".zip", checkDatabase); return err }},
		{"zip CRCs and trailers only", zipFile, func(f *os.File) error { // the check before the database's
			info, _ := f.Stat()
			return CheckZip(f, info.Size())
		}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			info, _ := bench.f.Stat()
			b.SetBytes(info.Size())
			for b.Loop() {
				if err := bench.check(bench.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
