package watch

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// goMemory is the Go heap and goroutine stacks in use, after a collection.
func goMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// bareSSE is the least an SSE stream on net/http can be: headers, a
// comment, and a wait for the client to leave.
func bareSSE(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, ": bare\n\n")
	_ = http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

// idleGoMemory opens n idle SSE streams to addr from bare TCP connections
// (no goroutine or buffer on the client side) and returns the growth of
// Go memory per stream. opened, if set, tells when the server has them all.
func idleGoMemory(t *testing.T, addr string, n int, opened func() bool) int64 {
	t.Helper()
	warm := rawSSE(t, addr, "alice", 0, 0)
	defer warm.Close()
	before := goMemory()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		conns = append(conns, rawSSE(t, addr, "alice", 0, 0))
	}
	if opened != nil {
		waitFor(t, wait, "all streams", opened)
	}
	time.Sleep(50 * time.Millisecond) // let every stream reach its idle wait
	return (int64(goMemory()) - int64(before)) / int64(n)
}

// TestWatch_IdleWatcherMemory: an idle SSE watcher costs less than what
// net/http itself spends on an open stream (two goroutines, about 10 KiB
// of buffers, the request; a parked stream keeps none of them), at most
// 8 KiB of Go memory, over 1,000 watchers. BenchmarkIdleWatchers measures process RSS at
// 10,000 watchers, with the clients in another process.
func TestWatch_IdleWatcherMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("memory per watcher is not meaningful under the race detector (scripts/test.sh also runs this package without -race)")
	}
	const n = 1000
	bare := httptest.NewServer(http.HandlerFunc(bareSSE))
	defer bare.Close()
	base := idleGoMemory(t, bare.Listener.Addr().String(), n, nil)
	bare.CloseClientConnections()

	e := newEnv(t, Config{})
	e.pushThreads("alice", 3) // each stream replays them: the open path runs in full
	ours := idleGoMemory(t, e.srv.Listener.Addr().String(), n, func() bool { return e.hub.Watchers() == n+1 })

	t.Logf("Go heap+stacks per idle SSE stream (client connections included): watch %d B, bare net/http %d B, watch's own %d B",
		ours, base, ours-base)
	if ours-base > 4<<10 {
		t.Errorf("an idle watcher costs %d B beyond a bare net/http stream, want ≤ 4 KiB", ours-base)
	}
	if ours > 32<<10 {
		t.Errorf("an idle watcher costs %d B, want ≤ 32 KiB", ours)
	}
	// Parked (its connection hijacked), it holds no goroutine and no
	// net/http buffer: about 1 KiB measured.
	if ours > 8<<10 {
		t.Errorf("an idle parked watcher costs %d B, want ≤ 8 KiB (no goroutine, no buffers)", ours)
	}
}
