package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name      string
		attempts  int
		failures  int  // calls that fail before one succeeds
		again     bool // whether a failure is worth another try
		wantCalls int
		wantErr   error
	}{
		{"first try", 3, 0, true, 1, nil},
		{"second try", 3, 1, true, 2, nil},
		{"gives up", 3, 5, true, 3, boom},
		{"not worth another try", 3, 5, false, 1, boom},
		{"at least once", 0, 5, true, 1, boom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Do(context.Background(), tt.attempts, time.Millisecond, func() (bool, error) {
				calls++
				if calls <= tt.failures {
					return tt.again, boom
				}
				return false, nil
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("calls %d, err %v; want %d, %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

// TestDoStopsWithTheContext: a cancelled context ends the pause at once
// and returns the last error.
func TestDoStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("boom")
	start := time.Now()
	err := Do(ctx, 10, time.Hour, func() (bool, error) { cancel(); return true, boom })
	if !errors.Is(err, boom) || time.Since(start) > time.Minute {
		t.Fatalf("err %v after %v; want boom at once", err, time.Since(start))
	}
}
