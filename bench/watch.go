package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/bench/baseline"
)

// fanoutTarget is issue 4's delivery-latency target.
var fanoutTarget = &Target{Op: "<=", Value: 10, Source: "issue 4"}

// watcher is one SSE stream over a bare TCP connection (no http.Client per
// stream: 10,000 of them must fit). On Linux the harness's epoll readers
// (watch_linux.go) read every stream, a few goroutines for all of them,
// so the client's share of the two cores is a read per delivery, not a
// goroutine wake-up and two reads; elsewhere a goroutine reads each.
type watcher struct {
	conn  net.Conn // the goroutine reader's; nil when an epoll reader has the socket
	fd    int      // the epoll reader's socket, -1 once closed
	rd    *reactor
	p     sseParser
	now   int64         // when the bytes being parsed were read, unix ns
	last  atomic.Uint64 // version of the last event received
	count atomic.Int64
	bad   atomic.Pointer[string] // first protocol or order problem
	on    func(w *watcher, version uint64, now int64)
}

// sseEvent is one parsed event: its id (0 when absent) and its name.
type sseEvent struct {
	id    uint64
	event string
}

// sseParser decodes an SSE stream incrementally from whatever pieces the
// socket returns, inside HTTP/1.1 chunked framing when chunked is set.
// It keeps only the head of the current line (ids and event names are
// short; data lines are skipped), so it allocates nothing per event.
type sseParser struct {
	chunked bool
	cst     uint8 // chunk state: csSize, csExt, csData, csCRLF, csEnd
	left    int64 // bytes left in the current chunk
	line    [48]byte
	n       int  // bytes of line held
	long    bool // the line is longer than line
	ev      sseEvent
	have    bool
	on      func(sseEvent)
}

const (
	csSize = iota
	csExt
	csData
	csCRLF
	csEnd
)

// errStreamEnd is the chunked body's last chunk: the server ended the stream.
var errStreamEnd = errors.New("SSE stream ended")

// feed parses b, calling p.on for every complete event.
func (p *sseParser) feed(b []byte) error {
	if !p.chunked {
		return p.sse(b)
	}
	for len(b) > 0 {
		switch p.cst {
		case csSize:
			c := b[0]
			b = b[1:]
			switch {
			case c >= '0' && c <= '9':
				p.left = p.left<<4 | int64(c-'0')
			case c >= 'a' && c <= 'f':
				p.left = p.left<<4 | int64(c-'a'+10)
			case c >= 'A' && c <= 'F':
				p.left = p.left<<4 | int64(c-'A'+10)
			case c == '\r':
			case c == '\n':
				if err := p.sizeDone(); err != nil {
					return err
				}
			default:
				p.cst = csExt
			}
			if p.left > 1<<40 {
				return fmt.Errorf("bad chunk size")
			}
		case csExt:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			if err := p.sizeDone(); err != nil {
				return err
			}
		case csData:
			n := int(min(p.left, int64(len(b))))
			if err := p.sse(b[:n]); err != nil {
				return err
			}
			b = b[n:]
			if p.left -= int64(n); p.left == 0 {
				p.cst = csCRLF
			}
		case csCRLF:
			c := b[0]
			b = b[1:]
			switch c {
			case '\r':
			case '\n':
				p.cst = csSize
			default:
				return fmt.Errorf("bad chunk end %q", c)
			}
		case csEnd:
			return errStreamEnd
		}
	}
	return nil
}

func (p *sseParser) sizeDone() error {
	if p.left == 0 {
		p.cst = csEnd
		return errStreamEnd
	}
	p.cst = csData
	return nil
}

// sse parses the stream's own bytes.
func (p *sseParser) sse(b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i]
		}
		if !p.long {
			if room := len(p.line) - p.n; len(seg) > room {
				p.n += copy(p.line[p.n:], seg[:room])
				p.long = true
			} else {
				p.n += copy(p.line[p.n:], seg)
			}
		}
		if i < 0 {
			return nil
		}
		b = b[i+1:]
		if err := p.endLine(); err != nil {
			return err
		}
	}
	return nil
}

func (p *sseParser) endLine() error {
	line, long := bytes.TrimRight(p.line[:p.n], "\r"), p.long
	p.n, p.long = 0, false
	switch {
	case len(line) == 0 && !long:
		if p.have {
			p.on(p.ev)
		}
		p.ev, p.have = sseEvent{}, false
	case len(line) > 0 && line[0] == ':':
		// comment / heartbeat
	case bytes.HasPrefix(line, []byte("id:")):
		v, err := strconv.ParseUint(string(bytes.TrimSpace(line[3:])), 10, 64)
		if err != nil || long {
			return fmt.Errorf("bad SSE id line %q", line)
		}
		p.ev.id, p.have = v, true
	case bytes.HasPrefix(line, []byte("event:")):
		p.ev.event, p.have = string(bytes.TrimSpace(line[6:])), true
	default:
		p.have = true // data: or another field
	}
	return nil
}

