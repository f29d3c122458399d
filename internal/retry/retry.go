// Package retry is offsite's one loop for trying a request again: a few
// tries, a pause that doubles, and an end when the context does.
//
// Two loops are not this one, on purpose: a mirror bucket's tries
// (mirror's tryPasses), which follow rclone's error accounting and the
// server's Retry-After, and offload's backoff, a pure state in its state
// machine so the watch loop never sleeps.
package retry

import (
	"context"
	"time"
)

// Do calls fn until it succeeds, says the error is not worth another try
// (again false), or has been called attempts times (at least once). The
// pause before the second call is first, and doubles after each call. It
// returns fn's last error, which is ctx's when ctx ended first.
func Do(ctx context.Context, attempts int, first time.Duration, fn func() (again bool, err error)) error {
	pause := first
	var err error
	for i := 0; i < max(attempts, 1); i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				if err == nil {
					err = ctx.Err()
				}
				return err
			case <-time.After(pause):
			}
			pause *= 2
		}
		var again bool
		if again, err = fn(); err == nil || !again {
			return err
		}
	}
	return err
}
