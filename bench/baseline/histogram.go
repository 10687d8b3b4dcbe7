package baseline

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear in nanoseconds, in the style of HdrHistogram:
// values below 2^subBits are counted exactly, and every power of two above
// that is split into halfSub equal buckets. A bucket is then at most 1/halfSub
// of its lower bound wide, and Percentile reports the bucket's midpoint, so
// the relative error is at most 1/(2*halfSub) = 0.78%.
const (
	subBits  = 7
	subCount = 1 << subBits  // 128 exact buckets for 0..127 ns
	halfSub  = subCount >> 1 // 64 linear buckets per power of two above that

	// maxShift bounds the tracked range: values of 2^(maxShift+subBits) ns
	// (≈137 s) and more are clamped into the last bucket.
	maxShift   = 30
	numBuckets = (maxShift+1)*halfSub + halfSub // 2048

	// HistogramMax is the largest latency a Histogram resolves; longer
	// latencies are counted as HistogramMax (Max still reports the truth).
	HistogramMax = time.Duration(1<<(maxShift+subBits) - 1)
)

// Histogram is a fixed-memory latency histogram with log-linear buckets:
// about 1% precision (at most 0.78% relative error) over 1µs..100s, exact
// below 128ns. It takes about 16 KiB whatever it records.
//
// Record is safe to call from many goroutines at once and never allocates.
// The readers (Percentile, Count, Mean, Min, Max, String) see a consistent
// enough view for reporting while writers run, and an exact one once they
// have stopped. The zero value is not ready to use; call NewHistogram.
type Histogram struct {
	counts [numBuckets]atomic.Int64
	count  atomic.Int64
	sum    atomic.Int64 // nanoseconds; overflows only after ~292 years of samples
	min    atomic.Int64 // nanoseconds, math.MaxInt64 while empty
	max    atomic.Int64 // nanoseconds
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits
	if shift > maxShift {
		return numBuckets - 1
	}
	return shift*halfSub + int(v>>shift)
}

// bucketBounds returns the lowest value of bucket i and its width, in
// nanoseconds.
func bucketBounds(i int) (lo, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	shift := i/halfSub - 1
	m := int64(i - shift*halfSub)
	return m << shift, 1 << shift
}

// Record adds one latency. Negative durations count as zero; durations over
// HistogramMax land in the last bucket.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for {
		m := h.min.Load()
		if v >= m || h.min.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Count returns how many latencies have been recorded.
func (h *Histogram) Count() int64 { return h.count.Load() }

// Mean returns the exact mean latency, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Min returns the exact smallest latency recorded, or 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.count.Load() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// Max returns the exact largest latency recorded, or 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Percentile returns the latency below which p percent of the recorded
// latencies fall, p in [0, 100] (50 is the median, 99.9 the 999th of every
// thousand). It is the midpoint of the bucket holding the sample of rank
// ceil(p/100·Count), kept within [Min, Max]; so Percentile(0) is Min and
// Percentile(100) is Max. It returns 0 when the histogram is empty.
func (h *Histogram) Percentile(p float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	switch {
	case p <= 0 || math.IsNaN(p):
		return h.Min()
	case p >= 100:
		return h.Max()
	}
	rank := int64(math.Ceil(p / 100 * float64(n)))
	rank = max(rank, 1)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := bucketBounds(i)
			v := lo + (w-1)/2
			return time.Duration(min(max(v, h.min.Load()), h.max.Load()))
		}
	}
	// Writers raced ahead of count; the largest sample is the best answer.
	return h.Max()
}

// Merge adds every latency recorded in other to h. other may be recorded
// into concurrently; what it holds when Merge reads each bucket is added.
// Merging a histogram into itself doubles it.
func (h *Histogram) Merge(other *Histogram) {
	if other == nil {
		return
	}
	var n int64
	for i := range other.counts {
		if c := other.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
			n += c
		}
	}
	if n == 0 {
		return
	}
	h.count.Add(n)
	h.sum.Add(other.sum.Load())
	if m := other.min.Load(); m != math.MaxInt64 {
		for {
			cur := h.min.Load()
			if m >= cur || h.min.CompareAndSwap(cur, m) {
				break
			}
		}
	}
	m := other.max.Load()
	for {
		cur := h.max.Load()
		if m <= cur || h.max.CompareAndSwap(cur, m) {
			break
		}
	}
}

// String summarises the distribution on one line:
// "n=1000 p50=241µs p99=1.2ms p99.9=3.1ms max=4ms".
func (h *Histogram) String() string {
	if h == nil || h.Count() == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d p50=%s p99=%s p99.9=%s max=%s",
		h.Count(), roundDur(h.Percentile(50)), roundDur(h.Percentile(99)),
		roundDur(h.Percentile(99.9)), roundDur(h.Max()))
}

// roundDur keeps three significant digits, enough for a report line.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Second:
		return d.Round(time.Second)
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}
