package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/bench/baseline"
)

// The fan-out floor: what delivering one event to N SSE streams costs on
// this machine when nothing else is done. ServeFanoutFloor, a process of
// its own started from the same binary (`syncd bench
// --fanout-floor-server`), answers each watch request with SSE headers
// and, on each POST /burst, writes one chunked SSE frame to every stream,
// in groups of 64 streams per goroutine as syncd's fan-out does, then
// answers the POST. The streams are read by the same client as syncd's
// (the epoll readers and parser of the fan-out phase). There is no
// commit, fsync or visibility check: latency runs from the start of the
// POST to the client reading the frame, as syncd's runs from the start of
// the push. Both ends share the machine's two cores, as they do when
// syncd is measured.

// ServeFanoutFloor serves the fan-out floor on a free port of 127.0.0.1
// until ctx ends, logging its address as syncd does.
func ServeFanoutFloor(ctx context.Context, w io.Writer) error {
	s := &floorServer{}
	return serveChild(ctx, w, &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}, s.close)
}

// floorServer is the fan-out floor's handler.
type floorServer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (s *floorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/readyz":
		_, _ = io.WriteString(w, "ok\n")
	case "/metrics": // syncd's, asked by openWatchersAt: none here
		http.NotFound(w, r)
	case "/streams":
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		_, _ = io.WriteString(w, strconv.Itoa(n))
	case "/burst":
		k, err1 := strconv.Atoi(r.URL.Query().Get("k"))
		size, err2 := strconv.Atoi(r.URL.Query().Get("bytes"))
		if err1 != nil || err2 != nil || size < 0 || size > len(text) {
			http.Error(w, "k and bytes, please", http.StatusBadRequest)
			return
		}
		s.burst([]byte(sseChunk("id: " + strconv.Itoa(k) + "\ndata: " + string(text[:size]) + "\n\n")))
		w.WriteHeader(http.StatusNoContent)
	default: // a watch stream
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
		if _, err := c.Write([]byte(head + sseChunk(": floor\n\n"))); err != nil {
			_ = c.Close()
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
}

// sseChunk frames p as one HTTP/1.1 chunk.
func sseChunk(p string) string { return strconv.FormatInt(int64(len(p)), 16) + "\r\n" + p + "\r\n" }

// burst writes frame to every stream, 64 streams per goroutine.
func (s *floorServer) burst(frame []byte) {
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	for i := 0; i < len(conns); i += 64 {
		group := conns[i:min(i+64, len(conns))]
		go func() {
			for _, c := range group {
				_, _ = c.Write(frame)
			}
		}()
	}
}

func (s *floorServer) close() {
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
}

// floorResult is one fan-out floor measurement.
type floorResult struct {
	lat        *baseline.Histogram
	last       []float64 // per burst: its last delivery read, ms from its start
	serverUS   float64   // CPU per delivery of the floor's server
	clientUS   float64   // and of the load client
	deliveries int64
}

// fanoutFloor measures the floor for n streams at rate bursts/s for d,
// frames carrying dataBytes of data each.
func (r *run) fanoutFloor(ctx context.Context, n, rate, dataBytes int, d time.Duration) (floorResult, error) {
	if r.cfg.Bin == "" {
		return floorResult{}, errors.New("fan-out floor: no binary to start its server from")
	}
	ch, err := startChild(ctx, r.cfg.Bin, "", "", time.Minute, "bench", "--fanout-floor-server")
	if err != nil {
		return floorResult{}, fmt.Errorf("fan-out floor server: %w", err)
	}
	defer func() { _ = ch.stop(10 * time.Second) }()
	cl := newClient(ch.url, "", 1)
	defer cl.close()
	total := max(int(d.Seconds()*float64(rate)), 1)
	started := make([]atomic.Int64, total+1)
	lastAt := make([]atomic.Int64, total+1)
	lat := baseline.NewHistogram()
	onEvent := func(_ *watcher, v uint64, now int64) {
		if v == 0 || v > uint64(total) {
			return
		}
		if t0 := started[v].Load(); t0 > 0 {
			lat.Record(time.Duration(now - t0))
		}
		storeMax(&lastAt[v], now)
	}
	ws := &wsState{id: "floor", user: "floor"}
	watchers, err := r.openWatchersAt(ctx, cl, ws, n, onEvent)
	if err != nil {
		return floorResult{}, fmt.Errorf("fan-out floor: %w", err)
	}
	defer closeWatchers(watchers)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var got int
		if err := cl.do(ctx, http.MethodGet, "/streams", "", nil, &got); err != nil {
			return floorResult{}, fmt.Errorf("fan-out floor: %w", err)
		}
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			return floorResult{}, fmt.Errorf("fan-out floor: %d of %d streams registered", got, n)
		}
	}
	dataBytes = min(dataBytes, len(text))
	interval := time.Second / time.Duration(rate)
	srv0, serr0 := cpuTime(ch.pid())
	cpu0, cerr0 := cpuTime(os.Getpid())
	start := time.Now()
	for k := 1; k <= total; k++ {
		if err := ctx.Err(); err != nil {
			return floorResult{}, err
		}
		if w := time.Until(start.Add(time.Duration(k-1) * interval)); w > 0 {
			time.Sleep(w)
		}
		path := "/burst?k=" + strconv.Itoa(k) + "&bytes=" + strconv.Itoa(dataBytes)
		started[k].Store(time.Now().UnixNano())
		if err := cl.do(ctx, http.MethodPost, path, "", nil, nil); err != nil {
			return floorResult{}, fmt.Errorf("fan-out floor: burst %d: %w", k, err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		done := true
		for _, w := range watchers {
			if w.last.Load() < uint64(total) {
				done = false
				break
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
	}
	srv1, serr1 := cpuTime(ch.pid())
	cpu1, cerr1 := cpuTime(os.Getpid())
	res := floorResult{lat: lat}
	for _, w := range watchers {
		res.deliveries += w.count.Load()
		if b := w.bad.Load(); b != nil {
			return floorResult{}, errors.New("fan-out floor: " + *b)
		}
	}
	if res.deliveries != int64(n*total) {
		return floorResult{}, fmt.Errorf("fan-out floor: %d of %d deliveries", res.deliveries, n*total)
	}
	for k := 1; k <= total; k++ {
		res.last = append(res.last, float64(lastAt[k].Load()-started[k].Load())/1e6)
	}
	if errors.Join(cerr0, cerr1, serr0, serr1) == nil {
		res.serverUS = float64((srv1 - srv0).Microseconds()) / float64(res.deliveries)
		res.clientUS = float64((cpu1 - cpu0).Microseconds()) / float64(res.deliveries)
	}
	return res, nil
}

// storeMax raises a to v unless it already holds more.
func storeMax(a *atomic.Int64, v int64) {
	for {
		l := a.Load()
		if v <= l || a.CompareAndSwap(l, v) {
			return
		}
	}
}
