package monitor

import (
	"context"

	"go.uber.org/zap"
)

// Signals are all the ways a run makes itself seen: pings, a metrics
// textfile, a Pushgateway. Each is optional. None of them ever fails the
// run: a signal that cannot be delivered is logged as an error, and the
// missing signal is what the monitoring side alerts on.
type Signals struct {
	Ping     *Pinger      // nil or disabled: no pings
	Textfile string       // "": no textfile
	Push     *Pushgateway // nil: no push
	Log      *zap.Logger
}

func (s *Signals) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}

// Start pings the start of a run.
func (s *Signals) Start(ctx context.Context) {
	s.Ping.Start(ctx)
}

// Record publishes run's metrics, without pinging. Finish calls it before
// its ping, for one-shot jobs and for each update of a Recorder alike.
func (s *Signals) Record(ctx context.Context, run Run) {
	if s.Textfile != "" {
		if err := WriteTextfile(s.Textfile, run); err != nil {
			s.log().Error("metrics textfile not written", zap.String("path", s.Textfile), zap.Error(err))
		}
	}
	if s.Push != nil {
		if err := s.Push.Push(ctx, run); err != nil {
			s.log().Error("metrics not pushed", zap.Error(err))
		}
	}
}

// Finish publishes run's metrics, then pings success or failure with
// run's summary; err is the run's error, if any, for the summary.
func (s *Signals) Finish(ctx context.Context, run Run, err error) {
	s.Record(ctx, run)
	if run.OK {
		s.Ping.Success(ctx, run.Summary(err))
		return
	}
	s.Ping.Fail(ctx, run.Summary(err))
}
