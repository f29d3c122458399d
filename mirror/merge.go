package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/fs/march"
)

// compare walks the source and mirror listings and calls cb for every
// object: once per object only on one side, once per pair. With fast-list
// on and both sides able to list flat, it is a streaming merge (merge);
// otherwise rclone's march, which lists one directory at a time.
//
// march with fast-list would load both whole listings into memory first
// (walk.NewDirTree): about 1.2 KiB per object, a gigabyte at a million.
func compare(ctx context.Context, fsrc, fdst fs.Fs, cb march.Marcher) error {
	if fs.GetConfig(ctx).UseListR && fsrc.Features().ListR != nil && fdst.Features().ListR != nil {
		return merge(ctx, listing{name: "source " + fsrc.Name(), list: fsrc.Features().ListR},
			listing{name: "mirror " + fdst.Name(), list: fdst.Features().ListR}, cb)
	}
	return (&march.March{Ctx: ctx, Fdst: fdst, Fsrc: fsrc, Callback: cb}).Run(ctx)
}

// listing is one side of a merge.
type listing struct {
	name string     // for errors: "source offsite-src"
	list fs.ListRFn // a flat recursive listing, page by page
}

// pagesInFlight is how many listing pages each side may hold beyond the
// one being merged: enough to keep both listings streaming, few enough that
// memory does not depend on the bucket (rclone's S3 pages are 100 entries).
const pagesInFlight = 4

// errListOrder marks a listing that came out of key order: a merge over it
// would call objects missing that are not, and delete them.
var errListOrder = errors.New("listing out of order")

// merge calls cb for the union of two flat listings, both in ascending key
// order as S3's ListObjectsV2 without a delimiter returns them, holding a
// bounded number of entries whatever their length. Both sides are merged
// by rclone's name for each object, as march matches them, and each side's
// names are checked to rise strictly: a name that is not greater than the
// one before it stops the merge with an error naming that side, and the
// pass then deletes nothing. rclone's names are the keys but for "." and
// ".." path segments, which it shows as full-width dots (U+FF0E): such a
// key arrives out of the names' order and fails the bucket loudly rather
// than be matched wrongly (OFFSITE_FAST_LIST=false mirrors it). Directory
// markers are passed over, as the pass ignores directories under march.
func merge(ctx context.Context, src, dst listing, cb march.Marcher) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs first: stops the listings before waiting for them
	s, d := src.start(ctx, &wg), dst.start(ctx, &wg)
	if err := s.next(ctx); err != nil {
		return counted(ctx, err)
	}
	if err := d.next(ctx); err != nil && !errors.Is(err, fs.ErrorDirNotFound) {
		return counted(ctx, err) // a mirror not there yet is an empty one, as march has it
	}
	for !s.done || !d.done {
		var errS, errD error
		switch {
		case d.done || !s.done && s.key < d.key:
			cb.SrcOnly(s.entry)
			errS = s.next(ctx)
		case s.done || d.key < s.key:
			cb.DstOnly(d.entry)
			errD = d.next(ctx)
		default:
			cb.Match(ctx, d.entry, s.entry)
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
	pages <-chan fs.DirEntries
	errc  <-chan error
	page  fs.DirEntries
	entry fs.Object // the current object, nil when done
	key   string    // its key
	prev  string    // the last key seen, objects and markers alike
	seen  bool      // prev is set
	done  bool
}

// start lists the side in the background into a small channel of pages.
func (l listing) start(ctx context.Context, wg *sync.WaitGroup) *cursor {
	pages := make(chan fs.DirEntries, pagesInFlight)
	errc := make(chan error, 1)
	wg.Go(func() {
		defer close(pages)
		errc <- l.list(ctx, "", func(entries fs.DirEntries) error {
			accounting.Stats(ctx).Listed(int64(len(entries)))
			// The lister reuses its slice once we return.
			page := append(fs.DirEntries(nil), entries...)
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
	c.entry, c.key = nil, ""
	for {
		for len(c.page) > 0 {
			e := c.page[0]
			c.page[0] = nil
			c.page = c.page[1:]
			key := e.Remote()
			if _, dir := e.(fs.Directory); dir {
				key += "/" // a directory marker: the key has the slash
			}
			if c.seen && key <= c.prev {
				err := fmt.Errorf("%w: the %s listed %q after %q (S3 lists keys in ascending byte order, each once); stopping before anything is deleted",
					errListOrder, c.name, key, c.prev)
				return fserrors.FatalError(err)
			}
			c.prev, c.seen = key, true
			if o, ok := e.(fs.Object); ok {
				c.entry, c.key = o, key
				return nil
			}
		}
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
}

// counted counts err in the stats, as march does its listing errors; a
// cancellation is not counted, the error that caused it was.
func counted(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return err
	}
	return fs.CountError(ctx, err)
}
