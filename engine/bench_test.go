package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/or3/syncd/bench/baseline"
	synclog "github.com/or3/syncd/log"
)

// benchEngine opens an engine whose log reports group-commit shapes.
type benchEngine struct {
	eng                    *Engine
	db                     *synclog.DB
	groups, bytes, batches atomic.Int64
	commitNanos            atomic.Int64 // time the committer spent in synced commits
	roles                  *memberRoles
}

func openBenchEngine(b *testing.B) *benchEngine {
	be := &benchEngine{roles: &memberRoles{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := synclog.Open(synclog.Config{Dir: b.TempDir(), Logger: quiet, MemTableSize: 64 << 20,
		OnCommit: func(s synclog.CommitStats) {
			be.groups.Add(1)
			be.bytes.Add(int64(s.Bytes))
			be.batches.Add(int64(s.Batches))
			be.commitNanos.Add(int64(s.Duration))
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	eng, err := New(Config{DB: db, Roles: be.roles, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	be.eng, be.db = eng, db
	return be
}

// or3Op is an OR3-shaped message put with a ~1 KiB payload and a stamp as
// OR3 clients make them.
func or3Op(rng *rand.Rand, pk string, clock int64) PendingOp {
	var sb strings.Builder
	for sb.Len() < 800 {
		sb.WriteString("lorem ipsum dolor sit amet ")
	}
	payload, _ := json.Marshal(map[string]any{
		"id": pk, "thread_id": fmt.Sprintf("thread-%d", rng.IntN(50)), "role": "assistant",
		"index": rng.IntN(1000), "order_key": "1736648823456:0003:abc12345", "data": map[string]any{"content": sb.String()},
		"deleted": false, "created_at": 1736648823, "updated_at": 1736648823, "clock": clock,
	})
	return PendingOp{TableName: "messages", Operation: "put", PK: pk, Payload: payload,
		Stamp: Stamp{DeviceID: "abc12345", OpID: uuid.NewString(), HLC: fmt.Sprintf("%013d:%04d:abc12345", 1736648823456+clock, rng.IntN(10000)), Clock: clock}}
}

// BenchmarkPush pushes OR3-shaped batches from 1, 8 and 64 concurrent
// workspaces with batches of 1 and 100 ops, and prints raw Pebble synced
// commits of the same keys and bytes per fsync (syncd's options, same run).
// Use -benchtime 60s for the target figures.
func BenchmarkPush(b *testing.B) {
	for _, batch := range []int{1, 100} {
		for _, conc := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("batch=%d/workspaces=%d", batch, conc), func(b *testing.B) {
				be := openBenchEngine(b)
				for w := 0; w < conc; w++ {
					be.roles.set(fmt.Sprintf("ws-%d", w), "alice", "owner")
				}
				// Pre-build the batches outside the timer.
				rng := rand.New(rand.NewPCG(1, 2))
				nBatches := max(b.N/batch, 1)
				batches := make([][]PendingOp, nBatches)
				for i := range batches {
					ops := make([]PendingOp, batch)
					for j := range ops {
						ops[j] = or3Op(rng, fmt.Sprintf("m-%d-%d", i, j), int64(1+i))
					}
					batches[i] = ops
				}
				lat := baseline.NewHistogram()
				var next atomic.Int64
				b.ResetTimer()
				start, cpu0 := time.Now(), processCPU()
				var wg sync.WaitGroup
				for w := 0; w < conc; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ws := fmt.Sprintf("ws-%d", w)
						for {
							i := next.Add(1) - 1
							if i >= int64(nBatches) {
								return
							}
							t0 := time.Now()
							if _, err := be.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: batches[i]}); err != nil {
								b.Error(err)
								return
							}
							lat.Record(time.Since(t0))
						}
					}()
				}
				wg.Wait()
				elapsed, cpu := time.Since(start), processCPU()-cpu0
				b.StopTimer()
				ops := int64(nBatches * batch)
				b.ReportMetric(float64(ops)/elapsed.Seconds(), "ops/s")
				b.ReportMetric(float64(lat.Percentile(50).Microseconds()), "p50-µs")
				if elapsed < time.Second {
					return
				}
				groups := max(be.groups.Load(), 1)
				// Keys per op: entry, origin index, op index, row (+ counter per batch).
				keys := ops*4 + int64(nBatches)
				keysPerFsync := int(max(keys/groups, 1))
				bytesPerKey := int(be.bytes.Load() / max(keys, 1))
				opts := func() *pebble.Options {
					return synclog.PebbleOptions(synclog.Config{Dir: "x", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MemTableSize: 64 << 20})
				}
				// Two same-run baselines with the same keys and bytes per fsync:
				// the target's writes the very keys the push wrote (change
				// entries, origin index, op_id index entries of random UUIDs,
				// rows, counters, interleaved by workspace as the writers
				// were), so both sides pay the compactions those keys cause;
				// the second, sequential keys, is the LSM's best case.
				sameKeys := pushKeys(batches, conc)
				keyLen := 0
				for i := range uint64(1000) {
					keyLen += len(sameKeys(nil, 0, i))
				}
				keyLen /= 1000
				pushCPU := float64(cpu.Microseconds()) / float64(ops)
				measured := baseline.Result{Name: fmt.Sprintf("push batch=%d workspaces=%d", batch, conc), Ops: ops, Elapsed: elapsed, Latencies: lat}
				for _, bl := range []struct {
					name, metric string
					shape        baseline.PebbleShape
				}{
					{"raw Pebble, the same keys", "x-raw-pebble", baseline.PebbleShape{KeysPerCommit: keysPerFsync, ValueBytes: max(bytesPerKey-keyLen, 1), Key: sameKeys}},
					{"raw Pebble, sequential keys", "x-raw-pebble-seq", baseline.PebbleShape{KeysPerCommit: keysPerFsync, ValueBytes: bytesPerKey}},
				} {
					rawCPU0 := processCPU()
					raw, err := baseline.PebbleSynced(b.TempDir(), opts, bl.shape, 0, elapsed)
					if err != nil {
						b.Fatal(err)
					}
					// CPU per op (this process, compactions included) depends far
					// less on what else the machine runs than throughput does.
					rawCPU := float64((processCPU() - rawCPU0).Microseconds()) / float64(max(raw.Ops/4, 1))
					fmt.Printf("push batch=%d workspaces=%d CPU %.1f µs/op, %s %.1f µs/op (%.2fx); committer in synced commits %.0f%% of the run, %d batches/group\n",
						batch, conc, pushCPU, bl.name, rawCPU, pushCPU/rawCPU, 100*float64(be.commitNanos.Load())/float64(elapsed), be.batches.Load()/groups)
					// Compare ops: the raw baseline commits keys; an op costs 4 keys.
					rawOps := baseline.Result{Name: raw.Name + " (÷4 keys/op, " + bl.name + ")", Ops: raw.Ops / 4, Elapsed: raw.Elapsed, Latencies: raw.Latencies}
					baseline.Report(os.Stdout, measured.Name+" ops/s", measured, rawOps)
					b.ReportMetric(baseline.Ratio(measured.OpsPerSec(), rawOps.OpsPerSec()), bl.metric)
				}
				b.ReportMetric(pushCPU, "cpu-µs/op")
				if batch == 1 && conc == 1 {
					fs, err := baseline.FsyncAppend(b.TempDir(), 4096, 0, 3*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					p50, f50 := lat.Percentile(50), fs.Latencies.Percentile(50)
					fmt.Printf("single-op push p50 %v = %.2fx fsync p50 (%v)\n", p50, float64(p50)/float64(f50), f50)
					b.ReportMetric(float64(p50)/float64(f50), "p50-x-fsync")
				}
			})
		}
	}
}

// pushKeys gives the keys BenchmarkPush's pushes write, in commit order
// within a batch: batch i goes to workspace i%conc, and each of its ops
// writes its change entry, the origin index entry, its op_id index entry
// and its row; the batch ends with the workspace's counter. Past the
// pre-built batches (a faster baseline) the op_ids get a round suffix, so
// they stay new keys.
func pushKeys(batches [][]PendingOp, conc int) func(dst []byte, _ int, seq uint64) []byte {
	per := uint64(len(batches[0]))*4 + 1
	return func(dst []byte, _ int, seq uint64) []byte {
		i, r := seq/per, seq%per
		ws := fmt.Sprintf("ws-%d", i%uint64(conc))
		if r == per-1 {
			return append(dst, synclog.CounterKey(ws)...)
		}
		j := r / 4
		op := batches[i%uint64(len(batches))][j]
		v := (i/uint64(conc))*uint64(len(batches[0])) + j + 1
		var k []byte
		switch r % 4 {
		case 0:
			k = synclog.ChangeKey(ws, v)
		case 1:
			k = synclog.OriginKey(i*(per-1)/4 + j + 1)
		case 2:
			id := op.Stamp.OpID
			if round := i / uint64(len(batches)); round > 0 {
				id += fmt.Sprintf("-%d", round)
			}
			k = synclog.OpIndexKey(id)
		default:
			k = synclog.RowKey(ws, op.TableName, op.PK)
		}
		return append(dst, k...)
	}
}

// BenchmarkPull pulls pages of 1,000 from a warm store of 100k changes and
// prints the raw Pebble scan rate of the same data as the baseline: "go"
// returns Go values (Pull), "json" the encoded answer the HTTP layer sends
// (PullJSON).
func BenchmarkPull(b *testing.B) {
	be := openBenchEngine(b)
	be.roles.set("ws-pull", "alice", "owner")
	rng := rand.New(rand.NewPCG(3, 4))
	const total = 100_000
	for i := 0; i < total/100; i++ {
		ops := make([]PendingOp, 100)
		for j := range ops {
			ops[j] = or3Op(rng, fmt.Sprintf("m-%d-%d", i, j), 1)
		}
		if _, err := be.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: "ws-pull"}, Ops: ops}); err != nil {
			b.Fatal(err)
		}
	}
	// A warm store: flushed and compacted, so background compactions of the
	// setup do not run inside the measured window.
	if err := be.db.Pebble().Flush(); err != nil {
		b.Fatal(err)
	}
	if err := be.db.Pebble().Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
	opts := func() *pebble.Options {
		return synclog.PebbleOptions(synclog.Config{Dir: "x", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}
	raw, err := baseline.PebbleScan(b.TempDir(), opts, total, 1200)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"go", "json"} {
		b.Run(mode, func(b *testing.B) {
			limit := 1000
			var buf []byte
			b.ResetTimer()
			cpu0 := processCPU()
			start := time.Now()
			changes := 0
			for i := 0; i < b.N; i++ {
				req := PullRequest{Scope: Scope{WorkspaceID: "ws-pull"}, Cursor: int64((i * limit) % total), Limit: &limit}
				if mode == "go" {
					res, err := be.eng.Pull(context.Background(), "alice", req)
					if err != nil {
						b.Fatal(err)
					}
					changes += len(res.Changes)
				} else {
					if buf, err = be.eng.PullJSON(context.Background(), "alice", req, buf[:0]); err != nil {
						b.Fatal(err)
					}
					changes += limit
				}
			}
			elapsed := time.Since(start)
			cpu := processCPU() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(changes)/elapsed.Seconds(), "changes/s")
			// On a shared machine wall time includes waiting for a core; the
			// rate per CPU-second of this process says what the code costs.
			b.ReportMetric(float64(changes)/cpu.Seconds(), "changes/cpu-s")
			if elapsed < time.Second {
				return
			}
			baseline.Report(os.Stdout, "pull ("+mode+") pages of 1000 changes/s", baseline.Result{Name: "pull " + mode, Ops: int64(changes), Elapsed: elapsed}, raw)
			b.ReportMetric(baseline.Ratio(float64(changes)/elapsed.Seconds(), raw.OpsPerSec()), "x-raw-scan")
		})
	}
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
