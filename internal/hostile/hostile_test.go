package hostile

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/or3/syncd/internal/crashtest"
)

var (
	flagConns = flag.Int("hostile.conns", envInt("SYNCD_HOSTILE_CONNS", 1000),
		"idle keep-alive connections in TestHostile_IdleConnections (full run: 10000; env SYNCD_HOSTILE_CONNS)")
	flagFull = flag.Bool("hostile.full", os.Getenv("SYNCD_HOSTILE_FULL") != "",
		"run every timeout test with syncd's default bounds (read 60 s, idle 120 s) instead of short ones (env SYNCD_HOSTILE_FULL=1)")
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	crashtest.RemoveBuild()
	os.Exit(code)
}

const token = "hostile-test-token-0123456789abcdef"

// syncd's defaults (cmd/syncd settings read-header-timeout, read-timeout,
// idle-timeout).
const (
	defaultHeader = 10 * time.Second
	defaultRead   = 60 * time.Second
	defaultIdle   = 120 * time.Second
)

// slack is how much later than its bound a cut-off may be observed on a
// loaded 2-core machine; a cut-off before 90% of the bound fails too.
const slack = 10 * time.Second

// bounds are the server limits a test runs syncd with, and the flags that
// set them. The header timeout always runs at its default (10 s is short
// enough for CI); the read and idle timeouts run short unless -hostile.full.
func bounds() (read, idle time.Duration, args []string) {
	if *flagFull {
		return defaultRead, defaultIdle, nil
	}
	read, idle = 3*time.Second, 3*time.Second
	return read, idle, []string{"--read-timeout", read.String(), "--idle-timeout", idle.String()}
}

func start(t *testing.T, args ...string) *crashtest.Proc {
	t.Helper()
	return crashtest.Start(t, crashtest.Build(t), crashtest.Options{DataDir: t.TempDir(), Token: token, Args: args})
}

func hostPort(p *crashtest.Proc) string { return strings.TrimPrefix(p.URL, "http://") }

// awaitClose reads c until the server closes it (EOF or reset) or limit
// passes; it returns everything read and when the close was seen.
func awaitClose(c net.Conn, limit time.Duration) (data []byte, closedAt time.Time, closed bool) {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if len(data) < 4096 {
			data = append(data, buf[:min(n, 4096-len(data))]...)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return data, time.Now(), false
			}
			return data, time.Now(), true // io.EOF, ECONNRESET: the server closed it
		}
	}
}

// checkCut asserts a connection opened at t0 was closed after about bound.
func checkCut(t *testing.T, what string, t0, closedAt time.Time, closed bool, bound time.Duration) time.Duration {
	t.Helper()
	took := closedAt.Sub(t0)
	switch {
	case !closed:
		t.Errorf("%s: still open after %v (bound %v)", what, took.Round(time.Millisecond), bound)
	case took < bound*9/10:
		t.Errorf("%s: closed after %v, before its bound %v", what, took.Round(time.Millisecond), bound)
	case took > bound+slack:
		t.Errorf("%s: closed after %v, bound %v", what, took.Round(time.Millisecond), bound)
	}
	return took
}

