package offload

import (
	"sync/atomic"
	"time"
)

// Counters are offload's running totals, safe to read while it works (for
// metrics). The zero value is ready to use.
type Counters struct {
	uploaded    atomic.Int64
	failed      atomic.Int64
	pending     atomic.Int64
	bytes       atomic.Int64
	lastSuccess atomic.Int64 // unix nanoseconds
}

// CounterValues is one reading of Counters.
type CounterValues struct {
	Uploaded    int64     // snapshots uploaded, sidecar included
	Failed      int64     // failed attempts: integrity, read or upload errors
	Pending     int64     // snapshots seen and not uploaded yet
	Bytes       int64     // snapshot bytes uploaded
	LastSuccess time.Time // zero until the first upload
}

// Values reads the counters.
func (c *Counters) Values() CounterValues {
	v := CounterValues{
		Uploaded: c.uploaded.Load(),
		Failed:   c.failed.Load(),
		Pending:  c.pending.Load(),
		Bytes:    c.bytes.Load(),
	}
	if ns := c.lastSuccess.Load(); ns != 0 {
		v.LastSuccess = time.Unix(0, ns)
	}
	return v
}

func (c *Counters) recordUpload(u Upload) {
	c.uploaded.Add(1)
	c.bytes.Add(u.Size)
	c.lastSuccess.Store(u.At.UnixNano())
}
