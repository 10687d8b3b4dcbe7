package baseline

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The benchmarks below are the baselines themselves, driven by b.N so
// `go test -bench` can run them alone. Each reports its rate as a custom
// metric; ns/op includes setup (opening the DB, starting the server), so
// read the rates, not ns/op.

// reportLatency adds p50 and p99 in microseconds to the benchmark output.
func reportLatency(b *testing.B, h *Histogram) {
	if h == nil || h.Count() == 0 {
		return
	}
	b.ReportMetric(float64(h.Percentile(50))/float64(time.Microsecond), "p50-µs")
	b.ReportMetric(float64(h.Percentile(99))/float64(time.Microsecond), "p99-µs")
}

func BenchmarkFsyncAppend4K(b *testing.B) {
	r, err := FsyncAppend(b.TempDir(), 4096, b.N, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.OpsPerSec(), "ops/s")
	b.ReportMetric(r.BytesPerSec()/(1<<20), "MiB/s")
	reportLatency(b, r.Latencies)
}

// mem256Options are Pebble's defaults with 256 MiB memtables, four of them
// before writes stop: the large-memtable point of comparison.
func mem256Options() *pebble.Options {
	return &pebble.Options{MemTableSize: 256 << 20, MemTableStopWritesThreshold: 4}
}

// BenchmarkPebbleSynced100x1K commits b.N batches of 100 keys × 1 KiB with
// pebble.Sync under Pebble's defaults, SyncedThroughputPebbleOptions (64 MiB
// memtables) and 256 MiB memtables, with one and four writers.
//
// A run shorter than it takes to fill a memtable never flushes, so a short
// -benchtime flatters large memtables; compare option sets with
// cmd/pebblesweep's paired 60 s runs instead.
func BenchmarkPebbleSynced100x1K(b *testing.B) {
	for _, o := range []struct {
		name string
		opts func() *pebble.Options
	}{
		{"default", DefaultPebbleOptions},
		{"tuned", SyncedThroughputPebbleOptions},
		{"mem256", mem256Options},
	} {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/w%d", o.name, writers), func(b *testing.B) {
				shape := PebbleShape{KeysPerCommit: 100, ValueBytes: 1024, Writers: writers}
				r, err := PebbleSynced(b.TempDir(), o.opts, shape, b.N, 0)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.OpsPerSec(), "keys/s")
				b.ReportMetric(r.CommitsPerSec(), "commits/s")
				b.ReportMetric(r.BytesPerSec()/(1<<20), "MiB/s")
				reportLatency(b, r.Latencies)
			})
		}
	}
}

// BenchmarkPebbleScan loads max(b.N, 10000) entries of 1 KiB and reports the
// best of three full scans.
func BenchmarkPebbleScan(b *testing.B) {
	r, err := PebbleScan(b.TempDir(), nil, max(b.N, 10_000), 1024)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.OpsPerSec(), "entries/s")
	b.ReportMetric(r.BytesPerSec()/(1<<20), "MiB/s")
}

// BenchmarkLoopbackHTTP sends b.N requests over 1 and 8 keep-alive
// connections.
func BenchmarkLoopbackHTTP(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conns), func(b *testing.B) {
			r, err := loopbackHTTP(conns, b.N, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.OpsPerSec(), "req/s")
			reportLatency(b, r.Latencies)
		})
	}
}

// BenchmarkSeqWriteRead1M writes max(b.N, 64) MiB in 1 MiB chunks, fsyncs,
// evicts the file from the page cache and reads it back.
func BenchmarkSeqWriteRead1M(b *testing.B) {
	w, r, err := SeqWriteRead(b.TempDir(), int64(max(b.N, 64))<<20, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(w.BytesPerSec()/(1<<20), "write-MiB/s")
	b.ReportMetric(r.BytesPerSec()/(1<<20), "read-MiB/s")
}
