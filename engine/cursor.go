package engine

import (
	"context"
	"fmt"
	"strings"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// System event types owned by the engine (domain "cursor").
const (
	evCursorSet = "cursor.set"
)

// cursorSetBody is the body of a cursor.set event.
type cursorSetBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Workspace string
	Device    string
	Owner     string
	Version   uint64
}

// UpdateCursor records a device's last seen version (sync-contract §3.6):
// monotonic, bound to its first owner, at most the workspace counter.
func (e *Engine) UpdateCursor(ctx context.Context, user string, req CursorRequest) error {
	ws, err := NormalizeScope(req.Scope)
	if err != nil {
		return err
	}
	dev := strings.TrimSpace(req.DeviceID)
	if dev == "" || len(dev) > maxIDLen {
		return syncerr.Validation("Invalid device_id")
	}
	if req.Version < 0 || req.Version > maxSafeInt {
		return syncerr.Validation("Invalid last_seen_version")
	}
	if _, err := e.authorize(ctx, ws, user, false); err != nil {
		return err
	}
	unlock := e.locks.lock(ws)
	defer unlock()
	b := e.db.NewBatch()
	defer b.Close()
	ctr, err := readCounter(b, ws)
	if err != nil {
		return err
	}
	if uint64(req.Version) > ctr.Counter {
		return syncerr.Validation("Cursor exceeds workspace version")
	}
	var cur synclog.CursorRecord
	found, err := synclog.GetRecord(b, synclog.CursorKey(ws, dev), &cur)
	if err != nil {
		return readErr(err)
	}
	owner := user
	if found {
		if cur.Owner != "" && cur.Owner != user {
			return syncerr.Forbidden("Device cursor belongs to another user")
		}
		if uint64(req.Version) < cur.LastSeen {
			return syncerr.Conflict("Device cursor cannot regress")
		}
		if cur.Owner != "" {
			owner = cur.Owner
		}
	}
	body := synclog.MustEncode(&cursorSetBody{Workspace: ws, Device: dev, Owner: owner, Version: uint64(req.Version)})
	ev := &synclog.SystemEvent{Type: evCursorSet, AtMs: e.cfg.Now().UnixMilli(), Actor: user, Body: body}
	seq := e.db.NextSystemSeq()
	if err := b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return syncerr.Internal(err, "append")
	}
	if err := e.FoldSystem(b, seq, ev); err != nil {
		return readErr(err)
	}
	if err := e.db.Commit(ctx, b); err != nil {
		return commitErr(err)
	}
	return nil
}

// FoldSystem folds the engine's system events (domains "cursor" and "gc").
func (e *Engine) FoldSystem(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	return FoldSystem(b, seq, ev)
}

// FoldSystem is the engine's system-event fold, usable without an Engine
// (replay, verify).
func FoldSystem(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	switch ev.Type {
	case evCursorSet:
		var body cursorSetBody
		if err := synclog.Decode(synclog.SystemKey(seq), ev.Body, &body); err != nil {
			return err
		}
		return b.SetRecord(synclog.CursorKey(body.Workspace, body.Device), &synclog.CursorRecord{
			Owner: body.Owner, LastSeen: body.Version, UpdatedAtMs: ev.AtMs,
		})
	case evCursorExpire:
		var body cursorExpireBody
		if err := synclog.Decode(synclog.SystemKey(seq), ev.Body, &body); err != nil {
			return err
		}
		return foldCursorExpire(b, &body)
	case evGCChangeLog, evGCTombstones:
		var body gcBody
		if err := synclog.Decode(synclog.SystemKey(seq), ev.Body, &body); err != nil {
			return err
		}
		if ev.Type == evGCChangeLog {
			return foldGCChangeLog(b, &body)
		}
		return foldGCTombstones(b, &body)
	}
	return fmt.Errorf("engine: unknown system event %q", ev.Type)
}
