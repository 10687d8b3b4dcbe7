package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/or3/syncd/bench/baseline"
	synclog "github.com/or3/syncd/log"
)

// openClockedBenchEngine is openBenchEngine with a settable clock (GC ages).
func openClockedBenchEngine(b *testing.B, clock *testClock) (*Engine, *synclog.DB, *memberRoles) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := synclog.Open(synclog.Config{Dir: b.TempDir(), Logger: quiet, MemTableSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	roles := &memberRoles{}
	eng, err := New(Config{DB: db, Roles: roles, Logger: quiet, Now: clock.now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close(); db.Close() })
	return eng, db, roles
}

// fillMessages pushes n OR3-shaped ~1 KiB message puts to ws, 100 a batch.
func fillMessages(b *testing.B, eng *Engine, ws string, n int) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < n; i += 100 {
		ops := make([]PendingOp, min(100, n-i))
		for j := range ops {
			ops[j] = or3Op(rng, fmt.Sprintf("m-%07d", i+j), 1)
		}
		if _, err := eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: ops}); err != nil {
			b.Fatal(err)
		}
	}
}

func compactAll(b *testing.B, db *synclog.DB) {
	if err := db.Pebble().Flush(); err != nil {
		b.Fatal(err)
	}
	if err := db.Pebble().Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
}

// rssBytes is the resident set size of this process (Linux; 0 elsewhere).
func rssBytes() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkSnapshot pages snapshots of a warm 100k-row workspace (~1 KiB
// rows) in pages of 1,000, beside the raw Pebble scan of the same number
// of keys and bytes (same run): "go" returns Go values, "json" also
// encodes each page as the HTTP layer does (SnapshotJSONParts). It also reports the first-page
// latency and the heap and RSS growth while one session pages through.
func BenchmarkSnapshot(b *testing.B) {
	clock := &testClock{}
	clock.set(time.Now())
	eng, db, roles := openClockedBenchEngine(b, clock)
	roles.set("ws-snap", "alice", "owner")
	const total = 100_000
	fillMessages(b, eng, "ws-snap", total)
	compactAll(b, db)
	opts := func() *pebble.Options {
		return synclog.PebbleOptions(synclog.Config{Dir: "x", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}
	raw, err := baseline.PebbleScan(b.TempDir(), opts, total, 1200)
	if err != nil {
		b.Fatal(err)
	}
	page := func(token string) (SnapshotResponse, error) {
		return eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-snap"}, PageSize: 1000, PageToken: token})
	}
	for _, mode := range []string{"go", "json"} {
		b.Run(mode, func(b *testing.B) {
			var buf, head []byte
			token, rows := "", 0
			b.ResetTimer()
			cpu0 := processCPU()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if mode == "json" {
					// What the HTTP layer sends, encoded from the iterator.
					var err error
					head, buf, err = eng.SnapshotJSONParts(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-snap"}, PageSize: 1000, PageToken: token}, head[:0], buf[:0])
					if err != nil {
						b.Fatal(err)
					}
					token = ""
					if i := bytes.Index(head, []byte(`"nextPageToken":"`)); i >= 0 {
						rest := head[i+len(`"nextPageToken":"`):]
						token = string(rest[:bytes.IndexByte(rest, '"')])
					}
					rows += 1000 // every page is full: total is a multiple of 1000
					continue
				}
				res, err := page(token)
				if err != nil {
					b.Fatal(err)
				}
				rows += len(res.Items)
				token = ""
				if res.NextPageToken != nil {
					token = *res.NextPageToken
				}
			}
			elapsed := time.Since(start)
			cpu := processCPU() - cpu0
			b.StopTimer()
			eng.snaps.sweep(clock.now().Add(2 * SnapshotTTL))
			b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu-s")
			if elapsed < time.Second {
				return
			}
			baseline.Report(os.Stdout, "snapshot ("+mode+") pages of 1000 rows/s", baseline.Result{Name: "snapshot " + mode, Ops: int64(rows), Elapsed: elapsed}, raw)
			b.ReportMetric(baseline.Ratio(float64(rows)/elapsed.Seconds(), raw.OpsPerSec()), "x-raw-scan")
		})
	}
	b.Run("first-page", func(b *testing.B) {
		lat := baseline.NewHistogram()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := page(""); err != nil {
				b.Fatal(err)
			}
			lat.Record(time.Since(t0))
			if eng.SnapshotSessions() >= DefaultMaxSnapshotSessions/2 {
				eng.snaps.sweep(clock.now().Add(2 * SnapshotTTL))
			}
		}
		eng.snaps.sweep(clock.now().Add(2 * SnapshotTTL))
		b.ReportMetric(float64(lat.Percentile(50).Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat.Percentile(99).Microseconds()), "p99-µs")
	})
	b.Run("memory", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap0, rss0 := ms.HeapInuse, rssBytes()
			var maxHeap uint64
			var maxRSS int64
			token, rows := "", 0
			for {
				res, err := page(token)
				if err != nil {
					b.Fatal(err)
				}
				rows += len(res.Items)
				runtime.ReadMemStats(&ms)
				maxHeap, maxRSS = max(maxHeap, ms.HeapInuse), max(maxRSS, rssBytes())
				if res.NextPageToken == nil {
					break
				}
				token = *res.NextPageToken
			}
			eng.snaps.sweep(clock.now().Add(2 * SnapshotTTL))
			if rows != total {
				b.Fatalf("%d rows, want %d", rows, total)
			}
			b.ReportMetric(float64(maxHeap-min(maxHeap, heap0))/(1<<20), "heap-growth-MiB")
			b.ReportMetric(float64(maxRSS-min(maxRSS, rss0))/(1<<20), "rss-growth-MiB")
		}
	})
	b.Run("sessions=10", func(b *testing.B) {
		// Ten concurrent sessions page through the whole workspace; the
		// aggregate rate beside one session's says whether they collapse.
		run := func(n int) (float64, float64) {
			var rows atomic.Int64
			var wg sync.WaitGroup
			start, cpu0 := time.Now(), processCPU()
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					token := ""
					for {
						res, err := page(token)
						if err != nil {
							b.Error(err)
							return
						}
						rows.Add(int64(len(res.Items)))
						if res.NextPageToken == nil {
							return
						}
						token = *res.NextPageToken
					}
				}()
			}
			wg.Wait()
			eng.snaps.sweep(clock.now().Add(2 * SnapshotTTL))
			return float64(rows.Load()) / time.Since(start).Seconds(), float64(rows.Load()) / (processCPU() - cpu0).Seconds()
		}
		for i := 0; i < b.N; i++ {
			one, oneCPU := run(1)
			ten, tenCPU := run(10)
			b.ReportMetric(one, "rows/s-1-session")
			b.ReportMetric(ten, "rows/s-10-sessions")
			b.ReportMetric(ten/one, "x-one-session")
			// On a shared machine wall time includes waiting for a core;
			// rows per CPU-second say whether sessions interfere.
			b.ReportMetric(oneCPU, "rows/cpu-s-1-session")
			b.ReportMetric(tenCPU, "rows/cpu-s-10-sessions")
		}
	})
}

