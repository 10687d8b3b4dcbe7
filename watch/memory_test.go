package watch

import (
	"net"
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

// TestWatch_IdleWatcherMemory: an idle SSE watcher costs at most 32 KiB of
// Go memory on the server, measured over 1,000 watchers. The clients are
// bare TCP connections with no goroutine or buffer, so nearly all of the
// figure is the server's: net/http's connection (two goroutines, buffers,
// the request), and the watcher. BenchmarkIdleWatchers measures process
// RSS at 10,000 watchers with the clients in another process.
func TestWatch_IdleWatcherMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("memory per watcher is not meaningful under the race detector (scripts/test.sh also runs this package without -race)")
	}
	const n = 1000
	e := newEnv(t, Config{})
	addr := e.srv.Listener.Addr().String()
	e.pushThreads("alice", 3) // each stream catches up once, as real ones do
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
	waitFor(t, wait, "all watchers", func() bool { return e.hub.Watchers() == n+1 })
	time.Sleep(50 * time.Millisecond) // let every stream reach its idle wait
	after := goMemory()
	per := (int64(after) - int64(before)) / n
	t.Logf("idle SSE watcher: %d bytes of Go heap+stack each (%d watchers, client conns included)", per, n)
	if per > 32<<10 {
		t.Errorf("an idle watcher costs %d bytes, want ≤ 32 KiB", per)
	}
}
