package baseline

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/quick"
	"time"
)

// maxRelErr is the promised precision: half a bucket of 1/64 of its bound.
const maxRelErr = 1.0 / 128

// referencePercentile is the dumb reference: sort, and take the sample of
// rank ceil(p/100·n).
func referencePercentile(sorted []time.Duration, p float64) time.Duration {
	switch {
	case p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[len(sorted)-1]
	}
	rank := max(int(math.Ceil(p/100*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func withinPrecision(got, want time.Duration) bool {
	diff := math.Abs(float64(got - want))
	return diff <= maxRelErr*float64(want)+0.5 // +0.5: exact buckets round to the ns
}

func TestHistogram_PercentileMatchesSortedReference(t *testing.T) {
	percentiles := []float64{0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100}
	prop := func(seed uint64, n uint16, spread uint8) bool {
		r := rand.New(rand.NewPCG(seed, 1))
		count := int(n)%5000 + 1
		// Log-uniform samples over 1ns .. 2^(spread%37) ns cover both the exact
		// buckets and the log-linear ones up to the tracked maximum.
		maxExp := float64(spread%37) + 1
		h := NewHistogram()
		samples := make([]time.Duration, count)
		for i := range samples {
			samples[i] = time.Duration(math.Exp2(r.Float64() * maxExp))
			h.Record(samples[i])
		}
		slices.Sort(samples)
		for _, p := range percentiles {
			got, want := h.Percentile(p), referencePercentile(samples, p)
			if !withinPrecision(got, want) {
				t.Logf("seed=%d n=%d p=%v: got %v, want %v", seed, count, p, got, want)
				return false
			}
		}
		return h.Count() == int64(count) && h.Min() == samples[0] && h.Max() == samples[count-1]
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 200}); err != nil {
		t.Fatal(err)
	}
}

func TestHistogram_Cases(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single", []time.Duration{240 * time.Microsecond}, 50, 240 * time.Microsecond},
		{"exact below 128ns", []time.Duration{3, 5, 7, 100}, 50, 5},
		{"negative counts as zero", []time.Duration{-time.Second}, 50, 0},
		{"p0 is min", []time.Duration{time.Millisecond, time.Second}, 0, time.Millisecond},
		{"p100 is max", []time.Duration{time.Millisecond, 3 * time.Second}, 100, 3 * time.Second},
		{"over range clamps to max", []time.Duration{time.Hour}, 50, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram()
			for _, s := range tt.samples {
				h.Record(s)
			}
			if got := h.Percentile(tt.p); !withinPrecision(got, tt.want) {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestHistogram_BucketsTileTheRange(t *testing.T) {
	// Every bucket starts where the previous one ends, and bucketOf maps
	// both of a bucket's ends back to it.
	next := int64(0)
	for i := range numBuckets {
		lo, w := bucketBounds(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if bucketOf(lo) != i || bucketOf(lo+w-1) != i {
			t.Fatalf("bucket %d [%d,%d] maps to %d,%d", i, lo, lo+w-1, bucketOf(lo), bucketOf(lo+w-1))
		}
		if i >= subCount && float64(w)/float64(lo) > 1.0/halfSub {
			t.Fatalf("bucket %d is %d wide at %d: coarser than 1/%d", i, w, lo, halfSub)
		}
		next = lo + w
	}
	if time.Duration(next-1) != HistogramMax {
		t.Fatalf("last bucket ends at %d, HistogramMax = %d", next-1, HistogramMax)
	}
	if time.Duration(next) < 100*time.Second {
		t.Fatalf("range ends at %v, want at least 100s", time.Duration(next))
	}
}

func TestHistogram_MergeEqualsRecordingBoth(t *testing.T) {
	a, b, both := NewHistogram(), NewHistogram(), NewHistogram()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		d := time.Duration(r.Int64N(int64(time.Second)))
		both.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	a.Merge(nil)
	a.Merge(NewHistogram())
	if a.Count() != both.Count() || a.Min() != both.Min() || a.Max() != both.Max() || a.Mean() != both.Mean() {
		t.Fatalf("merged %v, want %v", a, both)
	}
	for _, p := range []float64{1, 50, 99, 99.9} {
		if a.Percentile(p) != both.Percentile(p) {
			t.Errorf("p%v: merged %v, want %v", p, a.Percentile(p), both.Percentile(p))
		}
	}
}

func TestHistogram_ConcurrentRecord(t *testing.T) {
	h := NewHistogram()
	const goroutines, each = 4, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				h.Record(time.Duration(g*each+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if h.Count() != goroutines*each {
		t.Fatalf("Count = %d, want %d", h.Count(), goroutines*each)
	}
	if h.Min() != 0 || h.Max() != (goroutines*each-1)*time.Microsecond {
		t.Fatalf("Min, Max = %v, %v", h.Min(), h.Max())
	}
}

func TestHistogram_RecordDoesNotAllocate(t *testing.T) {
	h := NewHistogram()
	if n := testing.AllocsPerRun(1000, func() { h.Record(123 * time.Microsecond) }); n != 0 {
		t.Fatalf("Record allocates %v times per call", n)
	}
}
