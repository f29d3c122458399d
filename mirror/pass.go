package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/operations"
	"go.uber.org/zap"
)

// pass is one try at one bucket: a single march over the source and mirror
// listings that checks and copies as it goes and collects the mirror-only
// objects. It deletes nothing: deciding on those is the caller's job, once
// every transfer has finished. This is rclone's sync with delete-after,
// taken apart so that the planned deletions can be counted, and refused
// as a whole, before any of them happens (rclone's own --max-delete lets
// deletions through up to the cap, then fails: a partial deletion).
type pass struct {
	ctx        context.Context
	cancel     context.CancelFunc
	stop       context.Context // once done, no new check or transfer starts (the run's deadline)
	skipped    atomic.Int64    // objects left unchecked or uncopied because of stop
	fsrc, fdst fs.Fs
	collect    bool // keep mirror-only objects for deletion (sync mode)
	dryRun     bool
	restore    bool // copies the mirror back: a dry run lists each object
	// keepDiffering leaves objects that differ on both sides as they are
	// and lists them (a restore without --overwrite).
	keepDiffering bool
	stats         *accounting.StatsInfo
	log           *zap.Logger

	toCheck chan fs.ObjectPair
	toCopy  chan fs.ObjectPair
	checkQ  queue
	copyQ   queue

	srcObjects, dstObjects atomic.Int64
	srcBytes               atomic.Int64
	sizeOnly, extra        atomic.Int64
	wouldCopy, wouldBytes  atomic.Int64 // dry run
	differing              atomic.Int64 // kept, with keepDiffering

	unreachable atomic.Int64 // transfers in a row that could not reach a server

	planned plannedDeletions // mirror-only objects (sync mode)

	mu        sync.Mutex
	differObj []string // the first maxNamedObjects of the kept differing objects
	wouldObj  []string // a restore's dry run: the first maxNamedObjects it would copy
	errs      []error
}

// maxUnreachable transfers failing in a row for want of a server end a
// pass early. Only connection failures count: objects the server refuses
// one by one do not stop the others.
const maxUnreachable = 10

// isUnreachable reports whether err is a failure to talk to a server at
// all (refused, reset, timed out), rather than an answer from one.
func isUnreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// passResult is what one pass saw and did.
type passResult struct {
	srcObjects, dstObjects int64
	srcBytes               int64
	sizeOnly, extra        int64
	wouldCopy, wouldBytes  int64
	differing              int64
	differObj, wouldObj    []string
	mirrorOnly             []fs.Object       // the planned deletions held in memory
	planned                *plannedDeletions // all of them
	errs                   []error
}

func runPass(ctx context.Context, fsrc, fdst fs.Fs, collect, dryRun bool, log *zap.Logger) passResult {
	return (&pass{fsrc: fsrc, fdst: fdst, collect: collect, dryRun: dryRun, log: log}).run(ctx)
}

// runRestorePass is a pass that never deletes and, with keepDiffering,
// never overwrites: what differs is listed instead.
func runRestorePass(ctx context.Context, fsrc, fdst fs.Fs, keepDiffering, dryRun bool, log *zap.Logger) passResult {
	return (&pass{fsrc: fsrc, fdst: fdst, restore: true, keepDiffering: keepDiffering, dryRun: dryRun, log: log}).run(ctx)
}

// run marches once over both listings; p holds the ends and the options.
func (p *pass) run(ctx context.Context) passResult {
	ci := fs.GetConfig(ctx)
	p.stop = stopContext(ctx)
	p.stats = accounting.Stats(ctx)
	p.toCheck = make(chan fs.ObjectPair, ci.Checkers*4)
	p.toCopy = make(chan fs.ObjectPair, ci.Transfers*4)
	p.planned.f = p.fdst
	p.ctx, p.cancel = context.WithCancel(ctx)
	defer p.cancel()
	p.checkQ.set = p.stats.SetCheckQueue
	p.copyQ.set = p.stats.SetTransferQueue

	var checkers, transfers sync.WaitGroup
	for range ci.Checkers {
		checkers.Go(p.checker)
	}
	for range ci.Transfers {
		transfers.Go(p.transfer)
	}
	if err := compare(p.ctx, p.fsrc, p.fdst, p); err != nil {
		p.fail(err)
	}
	close(p.toCheck)
	checkers.Wait()
	close(p.toCopy)
	transfers.Wait()
	if err := ctx.Err(); err != nil {
		p.fail(err)
	} else if n := p.skipped.Load(); n > 0 {
		p.fail(fmt.Errorf("%d objects not checked or copied: %w", n, context.Cause(p.stop)))
	}
	return passResult{
		srcObjects: p.srcObjects.Load(), dstObjects: p.dstObjects.Load(), srcBytes: p.srcBytes.Load(),
		sizeOnly: p.sizeOnly.Load(), extra: p.extra.Load(),
		wouldCopy: p.wouldCopy.Load(), wouldBytes: p.wouldBytes.Load(),
		differing: p.differing.Load(), differObj: p.differObj, wouldObj: p.wouldObj,
		mirrorOnly: p.planned.held, planned: &p.planned, errs: p.errs,
	}
}

// fail records err; a fatal one stops the pass.
func (p *pass) fail(err error) {
	p.mu.Lock()
	if errors.Is(err, context.Canceled) && p.ctx.Err() != nil && len(p.errs) > 0 {
		p.mu.Unlock()
		return // the cancellation that an earlier fatal error caused
	}
	p.errs = append(p.errs, err)
	p.mu.Unlock()
	if fserrors.IsFatalError(err) {
		p.log.Error("fatal error, stopping this try", zap.Error(err))
		p.cancel()
	}
}