// readSSE reads an SSE stream (no chunked framing) from rd until it fails,
// calling on for each complete event.
func readSSE(rd io.Reader, on func(sseEvent)) error {
	p := sseParser{on: on}
	buf := make([]byte, 4096)
	for {
		n, err := rd.Read(buf)
		if n > 0 {
			if perr := p.feed(buf[:n]); perr != nil {
				return perr
			}
		}
		if err != nil {
			return err
		}
	}
}

// event checks one event of the stream: no named event, versions one by
// one (no gap, duplicate or disorder).
func (w *watcher) event(ev sseEvent) {
	if ev.event != "" {
		s := fmt.Sprintf("unexpected event %q", ev.event)
		w.bad.CompareAndSwap(nil, &s)
		return
	}
	last := w.last.Load()
	if ev.id != last+1 && w.bad.Load() == nil {
		s := fmt.Sprintf("version %d after %d (gap, duplicate or disorder)", ev.id, last)
		w.bad.CompareAndSwap(nil, &s)
	}
	w.last.Store(ev.id)
	w.count.Add(1)
	if w.on != nil {
		w.on(w, ev.id, w.now)
	}
}

// received parses bytes read from the stream at now; false: the stream is
// over (ended by the server, or a protocol problem, recorded in bad).
func (w *watcher) received(b []byte, now int64) bool {
	w.now = now
	if err := w.p.feed(b); err != nil {
		if !errors.Is(err, errStreamEnd) {
			s := err.Error()
			w.bad.CompareAndSwap(nil, &s)
		}
		return false
	}
	return true
}

// openWatcher opens GET /v1/sync/watch for ws from cursor and starts its
// reader; onEvent is called from the reader for every change event, with
// the time its bytes were read.
func (r *run) openWatcher(ctx context.Context, base string, ws *wsState, cursor uint64, onEvent func(w *watcher, version uint64, now int64)) (*watcher, error) {
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
	w := &watcher{fd: -1, on: onEvent}
	w.p.on = w.event
	w.p.chunked = len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	rest, _ := br.Peek(br.Buffered()) // the body's first bytes, read with the headers
	if !w.received(rest, time.Now().UnixNano()) {
		_ = conn.Close()
		return w, nil
	}
	if startEpollReader(w, conn) {
		return w, nil
	}
	w.conn = conn
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if n > 0 && !w.received(buf[:n], time.Now().UnixNano()) {
				return
			}
			if err != nil {
				return // the stream ends when the phase closes the connection
			}
		}
	}()
	return w, nil
}

// close ends the stream (idempotent).
func (w *watcher) close() {
	if w.rd != nil {
		w.rd.remove(w)
		return
	}
	if w.conn != nil {
		_ = w.conn.Close()
	}
}

// openWatchers opens n watchers in parallel and waits until syncd counts
// them (its syncd_watchers gauge), so measurements start with all of them
// registered.
func (r *run) openWatchers(ctx context.Context, ws *wsState, n int, onEvent func(*watcher, uint64, int64)) ([]*watcher, error) {
	return r.openWatchersAt(ctx, r.cl, ws, n, onEvent)
}

