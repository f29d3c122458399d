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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// maxHeldDeletions is how many planned deletions a pass keeps in memory;
// past it, their keys go to a temp file, so that a mirror whose source
// was emptied does not need memory in proportion to it.
const maxHeldDeletions = 10_000

// plannedDeletions are the keys of a sync pass's mirror-only objects, in
// listing order: the first limit in memory, the rest in a temp file. They
// are counted, and refused or deleted, as a whole.
type plannedDeletions struct {
	limit int
	mu    sync.Mutex
	held  []string
	n     int64
	spill *os.File
	w     *bufio.Writer
}

// newPlannedDeletions holds the planned deletions of a pass.
func newPlannedDeletions() *plannedDeletions {
	return &plannedDeletions{limit: maxHeldDeletions}
}

// add plans the deletion of key.
func (d *plannedDeletions) add(key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	if len(d.held) < d.limit {
		d.held = append(d.held, key)
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
	if _, err := d.w.WriteString(strconv.Quote(key) + "\n"); err != nil {
		return fmt.Errorf("keep the planned deletions: %w", err)
	}
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

// each calls fn with each planned deletion's key, in the order they were
// planned.
func (d *plannedDeletions) each(fn func(key string) error) error {
	if d == nil {
		return nil
	}
	for _, key := range d.held {
		if err := fn(key); err != nil {
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
		key, err := strconv.Unquote(line[:len(line)-1])
		if err != nil {
			return fmt.Errorf("read back the planned deletions: %w", err)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
}

// deleteBatch is how many keys one DeleteObjects request takes: S3's most.
const deleteBatch = 1000

// deleteAll deletes the planned deletions from p, a thousand keys a
// request, and returns how many were deleted. A key gone since the listing
// is gone all the same: S3 answers it as deleted.
func (d *plannedDeletions) deleteAll(ctx context.Context, p bucketPlace) (int64, error) {
	var deleted int64
	batch := make([]types.ObjectIdentifier, 0, deleteBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := p.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(p.bucket),
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		deleted += int64(len(batch) - len(out.Errors))
		batch = batch[:0]
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("%d of the keys were not deleted; first %q: %s %s", len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		return nil
	}
	err := d.each(func(key string) error {
		batch = append(batch, types.ObjectIdentifier{Key: aws.String(p.prefix + key)})
		if len(batch) < deleteBatch {
			return ctx.Err()
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	return deleted, err
}

// discard closes the temp file, if any.
func (d *plannedDeletions) discard() {
	if d == nil || d.spill == nil {
		return
	}
	_ = d.spill.Close()
	d.spill = nil
}
