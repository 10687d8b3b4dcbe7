package watch

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/syncerr"
)

// maxCursor is the largest cursor accepted, JavaScript's
// Number.MAX_SAFE_INTEGER, as for pull.
const maxCursor = 1<<53 - 1

// shardCount spreads the workspace map over independent locks, so opening
// or closing a stream on one workspace does not hold up the fan-out of
// commits on others.
const shardCount = 32

// Hub fans the engine's committed changes out to the open SSE and
// WebSocket streams, each stream catching up from the log first. One Hub
// serves a whole engine; its methods are safe for concurrent use.
type Hub struct {
	eng *engine.Engine
	cfg Config
	log *slog.Logger

	seed   maphash.Seed
	shards [shardCount]shard

	unsubscribe func()
	closeOnce   sync.Once
	done        chan struct{}
	ctx         context.Context // the engine calls of parked streams; ends at Close
	cancel      context.CancelFunc
	noPark      bool // tests: keep SSE streams on their request goroutine
	// calls is held (read) by the streams' engine calls; Close takes it,
	// so no stream reads the engine once Close has returned, even one no
	// HTTP handler waits for (a parked stream).
	calls sync.RWMutex
	// hangups notices parked streams' clients hanging up (hangup_*.go).
	hangups hangups

	watchers atomic.Int64
	resyncs  atomic.Uint64
	gaps     atomic.Uint64 // live gaps filled from the log; 0 unless a commit skipped notify
	pulls    atomic.Uint64 // Pull pages read by streams (catch-ups), for tests
}

// shard holds the watchers of the workspaces that hash to it.
type shard struct {
	mu   sync.RWMutex
	byWS map[string][]*watcher
}

// NewHub returns a hub subscribed to eng's post-commit notifications. It
// panics if cfg is invalid (a wiring mistake, caught at start-up). Close
// unsubscribes it.
func NewHub(eng *engine.Engine, cfg Config) *Hub {
	if eng == nil {
		panic("watch: NewHub: nil engine")
	}
	return newHub(eng, cfg, eng.Subscribe)
}

// newHub is NewHub with the subscription passed in, so a test can time the
// callback the engine runs under its commit lock.
func newHub(eng *engine.Engine, cfg Config, subscribe func(func(engine.Committed)) func()) *Hub {
	if err := cfg.validate(); err != nil {
		panic(err)
	}
	h := &Hub{
		eng:  eng,
		cfg:  cfg,
		log:  cfg.Logger.With("component", "watch"),
		seed: maphash.MakeSeed(),
		done: make(chan struct{}),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for i := range h.shards {
		h.shards[i].byWS = map[string][]*watcher{}
	}
	h.unsubscribe = subscribe(h.onCommit)
	return h
}

// Close unsubscribes the hub from the engine and ends every open stream
// (SSE: the response ends; WebSocket: close status 1001 going away). New
// streams are refused with 503. Parked SSE streams are ended before it
// returns, unless a goroutine is serving one (a catch-up, a write to a
// slow client), which then ends it. Once Close returns, no stream calls
// the engine (streams' reads in flight are waited for), so the engine may
// be closed. It does not wait for the streams' handlers to return; the
// HTTP server's shutdown does that. Close is idempotent.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.unsubscribe()
		close(h.done)
		h.cancel()
		h.calls.Lock() // the calls in flight end (their context is cancelled)
		h.calls.Unlock()
		var parked []*stream
		for i := range h.shards {
			sh := &h.shards[i]
			sh.mu.RLock()
			for _, list := range sh.byWS {
				for _, w := range list {
					if w.s != nil {
						parked = append(parked, w.s)
					}
				}
			}
			sh.mu.RUnlock()
		}
		for _, s := range parked {
			if s.w.poke() { // else its owner sees the hub closed
				s.finish(endHubClosed, nil)
			}
		}
	})
}

// engineCall runs f, a stream's engine call, on a short-lived goroutine
// (offStack), unless the hub is closed; it reports whether f ran.
func (h *Hub) engineCall(f func()) bool {
	h.calls.RLock()
	defer h.calls.RUnlock()
	if h.closed() {
		return false
	}
	offStack(f)
	return true
}

// closed reports whether Close has been called.
func (h *Hub) closed() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// Watchers returns the number of open streams.
func (h *Hub) Watchers() int { return int(h.watchers.Load()) }

