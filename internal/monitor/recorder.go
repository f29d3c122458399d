package monitor

import (
	"context"
	"sync"
)

// Recorder publishes a long-running job's progress (offload watch) off
// the caller's path: Update never blocks, so a slow ping or Pushgateway
// cannot hold up an upload. When updates come faster than they are
// published, only the newest waiting one is published: each carries the
// job's totals, so nothing is lost by skipping one.
type Recorder struct {
	outputs *Outputs
	latest  chan update // the newest run not yet published, if any
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewRecorder starts publishing through o; ctx's values go with every
// publish, not its cancellation (Close stops the Recorder). Close it when
// the job ends.
func NewRecorder(ctx context.Context, o *Outputs) *Recorder {
	r := &Recorder{
		outputs: o,
		latest:  make(chan update, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.loop(context.WithoutCancel(ctx))
	return r
}

// update is one run handed to the Recorder, with its error if any.
type update struct {
	run Run
	err error
}

// Update hands run over to be published as Outputs.Finish does: its
// metrics recorded, then a success ping if run.OK, else a fail ping whose
// summary includes err. It returns at once.
func (r *Recorder) Update(run Run, err error) {
	for {
		select {
		case r.latest <- update{run, err}:
			return
		default:
		}
		select { // make room: the waiting run is older than this one
		case <-r.latest:
		default:
		}
	}
}

// Close publishes the run still waiting, if any, and stops. Updates after
// Close are not published.
func (r *Recorder) Close() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

func (r *Recorder) loop(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case u := <-r.latest:
			r.outputs.Finish(ctx, u.run, u.err)
		case <-r.stop:
			select {
			case u := <-r.latest:
				r.outputs.Finish(ctx, u.run, u.err)
			default:
			}
			return
		}
	}
}
