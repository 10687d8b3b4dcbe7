package baseline

import (
	"fmt"
	"sync/atomic"
	"time"
)

// bound stops a measurement after n operations or once its deadline has
// passed, whichever comes first. Several goroutines may share one bound.
type bound struct {
	n        int64     // 0: no count limit
	deadline time.Time // zero: no time limit
	claimed  atomic.Int64
}

// newBound checks n and d (either may be 0 to ignore it, not both) and
// starts the clock now.
func newBound(n int, d time.Duration) (*bound, error) {
	switch {
	case n < 0:
		return nil, fmt.Errorf("%w: n = %d is negative", ErrInvalid, n)
	case d < 0:
		return nil, fmt.Errorf("%w: d = %s is negative", ErrInvalid, d)
	case n == 0 && d == 0:
		return nil, ErrUnbounded
	}
	b := &bound{n: int64(n)}
	if d > 0 {
		b.deadline = time.Now().Add(d)
	}
	return b, nil
}

// claim reserves the next operation and reports whether it may run.
func (b *bound) claim() bool {
	if !b.deadline.IsZero() && !time.Now().Before(b.deadline) {
		return false
	}
	return b.n == 0 || b.claimed.Add(1) <= b.n
}
