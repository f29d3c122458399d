package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/fserrors"
)

// matcher hears what a merge of two listings finds: each object only on
// one side, and each pair.
type matcher interface {
	srcOnly(src object)
	dstOnly(dst object)
	both(src, dst object)
}

// listing is one side of a merge.
type listing struct {
	name string // for errors: "source photos"
	list func(ctx context.Context, page func([]object) error) error
}

// pagesInFlight is how many listing pages each side may hold beyond the
// one being merged: enough to keep both listings streaming, few enough that
// memory does not depend on the bucket.
const pagesInFlight = 4

// errListOrder marks a listing that came out of key order: a merge over it
// would call objects missing that are not, and delete them.
var errListOrder = errors.New("listing out of order")

// merge tells m of the union of two flat listings, both in ascending byte
// order of their keys as S3 lists them, holding a bounded number of
// entries whatever their length. Each side's keys are checked to rise
// strictly: a key that is not greater than the one before it stops the
// merge with an error naming that side, and the pass then deletes nothing.
// A listing's error is never taken for an empty listing.
func merge(ctx context.Context, src, dst listing, m matcher) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs first: stops the listings before waiting for them
	s, d := src.start(ctx, &wg), dst.start(ctx, &wg)
	if err := errors.Join(s.next(ctx), d.next(ctx)); err != nil {
		return counted(ctx, err)
	}
	for !s.done || !d.done {
		var errS, errD error
		switch {
		case d.done || !s.done && s.obj.key < d.obj.key:
			m.srcOnly(s.obj)
			errS = s.next(ctx)
		case s.done || d.obj.key < s.obj.key:
			m.dstOnly(d.obj)
			errD = d.next(ctx)
		default:
			m.both(s.obj, d.obj)
			errS, errD = s.next(ctx), d.next(ctx)
		}
		if err := errors.Join(errS, errD); err != nil {
			return counted(ctx, err)
		}
	}
	return nil
}

// cursor walks one side's pages, an object at a time.
type cursor struct {
	listing
	pages <-chan []object
	errc  <-chan error
	page  []object
	obj   object // the current object, when not done
	seen  bool   // obj holds the last key seen
	done  bool
}

// start lists the side in the background into a small channel of pages.
func (l listing) start(ctx context.Context, wg *sync.WaitGroup) *cursor {
	pages := make(chan []object, pagesInFlight)
	errc := make(chan error, 1)
	wg.Go(func() {
		defer close(pages)
		errc <- l.list(ctx, func(page []object) error {
			accounting.Stats(ctx).Listed(int64(len(page)))
			select {
			case pages <- page:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	return &cursor{listing: l, pages: pages, errc: errc}
}

// next moves to the side's next object, checking the order of every key.
func (c *cursor) next(ctx context.Context) error {
	for len(c.page) == 0 {
		select {
		case page, ok := <-c.pages:
			if ok {
				c.page = page
				continue
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		c.done = true
		if err := <-c.errc; err != nil {
			return fmt.Errorf("list %s: %w", c.name, err)
		}
		return nil
	}
	o := c.page[0]
	c.page = c.page[1:]
	if c.seen && o.key <= c.obj.key {
		return fserrors.FatalError(fmt.Errorf("%w: the %s listed %q after %q (S3 lists keys in ascending byte order, each once); stopping before anything is deleted",
			errListOrder, c.name, o.key, c.obj.key))
	}
	c.obj, c.seen = o, true
	return nil
}

// counted counts err in the stats, as rclone does its listing errors; a
// cancellation is not counted, the error that caused it was.
func counted(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return err
	}
	return fs.CountError(ctx, err)
}