// healthy asserts that syncd still answers: /readyz on a new connection,
// and a push and a pull of a fresh user's workspace.
func healthy(t *testing.T, p *crashtest.Proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := p.Client()
	c.HTTP = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := c.Do(ctx, http.MethodGet, "/readyz", "", nil, nil); err != nil {
		t.Fatalf("readyz: %v", err)
	}
	user, err := c.CreateUser(ctx, "hostile", fmt.Sprintf("u-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatalf("workspace: %v", err)
	}
	if _, err := c.Push(ctx, user, ws, []crashtest.Op{crashtest.KVPut("d", "k", 1, "v")}); err != nil {
		t.Fatalf("push: %v", err)
	}
	if v, err := c.ServerVersion(ctx, user, ws); err != nil || v != 1 {
		t.Fatalf("server version %d, %v", v, err)
	}
}

// TestHostile_Slowloris opens connections that trickle a request's
// headers a byte at a time (and some that send nothing at all): each is
// closed at the read-header timeout (syncd's default, 10 s) however long
// it keeps trickling, while other clients are served; headers beyond the
// 64 KiB limit are refused with 431.
func TestHostile_Slowloris(t *testing.T) {
	t.Parallel()
	p := start(t)
	addr := hostPort(p)

	const n = 16
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			stop := make(chan struct{})
			defer close(stop)
			if i%4 != 0 { // i%4 == 0: connect and send nothing
				go func() {
					if _, err := io.WriteString(c, "POST /v1/sync/push HTTP/1.1\r\nHost: syncd\r\nX-Slow: "); err != nil {
						return
					}
					for {
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Millisecond):
						}
						if _, err := c.Write([]byte("a")); err != nil {
							return // the server closed the connection
						}
					}
				}()
			}
			data, at, closed := awaitClose(c, defaultHeader+2*slack)
			took[i] = checkCut(t, fmt.Sprintf("slowloris %d", i), t0, at, closed, defaultHeader)
			if len(data) != 0 {
				t.Errorf("slowloris %d: got an answer %q", i, data)
			}
		}()
	}
	// While they trickle, the server answers everyone else.
	time.Sleep(defaultHeader / 2)
	healthy(t, p)
	wg.Wait()
	t.Logf("%d slowloris connections closed after %v..%v (read-header timeout %v)", n, minDur(took), maxDur(took), defaultHeader)

	// Oversized headers: 431, connection closed.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: syncd\r\nX-Big: "+strings.Repeat("a", 1<<20)+"\r\n\r\n")
	}()
	data, _, closed := awaitClose(c, slack)
	if !closed || !strings.HasPrefix(string(data), "HTTP/1.1 431") {
		t.Errorf("1 MiB of headers: closed=%v, answer %.60q", closed, data)
	}
	healthy(t, p)
}

// TestHostile_EndlessBodies sends bodies that never end. Trickled ones
// (chunked or with a large Content-Length; authorized and unauthorized)
// are cut off at the read timeout. The blob route allows an hour per
// transfer, so an upload with a bogus grant must be refused and closed at
// once, not drained. Fast ones are refused with 413 once 3 MiB have been
// read, and a declared Content-Length above 3 MiB before anything is read.
func TestHostile_EndlessBodies(t *testing.T) {
	t.Parallel()
	read, _, args := bounds()
	p := start(t, args...)
	addr := hostPort(p)
	ctx := context.Background()
	c := p.Client()
	user, err := c.CreateUser(ctx, "hostile", "body")
	if err != nil {
		t.Fatal(err)
	}

	slow := []struct {
		name, head string
		chunked    bool
		atOnce     bool // refused and closed without waiting for the body
	}{
		{"push chunked", "POST /v1/sync/push HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nX-Syncd-User: " + user +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n", true, false},
		{"push content-length", "POST /v1/sync/push HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nX-Syncd-User: " + user +
			"\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n", false, false},
		{"rpc wrong token chunked", "POST /v1/rpc/auth.getUser HTTP/1.1\r\nAuthorization: Bearer wrong-token-guess\r\n" +
			"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", true, false},
		{"blob bogus grant chunked", "PUT /v1/blobs/bogus-grant HTTP/1.1\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n", true, true},
	}
	var wg sync.WaitGroup
	for _, tc := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				return
			}
			defer conn.Close()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				if _, err := io.WriteString(conn, tc.head+"Host: syncd\r\n\r\n"); err != nil {
					return
				}
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					piece := "["
					if tc.chunked {
						piece = "1\r\n[\r\n"
					}
					if _, err := io.WriteString(conn, piece); err != nil {
						return
					}
				}
			}()
			data, at, closed := awaitClose(conn, read+2*slack)
			var took time.Duration
			if tc.atOnce {
				if took = at.Sub(t0); !closed || took > slack {
					t.Errorf("%s: closed=%v after %v; want an answer and a close at once", tc.name, closed, took)
				}
			} else {
				took = checkCut(t, tc.name, t0, at, closed, read)
			}
			t.Logf("%s: closed after %v (read timeout %v), answer %.40q", tc.name, took.Round(time.Millisecond), read, data)
		}()
	}

	// Fast and endless: 413 after 3 MiB, then the connection is closed
	// (the rest is never read).
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		var sent atomic.Int64
		go func() {
			_, err := io.WriteString(conn, "POST /v1/sync/push HTTP/1.1\r\nHost: syncd\r\nAuthorization: Bearer "+token+
				"\r\nX-Syncd-User: "+user+"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
			chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("[", 64<<10))
			for err == nil {
				var n int
				n, err = io.WriteString(conn, chunk)
				sent.Add(int64(n))
			}
		}()
		t0 := time.Now()
		data, at, closed := awaitClose(conn, 2*slack)
		if !closed || !strings.HasPrefix(string(data), "HTTP/1.1 413") {
			t.Errorf("fast endless body: closed=%v after %v, answer %.60q", closed, at.Sub(t0), data)
		}
		if s := sent.Load(); s > 64<<20 {
			t.Errorf("fast endless body: the client could send %d MiB", s>>20)
		}
		t.Logf("fast endless body: 413 and closed after %v; the client got %.1f MiB into the socket", at.Sub(t0).Round(time.Millisecond), float64(sent.Load())/(1<<20))
	}()
	wg.Wait()

	// A declared length above the limit: 413 at once, nothing read.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /v1/sync/push HTTP/1.1\r\nHost: syncd\r\nAuthorization: Bearer "+token+
		"\r\nX-Syncd-User: "+user+"\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n[")
	data, _, closed := awaitClose(conn, slack)
	if !closed || !strings.HasPrefix(string(data), "HTTP/1.1 413") {
		t.Errorf("Content-Length 1 TiB: closed=%v, answer %.60q", closed, data)
	}
	healthy(t, p)
}