// SrcOnly queues an object missing from the mirror for copying.
func (p *pass) SrcOnly(src fs.DirEntry) (recurse bool) {
	switch x := src.(type) {
	case fs.Object:
		p.srcObjects.Add(1)
		p.srcBytes.Add(max(x.Size(), 0))
		p.send(p.toCopy, &p.copyQ, fs.ObjectPair{Src: x})
	case fs.Directory:
		return true
	}
	return false
}

// DstOnly counts an object whose source is gone, and keeps it in sync mode.
func (p *pass) DstOnly(dst fs.DirEntry) (recurse bool) {
	switch x := dst.(type) {
	case fs.Object:
		p.dstObjects.Add(1)
		p.extra.Add(1)
		if p.collect {
			if err := p.planned.add(x); err != nil {
				p.fail(fs.CountError(p.ctx, fserrors.FatalError(err)))
			}
		}
	case fs.Directory:
		return true
	}
	return false
}

// Match queues an object present on both sides for comparison.
func (p *pass) Match(ctx context.Context, dst, src fs.DirEntry) (recurse bool) {
	srcObj, srcIsObj := src.(fs.Object)
	dstObj, dstIsObj := dst.(fs.Object)
	switch {
	case srcIsObj && dstIsObj:
		p.srcObjects.Add(1)
		p.srcBytes.Add(max(srcObj.Size(), 0))
		p.dstObjects.Add(1)
		p.send(p.toCheck, &p.checkQ, fs.ObjectPair{Src: srcObj, Dst: dstObj})
		return false
	case !srcIsObj && !dstIsObj:
		return true
	}
	p.fail(fs.CountError(ctx, errors.New(src.Remote()+": object on one side, directory on the other")))
	return false
}

func (p *pass) send(ch chan fs.ObjectPair, q *queue, pair fs.ObjectPair) {
	q.add(pair.Src.Size())
	select {
	case ch <- pair:
	case <-p.ctx.Done():
		q.done(pair.Src.Size())
	}
}

// checker compares the pairs found on both sides: size and, where both
// sides have one, hash (--checksum). Equal pairs without a hash were
// compared by size only, and are counted so the report can say so.
func (p *pass) checker() {
	for pair := range p.toCheck {
		p.checkQ.done(pair.Src.Size())
		if p.ctx.Err() != nil || p.stopped() {
			continue
		}
		tr := p.stats.NewCheckingTransfer(pair.Src, "checking")
		need := operations.NeedTransfer(p.ctx, pair.Dst, pair.Src)
		if !need {
			if _, ht, err := operations.CheckHashes(p.ctx, pair.Src, pair.Dst); err != nil || ht == hash.None {
				p.sizeOnly.Add(1)
			}
		}
		tr.Done(p.ctx, nil)
		switch {
		case need && p.keepDiffering:
			p.differing.Add(1)
			p.mu.Lock()
			if len(p.differObj) < maxNamedObjects {
				p.differObj = append(p.differObj, pair.Src.Remote())
			}
			p.mu.Unlock()
			p.log.Warn("differs; kept as it is (--overwrite replaces it)", zap.String("object", pair.Src.Remote()))
		case need:
			p.send(p.toCopy, &p.copyQ, pair)
		}
	}
}

// transfer copies each queued object; in a dry run it only counts.
func (p *pass) transfer() {
	for pair := range p.toCopy {
		p.copyQ.done(pair.Src.Size())
		if p.ctx.Err() != nil || p.stopped() {
			continue
		}
		if p.dryRun {
			p.wouldCopy.Add(1)
			p.wouldBytes.Add(pair.Src.Size())
			if !p.restore {
				p.log.Debug("would copy", zap.String("object", pair.Src.Remote()), zap.Int64("size", pair.Src.Size()))
				continue
			}
			// A restore's dry run is read by a person deciding: every object.
			p.log.Info("would restore", zap.String("object", pair.Src.Remote()), zap.Int64("size", pair.Src.Size()))
			p.mu.Lock()
			if len(p.wouldObj) < maxNamedObjects {
				p.wouldObj = append(p.wouldObj, pair.Src.Remote())
			}
			p.mu.Unlock()
			continue
		}
		_, err := operations.Copy(p.ctx, p.fdst, pair.Dst, pair.Src.Remote(), pair.Src)
		if err == nil {
			p.unreachable.Store(0)
			continue
		}
		p.log.Warn("copy failed", zap.String("object", pair.Src.Remote()), zap.Error(err))
		p.fail(err)
		if isUnreachable(err) && p.unreachable.Add(1) == maxUnreachable {
			// rclone would try every remaining object, each after a
			// growing pause (2 s apiece at most): hours for a big bucket
			// whose server is down. The retry loop tries again instead.
			p.fail(fmt.Errorf("%d transfers in a row could not reach the server; stopping this try", maxUnreachable))
			p.cancel()
		}
	}
}

// stopped reports whether no new work may start, counting what is left.
func (p *pass) stopped() bool {
	if p.stop.Err() == nil {
		return false
	}
	p.skipped.Add(1)
	return true
}

// queue keeps rclone's stats informed of the work waiting, for the ETA.
type queue struct {
	n, size atomic.Int64
	set     func(n int, size int64)
}

func (q *queue) add(size int64)  { q.set(int(q.n.Add(1)), q.size.Add(size)) }
func (q *queue) done(size int64) { q.set(int(q.n.Add(-1)), q.size.Add(-size)) }
