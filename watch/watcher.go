package watch

import (
	"sync"

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
	// over from a change already taken only costs one empty loop.
	wake chan struct{}
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
	select {
	case w.wake <- struct{}{}:
	default:
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

// event is one change and its JSON, encoded once by the first stream that
// sends it, not once per watcher, and not under the commit lock.
type event struct {
	change engine.Change
	once   sync.Once
	data   []byte
}

// json returns the change's wire JSON (a SyncChange).
func (e *event) json() []byte {
	e.once.Do(func() { e.data = appendChange(nil, &e.change.SyncChange) })
	return e.data
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
