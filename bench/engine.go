package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
)

// syncdGCPercent is cmd/syncd's --gc-percent default.
const syncdGCPercent = 400

// ownerRoles makes everyone the owner of every workspace: the in-process
// engine figure measures push, not membership.
type ownerRoles struct{}

func (ownerRoles) Role(context.Context, string, string) (string, error) { return "owner", nil }

// enginePush measures the engine-level figure issue 4's HTTP target is
// judged against: engine.Push of the same OR3-shaped 100-op batches from
// 8 goroutines, each with its own workspace as in the HTTP target cell and
// the engine benchmark (BenchmarkPush/batch=100/workspaces=8), in this process,
// on a log opened with syncd's options. Batches are decoded, and their
// payloads scanned as syncd's HTTP decoder does (engine.ScanPayload),
// before the clock starts. Each use of a batch gets fresh op ids and
// clocks and fresh row keys (the round digits of every pk, in the op and
// in its payload), so that it writes what the HTTP cells write: new
// threads and messages, and edits and deletes of recent ones. (Until
// session 5 every reuse re-put the same 800 rows per worker, all found in
// the memtable: an easier workload than the HTTP cells' fresh keys.)
func (r *run) enginePush(ctx context.Context) error {
	const batch, workers, pool = 100, 8, 16
	if err := r.needDisk("in-process engine figure", forDuration(r.sz.Cell)); err != nil {
		return err
	}
	dir := filepath.Join(r.scratch, "engine")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := synclog.Open(synclog.Config{Dir: dir, Logger: quiet})
	if err != nil {
		return err
	}
	defer func() {
		_ = db.Close() // scratch data, removed next
		_ = os.RemoveAll(dir)
	}()
	eng, err := engine.New(engine.Config{DB: db, Roles: ownerRoles{}, Logger: quiet})
	if err != nil {
		return err
	}
	wl := newWorkload(r.rng)
	wl.pkSuffix = roundMark
	nws := workers
	states := make([]*wsState, nws)
	for i := range states {
		states[i] = &wsState{id: fmt.Sprintf("engine-ws-%d", i), user: "bench"}
	}
	// Pre-build, decode and scan each worker's pool of batches.
	batches := make([][]engine.PushBatch, workers)
	marks := make([][][]roundMarks, workers) // worker, batch, op
	for w := range workers {
		rng := mrand.New(mrand.NewPCG(r.rng.Uint64(), uint64(w)))
		for range pool {
			s := states[w]
			var bb batchBuilder
			bb.reset(s.id)
			for range batch {
				wl.genOp(rng, s, &bb, fmt.Sprintf("dev-%d", w))
			}
			var pb engine.PushBatch
			if err := json.Unmarshal(bb.finish(), &pb); err != nil {
				return fmt.Errorf("decode a generated batch: %w", err)
			}
			m, err := prepareRounds(&pb)
			if err != nil {
				return err
			}
			batches[w] = append(batches[w], pb)
			marks[w] = append(marks[w], m)
		}
	}
	// The daemon runs Go's collector at its --gc-percent default unless
	// GOGC is set (which this process and the child share): the engine
	// figure runs under the same setting, so the ratio compares the same
	// collector work.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(syncdGCPercent))
	}
	var ops atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	deadline := time.Now().Add(r.sz.Cell)
	start := time.Now()
	cpu0, cpuErr0 := cpuTime(os.Getpid())
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				pb := batches[w][i%pool]
				nextRound(&pb, marks[w][i%pool], i/pool)
				for j := range pb.Ops {
					seq := wl.seq.Add(1)
					clock := wl.clock.Add(1)
					pb.Ops[j].Stamp.OpID = wl.opID(seq)
					pb.Ops[j].Stamp.Clock = clock
					pb.Ops[j].Stamp.HLC = fmt.Sprintf("%013d:0000:dev-%d", 1_700_000_000_000+clock, w)
				}
				res, err := eng.Push(ctx, "bench", pb)
				if err == nil {
					for _, or := range res.Results {
						if !or.Success {
							err = fmt.Errorf("engine push: op %s failed: %s", or.OpID, or.ErrorCode)
							break
						}
					}
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				ops.Add(int64(len(pb.Ops)))
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	elapsed := time.Since(start)
	cpu1, cpuErr1 := cpuTime(os.Getpid())
	rate := float64(ops.Load()) / elapsed.Seconds()
	f := Figure{Section: "push (engine)", Name: "engine push batch=100 workers=8, one workspace each (in-process)", Unit: "ops/s", Value: rate,
		Note: fmt.Sprintf("%d ops in %s, no HTTP", ops.Load(), elapsed.Round(time.Millisecond))}
	if cpuErr0 == nil && cpuErr1 == nil {
		// CPU per op says what the code costs whatever else the machine runs.
		f.Note += fmt.Sprintf("; CPU %.1f µs/op (this process)", float64((cpu1-cpu0).Microseconds())/float64(max(ops.Load(), 1)))
	}
	r.rep.Add(f)
	if r.httpPush100x8 > 0 {
		r.rep.Add(Figure{Section: "push (HTTP)", Name: "HTTP push 100×8 ÷ engine push 100×8", Unit: "x", Value: r.httpPush100x8 / rate,
			Target: &Target{Op: ">=", Value: 0.6, Source: "issue 4"}, Note: "the HTTP figure measured minutes apart with the load client in another process"})
	}
	return nil
}

