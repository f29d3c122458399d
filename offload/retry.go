package offload

import (
	"math/rand/v2"
	"time"
)

// destLogInterval is how often a destination that keeps failing is logged.
const destLogInterval = time.Minute

// destRetry is the policy for a destination that fails: wait min, then
// twice as long after each failure in a row, up to max; log the first
// failure, then at most one a destLogInterval, counting the rest.
type destRetry struct {
	min, max time.Duration

	failures int       // in a row
	retryAt  time.Time // no upload starts before
	loggedAt time.Time
	unlogged int // failures since the last one logged
}

// backoffStep is what one more failure means.
type backoffStep struct {
	failures int           // in a row, this one included
	delay    time.Duration // until the next try
	log      bool          // log this failure
	unlogged int           // failures not logged before this one
}

// failed records a failure at now.
func (d *destRetry) failed(now time.Time) backoffStep {
	d.failures++
	step := backoffStep{failures: d.failures, delay: backoff(d.min, d.max, d.failures)}
	d.retryAt = now.Add(step.delay)
	if d.failures == 1 || now.Sub(d.loggedAt) >= destLogInterval {
		step.log, step.unlogged = true, d.unlogged
		d.loggedAt, d.unlogged = now, 0
		return step
	}
	d.unlogged++
	return step
}

// recovered resets the policy after a success and says after how many
// failures in a row.
func (d *destRetry) recovered() (failures int) {
	failures = d.failures
	d.failures, d.retryAt, d.unlogged = 0, time.Time{}, 0
	return failures
}

// ready reports whether an upload may start at now.
func (d *destRetry) ready(now time.Time) bool { return !now.Before(d.retryAt) }

// backoff is first * 2^(n-1), capped at limit.
func backoff(first, limit time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// jittered adds up to 10% to d, so hosts that started together do not
// rescan together.
func jittered(d time.Duration) time.Duration {
	return d + rand.N(d/10+1)
}
