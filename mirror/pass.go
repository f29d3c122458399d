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
	"github.com/rclone/rclone/fs/operations"
	"go.uber.org/zap"
)

// policy is what an entry point decides in a pass; the pass itself only
// copies what is missing from the destination.
type policy interface {
	// extra is told of each object only in the destination: a sync plans
	// its deletion; a copy or a restore keeps it.
	extra(o fs.Object) error
	// differs is told of each object that differs on the two sides, and
	// says whether to copy it over (a restore without --overwrite keeps it).
	differs(src fs.Object) (copyIt bool)
	// would is told, in a dry run, of each object that would be copied.
	would(src fs.Object)
}

// pass is one try at one bucket: a single comparison of the source and
// destination listings that checks and copies as it goes. It deletes
// nothing: the policy collects what a sync would delete, and the caller
// decides on it once every transfer has finished. This is rclone's sync
// with delete-after, taken apart so that the planned deletions can be
// counted, and refused as a whole, before any of them happens (rclone's
// own --max-delete lets deletions through up to the cap, then fails: a
// partial deletion).
type pass struct {
	ctx        context.Context
	cancel     context.CancelFunc
	stop       context.Context // once done, no new check or transfer starts (the run's deadline)
	skipped    atomic.Int64    // objects left unchecked or uncopied because of stop
	fsrc, fdst fs.Fs
	dryRun     bool
	policy     policy
	stats      *accounting.StatsInfo
	log        *zap.Logger

	toCheck chan fs.ObjectPair
	toCopy  chan fs.ObjectPair
	checkQ  queue
	copyQ   queue

	srcObjects, dstObjects atomic.Int64
	srcBytes               atomic.Int64
	sizeOnly, extra        atomic.Int64
	wouldCopy, wouldBytes  atomic.Int64 // dry run

	unreachable atomic.Int64 // transfers in a row that could not reach a server

	mu   sync.Mutex
	errs []error
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
	errs                   []error
}

// runPass compares fsrc with fdst once, copying what is missing or
// differs as pol decides; in a dry run it only counts.
func runPass(ctx context.Context, fsrc, fdst fs.Fs, dryRun bool, pol policy, log *zap.Logger) passResult {
	p := &pass{fsrc: fsrc, fdst: fdst, dryRun: dryRun, policy: pol, log: log}
	ci := fs.GetConfig(ctx)
	p.stop = stopContext(ctx)
	p.stats = accounting.Stats(ctx)
	p.toCheck = make(chan fs.ObjectPair, ci.Checkers*4)
	p.toCopy = make(chan fs.ObjectPair, ci.Transfers*4)
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
		wouldCopy: p.wouldCopy.Load(), wouldBytes: p.wouldBytes.Load(), errs: p.errs,
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

// SrcOnly queues an object missing from the destination for copying.
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

// DstOnly counts an object whose source is gone, and tells the policy.
func (p *pass) DstOnly(dst fs.DirEntry) (recurse bool) {
	switch x := dst.(type) {
	case fs.Object:
		p.dstObjects.Add(1)
		p.extra.Add(1)
		if err := p.policy.extra(x); err != nil {
			p.fail(fs.CountError(p.ctx, fserrors.FatalError(err)))
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

// checker compares the pairs found on both sides by the one rule of
// equality (equal.go), and sends on what differs as the policy decides.
func (p *pass) checker() {
	for pair := range p.toCheck {
		p.checkQ.done(pair.Src.Size())
		if p.ctx.Err() != nil || p.stopped() {
			continue
		}
		tr := p.stats.NewCheckingTransfer(pair.Src, "checking")
		v, why, err := compareObjects(p.ctx, pair.Src, pair.Dst)
		tr.Done(p.ctx, nil)
		switch {
		case err != nil:
			// Copying again is the safe answer to a pair that cannot be compared.
			p.log.Debug("could not compare; copying", zap.String("object", pair.Src.Remote()), zap.Error(err))
		case v == sameSize:
			p.sizeOnly.Add(1)
			continue
		case v == sameHash:
			continue
		default:
			p.log.Debug("differs", zap.String("object", pair.Src.Remote()), zap.String("why", why))
		}
		if p.policy.differs(pair.Src) {
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
			p.policy.would(pair.Src)
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
