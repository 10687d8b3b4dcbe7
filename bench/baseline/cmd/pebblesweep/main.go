// Command pebblesweep compares Pebble option sets on the raw synced-commit
// baseline (baseline.PebbleSynced), one fresh DB per set, and prints one
// result line per run. It is how baseline.SyncedThroughputPebbleOptions was
// chosen; rerun it on new hardware before trusting those options there.
//
//	go run ./bench/baseline/cmd/pebblesweep -d 60s -sets default,tuned
//
// Each run writes about d × the throughput to disk (gigabytes for a 60 s
// run) in a fresh directory under -dir, removed afterwards.
//
// On a shared machine the disk's speed drifts by ±50% from one minute to
// the next, so sets run one after another are not comparable. Compare two
// sets by running two processes at once, one set each: both then see the
// same disk, and the same set against itself differs by a few percent.
//
//	go run ./bench/baseline/cmd/pebblesweep -d 60s -sets default &
//	go run ./bench/baseline/cmd/pebblesweep -d 60s -sets tuned & wait
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/or3/syncd/bench/baseline"
)

// sets are the candidate option sets, each a change from Pebble's defaults.
var sets = map[string]func() *pebble.Options{
	"default": baseline.DefaultPebbleOptions,
	"tuned":   baseline.SyncedThroughputPebbleOptions,
	// 256 MiB memtables with large L0 files and more L0 headroom, the first
	// guess at a throughput set; it lost to mem64 and to the defaults.
	"mem256-l0": func() *pebble.Options {
		o := &pebble.Options{
			FormatMajorVersion:          pebble.FormatNewest,
			MemTableSize:                256 << 20,
			MemTableStopWritesThreshold: 4,
			L0StopWritesThreshold:       24,
			LBaseMaxBytes:               512 << 20,
		}
		o.TargetFileSizes[0] = 64 << 20
		o.CompactionConcurrencyRange = func() (int, int) { return 1, 2 }
		return o
	},
	// Only the memtable: 256 MiB, four of them before writes stop.
	"mem256": func() *pebble.Options {
		return &pebble.Options{MemTableSize: 256 << 20, MemTableStopWritesThreshold: 4}
	},
	// Middle-sized memtables with more L0 headroom.
	"mem64-l0": func() *pebble.Options {
		o := &pebble.Options{
			MemTableSize:                64 << 20,
			MemTableStopWritesThreshold: 4,
			L0StopWritesThreshold:       24,
		}
		o.CompactionConcurrencyRange = func() (int, int) { return 1, 2 }
		return o
	},
	// 16 MiB memtables, four before writes stop, nothing else changed.
	"mem16": func() *pebble.Options {
		return &pebble.Options{MemTableSize: 16 << 20, MemTableStopWritesThreshold: 4}
	},
	// 64 MiB memtables, four before writes stop, nothing else changed.
	"mem64": func() *pebble.Options {
		return &pebble.Options{MemTableSize: 64 << 20, MemTableStopWritesThreshold: 4}
	},
	"default-nocompress": func() *pebble.Options { return noCompression(baseline.DefaultPebbleOptions()) },
	"mem256-nocompress": func() *pebble.Options {
		return noCompression(&pebble.Options{MemTableSize: 256 << 20, MemTableStopWritesThreshold: 4})
	},
	// The tuned set without compression: values here are incompressible, so
	// this bounds what compression costs in CPU. Real events compress.
	"tuned-nocompress": func() *pebble.Options {
		return noCompression(baseline.SyncedThroughputPebbleOptions())
	},
	// The tuned set with values of 256 B and more kept in blob files, so
	// compactions move keys but not values.
	"tuned-valsep": func() *pebble.Options {
		o := baseline.SyncedThroughputPebbleOptions()
		o.FormatMajorVersion = pebble.FormatValueSeparation
		o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
			return pebble.ValueSeparationPolicy{
				Enabled:               true,
				MinimumSize:           256,
				MaxBlobReferenceDepth: 10,
				RewriteMinimumAge:     5 * time.Minute,
				TargetGarbageRatio:    0.2,
			}
		}
		return o
	},
}

// noCompression turns off sstable compression on every level of o.
func noCompression(o *pebble.Options) *pebble.Options {
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	return o
}

func main() {
	var (
		dir     = flag.String("dir", os.TempDir(), "directory for the scratch DBs")
		d       = flag.Duration("d", 20*time.Second, "duration of each run")
		names   = flag.String("sets", "default,tuned", "comma-separated option sets; -list shows them")
		list    = flag.Bool("list", false, "list the option sets and exit")
		keys    = flag.Int("keys", 100, "keys per synced commit")
		value   = flag.Int("value", 1024, "value bytes per key")
		writers = flag.Int("writers", 1, "concurrent committing goroutines")
	)
	flag.Parse()
	if *list {
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range sets {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Println(name)
		}
		return
	}
	shape := baseline.PebbleShape{KeysPerCommit: *keys, ValueBytes: *value, Writers: *writers}
	fmt.Println("#", baseline.Env())
	for name := range strings.SplitSeq(*names, ",") {
		opts, ok := sets[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "pebblesweep: unknown set %q (try -list)\n", name)
			os.Exit(2)
		}
		r, err := baseline.PebbleSynced(*dir, opts, shape, 0, *d)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pebblesweep: %s: %v\n", name, err)
			os.Exit(1)
		}
		fmt.Printf("%-16s %s\n", name, r)
	}
}
