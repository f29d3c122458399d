package mirror

import "context"

// stopKey carries, in a pass's context, the context whose end means no
// new check or transfer may start (the run's deadline), while the running
// ones go on under the pass's own context.
type stopKey struct{}

func withStop(ctx, stop context.Context) context.Context {
	return context.WithValue(ctx, stopKey{}, stop)
}

// stopContext is the stop context in ctx, or ctx itself.
func stopContext(ctx context.Context) context.Context {
	if stop, ok := ctx.Value(stopKey{}).(context.Context); ok {
		return stop
	}
	return ctx
}
