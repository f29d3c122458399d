package offload

import (
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// dirWatch keeps an fsnotify watch on the snapshot directory or, while that
// does not exist, on its nearest existing ancestor, so that its creation is
// noticed.
type dirWatch struct {
	dir      string
	fsw      *fsnotify.Watcher
	watching string // the directory, an ancestor, or "" for nothing
	log      *zap.Logger
}

func (d *dirWatch) watchingDir() bool { return d.watching == d.dir }

// event reads one fsnotify event: the name of a file in the directory that
// changed, or rescan when the directory (re)appeared and must be scanned.
func (d *dirWatch) event(ev fsnotify.Event) (name string, rescan bool) {
	switch {
	case !d.watchingDir():
		return "", d.establish() // something changed on the way to the directory
	case ev.Name == d.dir && ev.Has(fsnotify.Remove|fsnotify.Rename):
		d.log.Warn("snapshot directory went away: waiting for it to come back", zap.String("dir", d.dir))
		_ = d.fsw.Remove(d.dir)
		d.watching = ""
		return "", d.establish()
	case filepath.Dir(ev.Name) == d.dir:
		return filepath.Base(ev.Name), false
	}
	return "", false
}

// establish watches the directory if it exists, and then reports true: it
// is to be scanned. Else it watches its nearest existing ancestor.
func (d *dirWatch) establish() bool {
	for {
		if isDir(d.dir) {
			if d.watching != d.dir {
				if err := d.fsw.Add(d.dir); err != nil {
					d.log.Error("cannot watch the snapshot directory; retrying at the next rescan", zap.String("dir", d.dir), zap.Error(err))
					return false
				}
				d.swap(d.dir)
			}
			return true
		}
		anc := nearestDir(d.dir)
		if anc == d.watching {
			return false
		}
		if err := d.fsw.Add(anc); err != nil {
			d.log.Error("cannot watch for the snapshot directory; retrying at the next rescan", zap.String("dir", anc), zap.Error(err))
			return false
		}
		d.swap(anc)
		d.log.Info("snapshot directory does not exist yet: waiting for it", zap.String("dir", d.dir), zap.String("watching", anc))
	}
}

// swap moves the watch to path, which is already added.
func (d *dirWatch) swap(path string) {
	if d.watching != "" {
		_ = d.fsw.Remove(d.watching)
	}
	d.watching = path
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// nearestDir is the closest existing ancestor directory of path.
func nearestDir(path string) string {
	p := filepath.Dir(path)
	for !isDir(p) && p != filepath.Dir(p) {
		p = filepath.Dir(p)
	}
	return p
}