// Resyncs returns how many times a watcher's live buffer overflowed and it
// went back to reading the log (a slow reader, or a burst larger than
// Config.BufferPerWatcher).
func (h *Hub) Resyncs() uint64 { return h.resyncs.Load() }

func (h *Hub) shard(ws string) *shard {
	return &h.shards[maphash.String(h.seed, ws)%shardCount]
}

// onCommit is the engine's post-commit callback. It runs on the committing
// request's goroutine under the workspace's commit lock, so it only copies
// the commit once and hands it to each watcher's bounded queue: no IO, no
// blocking, O(watchers of the workspace). Streams with a goroutine are
// woken; parked ones it takes are served in groups by new goroutines
// (park.go), the first group already writing while it queues the rest.
func (h *Hub) onCommit(c engine.Committed) {
	sh := h.shard(c.Workspace)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ws := sh.byWS[c.Workspace]
	if len(ws) == 0 {
		return
	}
	b := newBatch(c.Changes)
	var due []*stream
	for _, w := range ws {
		if w.offer(b, h.cfg.BufferPerWatcher) {
			h.resyncs.Add(1)
		}
		if w.s != nil && w.poke() {
			if due == nil {
				due = make([]*stream, 0, min(sweepGroup, len(ws)))
			}
			due = append(due, w.s)
			if len(due) == sweepGroup {
				go sweep(due)
				due = nil
			}
		}
	}
	if len(due) > 0 {
		go sweep(due)
	}
}

// beatInterval is the wait until a stream's next heartbeat: Heartbeat less
// up to a tenth, at random, so streams opened together (every client
// reconnecting after a restart) do not all wake, re-check their role and
// write in the same instant every Heartbeat.
func (h *Hub) beatInterval() time.Duration {
	d := h.cfg.Heartbeat
	return d - rand.N(d/10+1)
}

// admit checks a stream request before anything is written: the workspace
// id, the cursor, the hub's state and the user's read role.
func (h *Hub) admit(ctx context.Context, user, workspace string, cursor uint64) (string, error) {
	ws, err := engine.NormalizeScope(engine.Scope{WorkspaceID: workspace})
	if err != nil {
		return "", err
	}
	if cursor > maxCursor {
		return "", syncerr.Validation("cursor must be a safe integer >= 0")
	}
	select {
	case <-h.done:
		return "", syncerr.Unavailable(errClosed, "server shutting down, retry later")
	default:
	}
	offStack(func() { err = h.eng.Authorize(ctx, ws, user, false) })
	if err != nil {
		return "", err
	}
	return ws, nil
}

// register adds a watcher of ws for user. From here on every commit of ws
// is either queued for it or flagged as missed (offer), which is what lets
// the stream catch up from the log afterwards without a gap.
func (h *Hub) register(ws, user string) *watcher {
	w := &watcher{ws: ws, user: user, wake: make(chan struct{}, 1)}
	h.add(w)
	return w
}

// add registers w under its workspace.
func (h *Hub) add(w *watcher) {
	sh := h.shard(w.ws)
	sh.mu.Lock()
	list := sh.byWS[w.ws]
	w.idx = len(list)
	sh.byWS[w.ws] = append(list, w)
	sh.mu.Unlock()
	h.watchers.Add(1)
}

// unregister removes w (swap-remove; idx is guarded by the shard lock).
func (h *Hub) unregister(w *watcher) {
	sh := h.shard(w.ws)
	sh.mu.Lock()
	list := sh.byWS[w.ws]
	last := len(list) - 1
	list[w.idx] = list[last]
	list[w.idx].idx = w.idx
	list[last] = nil
	if last == 0 {
		delete(sh.byWS, w.ws)
	} else {
		sh.byWS[w.ws] = list[:last]
	}
	sh.mu.Unlock()
	h.watchers.Add(-1)
	w.release()
}

// logEnd records why a stream ended: at Warn when syncd could not serve
// it, at Debug otherwise (clients come and go all the time).
func (h *Hub) logEnd(transport, ws, user string, pos uint64, end ending, err error) {
	level := slog.LevelDebug
	if end == endReadFailed {
		level = slog.LevelWarn
	}
	h.log.Log(context.Background(), level, "watch: stream ended", "transport", transport,
		"workspace", ws, "user", user, "cursor", pos, "reason", end.String(), "err", err)
}
