package baseline_test

import (
	"os"
	"time"

	"github.com/or3/syncd/bench/baseline"
)

// A syncd benchmark measures its own figure, takes the matching baseline in
// the same run, and prints both with the ratio.
func ExampleReport() {
	// In a real benchmark: baseline.PebbleSynced(dir, syncdOptions, shape, 0, 10*time.Second).
	base := baseline.Result{Name: "pebble-synced-100x1k", Ops: 3_200_000, Bytes: 3_200_000 * 1048, Elapsed: 10 * time.Second}
	push := baseline.Result{Name: "push-100x1k", Ops: 2_336_000, Bytes: 2_336_000 * 1048, Elapsed: 10 * time.Second}
	baseline.Report(os.Stdout, "push", push, base)
	// Output:
	// push  measured    233.6k ops/s   233.5 MiB/s  -  [push-100x1k]
	// push  baseline    320.0k ops/s   319.8 MiB/s  -  [pebble-synced-100x1k]
	// push  ratio     233.6k ops/s = 0.73x baseline (320.0k ops/s)  bytes/s 0.73x
}
