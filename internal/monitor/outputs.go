package monitor

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Outputs are all the ways a run makes itself seen: pings, a metrics
// textfile, a Pushgateway. Each is optional. None of them ever fails the
// run: a ping or metric that cannot be delivered is logged as an error,
// and its absence is what the monitoring side alerts on.
type Outputs struct {
	Ping     *Pinger      // nil or disabled: no pings
	Textfile string       // "": no textfile
	Push     *Pushgateway // nil: no push
	Log      *zap.Logger
}

func (o *Outputs) log() *zap.Logger {
	if o.Log == nil {
		return zap.NewNop()
	}
	return o.Log
}

// deliveryTimeout bounds the pings and the push of one event (a start, a
// run's end), on every path: a run ended by SIGTERM must still be seen
// within Kubernetes' 30 s grace period.
const deliveryTimeout = 10 * time.Second

// bounded is a context for delivering one event: ctx's values, but not its
// cancellation (a cancelled run must still report), and a deadline of its own.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), deliveryTimeout)
}

// Start pings the start of a run.
func (o *Outputs) Start(ctx context.Context) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	o.Ping.Start(ctx)
}

// Record publishes run's metrics, without pinging. Finish calls it before
// its ping, for one-shot jobs and for each update of a Recorder alike.
func (o *Outputs) Record(ctx context.Context, run Run) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if o.Textfile != "" {
		if err := WriteTextfile(o.Textfile, run); err != nil {
			o.log().Error("metrics textfile not written", zap.String("path", o.Textfile), zap.Error(err))
		}
	}
	if o.Push != nil {
		if err := o.Push.Push(ctx, run); err != nil {
			o.log().Error("metrics not pushed", zap.Error(err))
		}
	}
}

// Finish publishes run's metrics, then pings success or failure with
// run's summary; err is the run's error, if any, for the summary.
func (o *Outputs) Finish(ctx context.Context, run Run, err error) {
	o.Record(ctx, run)
	ctx, cancel := bounded(ctx)
	defer cancel()
	if run.OK {
		o.Ping.Success(ctx, run.Summary(err))
		return
	}
	o.Ping.Fail(ctx, run.Summary(err))
}
