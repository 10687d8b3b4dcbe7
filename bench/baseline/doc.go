// Package baseline measures the physical limits that syncd's benchmarks are
// judged against, in the same run and on the same machine as the benchmark
// itself, so every syncd figure can be printed as a ratio: "push: 101k keys/s
// = 0.32x baseline (320k keys/s)".
//
// A number alone says little on a shared two-core machine whose disk and
// neighbours change from one run to the next; the ratio to a baseline taken
// minutes apart on the same box says how much of the hardware syncd uses.
// Each baseline is the cheapest way to do the same physical work without
// syncd's logic:
//
//   - FsyncAppend: append a block and fsync it, the floor under any
//     acknowledged write.
//   - PebbleSynced: raw Pebble batches committed with pebble.Sync, in the
//     commit shape (keys per commit, value size, concurrent writers) of the
//     syncd workload, with the options syncd itself opens Pebble with.
//   - PebbleScan: a full forward iteration, the ceiling for pull, snapshot
//     and replay.
//   - LoopbackHTTP: a trivial handler over keep-alive loopback connections,
//     the ceiling for any HTTP endpoint.
//   - SeqWriteRead: sequential write+fsync and read of a large file, the
//     ceiling for backups and blob storage.
//
// Every function returns a Result (ops, bytes, elapsed time and, where it
// makes sense, a latency Histogram), and Report prints a syncd Result beside
// its baseline with the ratio. Env names the machine for report headers.
//
// The package owns measurement only: it holds no syncd logic and imports
// nothing of syncd, so any package's benchmarks may use it.
package baseline
