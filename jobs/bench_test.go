package jobs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/or3/syncd/bench/baseline"
	synclog "github.com/or3/syncd/log"
)

type benchStore struct {
	s                      *Store
	db                     *synclog.DB
	groups, bytes, batches atomic.Int64
}

func openBenchStore(b *testing.B) *benchStore {
	bs := &benchStore{}
	db, err := synclog.Open(synclog.Config{Dir: b.TempDir(), Logger: quietLogger(),
		OnCommit: func(s synclog.CommitStats) {
			bs.groups.Add(1)
			bs.bytes.Add(int64(s.Bytes))
			bs.batches.Add(int64(s.Batches))
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := New(db, Config{Logger: quietLogger(), MaxGlobal: 1 << 30, MaxPerUser: 5, MaxContentBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	bs.s, bs.db = s, db
	return bs
}

// rawPebble is the same-run raw Pebble baseline of the measured commits'
// shape: keys per fsync and bytes per key, with the given writers.
func (bs *benchStore) rawPebble(b *testing.B, keysPerOp int, writers int, d time.Duration) baseline.Result {
	groups := max(bs.groups.Load(), 1)
	batches := max(bs.batches.Load(), 1)
	keys := batches * int64(keysPerOp)
	opts := func() *pebble.Options {
		return synclog.PebbleOptions(synclog.Config{Dir: "x", Logger: quietLogger()})
	}
	shape := baseline.PebbleShape{KeysPerCommit: int(max(keys/groups, 1)), ValueBytes: int(max(bs.bytes.Load()/keys, 1)), Writers: writers}
	if writers > 1 {
		// Pebble groups concurrent writers' syncs itself: give each writer
		// one op's keys per commit, as syncd's writers have.
		shape.KeysPerCommit = keysPerOp
	}
	raw, err := baseline.PebbleSynced(b.TempDir(), opts, shape, 0, d)
	if err != nil {
		b.Fatal(err)
	}
	return baseline.Result{Name: fmt.Sprintf("%s (÷%d keys/op)", raw.Name, keysPerOp), Ops: raw.Ops / int64(keysPerOp), Elapsed: raw.Elapsed, Latencies: raw.Latencies}
}

// BenchmarkChunkAppend appends ~100-byte content chunks to 64 jobs at once
// (one worker per job, each waiting for its append to be durable, one
// viewer per job streaming it) and to one job strictly sequentially. It
// prints raw Pebble synced commits of the same shape and, for the
// sequential case, the fsync floor, with the ratios, and the stream
// delivery latency after the append was durable. Targets: ≥ 20,000/s across
// 64 jobs, ≥ 2,000/s for one job, delivery p99 ≤ 10 ms.
func BenchmarkChunkAppend(b *testing.B) {
	for _, nJobs := range []int{64, 1} {
		b.Run(fmt.Sprintf("jobs=%d", nJobs), func(b *testing.B) {
			bs := openBenchStore(b)
			ctx := context.Background()
			ids := make([]string, nJobs)
			for i := range ids {
				id, err := bs.s.CreateJob(ctx, CreateInput{UserID: fmt.Sprintf("u%d", i), ThreadID: "t", MessageID: "m", Model: "x", Execution: execInput})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = id
			}
			// Delivery latency: from the durable write (before the streams
			// wake) to the viewer holding the chunk.
			type mark struct {
				mu sync.Mutex
				at map[int64]time.Time
			}
			marks := map[string]*mark{}
			for _, id := range ids {
				marks[id] = &mark{at: map[int64]time.Time{}}
			}
			bs.s.onDurable = func(e *entry) {
				if m := marks[e.id]; m != nil && e.rec != nil {
					m.mu.Lock()
					m.at[e.rec.ContentLen] = time.Now()
					m.mu.Unlock()
				}
			}
			delivery := baseline.NewHistogram()
			vctx, stopViewers := context.WithCancel(ctx)
			var vwg sync.WaitGroup
			for _, id := range ids {
				st, err := bs.s.OpenStream(ctx, id, bs.s.lookup(id).user, 0)
				if err != nil {
					b.Fatal(err)
				}
				vwg.Add(1)
				go func(id string) {
					defer vwg.Done()
					m := marks[id]
					for {
						ev, err := st.Next(vctx)
						if err != nil {
							return
						}
						now := time.Now()
						m.mu.Lock()
						t, ok := m.at[ev.End()]
						delete(m.at, ev.End())
						m.mu.Unlock()
						if ok {
							delivery.Record(now.Sub(t))
						}
					}
				}(id)
			}
			chunk := strings.Repeat("token ", 16)[:96] + "\n..."
			lat := baseline.NewHistogram()
			var next atomic.Int64
			bs.groups.Store(0)
			bs.bytes.Store(0)
			bs.batches.Store(0)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range nJobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := int64(0)
					for next.Add(1) <= int64(b.N) {
						n++
						t0 := time.Now()
						if _, err := bs.s.UpdateJob(ctx, ids[w], UpdateInput{ContentChunk: &chunk, ChunksReceived: &n}); err != nil {
							b.Error(err)
							return
						}
						lat.Record(time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			time.Sleep(50 * time.Millisecond)
			stopViewers()
			vwg.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(float64(lat.Percentile(50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(delivery.Percentile(99).Microseconds()), "delivery-p99-µs")
			if elapsed < time.Second {
				return
			}
			// Keys per append: event, origin index, chunk (the job record
			// is not rewritten per chunk).
			groups := bs.groups.Load()
			fmt.Printf("chunk appends jobs=%d: %.2f synced group commits per append, %d bytes per append\n",
				nJobs, float64(groups)/float64(b.N), bs.bytes.Load()/int64(b.N))
			b.ReportMetric(float64(groups)/float64(b.N), "commits/append")
			raw := bs.rawPebble(b, 3, nJobs, elapsed)
			measured := baseline.Result{Name: fmt.Sprintf("chunk appends jobs=%d", nJobs), Ops: int64(b.N), Elapsed: elapsed, Latencies: lat}
			baseline.Report(os.Stdout, measured.Name, measured, raw)
			b.ReportMetric(baseline.Ratio(measured.OpsPerSec(), raw.OpsPerSec()), "x-raw-pebble")
			fmt.Printf("chunk appends jobs=%d: stream delivery after durable append p50 %v p99 %v (%d events)\n",
				nJobs, delivery.Percentile(50), delivery.Percentile(99), delivery.Count())
			if nJobs == 1 {
				fs, err := baseline.FsyncAppend(b.TempDir(), 0, 0, 3*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				baseline.Report(os.Stdout, "sequential appends vs fsync", measured, fs)
				b.ReportMetric(baseline.Ratio(measured.OpsPerSec(), fs.OpsPerSec()), "x-fsync")
			}
		})
	}
}

// BenchmarkCreateJob admits jobs from 64 goroutines with the per-user limit
// enforced (each user holds at most 5 streaming jobs; users rotate), beside
// raw Pebble commits of the same shape. Target ≥ 5,000/s.
func BenchmarkCreateJob(b *testing.B) {
	bs := openBenchStore(b)
	ctx := context.Background()
	const writers = 64
	lat := baseline.NewHistogram()
	var next atomic.Int64
	var refused atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				// 6 creates per user: the sixth is refused by the limit.
				user := fmt.Sprintf("u%d-%d", w, n/6)
				t0 := time.Now()
				_, err := bs.s.CreateJob(ctx, CreateInput{UserID: user, ThreadID: "t", MessageID: fmt.Sprint(i), Model: "x", Execution: execInput})
				if err != nil {
					refused.Add(1)
					continue
				}
				lat.Record(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "creates/s")
	b.ReportMetric(float64(refused.Load()), "refused")
	if elapsed < time.Second {
		return
	}
	// Keys per create: event, origin index, job record.
	raw := bs.rawPebble(b, 3, writers, elapsed)
	admitted := int64(b.N) - refused.Load()
	measured := baseline.Result{Name: "createJob admitted", Ops: admitted, Elapsed: elapsed, Latencies: lat}
	baseline.Report(os.Stdout, measured.Name, measured, raw)
	b.ReportMetric(baseline.Ratio(measured.OpsPerSec(), raw.OpsPerSec()), "x-raw-pebble")
}
