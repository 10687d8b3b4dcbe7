package limits

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/or3/syncd/bench/baseline"
)

// BenchmarkCheckAndRecord8 measures checkAndRecord from 8 concurrent
// callers over 10,000 keys (the target: ≥ 50,000/s), beside the
// same-run baseline of an uncontended map+mutex increment (the physical
// floor of one in-memory decision).
func BenchmarkCheckAndRecord8(b *testing.B) {
	db := openDB(b, b.TempDir())
	defer db.Close()
	l, err := Open(Config{DB: db, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	l.Start()
	defer l.Close()
	const callers, keys = 8, 10000
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("daily:user:%d", i)
	}

	// Baseline: one goroutine, one mutex, one map.
	var mu sync.Mutex
	m := map[string]int64{}
	const baseN = 2_000_000
	start := time.Now()
	for i := 0; i < baseN; i++ {
		mu.Lock()
		m[names[i%keys]]++
		mu.Unlock()
	}
	base := baseline.Result{Name: "map+mutex increment (1 goroutine)", Ops: baseN, Elapsed: time.Since(start)}

	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	start = time.Now()
	per := b.N/callers + 1
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				k := names[(int(next.Add(1)))%keys]
				if _, err := l.CheckAndRecord(k, 60000, 1<<40); err != nil {
					b.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	got := baseline.Result{Name: "checkAndRecord (8 callers)", Ops: int64(per * callers), Elapsed: elapsed}
	b.ReportMetric(got.OpsPerSec(), "ops/s")
	b.ReportMetric(baseline.Ratio(got.OpsPerSec(), base.OpsPerSec()), "x-baseline")
	b.Logf("%s\n  baseline %s\n  ratio %.2f", got, base, baseline.Ratio(got.OpsPerSec(), base.OpsPerSec()))
}