// roundMark ends the engine figure's row keys; its six digits are the
// round (the how-many-th use of the batch).
const roundMark = "-r000000"

// payloadDepth is the nesting syncd's HTTP decoder allows inside a
// payload (api.MaxJSONDepth less the levels above it).
const payloadDepth = 61

// roundMarks are where an op's round digits are: in its pk and in its
// (compacted) payload, and the payload as scanned.
type roundMarks struct {
	pk      int
	payload []int
	base    []byte
}

// prepareRounds scans each op's payload as syncd's decoder does and finds
// its round digits.
func prepareRounds(pb *engine.PushBatch) ([]roundMarks, error) {
	out := make([]roundMarks, len(pb.Ops))
	for j := range pb.Ops {
		op := &pb.Ops[j]
		m := &out[j]
		m.pk = strings.LastIndex(op.PK, roundMark)
		if m.pk < 0 {
			return nil, fmt.Errorf("engine figure: pk %q has no round mark", op.PK)
		}
		m.pk += len(roundMark) - 6
		if len(op.Payload) == 0 {
			continue
		}
		end, compact, scan, ok := engine.ScanPayload(op.Payload, 0, payloadDepth)
		if !ok || end != len(op.Payload) {
			return nil, fmt.Errorf("engine figure: payload of %s does not scan", op.PK)
		}
		op.Payload, op.Scan, m.base = compact, scan, compact
		for k := 0; ; {
			i := bytes.Index(compact[k:], []byte(roundMark))
			if i < 0 {
				break
			}
			k += i + len(roundMark)
			m.payload = append(m.payload, k-6)
		}
	}
	return out, nil
}

// nextRound gives the ops of pb the row keys of round n: their pks and
// payloads rewritten in new memory (the engine may keep what it was
// given).
func nextRound(pb *engine.PushBatch, marks []roundMarks, n int) {
	var d [6]byte
	digits := appendDec(d[:0], int64(n%1_000_000), 6)
	for j := range pb.Ops {
		op, m := &pb.Ops[j], &marks[j]
		op.PK = op.PK[:m.pk] + string(digits) + op.PK[m.pk+6:]
		if m.base == nil {
			continue
		}
		p := append([]byte(nil), m.base...)
		for _, at := range m.payload {
			copy(p[at:], digits)
		}
		op.Payload = p
	}
}
