// Package bench is syncd's benchmark harness, the engine of `syncd bench`.
//
// It drives a real syncd over HTTP from a separate process: Run starts the
// syncd binary as a child (`syncd serve` on a free port of 127.0.0.1, a
// temporary data directory and a known token) or targets a running one
// (Config.URL and Config.Token), creates users and workspaces through the
// auth RPC store, and runs OR3 Chat-shaped workloads: threads and messages
// with 0.5–8 KiB payloads, Zipf-distributed over workspaces, a mix of new
// puts, edits, conflicting edits from a second device and deletes.
//
// Phases (each bounded by its own timeout; a failing phase marks the
// report PARTIAL and the run goes on while the daemon answers):
//
//   - push throughput by batch size (1, 10, 100) × concurrency (1, 8, 64),
//     beside raw Pebble synced commits of the same keys and bytes per fsync
//     (read from syncd's /metrics), and the in-process engine figure;
//   - push latency p50/p90/p99/p99.9 at a fixed offered load, beside the
//     fsync latency of a 4 KiB append;
//   - pull catch-up of a client N changes behind, beside a raw Pebble scan;
//   - snapshot bootstrap time and peak RSS (when /v1/sync/snapshot exists);
//   - watch fan-out latency with 100, 1,000 and 10,000 SSE watchers, and
//     syncd's RSS per idle watcher;
//   - crash recovery: SIGKILL, restart, time to /readyz with N log entries;
//   - replication lag: n/a; the replica package's benchmarks measure it.
//
// Every figure is printed with its same-run baseline from bench/baseline
// and the ratio, and with its target (from the feature issues) and
// pass/fail. Correctness checks run inside the workloads: every
// acknowledged op is pulled back at its version with its op id, and every
// watcher receives every change in order. The report (report.md,
// report.json and PNG charts) goes to Config.Out.
package bench
