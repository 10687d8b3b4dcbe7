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

// BenchmarkPebbleSynced100x1K commits b.N batches of 100 keys × 1 KiB with
// pebble.Sync, under Pebble's defaults and under the options tuned for
// synced throughput, one and four writers.
func BenchmarkPebbleSynced100x1K(b *testing.B) {
	for _, o := range []struct {
		name string
		opts func() *pebble.Options
	}{
		{"default", DefaultPebbleOptions},
		{"tuned", SyncedThroughputPebbleOptions},
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

func BenchmarkSeqWriteRead64M(b *testing.B) {
	for range b.N {
		w, r, err := SeqWriteRead(b.TempDir(), 64<<20, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(w.BytesPerSec()/(1<<20), "write-MiB/s")
		b.ReportMetric(r.BytesPerSec()/(1<<20), "read-MiB/s")
	}
}