// TestHostile_IdleKeepAliveClosed: a keep-alive connection that stays idle
// after its request is closed at the idle timeout.
func TestHostile_IdleKeepAliveClosed(t *testing.T) {
	t.Parallel()
	_, idle, args := bounds()
	p := start(t, args...)
	conn, err := net.Dial("tcp", hostPort(p))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := 0; i < 2; i++ { // the connection is reused while it is busy
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: syncd\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("healthz: %d close=%v", resp.StatusCode, resp.Close)
		}
	}
	t0 := time.Now()
	_ = conn.SetReadDeadline(t0.Add(idle + 2*slack))
	_, err = br.ReadByte()
	at := time.Now()
	var ne net.Error
	closed := err != nil && !(errors.As(err, &ne) && ne.Timeout())
	// The server starts the idle clock after writing the answer, before it
	// arrives here (how long before depends on the machine's load), so the
	// lower bound is loose.
	took := at.Sub(t0)
	if !closed || took < idle/2 || took > idle+slack {
		t.Errorf("idle keep-alive: closed=%v after %v, idle timeout %v", closed, took.Round(time.Millisecond), idle)
	}
	t.Logf("idle keep-alive connection closed after %v (idle timeout %v)", took.Round(time.Millisecond), idle)
}

// TestHostile_IdleConnections holds -hostile.conns idle keep-alive
// connections (CI: 1,000; full run: 10,000) to syncd's default server and
// measures what each costs: file descriptors (one each), RSS, Go heap and
// stacks. It asserts the bounds, that syncd still answers everyone else
// while they are open, and that its descriptors return when they close.
func TestHostile_IdleConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		skipOrFailInCI(t, "reads /proc")
	}
	t.Parallel()
	n := *flagConns
	// This process holds n sockets; syncd (which raises its own soft limit
	// to the hard one at start) holds n more.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	need := uint64(n + 1000)
	if lim.Cur < need && lim.Max >= need {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if lim.Cur < need {
		skipOrFailInCI(t, fmt.Sprintf("RLIMIT_NOFILE hard limit %d is below the %d this test needs", lim.Max, need))
	}
	p := start(t) // syncd's defaults: idle timeout 120 s
	addr := hostPort(p)
	healthy(t, p)

	before := measure(t, p)
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() > 0 {
					return
				}
				c, err := idleConn(addr)
				if err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("connection %d: %v", i, err)
					}
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	opened := time.Since(t0)
	time.Sleep(time.Second) // let the server settle (every conn parked in its idle read)
	during := measure(t, p)
	healthy(t, p)
	if since := time.Since(t0); since > defaultIdle*3/4 {
		t.Fatalf("opening and measuring took %v, too close to the idle timeout (%v) for the figures to hold", since, defaultIdle)
	}

	perRSS := float64(during.rss-before.rss) / float64(n)
	perGo := float64((during.heap+during.stack)-(before.heap+before.stack)) / float64(n)
	fds := during.fds - before.fds
	t.Logf("%d idle keep-alive connections opened in %v (load %s): fds %d → %d (+%d), RSS %.1f → %.1f MiB (%.1f KiB per connection), "+
		"Go heap+stacks %.1f → %.1f MiB (%.1f KiB per connection), goroutines %d → %d",
		n, opened.Round(time.Millisecond), loadavg(), before.fds, during.fds, fds,
		float64(before.rss)/(1<<20), float64(during.rss)/(1<<20), perRSS/1024,
		float64(before.heap+before.stack)/(1<<20), float64(during.heap+during.stack)/(1<<20), perGo/1024,
		before.goroutines, during.goroutines)
	// One descriptor per connection, nothing else (a few short-lived
	// measuring connections come and go).
	if fds < int64(n)-8 || fds > int64(n)+64 {
		t.Errorf("descriptors grew by %d for %d connections", fds, n)
	}
	// Bounds: one goroutine (8 KiB stack, grown at most once) and its 4 KiB
	// read buffer per connection, plus the kernel's socket, with room for
	// garbage the GC has not collected yet (the heap may reach twice the
	// live bytes before it does). Measured: about 20 KiB.
	const perConnBound = 64 << 10
	if perRSS > perConnBound {
		t.Errorf("RSS per idle connection %.1f KiB > %d KiB", perRSS/1024, perConnBound>>10)
	}
	if perGo > perConnBound {
		t.Errorf("Go memory per idle connection %.1f KiB > %d KiB", perGo/1024, perConnBound>>10)
	}

	// Closed by the clients: syncd's descriptors come back.
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		fds := openFDs(t, p.Pid())
		if fds <= before.fds+16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("descriptors still %d 30 s after the clients closed (before: %d)", fds, before.fds)
		}
		time.Sleep(100 * time.Millisecond)
	}
	healthy(t, p)
}

