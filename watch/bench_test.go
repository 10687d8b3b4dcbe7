package watch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "GET /v1/sync/watch?workspaceId=%s&cursor=0 HTTP/1.1\r\nHost: %s\r\nX-Syncd-User: alice\r\n\r\n", testWS, addr)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	line, err := bufio.NewReaderSize(resp.Body, 64).ReadString('\n')
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(line, ":") {
		conn.Close()
		return nil, fmt.Errorf("status %s, first line %q: %v", resp.Status, line, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, nil
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
// (target ≤ 32 KiB RSS). b.N is ignored: one measurement per run.
func BenchmarkIdleWatchers(b *testing.B) {
	const n = 10_000
	e := newEnv(b, Config{})
	e.pushThreads("alice", 3)
	addr := e.srv.Listener.Addr().String()
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
	}()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		b.Fatalf("client process: %q", line)
	}
	waitFor(b, 30*time.Second, "all watchers", func() bool { return e.hub.Watchers() == n+1 })
	time.Sleep(time.Second) // every stream at its idle wait; the scavenger at rest
	runtime.GC()
	rss1 := rss()
	go1 := goMemory()
	debug.FreeOSMemory()
	rss2 := rss()

	per := func(a, b int64) float64 { return float64(b-a) / n / 1024 }
	b.ReportMetric(per(rss0, rss1), "KiB-RSS/watcher")
	b.ReportMetric(per(rss0, rss2), "KiB-RSS-scavenged/watcher")
	b.ReportMetric(per(int64(go0), int64(go1)), "KiB-heap+stack/watcher")
	b.Logf("%s", baseline.Env())
	b.Logf("%d idle SSE watchers: RSS %+.1f MiB (%.1f KiB each; %.1f KiB after FreeOSMemory), Go heap+stacks %+.1f MiB (%.1f KiB each), goroutines %d",
		n, float64(rss1-rss0)/(1<<20), per(rss0, rss1), per(rss0, rss2), float64(int64(go1)-int64(go0))/(1<<20), per(int64(go0), int64(go1)), runtime.NumGoroutine())
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
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

// pushRate is the fixed push rate of BenchmarkFanout.
const pushRate = 100 // pushes per second

func benchFanout(b *testing.B, n int) {
	e := newEnv(b, Config{})
	addr := e.srv.Listener.Addr().String()
	pushes := b.N
	started := make([]atomic.Int64, pushes+1) // version → push start, unix ns
	lat := baseline.NewHistogram()
	var delivered atomic.Int64
	var lastDelivery atomic.Int64

	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, n)
	ready := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Go(func() {
			if err := fanoutClient(ctx, addr, pushes, started, lat, &delivered, &lastDelivery, ready); err != nil && ctx.Err() == nil {
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
	tick := time.NewTicker(time.Second / pushRate)
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
		Name:      fmt.Sprintf("sse-fanout-w%d-%dps", n, pushRate),
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
	fmt.Fprintf(&sb, "%s\n%d pushes at %d/s to %d SSE watchers: %s\n", baseline.Env(), pushes, pushRate, n, lat)
	baseline.Report(&sb, fmt.Sprintf("fanout-%d", n), measured, base)
	b.Log("\n" + sb.String())
}

// fanoutClient reads one SSE stream until it has seen version want, and
// records each event's push→delivery latency.
func fanoutClient(ctx context.Context, addr string, want int, started []atomic.Int64, lat *baseline.Histogram,
	delivered, last *atomic.Int64, ready chan<- struct{}) error {
	conn, err := openIdle(addr)
	if err != nil {
		ready <- struct{}{}
		return err
	}
	defer conn.Close()
	context.AfterFunc(ctx, func() { conn.Close() })
	ready <- struct{}{}
	// The stream is chunked; the chunk framing lines never start with "id: ".
	br := bufio.NewReaderSize(conn, 4096)
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
