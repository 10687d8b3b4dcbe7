package daemon

import (
	"sync/atomic"
	"time"
)

// Clock is the one clock every module reads (receipt times, TTLs,
// retention, invite expiry). It is real time plus an offset that only the
// test hook POST /v1/test/clock moves.
type Clock struct {
	offset atomic.Int64 // nanoseconds
}

// Now returns real time plus the offset.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// SetOffset sets the offset from real time (not cumulative).
func (c *Clock) SetOffset(d time.Duration) { c.offset.Store(int64(d)) }

// Offset returns the current offset.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }
