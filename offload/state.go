package offload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/atomicfile"
	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/rcloneconf"
)

// StateFile is the name of the state file in the state dir.
const StateFile = "offload-state.json"

// Record is what the state remembers of one uploaded snapshot.
type Record struct {
	Size      int64     `json:"size"`   // of the file
	ModTime   time.Time `json:"mtime"`  // of the file
	SHA256    string    `json:"sha256"` // of the object, as its sidecar says
	Uploaded  time.Time `json:"uploaded"`
	Encrypted bool      `json:"encrypted,omitempty"` // stored as <name>.age
}

// object is the name of the object that holds the snapshot name.
func (r Record) object(name string) string {
	if r.Encrypted {
		return name + AgeSuffix
	}
	return name
}

// stateFileLimit bounds the state file: it records the few snapshots k3s
// keeps on disk.
const stateFileLimit = 16 << 20

// stateData is the state file's content.
type stateData struct {
	Version int               `json:"version"`
	Dest    string            `json:"dest"` // bucket/host the records are about
	Uploads map[string]Record `json:"uploads"`
	Token   *TokenRecord      `json:"token,omitempty"` // the k3s token shipped, if any
}

// state is the set of uploaded snapshots, saved after every change.
type state struct {
	path string
	data stateData
}

// openStateDir makes sure the state dir can be written, so a read-only or
// missing-permission dir stops offload at start rather than after an upload.
func openStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &exitcode.ConfigError{Var: EnvStateDir, Err: err}
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return &exitcode.ConfigError{Var: EnvStateDir, Err: fmt.Errorf("state dir is not writable: %w", err)}
	}
	f.Close()
	return os.Remove(f.Name())
}

// loadState reads the state for dest. A missing file is an empty state; a
// corrupt one is renamed aside (kept for the operator) and replaced by an
// empty state, which offload rebuilds from the destination.
func loadState(dir, dest string, log *zap.Logger) (*state, error) {
	s := &state{path: filepath.Join(dir, StateFile)}
	s.data = stateData{Version: 1, Dest: dest, Uploads: map[string]Record{}}
	// A regular file only, looked at before it is opened: a FIFO would
	// block the read for good.
	b, err := rcloneconf.ReadFile(EnvStateDir, s.path, stateFileLimit)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("no state file yet: the destination is consulted before each upload", zap.String("path", s.path))
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var d stateData
	if err := json.Unmarshal(b, &d); err != nil || d.Version != 1 {
		if err == nil {
			err = fmt.Errorf("unknown version %d", d.Version)
		}
		aside := fmt.Sprintf("%s.corrupt-%s", s.path, time.Now().UTC().Format("20060102T150405.000000000Z"))
		if rerr := os.Rename(s.path, aside); rerr != nil {
			return nil, fmt.Errorf("move corrupt state aside: %w", rerr)
		}
		log.Error("state file is corrupt: kept aside, rebuilding from the destination",
			zap.String("path", s.path), zap.String("kept_as", aside), zap.Error(err))
		return s, nil
	}
	if d.Dest != dest {
		log.Warn("state file is about another destination: consulting this one before each upload",
			zap.String("state_dest", d.Dest), zap.String("dest", dest))
		return s, nil
	}
	if d.Uploads == nil {
		d.Uploads = map[string]Record{}
	}
	s.data = d
	return s, nil
}

// uploaded reports whether the file with this name, size and mtime is done.
func (s *state) uploaded(name string, size int64, mtime time.Time) bool {
	r, ok := s.data.Uploads[name]
	return ok && r.Size == size && r.ModTime.Equal(mtime)
}

// newest is the latest snapshot the state records, by the time in its name.
func (s *state) newest() (name string, rec Record, ok bool) {
	var at time.Time
	for n, r := range s.data.Uploads {
		if t := snapshotTime(n, r.ModTime); !ok || t.After(at) || (t.Equal(at) && n > name) {
			name, rec, at, ok = n, r, t, true
		}
	}
	return name, rec, ok
}

// forgetAll drops every record and saves the state.
func (s *state) forgetAll() error {
	clear(s.data.Uploads)
	return s.save()
}

// record remembers an upload and saves the state.
func (s *state) record(name string, r Record) error {
	s.data.Uploads[name] = r
	return s.save()
}

// recordToken remembers the token shipped and saves the state.
func (s *state) recordToken(r TokenRecord) error {
	s.data.Token = &r
	return s.save()
}

// prune forgets snapshots no longer in the directory (k3s retention), so the
// state stays small. It saves only when something changed.
func (s *state) prune(present map[string]bool) error {
	changed := false
	for name := range s.data.Uploads {
		if !present[name] {
			delete(s.data.Uploads, name)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.save()
}

// save writes the state atomically, mode 0600.
func (s *state) save() error {
	b, err := json.MarshalIndent(s.data, "", "  ")
	if err != nil {
		return err
	}
	err = atomicfile.Write(s.path, 0o600, func(w *os.File) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
