package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/or3/syncd/bench/baseline"
	synclog "github.com/or3/syncd/log"
)

// keysPerOp is what one sync op writes in syncd's log (entry, origin
// index, op-id index, row), as the engine's own benchmark counts; each
// push adds the workspace counter.
const keysPerOp = 4

// pushTarget is issue 4's throughput target for 100-op batches from 8
// clients.
var pushTarget = &Target{Op: ">=", Value: 20_000, Source: "issue 4"}

// syncdPebbleOptions are the options syncd opens its log with, for the
// raw-Pebble baselines.
func syncdPebbleOptions() *pebble.Options {
	return synclog.PebbleOptions(synclog.Config{Dir: "baseline", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// baselines measures the fsync and loopback-HTTP floors once per run.
func (r *run) baselines(ctx context.Context) error {
	if err := r.needDisk("fsync baseline", 64<<20); err != nil {
		return err
	}
	fs, err := baseline.FsyncAppend(r.scratch, 4096, 0, r.sz.Baseline)
	if err == nil && fs.Ops < 100 {
		fs, err = baseline.FsyncAppend(r.scratch, 4096, 100, 0) // enough for percentiles
	}
	if err != nil {
		return err
	}
	r.fsync = fs
	r.rep.Add(Figure{Section: "baseline", Name: "fsync of a 4 KiB append", Unit: "ops/s", Value: fs.OpsPerSec(),
		Note: "p50 " + fs.Latencies.Percentile(50).String() + ", p99 " + fs.Latencies.Percentile(99).String()})
	r.loopback = map[int]baseline.Result{}
	conns := append([]int{}, r.sz.Clients...)
	conns = append(conns, 100)
	for _, c := range conns {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, ok := r.loopback[c]; ok {
			continue
		}
		lb, err := baseline.LoopbackHTTP(c, r.sz.Baseline)
		if err != nil {
			return err
		}
		r.loopback[c] = lb
		r.rep.Add(Figure{Section: "baseline", Name: fmt.Sprintf("loopback HTTP, trivial handler, %d clients", c), Unit: "req/s", Value: lb.OpsPerSec(),
			Note: "p50 " + lb.Latencies.Percentile(50).String() + ", p99 " + lb.Latencies.Percentile(99).String()})
	}
	return nil
}

// load drives clients concurrent push loops, each sending batch-op
// pushes to Zipf-chosen workspaces of wss, until d has passed. Every
// answer is checked and its acknowledged ops recorded.
func (r *run) load(ctx context.Context, wss []*wsState, clients, batch int, d time.Duration) (ops, reqs int64, elapsed time.Duration, lat *baseline.Histogram, err error) {
	return r.loadWith(ctx, wss, clients, batch, d, false)
}

// loadWith is load; pinned gives client c the workspace wss[c mod
// len(wss)] for the whole run (the shape of the engine benchmark: one
// writer per workspace) instead of a Zipf choice per push.
func (r *run) loadWith(ctx context.Context, wss []*wsState, clients, batch int, d time.Duration, pinned bool) (ops, reqs int64, elapsed time.Duration, lat *baseline.Histogram, err error) {
	lat = baseline.NewHistogram()
	var (
		nOps, nReqs atomic.Int64
		wg          sync.WaitGroup
		errOnce     sync.Once
		firstErr    error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	start := time.Now()
	for c := range clients {
		seed := r.rng.Uint64()
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(seed, uint64(c)))
			z := newZipf(rng, len(wss))
			device := fmt.Sprintf("dev-%s-%d", r.wl.prefix, c)
			var bb batchBuilder
			for ctx.Err() == nil && time.Now().Before(deadline) {
				s := wss[c%len(wss)]
				if !pinned {
					s = wss[z.next()]
				}
				bb.reset(s.id)
				for range batch {
					r.wl.genOp(rng, s, &bb, device)
				}
				body := bb.finish()
				t := time.Now()
				res, err := r.cl.push(ctx, s.user, body)
				if err == nil {
					lat.Record(time.Since(t))
					err = r.wl.record(s, bb.seqs, res)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("push to %s: %w", s.id, err); cancel() })
					return
				}
				r.wl.bytesSent.Add(int64(len(body)))
				nOps.Add(int64(batch))
				nReqs.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	r.entries += nOps.Load()
	return nOps.Load(), nReqs.Load(), elapsed, lat, firstErr
}

// isTargetCell is issue 4's cell: 100-op batches from 8 clients.
func isTargetCell(batch, clients int) bool { return batch == 100 && clients == 8 }

// pushCell measures one cell of the throughput matrix and its raw-Pebble
// baseline with the same keys and bytes per fsync. Issue 4's cell (100-op
// batches, 8 clients) has the engine benchmark's shape: each client pushes
// to its own workspace, 8 workspaces written concurrently (pushCellZipf
// reports the same cell over the Zipf workspaces as well); the other cells
// spread their pushes over the Zipf workspaces.
func (r *run) pushCell(ctx context.Context, batch, clients int) error {
	return r.pushCellShape(ctx, batch, clients, isTargetCell(batch, clients))
}

// pushCellZipf is the 100×8 cell over the Zipf workspaces: a harsher shape
// than the target's (clients queue on the hot workspaces' locks), reported
// beside it without a target.
func (r *run) pushCellZipf(ctx context.Context) error {
	return r.pushCellShape(ctx, 100, 8, false)
}

func (r *run) pushCellShape(ctx context.Context, batch, clients int, pinned bool) error {
	m0, merr := r.cl.metrics(ctx)
	srv0, serr0 := cpuTime(r.pid)
	own0, oerr0 := cpuTime(os.Getpid())
	ops, reqs, elapsed, lat, err := r.loadWith(ctx, r.wss, clients, batch, r.sz.Cell, pinned)
	if err != nil {
		return err
	}
	srv1, serr1 := cpuTime(r.pid)
	own1, oerr1 := cpuTime(os.Getpid())
	m1, merr1 := r.cl.metrics(ctx)
	name := fmt.Sprintf("push batch=%d clients=%d", batch, clients)
	measured := float64(ops) / elapsed.Seconds()
	target := pinned && isTargetCell(batch, clients)
	cellShape := fmt.Sprintf("Zipf over %d workspaces", len(r.wss))
	switch {
	case pinned:
		cellShape = fmt.Sprintf("one workspace per client, %d workspaces", min(clients, len(r.wss)))
	case isTargetCell(batch, clients):
		name += " Zipf (no target)"
	}
	if r.tput[batch] == nil {
		r.tput[batch] = map[int]float64{}
	}
	if !isTargetCell(batch, clients) || target {
		r.tput[batch][clients] = measured
	}

	// The same keys and bytes per fsync as syncd's group commits did.
	groups := m1["syncd_log_group_commit_batches_count"] - m0["syncd_log_group_commit_batches_count"]
	bytes := m1["syncd_log_group_commit_bytes_sum"] - m0["syncd_log_group_commit_bytes_sum"]
	fig := Figure{Section: "push (HTTP)", Name: name, Unit: "ops/s", Value: measured,
		Note: fmt.Sprintf("%s; %d ops in %d requests, %s; request %s", cellShape, ops, reqs, elapsed.Round(time.Millisecond), lat)}
	if errors.Join(serr0, serr1, oerr0, oerr1) == nil {
		// Both processes share the machine's cores: say who used them.
		fig.Note += fmt.Sprintf("; CPU: syncd %.0f%%, load client %.0f%% (of one core); syncd CPU %.1f µs/op",
			100*(srv1-srv0).Seconds()/elapsed.Seconds(), 100*(own1-own0).Seconds()/elapsed.Seconds(),
			float64((srv1-srv0).Microseconds())/float64(max(ops, 1)))
	}
	if target {
		fig.Target = pushTarget
		r.httpPush100x8 = measured
	}
	if merr != nil || merr1 != nil || groups <= 0 {
		fig.Note += "; no raw-Pebble baseline: syncd's /metrics gave no group commits"
		r.rep.Add(fig)
		return errors.Join(merr, merr1)
	}
	keys := float64(ops*keysPerOp + reqs)
	shape := baseline.PebbleShape{
		KeysPerCommit: max(int(keys/groups+0.5), 1),
		ValueBytes:    max(int(bytes/keys), 1),
	}
	if err := r.needDisk("raw Pebble baseline", forDuration(r.sz.Baseline)); err != nil {
		r.rep.Add(fig)
		return err
	}
	raw, err := baseline.PebbleSynced(r.scratch, syncdPebbleOptions, shape, 0, r.sz.Baseline)
	if err == nil && raw.Commits == 0 {
		// A machine so busy that not one commit fit in the time: count
		// commits instead.
		raw, err = baseline.PebbleSynced(r.scratch, syncdPebbleOptions, shape, 5, 0)
	}
	if err != nil {
		r.rep.Add(fig)
		return fmt.Errorf("raw Pebble baseline: %w", err)
	}
	fig.Baseline = raw.OpsPerSec() / keysPerOp
	fig.BaselineName = fmt.Sprintf("raw Pebble synced %d keys × %d B per fsync ÷ %d keys/op", shape.KeysPerCommit, shape.ValueBytes, keysPerOp)
	fig.Note += fmt.Sprintf("; %.1f requests per group commit", float64(reqs)/groups)
	if secs := m1["syncd_log_fsync_seconds_sum"] - m0["syncd_log_fsync_seconds_sum"]; secs > 0 {
		fig.Note += fmt.Sprintf(", mean commit (fsync included) %s", time.Duration(secs/groups*float64(time.Second)).Round(10*time.Microsecond))
	}
	r.rep.Add(fig)
	if batch == 1 {
		if lb, ok := r.loopback[clients]; ok {
			r.rep.Add(Figure{Section: "push (HTTP)", Name: fmt.Sprintf("push requests/s batch=1 clients=%d", clients), Unit: "req/s",
				Value: float64(reqs) / elapsed.Seconds(), Baseline: lb.OpsPerSec(), BaselineName: fmt.Sprintf("loopback HTTP %d clients", clients)})
		}
	}
	return nil
}

// pushLatency sends single-op pushes at a fixed offered rate (open loop:
// each push starts at its scheduled time whatever the previous ones do)
// and reports latency percentiles from the scheduled start, beside the
// fsync latency of a 4 KiB append.
func (r *run) pushLatency(ctx context.Context) error {
	rate, d := r.sz.LatencyRate, r.sz.LatencyDuration
	lat := baseline.NewHistogram()
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		inflight = make(chan struct{}, 512)
		late     atomic.Int64
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rng := mrand.New(mrand.NewPCG(r.rng.Uint64(), 5))
	z := newZipf(rng, len(r.wss))
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		s := r.wss[z.next()]
		var bb batchBuilder
		bb.reset(s.id)
		r.wl.genOp(rng, s, &bb, "dev-latency")
		body := bb.finish()
		select {
		case inflight <- struct{}{}:
		default:
			late.Add(1) // 512 pushes in flight: the daemon cannot keep up
			inflight <- struct{}{}
		}
		wg.Go(func() {
			defer func() { <-inflight }()
			res, err := r.cl.push(ctx, s.user, body)
			if err == nil {
				lat.Record(time.Since(at))
				err = r.wl.record(s, bb.seqs, res)
			}
			if err != nil {
				errOnce.Do(func() { firstErr = err; cancel() })
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	r.entries += lat.Count()
	fs := r.fsync.Latencies
	note := fmt.Sprintf("%d single-op pushes at %d/s offered (open loop, from the scheduled start)", lat.Count(), rate)
	if late.Load() > 0 {
		note += fmt.Sprintf("; %d sends waited for a free slot (512 in flight)", late.Load())
	}
	pcts := []float64{50, 90, 99, 99.9}
	labels := []string{"p50", "p90", "p99", "p99.9"}
	var ys, fys, lys []float64
	lb := r.loopback[1].Latencies
	for i, p := range pcts {
		v := ms(lat.Percentile(p))
		f := Figure{Section: "push latency", Name: fmt.Sprintf("push latency %s at %d pushes/s", labels[i], rate), Unit: "ms", Value: v, Note: note}
		if fs != nil {
			f.Baseline = ms(fs.Percentile(p))
			f.BaselineName = "fsync 4 KiB " + labels[i]
		}
		r.rep.Add(f)
		ys = append(ys, v)
		if fs != nil {
			fys = append(fys, ms(fs.Percentile(p)))
		}
		if lb != nil {
			lys = append(lys, ms(lb.Percentile(p)))
		}
	}
	r.rep.AddSeries(Series{Chart: "latency", Name: fmt.Sprintf("push, 1 op, %d/s offered", rate), X: labels, Y: ys})
	if fys != nil {
		r.rep.AddSeries(Series{Chart: "latency", Name: "baseline: fsync 4 KiB append", X: labels, Y: fys})
	}
	if lys != nil {
		r.rep.AddSeries(Series{Chart: "latency", Name: "baseline: loopback HTTP round trip", X: labels, Y: lys})
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// verifyAcked pulls every Zipf workspace back from version 0 and checks
// that every acknowledged op is there, at its version, with its op id,
// versions strictly ascending and gap-free.
func (r *run) verifyAcked(ctx context.Context) error {
	var total, missing int64
	var firstBad string
	start := time.Now()
	for _, s := range r.wss {
		n, bad, err := r.pullVerify(ctx, s, nil)
		if err != nil {
			return err
		}
		total += n
		if bad != "" {
			missing++
			if firstBad == "" {
				firstBad = bad
			}
		}
	}
	r.rep.Check("every acknowledged push op pulled back", missing == 0,
		"%d workspaces, %d acknowledged ops pulled back at their versions with their op ids in %s%s",
		len(r.wss), total, time.Since(start).Round(time.Millisecond), orBad(firstBad))
	return nil
}

func orBad(s string) string {
	if s == "" {
		return ""
	}
	return "; FIRST PROBLEM: " + s
}

// pullVerify pulls s from version 0 in pages of 1,000 and compares with
// its acknowledged ops. It returns the number of changes pulled and a
// description of the first mismatch ("" when all match). onPage, when
// set, is called after each page.
func (r *run) pullVerify(ctx context.Context, s *wsState, onPage func(n int)) (int64, string, error) {
	acks := s.sortedAcks()
	var cursor uint64
	var n int64
	i := 0
	bad := ""
	for {
		page, err := r.cl.pull(ctx, s.user, s.id, cursor, 1000)
		if err != nil {
			return n, bad, fmt.Errorf("pull %s from %d: %w", s.id, cursor, err)
		}
		if page.RequiresSnapshot {
			return n, bad, fmt.Errorf("pull %s from %d requires a snapshot", s.id, cursor)
		}
		for _, c := range page.Changes {
			n++
			if bad != "" {
				continue
			}
			if c.ServerVersion != uint64(n) {
				bad = fmt.Sprintf("%s: change #%d has version %d (gap or disorder)", s.id, n, c.ServerVersion)
				continue
			}
			if i < len(acks) && acks[i].version == c.ServerVersion {
				if seq, ok := r.wl.seqOf(c.Stamp.OpID); !ok || seq != acks[i].seq {
					bad = fmt.Sprintf("%s: version %d holds op %s, acknowledged as %s", s.id, c.ServerVersion, c.Stamp.OpID, r.wl.opID(acks[i].seq))
				}
				i++
			}
		}
		if onPage != nil {
			onPage(len(page.Changes))
		}
		if !page.HasMore {
			break
		}
		if page.NextCursor <= cursor {
			return n, bad, fmt.Errorf("pull %s did not advance from %d", s.id, cursor)
		}
		cursor = page.NextCursor
	}
	if bad == "" && i < len(acks) {
		bad = fmt.Sprintf("%s: %d acknowledged ops missing from pull (first: version %d)", s.id, len(acks)-i, acks[i].version)
	}
	return n, bad, nil
}
