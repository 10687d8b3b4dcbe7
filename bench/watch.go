package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/bench/baseline"
)

// fanoutTarget is issue 4's delivery-latency target.
var fanoutTarget = &Target{Op: "<=", Value: 10, Source: "issue 4"}

// watcher is one SSE stream read by its own goroutine over a bare TCP
// connection (no http.Client per stream: 10,000 of them must fit).
type watcher struct {
	conn  net.Conn
	last  atomic.Uint64 // version of the last event received
	count atomic.Int64
	bad   atomic.Pointer[string] // first protocol or order problem
}

// sseEvent is one parsed event: its id (0 when absent) and its name.
type sseEvent struct {
	id    uint64
	event string
}

// readSSE reads events from rd until it fails, calling on for each
// complete event. Lines longer than the buffer (large data lines) are
// skipped in pieces: only id and event lines matter here.
func readSSE(rd *bufio.Reader, on func(sseEvent)) error {
	var ev sseEvent
	var have bool
	for {
		line, err := rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// The middle of a long data line: discard up to its end.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = rd.ReadSlice('\n')
			}
			if err != nil {
				return err
			}
			have = true
			continue
		}
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if have {
				on(ev)
			}
			ev, have = sseEvent{}, false
		case line[0] == ':':
			// comment / heartbeat
		case bytes.HasPrefix(line, []byte("id:")):
			v, perr := strconv.ParseUint(string(bytes.TrimSpace(line[3:])), 10, 64)
			if perr != nil {
				return fmt.Errorf("bad SSE id line %q", line)
			}
			ev.id, have = v, true
		case bytes.HasPrefix(line, []byte("event:")):
			ev.event, have = string(bytes.TrimSpace(line[6:])), true
		default:
			have = true // data: or another field
		}
	}
}

