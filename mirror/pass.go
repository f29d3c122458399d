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
	"go.uber.org/zap"
)

// policy is what an entry point decides in a pass; the pass itself only
// copies what is missing from the destination.
type policy interface {
	// extra is told of each object only in the destination: a sync plans
	// its deletion; a copy or a restore keeps it.
	extra(dst object) error
	// equal is the rule of equality of a pair (equal.go).
	equal(ctx context.Context, src, dst object) (verdict, string, error)
	// differs is told of each object that differs on the two sides, and
	// says whether to copy it over (a restore without --overwrite keeps it).
	differs(src object) (copyIt bool)
	// would is told, in a dry run, of each object that would be copied.
	would(src object)
	// edit changes the metadata a copy of src is written with.
	edit(m fs.Metadata, src object)
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
	copier
	ctx     context.Context
	cancel  context.CancelFunc
	stop    context.Context // once done, no new check or transfer starts (the run's deadline)
	skipped atomic.Int64    // objects left unchecked or uncopied because of stop
	policy  policy
	stats   *accounting.StatsInfo

	toCheck chan pair
	toCopy  chan object
	checkQ  queue
	copyQ   queue

	srcObjects, dstObjects atomic.Int64
	srcBytes               atomic.Int64
	byDate, extra          atomic.Int64
	audited                atomic.Int64
	wouldCopy, wouldBytes  atomic.Int64 // dry run

	unreachable atomic.Int64 // transfers in a row that could not reach a server

	mu   sync.Mutex
	errs []error
}

// pair is an object listed on both sides.
type pair struct{ src, dst object }

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
	byDate, extra          int64 // pairs equal by their dates; objects only at the destination
	audited                int64 // pairs whose headers and tags were read again
	wouldCopy, wouldBytes  int64
	errs                   []error
}

// runPass compares c's two places once, copying what is missing or
// differs as pol decides; in a dry run it only counts.
func runPass(ctx context.Context, c copier, pol policy) passResult {
	p := &pass{copier: c, policy: pol}
	ci := fs.GetConfig(ctx)
	p.stop = stopContext(ctx)
	p.stats = accounting.Stats(ctx)
	p.toCheck = make(chan pair, ci.Checkers*4)
	p.toCopy = make(chan object, ci.Transfers*4)
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
	if err := merge(p.ctx, c.src.listing("source"), c.dst.listing("destination"), p); err != nil {
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
		byDate: p.byDate.Load(), extra: p.extra.Load(), audited: p.audited.Load(),
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

// srcOnly queues an object missing from the destination for copying.
func (p *pass) srcOnly(src object) {
	p.srcObjects.Add(1)
	p.srcBytes.Add(src.size)
	send(p, p.toCopy, &p.copyQ, src, src.size)
}

// dstOnly counts an object whose source is gone, and tells the policy.
func (p *pass) dstOnly(dst object) {
	p.dstObjects.Add(1)
	p.extra.Add(1)
	if err := p.policy.extra(dst); err != nil {
		p.fail(fs.CountError(p.ctx, fserrors.FatalError(err)))
	}
}

// both queues an object present on both sides for comparison.
func (p *pass) both(src, dst object) {
	p.srcObjects.Add(1)
	p.srcBytes.Add(src.size)
	p.dstObjects.Add(1)
	send(p, p.toCheck, &p.checkQ, pair{src, dst}, src.size)
}

// send queues v on ch unless the pass is over.
func send[T any](p *pass, ch chan T, q *queue, v T, size int64) {
	q.add(size)
	select {
	case ch <- v:
	case <-p.ctx.Done():
		q.done(size)
	}
}

// checker compares the pairs found on both sides by the policy's rule of
// equality, and sends on what differs as the policy decides.
func (p *pass) checker() {
	for pr := range p.toCheck {
		p.checkQ.done(pr.src.size)
		if p.ctx.Err() != nil || p.stopped() {
			continue
		}
		tr := p.stats.NewCheckingTransfer(p.entry(pr.src), "checking")
		v, why, err := p.policy.equal(p.ctx, pr.src, pr.dst)
		if err == nil && v != differs && p.audit.Has(pr.src.key) {
			v, why, err = p.reread(pr, v)
		}
		tr.Done(p.ctx, err)
		switch {
		case err != nil:
			// Copying again is the safe answer to a pair that cannot be compared.
			p.log.Warn("could not compare; copying", zap.String("object", pr.src.key), zap.Error(err))
		case v == sameDate:
			p.byDate.Add(1)
			continue
		case v == sameHash:
			continue
		default:
			p.log.Debug("differs", zap.String("object", pr.src.key), zap.String("why", why))
		}
		if p.policy.differs(pr.src) {
			send(p, p.toCopy, &p.copyQ, pr.src, pr.src.size)
		}
	}
}

// reread reads pr's headers and tags again, on both sides: what no
// listing shows (a change of tags alone) a run finds in its audit slice.
func (p *pass) reread(pr pair, v verdict) (verdict, string, error) {
	p.audited.Add(1)
	why, err := sameCarried(p.ctx, p.src, p.dst, pr.src, pr.dst)
	if err != nil || why != "" {
		return differs, why, err
	}
	return v, "", nil
}

// entry is src as rclone's accounting names it.
func (p *pass) entry(src object) fs.DirEntry {
	return &sourceObject{place: p.src, fs: p.srcFs, obj: src, remote: src.key}
}

// transfer copies each queued object; in a dry run it only counts.
func (p *pass) transfer() {
	for src := range p.toCopy {
		p.copyQ.done(src.size)
		if p.ctx.Err() != nil || p.stopped() {
			continue
		}
		if p.dryRun {
			p.wouldCopy.Add(1)
			p.wouldBytes.Add(src.size)
			p.policy.would(src)
			continue
		}
		err := p.copyObject(p.ctx, src, p.policy)
		if err == nil {
			p.unreachable.Store(0)
			continue
		}
		p.log.Warn("copy failed", zap.String("object", src.key), zap.Error(err))
		p.fail(err)
		if isUnreachable(err) && p.unreachable.Add(1) == maxUnreachable {
			// Every remaining object would be tried, each after a
			// growing pause: hours for a big bucket whose server is
			// down. The retry loop tries again instead.
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
