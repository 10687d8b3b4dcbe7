package watch

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/or3/syncd/engine"
)

// watcher is one open stream's mailbox. The engine callback (offer) fills
// it; the stream's own goroutine (take) empties it. An idle watcher holds
// no changes and at most a small recycled slice.
type watcher struct {
	ws, user string
	idx      int // position in the shard's list; guarded by the shard lock

	mu     sync.Mutex
	queue  []*batch
	queued int  // changes in queue
	missed bool // the queue overflowed and was dropped since the last take

	// wake has room for one token: offer never blocks, and a token left
	// over from a change already taken only costs one empty loop. nil for
	// a parked stream (p set), which has no goroutine to wake.
	wake chan struct{}

	// s is set for a parked stream: a hijacked SSE connection with no
	// goroutine of its own while idle (park.go); state says who owns it.
	s     *stream
	state atomic.Int32
}

// Owners of a parked stream's watcher (watcher.state). At most one
// goroutine owns it at a time and only the owner touches the stream (its
// position, pending bytes, connection writes); the atomic hand-over
// orders those accesses.
const (
	stParked int32 = iota // no owner: the next poke takes ownership
	stOwned               // an owner is working on it
	stDirty               // owned, and work arrived since: the owner looks again
	stDead                // ended
)

// poke tells the watcher it has work (a change queued, a heartbeat due,
// the hub closing). It reports true when the caller took ownership of a
// parked watcher and must now serve it; an owner is told to look again.
func (w *watcher) poke() bool {
	for {
		switch st := w.state.Load(); st {
		case stParked:
			if w.state.CompareAndSwap(stParked, stOwned) {
				return true
			}
		case stOwned:
			if w.state.CompareAndSwap(stOwned, stDirty) {
				return false
			}
		default: // dirty or dead
			return false
		}
	}
}

// park releases ownership. It fails when work arrived since the owner
// last looked (the state is dirty), and the owner keeps ownership and
// looks again.
func (w *watcher) park() bool {
	for {
		switch st := w.state.Load(); st {
		case stOwned:
			if w.state.CompareAndSwap(stOwned, stParked) {
				return true
			}
		case stDirty:
			if w.state.CompareAndSwap(stDirty, stOwned) {
				return false
			}
		default: // ended: nothing to hand over
			return true
		}
	}
}

// offer queues b unless that would put more than limit changes in the
// queue; then it drops the whole queue and flags the watcher as missed
// (reporting true), and the stream reads what it missed from the log. It
// never blocks beyond the watcher's own short lock.
func (w *watcher) offer(b *batch, limit int) (overflowed bool) {
	w.mu.Lock()
	switch {
	case w.missed:
		// Already going back to the log, which holds b too.
	case w.queued+len(b.events) > limit:
		clear(w.queue)
		w.queue = w.queue[:0]
		w.queued = 0
		w.missed = true
		overflowed = true
	default:
		w.queue = append(w.queue, b)
		w.queued += len(b.events)
	}
	w.mu.Unlock()
	if w.wake != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return overflowed
}

// take hands the queued batches to the stream and installs recycled (an
// emptied slice from an earlier take, or nil) as the new queue. missed
// reports that commits were dropped since the last take; clearing the flag
// here means every commit from now on is queued again, so a catch-up from
// the log that starts after take sees the missed ones and the queue holds
// the rest (duplicates are dropped by version).
func (w *watcher) take(recycled []*batch) (q []*batch, missed bool) {
	w.mu.Lock()
	q, w.queue = w.queue, recycled
	w.queued = 0
	missed, w.missed = w.missed, false
	w.mu.Unlock()
	return q, missed
}

// release drops whatever is still queued once the stream has ended.
func (w *watcher) release() {
	w.mu.Lock()
	w.queue, w.queued = nil, 0
	w.mu.Unlock()
}

// batch is one commit's changes, shared by every watcher of the workspace.
type batch struct {
	events []event
}

// event is one change and its wire forms, encoded once by the first
// stream that sends it, not once per watcher, and not under the commit
// lock. One buffer holds the SSE frame as an HTTP/1.1 chunk; the bare
// frame and the JSON (WebSocket) are slices of it, so every watcher of
// every transport writes the same bytes.
type event struct {
	change engine.Change
	once   sync.Once
	chunk  []byte // "<hex len>\r\n" + frame + "\r\n"
	frame  []byte // "id: <serverVersion>\ndata: <SyncChange JSON>\n\n"
	data   []byte // the SyncChange JSON
}

// maxChunkHead is room for a chunk-size line: 16 hex digits and CRLF.
const maxChunkHead = 18

func (e *event) encode() {
	e.once.Do(func() {
		buf := make([]byte, maxChunkHead, maxChunkHead+len(e.change.Payload)+320)
		buf = append(buf, "id: "...)
		buf = strconv.AppendUint(buf, e.change.ServerVersion, 10)
		buf = append(buf, "\ndata: "...)
		j := len(buf)
		buf = appendChange(buf, &e.change.SyncChange)
		k := len(buf)
		buf = append(buf, "\n\n\r\n"...) // the frame's end, the chunk's end
		n := len(buf)
		e.data = buf[j:k:k]
		e.frame = buf[maxChunkHead : n-2 : n-2]
		head := strconv.AppendUint(make([]byte, 0, maxChunkHead), uint64(len(e.frame)), 16)
		head = append(head, "\r\n"...)
		start := maxChunkHead - len(head)
		copy(buf[start:], head)
		e.chunk = buf[start:n:n]
	})
}

// json returns the change's wire JSON (a SyncChange).
func (e *event) json() []byte {
	e.encode()
	return e.data
}

// sse returns the change's SSE frame: a default event with its id.
func (e *event) sse() []byte {
	e.encode()
	return e.frame
}

// sseChunk returns the SSE frame as one HTTP/1.1 chunk.
func (e *event) sseChunk() []byte {
	e.encode()
	return e.chunk
}

// newBatch copies a commit's changes: the engine owns its slices (the
// subscription contract says copy and hand off), so the payloads are
// copied into one buffer and the row payload, which only webhooks use, is
// dropped.
func newBatch(changes []engine.Change) *batch {
	n := 0
	for i := range changes {
		n += len(changes[i].Payload)
	}
	arena := make([]byte, 0, n)
	b := &batch{events: make([]event, len(changes))}
	for i := range changes {
		c := changes[i]
		c.RowPayload = nil
		if c.Payload != nil {
			start := len(arena)
			arena = append(arena, c.Payload...)
			c.Payload = arena[start:len(arena):len(arena)]
		}
		b.events[i].change = c
	}
	return b
}
