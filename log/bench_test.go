package log

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/or3/syncd/bench/baseline"
)

// or3Message returns an OR3-shaped message payload of about n bytes.
func or3Message(rng *rand.Rand, id string, n int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,"
	var sb strings.Builder
	for sb.Len() < n-220 {
		sb.WriteByte(letters[rng.IntN(len(letters))])
	}
	return fmt.Appendf(nil, `{"id":%q,"thread_id":"thread-%d","role":"assistant","index":%d,"order_key":"1736648823456:0003:abc12345","data":{"content":%q},"deleted":false,"created_at":1736648823,"updated_at":1736648823,"clock":1}`,
		id, rng.IntN(100), rng.IntN(1000), sb.String())
}

// benchPayloads are generated once so the benchmark measures the log, not
// the generator.
var benchPayloads = func() [][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	out := make([][]byte, 256)
	for i := range out {
		out[i] = or3Message(rng, fmt.Sprintf("m-%d", i), 1024)
	}
	return out
}()

// benchBatch is one writer's batch shaped like a single-op push: the
// change entry (event), the row register and the counter (state).
func benchBatch(db *DB, rng *rand.Rand, ws string, v uint64) *Batch {
	b := db.NewBatch()
	id := fmt.Sprintf("m-%d", v)
	payload := benchPayloads[rng.IntN(len(benchPayloads))]
	rec := &ChangeRecord{Table: "messages", PK: id, Op: OpPut, Payload: payload, Clock: 1, HLC: "1736648823456:0003:abc12345",
		DeviceID: "dev", OpID: "6f1c2f7e-3b7a-4c55-9b1e-1f2d3c4b5a69", Fingerprint: strings.Repeat("f", 64), CreatedAtMs: 1}
	_ = b.AppendEvent(ChangeKey(ws, v), rec)
	_ = b.SetRecord(RowKey(ws, "messages", id), &RowRecord{HasPut: true, Payload: payload, ServerVersion: v})
	_ = b.SetRecord(CounterKey(ws), &CounterRecord{Counter: v})
	return b
}

// BenchmarkCommitter measures the group committer with 1, 8 and 64
// concurrent writers, each committing OR3-shaped single-message batches,
// and prints raw Pebble synced commits of the same keys and bytes per fsync
// with syncd's own options, measured in the same run, as the baseline.
// Use -benchtime 60s for the figures the targets ask for.
func BenchmarkCommitter(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			cfg := Config{Dir: b.TempDir(), Logger: quietLogger(), MemTableSize: 64 << 20}
			var groups, groupBytes, groupKeys atomic.Int64
			cfg.OnCommit = func(s CommitStats) {
				groups.Add(1)
				groupBytes.Add(int64(s.Bytes))
				groupKeys.Add(int64(s.Batches) * 4) // entry, origin index, row, counter
			}
			db, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			lat := baseline.NewHistogram()
			var next atomic.Int64
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					ws := fmt.Sprintf("ws-%d", w)
					var v uint64
					for next.Add(1) <= int64(b.N) {
						v++
						batch := benchBatch(db, rng, ws, v)
						t0 := time.Now()
						if err := db.Commit(context.Background(), batch); err != nil {
							b.Error(err)
							return
						}
						lat.Record(time.Since(t0))
						batch.Close()
					}
				}()
			}
			wg.Wait()
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			// What the LSM went through, as the baseline's note tells it.
			m := db.Pebble().Metrics()
			total := m.Total()
			lsm := fmt.Sprintf("flushes=%d compactions=%d read-amp=%d w-amp=%.2f", m.Flush.Count, m.Compact.Count, m.ReadAmp(), total.WriteAmp())
			// The committer's store closes before the baseline runs, so its
			// flushes and compactions do not run inside the baseline's time.
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			if elapsed < time.Second {
				return // calibration round: too short for a fair baseline
			}
			g := max(groups.Load(), 1)
			keysPerFsync := int(max(groupKeys.Load()/g, 1))
			bytesPerKey := int(groupBytes.Load() / max(groupKeys.Load(), 1))
			measured := baseline.Result{Name: fmt.Sprintf("committer writers=%d", writers), Ops: int64(b.N) * 4, Commits: g, Elapsed: elapsed, Latencies: lat, Note: lsm}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "batches/s")
			b.ReportMetric(float64(keysPerFsync), "keys/fsync")
			b.ReportMetric(float64(lat.Percentile(50).Microseconds()), "p50-µs")

			// Same-run baselines: raw Pebble with syncd's options and the same
			// keys and bytes per fsync, for as long as the committer ran. The
			// target's baseline writes the very keys the committer wrote
			// (change entries, origin index, rows and counters of every
			// workspace, interleaved as the writers were), so both sides pay
			// the compactions those keys cause; the second, sequential keys
			// per writer, is printed beside it as the LSM's best case.
			opts := func() *pebble.Options {
				return PebbleOptions(Config{Dir: "x", Logger: quietLogger(), MemTableSize: 64 << 20})
			}
			sameKeys := committerKeys(writers)
			keyLen := 0
			for i := range uint64(400) {
				keyLen += len(sameKeys(nil, 0, i))
			}
			keyLen /= 400
			baselines := []struct {
				name, metric string
				shape        baseline.PebbleShape
			}{
				{"raw Pebble, the same keys", "x-raw-pebble", baseline.PebbleShape{KeysPerCommit: keysPerFsync, ValueBytes: max(bytesPerKey-keyLen, 1), Key: sameKeys}},
				{"raw Pebble, sequential keys", "x-raw-pebble-seq", baseline.PebbleShape{KeysPerCommit: keysPerFsync, ValueBytes: bytesPerKey}},
			}
			for _, bl := range baselines {
				rawCPU0 := cpuTime()
				raw, err := baseline.PebbleSynced(b.TempDir(), opts, bl.shape, 0, elapsed)
				if err != nil {
					b.Fatal(err)
				}
				rawCPU := cpuTime() - rawCPU0
				fmt.Printf("baseline: %s\n", bl.name)
				baseline.Report(os.Stdout, measured.Name+" keys/s", measured, raw)
				b.ReportMetric(baseline.Ratio(measured.OpsPerSec(), raw.OpsPerSec()), bl.metric)
				// CPU per key is the load-robust figure on a shared machine (the
				// process's CPU time, the baseline's including its setup).
				if cpu > 0 && raw.Ops > 0 {
					ours, theirs := float64(cpu.Nanoseconds())/float64(int64(b.N)*4)/1e3, float64(rawCPU.Nanoseconds())/float64(raw.Ops)/1e3
					fmt.Printf("%s CPU per key %.2fµs = %.2fx baseline (%.2fµs, %s)\n", measured.Name, ours, ours/theirs, theirs, bl.name)
					b.ReportMetric(ours, "cpu-µs/key")
				}
			}
			if writers == 1 {
				fs, err := baseline.FsyncAppend(b.TempDir(), 4096, 0, 3*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				p50, f50 := lat.Percentile(50), fs.Latencies.Percentile(50)
				fmt.Printf("committer writers=1 p50 latency %v = %.2fx fsync p50 (%v)\n", p50, float64(p50)/float64(f50), f50)
				b.ReportMetric(float64(p50)/float64(f50), "p50-x-fsync")
			}
		})
	}
}