// idleConn opens a connection, makes one request on it and leaves it idle.
func idleConn(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: syncd\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		c.Close()
		return nil, fmt.Errorf("healthz: %d close=%v", resp.StatusCode, resp.Close)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

type usage struct {
	fds, rss, heap, stack, goroutines int64
}

func measure(t *testing.T, p *crashtest.Proc) usage {
	t.Helper()
	m := metrics(t, p.URL)
	return usage{
		fds:        openFDs(t, p.Pid()),
		rss:        rssBytes(t, p.Pid()),
		heap:       int64(m["go_memstats_heap_inuse_bytes"]),
		stack:      int64(m["go_memstats_stack_inuse_bytes"]),
		goroutines: int64(m["go_goroutines"]),
	}
}

func openFDs(t *testing.T, pid int) int64 {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(ents))
}

func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kib, _ := strconv.ParseInt(f[0], 10, 64)
				return kib << 10
			}
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// metrics reads the unlabelled samples of syncd's /metrics.
func metrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			v, _ := strconv.ParseFloat(f[1], 64)
			out[f[0]] = v
		}
	}
	return out
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func minDur(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m.Round(time.Millisecond)
}

func maxDur(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m.Round(time.Millisecond)
}

// skipOrFailInCI skips on a developer's machine that cannot run the test,
// and fails under CI=true, so a green CI never hides it.
func skipOrFailInCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run in CI: %s", why)
	}
	t.Skip(why)
}