// openWatcher opens GET /v1/sync/watch for ws from cursor and starts its
// reader; onEvent is called from the reader for every change event.
func (r *run) openWatcher(ctx context.Context, base string, ws *wsState, cursor uint64, onEvent func(w *watcher, version uint64)) (*watcher, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := fmt.Sprintf("GET /v1/sync/watch?workspaceId=%s&cursor=%d HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nX-Syncd-User: %s\r\nAccept: text/event-stream\r\n\r\n",
		url.QueryEscape(ws.id), cursor, u.Host, r.cl.token, ws.user)
	if _, err := conn.Write([]byte(req)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 2048)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_ = conn.Close()
		return nil, fmt.Errorf("watch: HTTP %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	w := &watcher{conn: conn}
	go func() {
		err := readSSE(bufio.NewReaderSize(resp.Body, 1024), func(ev sseEvent) {
			if ev.event != "" {
				s := fmt.Sprintf("unexpected event %q", ev.event)
				w.bad.CompareAndSwap(nil, &s)
				return
			}
			if ev.id != w.last.Load()+1 && w.bad.Load() == nil {
				s := fmt.Sprintf("version %d after %d (gap, duplicate or disorder)", ev.id, w.last.Load())
				w.bad.CompareAndSwap(nil, &s)
			}
			w.last.Store(ev.id)
			w.count.Add(1)
			if onEvent != nil {
				onEvent(w, ev.id)
			}
		})
		_ = err // the stream ends when the phase closes the connection
	}()
	return w, nil
}

// openWatchers opens n watchers in parallel and waits until syncd counts
// them (its syncd_watchers gauge), so measurements start with all of them
// registered.
func (r *run) openWatchers(ctx context.Context, ws *wsState, n int, onEvent func(*watcher, uint64)) ([]*watcher, error) {
	return r.openWatchersAt(ctx, r.cl, ws, n, onEvent)
}

// openWatchersAt is openWatchers against cl's server.
func (r *run) openWatchersAt(ctx context.Context, cl *client, ws *wsState, n int, onEvent func(*watcher, uint64)) ([]*watcher, error) {
	ws0 := make([]*watcher, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for range min(32, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				w, err := r.openWatcher(ctx, cl.base, ws, 0, onEvent)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("opening watcher %d of %d: %w", i+1, n, err) })
					return
				}
				ws0[i] = w
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		closeWatchers(ws0)
		return nil, firstErr
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := cl.metrics(ctx)
		if err != nil {
			break // no gauge to wait on; the streams are open anyway
		}
		// At least n: streams of an earlier phase may still be closing, so
		// the gauge can only tell that ours are all counted.
		if _, ok := m["syncd_watchers"]; !ok || m["syncd_watchers"] >= float64(n) {
			break
		}
		if time.Now().After(deadline) {
			closeWatchers(ws0)
			return nil, fmt.Errorf("syncd counts %.0f watchers after 30s, want at least %d", m["syncd_watchers"], n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ws0, nil
}

func closeWatchers(ws []*watcher) {
	for _, w := range ws {
		if w != nil {
			_ = w.conn.Close()
		}
	}
}

// fanout opens f.Watchers SSE streams on a fresh workspace, pushes
// single ops at f.Rate for f.Duration, and measures push → delivery
// latency (from the start of the push request to the watcher reading the
// event) and deliveries/s, beside the loopback HTTP baseline.
func (r *run) fanout(ctx context.Context, f FanoutCase) error {
	ws, err := r.newWorkspace(ctx, fmt.Sprintf("fanout-%d", f.Watchers))
	if err != nil {
		return err
	}
	total := max(int(f.Duration.Seconds()*float64(f.Rate)), 1)
	started := make([]atomic.Int64, total+1) // version → push start, unix ns
	lat := baseline.NewHistogram()
	var lastDelivery atomic.Int64
	onEvent := func(_ *watcher, v uint64) {
		now := time.Now().UnixNano()
		if v <= uint64(total) {
			if t0 := started[v].Load(); t0 > 0 {
				lat.Record(time.Duration(now - t0))
			}
		}
		lastDelivery.Store(now)
	}
	watchers, err := r.openWatchers(ctx, ws, f.Watchers, onEvent)
	if err != nil {
		return err
	}
	defer closeWatchers(watchers)

	interval := time.Second / time.Duration(f.Rate)
	rng := r.rng
	srv0, serr0 := cpuTime(r.pid)
	own0, oerr0 := cpuTime(os.Getpid())
	start := time.Now()
	for k := 1; k <= total; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if w := time.Until(start.Add(time.Duration(k-1) * interval)); w > 0 {
			time.Sleep(w)
		}
		var bb batchBuilder
		bb.reset(ws.id)
		r.wl.genOp(rng, ws, &bb, "dev-fanout")
		started[k].Store(time.Now().UnixNano())
		res, err := r.cl.push(ctx, ws.user, bb.finish())
		if err == nil {
			err = r.wl.record(ws, bb.seqs, res)
		}
		if err != nil {
			return fmt.Errorf("push %d: %w", k, err)
		}
		if v := res.Results[0].ServerVersion; v != uint64(k) {
			return fmt.Errorf("push %d got version %d: the fan-out workspace must be written by this phase alone", k, v)
		}
	}
	pushRate := float64(total) / time.Since(start).Seconds()
	r.entries += int64(total)
	// Wait for every watcher to catch up (bounded).
	deadline := time.Now().Add(30 * time.Second)
	for {
		behind := 0
		for _, w := range watchers {
			if w.last.Load() < uint64(total) {
				behind++
			}
		}
		if behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			break // reported by the check below
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv1, serr1 := cpuTime(r.pid)
	own1, oerr1 := cpuTime(os.Getpid())
	var complete, deliveries int64
	var firstBad string
	for _, w := range watchers {
		c := w.count.Load()
		deliveries += c
		b := w.bad.Load()
		if b == nil && c == int64(total) && w.last.Load() == uint64(total) {
			complete++
		} else if firstBad == "" {
			if b != nil {
				firstBad = *b
			} else {
				firstBad = fmt.Sprintf("a watcher got %d of %d changes (last %d)", c, total, w.last.Load())
			}
		}
	}
	span := time.Duration(lastDelivery.Load() - start.UnixNano())
	r.rep.Check(fmt.Sprintf("watchers received every change (%d watchers)", f.Watchers), complete == int64(len(watchers)),
		"%d of %d watchers got all %d changes in version order, no gap or duplicate%s", complete, len(watchers), total, orBad(firstBad))

	lb := r.loopback[100]
	name := fmt.Sprintf("%d watchers @ %d pushes/s", f.Watchers, f.Rate)
	target := (*Target)(nil)
	if (f.Watchers == 1000 && f.Rate == 20) || (f.Watchers == 100 && f.Rate == 200) {
		target = fanoutTarget
	}
	labels := []string{"p50", "p90", "p99", "p99.9"}
	pcts := []float64{50, 90, 99, 99.9}
	var ys []float64
	for i, p := range pcts {
		v := ms(lat.Percentile(p))
		ys = append(ys, v)
		if p == 90 {
			continue // in the chart only
		}
		fig := Figure{Section: "watch fan-out", Name: fmt.Sprintf("push → delivery %s, %s", labels[i], name), Unit: "ms", Value: v}
		if lb.Latencies != nil {
			fig.Baseline = ms(lb.Latencies.Percentile(p))
			fig.BaselineName = "loopback HTTP round trip " + labels[i] + ", 100 clients"
		}
		if p == 99 {
			fig.Target = target
			fig.Note = fmt.Sprintf("%d deliveries; latency from the start of the push request (fsync included); pushes achieved %.0f/s", lat.Count(), pushRate)
			if serr0 == nil && serr1 == nil && oerr0 == nil && oerr1 == nil && deliveries > 0 {
				// CPU per delivery does not depend on what else the machine runs.
				fig.Note += fmt.Sprintf("; CPU per delivery (pushes included): syncd %.1f µs, load client %.1f µs",
					float64((srv1-srv0).Microseconds())/float64(deliveries), float64((own1-own0).Microseconds())/float64(deliveries))
			}
		}
		r.rep.Add(fig)
	}
	r.rep.AddSeries(Series{Chart: "fanout", Name: name, X: labels, Y: ys})
	fig := Figure{Section: "watch fan-out", Name: "deliveries/s, " + name, Unit: "/s", Value: float64(deliveries) / span.Seconds()}
	if lb.Elapsed > 0 {
		fig.Baseline = lb.OpsPerSec()
		fig.BaselineName = "loopback HTTP requests/s, 100 clients"
	}
	r.rep.Add(fig)
	return nil
}

// idleRSS opens IdleWatchers idle SSE streams and reports syncd's RSS
// growth per stream (VmRSS of its process before and after).
func (r *run) idleRSS(ctx context.Context) error {
	const section = "watch memory"
	n := r.sz.IdleWatchers
	target := &Target{Op: "<=", Value: 32, Source: "issue 4 (at 10,000)"}
	name := fmt.Sprintf("syncd RSS per idle SSE watcher at %s", fmtCount(n))
	if r.pid <= 0 {
		r.rep.NotMeasured(section, name, "n/a", "no syncd pid (pass --pid with --url)", target)
		return nil
	}
	ws, err := r.newWorkspace(ctx, "idle")
	if err != nil {
		return err
	}
	// Each stream replays these first: the open path runs in full.
	var bb batchBuilder
	bb.reset(ws.id)
	for range 3 {
		r.wl.genOp(r.rng, ws, &bb, "dev-idle")
	}
	res, err := r.cl.push(ctx, ws.user, bb.finish())
	if err == nil {
		err = r.wl.record(ws, bb.seqs, res)
	}
	if err != nil {
		return err
	}
	warm, err := r.openWatchers(ctx, ws, 1, nil)
	if err != nil {
		return err
	}
	defer closeWatchers(warm)
	time.Sleep(300 * time.Millisecond)
	rss0, err := procStatus(r.pid, "VmRSS")
	if err != nil {
		return err
	}
	ws1, err := r.openWatchers(ctx, ws, n, nil)
	if err != nil {
		return err
	}
	defer closeWatchers(ws1)
	time.Sleep(time.Second) // let every stream reach its idle wait
	rss1, err := procStatus(r.pid, "VmRSS")
	if err != nil {
		return err
	}
	got := 0
	for _, w := range ws1 {
		if w.last.Load() == 3 && w.bad.Load() == nil {
			got++
		}
	}
	r.rep.Check(fmt.Sprintf("idle watchers replayed the workspace (%d watchers)", n), got == n, "%d of %d idle watchers received the 3 earlier changes in order", got, n)
	per := float64(rss1-rss0) / float64(n)
	fig := Figure{Section: section, Name: name, Unit: "KiB", Value: per, Target: target,
		Note: fmt.Sprintf("VmRSS %d → %d KiB", rss0, rss1)}
	closeWatchers(ws1)
	bare, err := r.bareRSS(ctx, ws, n)
	if err == nil {
		fig.Baseline = bare
		fig.BaselineName = "bare net/http SSE stream, its own process"
	}
	r.rep.Add(fig)
	return err
}

// bareRSS measures the RSS per idle stream of a bare net/http SSE server
// (ServeBareSSE, started from the same binary as `bench --bare-sse-server`)
// the same way: the floor any Go HTTP stream pays.
func (r *run) bareRSS(ctx context.Context, ws *wsState, n int) (float64, error) {
	if r.cfg.Bin == "" {
		return 0, nil
	}
	ch, err := startChild(ctx, r.cfg.Bin, "", "", time.Minute, "bench", "--bare-sse-server")
	if err != nil {
		return 0, fmt.Errorf("bare SSE baseline server: %w", err)
	}
	defer func() { _ = ch.stop(10 * time.Second) }()
	cl := newClient(ch.url, "", 1)
	defer cl.close()
	warm, err := r.openWatchersAt(ctx, cl, ws, 1, nil)
	if err != nil {
		return 0, err
	}
	defer closeWatchers(warm)
	time.Sleep(300 * time.Millisecond)
	rss0, err := procStatus(ch.pid(), "VmRSS")
	if err != nil {
		return 0, err
	}
	conns, err := r.openWatchersAt(ctx, cl, ws, n, nil)
	if err != nil {
		return 0, err
	}
	defer closeWatchers(conns)
	time.Sleep(time.Second)
	rss1, err := procStatus(ch.pid(), "VmRSS")
	if err != nil {
		return 0, err
	}
	return float64(rss1-rss0) / float64(n), nil
}