// committerKeys gives the keys BenchmarkCommitter's writers commit, in
// the order a group takes them: batch j of the run is writer j%writers's
// v-th (v = j/writers+1), and holds its change entry, the origin index
// entry the committer adds, its row and its workspace's counter.
func committerKeys(writers int) func(dst []byte, _ int, seq uint64) []byte {
	return func(dst []byte, _ int, seq uint64) []byte {
		j := seq / 4
		ws := fmt.Sprintf("ws-%d", j%uint64(writers))
		v := j/uint64(writers) + 1
		var k []byte
		switch seq % 4 {
		case 0:
			k = ChangeKey(ws, v)
		case 1:
			k = OriginKey(j + 1)
		case 2:
			k = RowKey(ws, "messages", fmt.Sprintf("m-%d", v))
		default:
			k = CounterKey(ws)
		}
		return append(dst, k...)
	}
}

// BenchmarkCommitterHeap commits 1M records (set SYNCD_BENCH_RECORDS for
// 10M) and reports heap in use after each million: it must stay flat
// beyond Pebble's fixed caches.
func BenchmarkCommitterHeap(b *testing.B) {
	total := 1_000_000
	if s := os.Getenv("SYNCD_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &total)
	}
	for i := 0; i < b.N; i++ {
		db, err := Open(Config{Dir: b.TempDir(), Logger: quietLogger(), MemTableSize: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var v uint64
		var wg sync.WaitGroup
		var ms runtime.MemStats
		for done := 0; done < total; done += 1_000_000 {
			for w := 0; w < 64; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(w), rng.Uint64()))
					for j := 0; j < 1_000_000/64; j++ {
						batch := benchBatch(db, r, fmt.Sprintf("ws-%d", w), atomic.AddUint64(&v, 1))
						if err := db.Commit(context.Background(), batch); err != nil {
							b.Error(err)
							return
						}
						batch.Close()
					}
				}()
			}
			wg.Wait()
			runtime.GC()
			runtime.ReadMemStats(&ms)
			fmt.Printf("after %dM records: heap in use %.1f MiB\n", (done+1_000_000)/1_000_000, float64(ms.HeapInuse)/(1<<20))
		}
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		db.Close()
	}
}
