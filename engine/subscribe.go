package engine

import "encoding/json"

// Change is one committed sync entry as subscribers see it: the wire change
// plus what filtering and webhooks need.
type Change struct {
	SyncChange
	// Owner is the owning user of a notification ("" for other tables).
	Owner string
	// UserID is the user whose push carried the op ("" when server-authored).
	UserID string
	// Applied reports whether the op won the merge; WasExisting whether the
	// key existed before it.
	Applied     bool
	WasExisting bool
	// Payload of the row after the op when Applied (for webhooks).
	RowPayload json.RawMessage
}

// Committed is what one durable commit changed in one workspace, in version
// order.
type Committed struct {
	Workspace string
	Changes   []Change
	// Counter is the workspace's counter after the commit.
	Counter uint64
	// OriginRegion names the region that accepted these changes when they
	// were applied by replication ("" for changes accepted here): webhooks
	// fire only where the op was accepted (model.md §6).
	OriginRegion string
}

// Subscribe registers fn to be called after every durable commit that
// logged sync entries, once per workspace, in version order per workspace.
// fn runs on the committing request's goroutine while the workspace lock is
// held: it must not block (copy and hand off). The returned func
// unsubscribes.
func (e *Engine) Subscribe(fn func(Committed)) (cancel func()) {
	e.subsMu.Lock()
	id := e.nextID
	e.nextID++
	e.subs[id] = fn
	e.subsMu.Unlock()
	return func() {
		e.subsMu.Lock()
		delete(e.subs, id)
		e.subsMu.Unlock()
	}
}

func (e *Engine) notify(c Committed) {
	if len(c.Changes) == 0 {
		return
	}
	e.subsMu.RLock()
	defer e.subsMu.RUnlock()
	for _, fn := range e.subs {
		fn(c)
	}
}