// openWatchersAt is openWatchers against cl's server.
func (r *run) openWatchersAt(ctx context.Context, cl *client, ws *wsState, n int, onEvent func(*watcher, uint64, int64)) ([]*watcher, error) {
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
			w.close()
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
	acked := make([]atomic.Int64, total+1)   // version → push answered
	first := make([]atomic.Int64, total+1)   // version → its first delivery read
	lastAt := make([]atomic.Int64, total+1)  // version → its last delivery read
	lat := baseline.NewHistogram()
	var lastDelivery atomic.Int64
	onEvent := func(_ *watcher, v uint64, now int64) {
		if v <= uint64(total) {
			if t0 := started[v].Load(); t0 > 0 {
				lat.Record(time.Duration(now - t0))
			}
			first[v].CompareAndSwap(0, now)
			storeMax(&lastAt[v], now)
		}
		lastDelivery.Store(now)
	}
	if err := r.fanoutBaseline(); err != nil {
		return err
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
		acked[k].Store(time.Now().UnixNano())
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

	// Where a push's time goes: its answer, then the first and the last of
	// its deliveries read by this client, each from the push's start.
	var ackMs, firstMs, lastMs, spreadMs []float64
	for k := 1; k <= total; k++ {
		t0, f0, l0 := started[k].Load(), first[k].Load(), lastAt[k].Load()
		if t0 == 0 || f0 == 0 {
			continue
		}
		ackMs = append(ackMs, float64(acked[k].Load()-t0)/1e6)
		firstMs = append(firstMs, float64(f0-t0)/1e6)
		lastMs = append(lastMs, float64(l0-t0)/1e6)
		spreadMs = append(spreadMs, float64(l0-f0)/1e6)
	}
	timeline := fmt.Sprintf("; per push, median (p99) from its start: answered %s, first delivery read %s, last %s; spread first→last %s",
		medP99(ackMs), medP99(firstMs), medP99(lastMs), medP99(spreadMs))

	// The floor: the same streams and client, fed by a server that only
	// writes (fanfloor.go), measured once syncd's streams are closed.
	closeWatchers(watchers)
	var floor floorResult
	var floorErr error
	if f.Watchers <= 2000 && r.cfg.Bin != "" {
		dataBytes := 300
		if c := r.wl.payloadCount.Load(); c > 0 {
			dataBytes += int(r.wl.payloadBytes.Load() / c)
		}
		floor, floorErr = r.fanoutFloor(ctx, f.Watchers, f.Rate, dataBytes, min(f.Duration, 10*time.Second))
		if floorErr != nil {
			r.rep.Check(fmt.Sprintf("fan-out floor measured (%d streams)", f.Watchers), false, "%v", floorErr)
		} else {
			r.rep.Add(Figure{Section: "baseline", Name: fmt.Sprintf("fan-out floor p99, %d raw SSE streams @ %d bursts/s", f.Watchers, f.Rate), Unit: "ms",
				Value: ms(floor.lat.Percentile(99)),
				Note: fmt.Sprintf("no syncd: a bare server in its own process writes one %d-byte frame to every stream on each POST /burst (64 streams per goroutine), read by the fan-out client; latency from the POST's start; p50 %.2f ms; per burst, last delivery median (p99) %s; CPU per delivery: server %.1f µs, load client %.1f µs",
					dataBytes, ms(floor.lat.Percentile(50)), medP99(floor.last), floor.serverUS, floor.clientUS)})
		}
	}

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
			if floorErr == nil && floor.lat != nil {
				fig.Baseline = ms(floor.lat.Percentile(99))
				fig.BaselineName = "fan-out floor p99: the same streams fed by a bare writer, no push or fsync"
			}
			fig.Target = target
			fig.Note = fmt.Sprintf("%d deliveries; latency from the start of the push request (fsync included); pushes achieved %.0f/s", lat.Count(), pushRate)
			if serr0 == nil && serr1 == nil && oerr0 == nil && oerr1 == nil && deliveries > 0 {
				// CPU per delivery does not depend on what else the machine runs.
				fig.Note += fmt.Sprintf("; CPU per delivery (pushes included): syncd %.1f µs, load client %.1f µs",
					float64((srv1-srv0).Microseconds())/float64(deliveries), float64((own1-own0).Microseconds())/float64(deliveries))
			}
			fig.Note += timeline + "; load " + loadAvg()
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

// fanoutBaseline measures the loopback HTTP baseline of 100 clients when
// the run has not (only the fan-out phase runs), so the fan-out figures
// always have their same-run baseline.
func (r *run) fanoutBaseline() error {
	if _, ok := r.loopback[100]; ok {
		return nil
	}
	lb, err := baseline.LoopbackHTTP(100, r.sz.Baseline)
	if err != nil {
		return err
	}
	if r.loopback == nil {
		r.loopback = map[int]baseline.Result{}
	}
	r.loopback[100] = lb
	r.rep.Add(Figure{Section: "baseline", Name: "loopback HTTP, trivial handler, 100 clients", Unit: "req/s", Value: lb.OpsPerSec(),
		Note: "p50 " + lb.Latencies.Percentile(50).String() + ", p99 " + lb.Latencies.Percentile(99).String() + " (measured before the fan-out phase)"})
	return nil
}

// medP99 formats the median and the 99th percentile of xs (ms).
func medP99(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	slices.Sort(xs)
	at := func(p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	return fmt.Sprintf("%.2f (%.2f) ms", at(0.5), at(0.99))
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
