package watch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/engine"
)

// TestMain lets the test binary double as the idle-client process of
// BenchmarkIdleWatchers, so the clients' memory stays out of the server's
// RSS.
func TestMain(m *testing.M) {
	if addr := os.Getenv(idleClientsEnv); addr != "" {
		runIdleClients(addr)
		return
	}
	os.Exit(m.Run())
}

const idleClientsEnv = "SYNCD_WATCH_IDLE_CLIENTS_ADDR"

// runIdleClients opens the number of SSE streams given on argv's last
// element against addr, prints "ready", and holds them until stdin closes.
func runIdleClients(addr string) {
	n, err := strconv.Atoi(os.Args[len(os.Args)-1])
	if err != nil {
		fmt.Println("bad count:", err)
		os.Exit(2)
	}
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := openIdle(addr)
		if err != nil {
			fmt.Printf("conn %d: %v\n", i, err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// openIdle opens one SSE stream and reads up to its first comment.
func openIdle(addr string) (net.Conn, error) {
	conn, _, err := openStream(addr, 64)
	return conn, err
}

// openStream opens one SSE stream over a bare TCP connection, reads up to
// its first comment, and returns the connection and the de-chunked body
// (buffered with bufSize bytes).
func openStream(addr string, bufSize int) (net.Conn, *bufio.Reader, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(conn, "GET /v1/sync/watch?workspaceId=%s&cursor=0 HTTP/1.1\r\nHost: %s\r\nX-Syncd-User: alice\r\n\r\n", testWS, addr)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	body := bufio.NewReaderSize(resp.Body, bufSize)
	line, err := body.ReadString('\n')
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(line, ":") {
		conn.Close()
		return nil, nil, fmt.Errorf("status %s, first line %q: %v", resp.Status, line, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, body, nil
}

// rss returns the process's resident set size in bytes (Linux), or 0.
func rss() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkIdleWatchers opens 10,000 idle SSE watchers from a child
// process and reports the server process's RSS and Go memory per watcher
// (target ≤ 32 KiB RSS), beside the same figures for a bare net/http SSE
// handler (headers, a comment, then a wait for the client to leave),
// measured in the same run: the floor any net/http stream pays. b.N is
// ignored: one measurement per run.
func BenchmarkIdleWatchers(b *testing.B) {
	const n = 10_000
	e := newEnv(b, Config{})
	e.pushThreads("alice", 3) // each stream replays them: the open path runs in full
	bare := httptest.NewServer(http.HandlerFunc(bareSSE))
	defer bare.Close()

	base := idleRSS(b, bare.Listener.Addr().String(), n, nil)
	ours := idleRSS(b, e.srv.Listener.Addr().String(), n, func() bool { return e.hub.Watchers() == n+1 })

	b.ReportMetric(ours.rss, "KiB-RSS/watcher")
	b.ReportMetric(ours.scavenged, "KiB-RSS-scavenged/watcher")
	b.ReportMetric(ours.goMem, "KiB-heap+stack/watcher")
	b.ReportMetric(base.rss, "KiB-RSS/bare-stream")
	fmt.Printf("--- %s\n%s\n%d idle SSE streams, per stream:\n  watch:           %s\n  bare net/http:   %s\n  ratio (RSS):     %.2fx\n",
		b.Name(), baseline.Env(), n, ours, base, ours.rss/base.rss)
}

// idleCost is the server-side memory of one idle stream, in KiB.
type idleCost struct {
	rss, scavenged, goMem float64
}

func (c idleCost) String() string {
	return fmt.Sprintf("RSS %.1f KiB (%.1f KiB after FreeOSMemory), Go heap+stacks %.1f KiB", c.rss, c.scavenged, c.goMem)
}

// idleRSS opens n idle SSE streams to addr from a child process and
// returns this process's memory growth per stream. opened, if set, tells
// when the server has registered them all.
func idleRSS(b *testing.B, addr string, n int, opened func() bool) idleCost {
	b.Helper()
	warm, err := openIdle(addr) // one full stream first: pools and code warm
	if err != nil {
		b.Fatal(err)
	}
	defer warm.Close()
	debug.FreeOSMemory()
	rss0, go0 := rss(), goMemory()

	cmd := exec.Command(os.Args[0], "-test.run=^$", strconv.Itoa(n))
	cmd.Env = append(os.Environ(), idleClientsEnv+"="+addr)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
		time.Sleep(500 * time.Millisecond) // the server notices the hang-ups
		debug.FreeOSMemory()
	}()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		b.Fatalf("client process: %q", line)
	}
	if opened != nil {
		waitFor(b, 30*time.Second, "all streams", opened)
	}
	time.Sleep(time.Second) // every stream at its idle wait
	runtime.GC()
	rss1 := rss()
	go1 := goMemory()
	debug.FreeOSMemory()
	rss2 := rss()
	per := func(a, b int64) float64 { return float64(b-a) / float64(n) / 1024 }
	return idleCost{rss: per(rss0, rss1), scavenged: per(rss0, rss2), goMem: per(int64(go0), int64(go1))}
}

// BenchmarkFanout: N SSE watchers on one workspace over loopback, pushes
// of one op at a fixed rate, push→delivery latency (from the start of the
// push call to the client reading the event) and deliveries/s, printed
// beside net/http's loopback ceiling (baseline.LoopbackHTTP, one
// keep-alive client per watcher up to 100) with the ratio. The ratio of
// rates says how much of a trivial request/response loop one delivery
// costs; the latency ratio compares a one-way delivery, fsync included,
// with a round trip that has no disk behind it.
//
// b.N counts pushes; run with -benchtime=Nx (e.g. 300x) for a fixed count.
//
// At 100 pushes/s, 1,000 watchers ask for 100k deliveries/s: one write
// system call each on the server and one read on the client, which on a
// small machine running both is past saturation, so the latency there is
// mostly queueing. The third case, at 20 pushes/s, shows 1,000 watchers
// below saturation.
func BenchmarkFanout(b *testing.B) {
	for _, c := range []struct{ watchers, rate int }{{100, 100}, {1000, 100}, {1000, 20}} {
		b.Run(fmt.Sprintf("watchers=%d/rate=%d", c.watchers, c.rate), func(b *testing.B) { benchFanout(b, c.watchers, c.rate) })
	}
}

func benchFanout(b *testing.B, n, rate int) {
	pushes := b.N
	started := make([]atomic.Int64, pushes+1)  // version → push start, unix ns
	notified := make([]atomic.Int64, pushes+1) // version → the engine's post-commit call, unix ns
	lat := baseline.NewHistogram()             // push start → delivery
	fan := baseline.NewHistogram()             // commit (durable, notified) → delivery
	e := newEnv(b, Config{}, withBeforeFanout(func(c engine.Committed) {
		now := time.Now().UnixNano()
		for _, ch := range c.Changes {
			if v := ch.ServerVersion; v <= uint64(pushes) {
				notified[v].Store(now)
			}
		}
	}))
	addr := e.srv.Listener.Addr().String()
	var delivered atomic.Int64
	var lastDelivery atomic.Int64

	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, n)
	ready := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Go(func() {
			if err := fanoutClient(ctx, addr, pushes, started, notified, lat, fan, &delivered, &lastDelivery, ready); err != nil && ctx.Err() == nil {
				errs <- err
			}
		})
	}
	for i := 0; i < n; i++ {
		select {
		case <-ready:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	waitFor(b, 30*time.Second, "watchers", func() bool { return e.hub.Watchers() == n })

	b.ResetTimer()
	begin := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for v := 1; v <= pushes; v++ {
		<-tick.C
		started[v].Store(time.Now().UnixNano())
		e.push("bob", threadOp(uuid.NewString(), 1, 200))
	}
	tick.Stop()
	want := int64(pushes) * int64(n)
	deadline := time.Now().Add(60 * time.Second)
	for delivered.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if got := delivered.Load(); got != want {
		b.Fatalf("%d deliveries, want %d", got, want)
	}
	elapsed := time.Duration(lastDelivery.Load() - begin.UnixNano())
	cancel()
	e.srv.CloseClientConnections()
	wg.Wait()

	measured := baseline.Result{
		Name:      fmt.Sprintf("sse-fanout-w%d-%dps", n, rate),
		Ops:       want,
		Elapsed:   elapsed,
		Latencies: lat,
	}
	base, err := baseline.LoopbackHTTP(min(n, 100), 2*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(measured.OpsPerSec(), "deliveries/s")
	b.ReportMetric(float64(lat.Percentile(50))/float64(time.Microsecond), "p50-µs")
	b.ReportMetric(float64(lat.Percentile(99))/float64(time.Microsecond), "p99-µs")
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\n%d pushes of one op at %d/s to %d SSE watchers (%d buffer overflows)\n", baseline.Env(), pushes, rate, n, e.hub.Resyncs())
	fmt.Fprintf(&sb, "  push → delivery:   %s\n  commit → delivery: %s (the fan-out alone: no fsync)\n", lat, fan)
	baseline.Report(&sb, fmt.Sprintf("fanout-%d@%d/s", n, rate), measured, base)
	// Printed, not logged: the testing package truncates long benchmark logs.
	fmt.Printf("--- %s (b.N=%d)\n%s", b.Name(), b.N, sb.String())
}

// fanoutClient reads one SSE stream until it has seen version want, and
// records each event's push→delivery latency.
func fanoutClient(ctx context.Context, addr string, want int, started, notified []atomic.Int64, lat, fan *baseline.Histogram,
	delivered, last *atomic.Int64, ready chan<- struct{}) error {
	conn, br, err := openStream(addr, 4096)
	if err != nil {
		ready <- struct{}{}
		return err
	}
	defer conn.Close()
	context.AfterFunc(ctx, func() { conn.Close() })
	ready <- struct{}{}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		rest, ok := strings.CutPrefix(string(line), "id: ")
		if !ok {
			continue
		}
		now := time.Now().UnixNano()
		v, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil || v < 1 || v > want {
			return fmt.Errorf("bad id line %q", line)
		}
		lat.Record(time.Duration(now - started[v].Load()))
		fan.Record(time.Duration(now - notified[v].Load()))
		delivered.Add(1)
		for {
			l := last.Load()
			if now <= l || last.CompareAndSwap(l, now) {
				break
			}
		}
		if v == want {
			return nil
		}
	}
}
