package mirror

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/rclone/rclone/fs"
)

// maxHeldDeletions is how many planned deletions a pass keeps in memory as
// objects (a few hundred bytes each); past it, only their keys are kept, in
// a temp file, so that a mirror whose source was emptied does not need
// memory in proportion to it.
const maxHeldDeletions = 10_000

// plannedDeletions are the mirror-only objects of a sync pass, in listing
// order: the first limit as objects, the keys of the rest in a temp file.
// They are counted, and refused or deleted, as a whole.
type plannedDeletions struct {
	f     fs.Fs // the mirror, to find the spilled objects again
	limit int   // objects held in memory, then keys in the file
	mu    sync.Mutex
	held  []fs.Object
	n     int64
	spill *os.File
	w     *bufio.Writer
}

// newPlannedDeletions holds the planned deletions of the mirror f.
func newPlannedDeletions(f fs.Fs) *plannedDeletions {
	return &plannedDeletions{f: f, limit: maxHeldDeletions}
}

// add plans the deletion of o.
func (d *plannedDeletions) add(o fs.Object) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.held) < d.limit {
		d.held = append(d.held, o)
		d.n++
		return nil
	}
	if d.spill == nil {
		f, err := os.CreateTemp("", "offsite-deletions-")
		if err != nil {
			return fmt.Errorf("keep the planned deletions past %d: %w", d.limit, err)
		}
		// Unlinked at once: nothing is left behind, however the run ends.
		_ = os.Remove(f.Name())
		d.spill, d.w = f, bufio.NewWriter(f)
	}
	// Quoted, one a line: a key may hold a newline.
	if _, err := d.w.WriteString(strconv.Quote(o.Remote()) + "\n"); err != nil {
		return fmt.Errorf("keep the planned deletions: %w", err)
	}
	d.n++
	return nil
}

// count is the number of planned deletions.
func (d *plannedDeletions) count() int64 {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// each calls fn with each planned deletion's key, and its object when it is
// held (nil when spilled), in the order they were planned.
func (d *plannedDeletions) each(fn func(remote string, o fs.Object) error) error {
	if d == nil {
		return nil
	}
	for _, o := range d.held {
		if err := fn(o.Remote(), o); err != nil {
			return err
		}
	}
	if d.spill == nil {
		return nil
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("read back the planned deletions: %w", err)
	}
	if _, err := d.spill.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read back the planned deletions: %w", err)
	}
	r := bufio.NewReader(d.spill)
	for {
		line, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read back the planned deletions: %w", err)
		}
		remote, err := strconv.Unquote(line[:len(line)-1])
		if err != nil {
			return fmt.Errorf("read back the planned deletions: %w", err)
		}
		if err := fn(remote, nil); err != nil {
			return err
		}
	}
}

// objects sends the planned deletions' objects to ch and closes it; a
// spilled one is found again by key (one HEAD each). One gone since the
// listing has nothing left to delete and is passed over.
func (d *plannedDeletions) objects(ctx context.Context, ch chan<- fs.Object) error {
	defer close(ch)
	return d.each(func(remote string, o fs.Object) error {
		if o == nil {
			var err error
			if o, err = d.f.NewObject(ctx, remote); errors.Is(err, fs.ErrorObjectNotFound) {
				return nil
			} else if err != nil {
				return fmt.Errorf("find planned deletion %q: %w", remote, err)
			}
		}
		select {
		case ch <- o:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// discard closes the temp file, if any.
func (d *plannedDeletions) discard() {
	if d == nil || d.spill == nil {
		return
	}
	_ = d.spill.Close()
	d.spill = nil
}