// benchRows is the workspace size of the GC benchmark: 100k, or
// SYNCD_BENCH_ROWS (issue 5's figure is at 1M).
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("SYNCD_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// BenchmarkGCChangeLog collects 100k log entries (SYNCD_BENCH_ROWS) while a writer keeps
// pushing single ops to the same workspace; it reports the GC rate and
// the push latency during GC beside the push latency without it (same
// run): the longest stall is what a GC batch costs a writer.
func BenchmarkGCChangeLog(b *testing.B) {
	for i := 0; i < b.N; i++ {
		clock := &testClock{}
		clock.set(time.Now())
		eng, db, roles := openClockedBenchEngine(b, clock)
		roles.set("ws-gc", "alice", "owner")
		total := benchRows()
		fillMessages(b, eng, "ws-gc", total)
		compactAll(b, db)
		clock.add(2 * time.Hour)
		pushes := func(stop *atomic.Bool, lat *baseline.Histogram, maxLat *atomic.Int64) {
			rng := rand.New(rand.NewPCG(9, 9))
			for n := 0; !stop.Load(); n++ {
				op := or3Op(rng, fmt.Sprintf("w-%d", n), 1)
				t0 := time.Now()
				if _, err := eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: "ws-gc"}, Ops: []PendingOp{op}}); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0)
				lat.Record(d)
				for cur := maxLat.Load(); int64(d) > cur && !maxLat.CompareAndSwap(cur, int64(d)); cur = maxLat.Load() {
				}
			}
		}
		// Push latency without GC.
		var stop atomic.Bool
		var maxQuiet, maxGC atomic.Int64
		quiet, during := baseline.NewHistogram(), baseline.NewHistogram()
		done := make(chan struct{})
		go func() { pushes(&stop, quiet, &maxQuiet); close(done) }()
		time.Sleep(2 * time.Second)
		stop.Store(true)
		<-done
		// The same writer while GC collects everything older than an hour.
		stop.Store(false)
		done = make(chan struct{})
		go func() { pushes(&stop, during, &maxGC); close(done) }()
		b.ResetTimer()
		start := time.Now()
		res, err := eng.gcLoop(context.Background(), "ws-gc", time.Hour, eng.gcChangeLogBatch, 1<<30)
		elapsed := time.Since(start)
		b.StopTimer()
		stop.Store(true)
		<-done
		if err != nil || res.Purged != total {
			b.Fatalf("gc: %+v %v", res, err)
		}
		b.ReportMetric(float64(total)/elapsed.Seconds(), "entries/s")
		b.ReportMetric(float64(time.Duration(maxGC.Load()).Microseconds())/1000, "max-push-ms-during-gc")
		b.ReportMetric(float64(during.Percentile(99).Microseconds())/1000, "p99-push-ms-during-gc")
		b.ReportMetric(float64(time.Duration(maxQuiet.Load()).Microseconds())/1000, "max-push-ms-no-gc")
		b.ReportMetric(float64(quiet.Percentile(99).Microseconds())/1000, "p99-push-ms-no-gc")
		fmt.Printf("gc of %d entries in %v (%d batches of ≤%d); pushes during gc: %d, p50 %v p99 %v max %v; without gc: p50 %v p99 %v max %v\n",
			total, elapsed.Round(time.Millisecond), (total+GCBatch-1)/GCBatch, GCBatch, during.Count(),
			during.Percentile(50), during.Percentile(99), time.Duration(maxGC.Load()),
			quiet.Percentile(50), quiet.Percentile(99), time.Duration(maxQuiet.Load()))
	}
}
