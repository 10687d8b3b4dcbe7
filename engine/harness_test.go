package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	synclog "github.com/or3/syncd/log"
)

// memberRoles is an in-memory Roles for tests: roles[ws][user].
type memberRoles struct {
	mu    sync.Mutex
	roles map[string]map[string]string
}

func (m *memberRoles) Role(_ context.Context, ws, user string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.roles[ws][user], nil
}

func (m *memberRoles) set(ws, user, role string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.roles == nil {
		m.roles = map[string]map[string]string{}
	}
	if m.roles[ws] == nil {
		m.roles[ws] = map[string]string{}
	}
	m.roles[ws][user] = role
}

// testClock is a settable clock.
type testClock struct{ ms atomic.Int64 }

func (c *testClock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) set(t time.Time)     { c.ms.Store(t.UnixMilli()) }
func (c *testClock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type harness struct {
	t     testing.TB
	db    *synclog.DB
	eng   *Engine
	roles *memberRoles
	clock *testClock
	dir   string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, roles: &memberRoles{}, clock: &testClock{}, dir: t.TempDir()}
	h.clock.set(time.Unix(1_750_000_000, 0))
	h.open()
	for _, ws := range []string{"ws-1", "ws-A", "ws-B"} {
		h.roles.set(ws, "alice", "owner")
		h.roles.set(ws, "bob", "editor")
		h.roles.set(ws, "victor", "viewer")
	}
	return h
}

func (h *harness) open() {
	db, err := synclog.Open(synclog.Config{Dir: h.dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MemTableSize: 8 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	eng, err := New(Config{DB: db, Roles: h.roles, Now: h.clock.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(eng.Close) // runs before db.Close: releases pinned snapshot views
	h.db, h.eng = db, eng
}

func (h *harness) reopen() {
	h.eng.Close()
	h.db.Close()
	h.open()
}

func newOpID() string { return uuid.NewString() }

func put(table, pk string, clock int64, hlc, opID string, payload any) PendingOp {
	raw, _ := json.Marshal(payload)
	return PendingOp{TableName: table, Operation: "put", PK: pk, Payload: raw,
		Stamp: Stamp{DeviceID: "dA", OpID: opID, HLC: hlc, Clock: clock}}
}

func del(table, pk string, clock int64, hlc, opID string) PendingOp {
	return PendingOp{TableName: table, Operation: "delete", PK: pk,
		Stamp: Stamp{DeviceID: "dA", OpID: opID, HLC: hlc, Clock: clock}}
}

func thread(pk, title string) map[string]any {
	return map[string]any{"id": pk, "title": title, "status": "ready", "deleted": false, "pinned": false, "created_at": 1, "updated_at": 1, "clock": 1}
}

func (h *harness) push(ws, user string, ops ...PendingOp) PushResult {
	h.t.Helper()
	res, err := h.eng.Push(context.Background(), user, PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: ops})
	if err != nil {
		h.t.Fatalf("push: %v", err)
	}
	if len(res.Results) != len(ops) {
		h.t.Fatalf("push: %d results for %d ops", len(res.Results), len(ops))
	}
	return res
}

func (h *harness) pull(ws, user string, cursor int64, limit int, tables ...string) PullResponse {
	h.t.Helper()
	res, err := h.eng.Pull(context.Background(), user, PullRequest{Scope: Scope{WorkspaceID: ws}, Cursor: cursor, Limit: &limit, Tables: tables})
	if err != nil {
		h.t.Fatalf("pull: %v", err)
	}
	return res
}

func (h *harness) row(ws, table, pk string) (synclog.RowRecord, bool) {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	var row synclog.RowRecord
	found, err := synclog.GetRecord(v, synclog.RowKey(ws, table, pk), &row)
	if err != nil {
		h.t.Fatal(err)
	}
	return row, found
}

func (h *harness) tomb(ws, table, pk string) (synclog.TombRecord, bool) {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	var tomb synclog.TombRecord
	found, err := synclog.GetRecord(v, synclog.TombKey(ws, table, pk), &tomb)
	if err != nil {
		h.t.Fatal(err)
	}
	return tomb, found
}

func (h *harness) counter(ws string) uint64 {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	ctr, err := readCounter(v, ws)
	if err != nil {
		h.t.Fatal(err)
	}
	return ctr.Counter
}

// logCount counts ws's log entries.
func (h *harness) logCount(ws string) int {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	it, err := v.NewIter(synclog.ChangePrefix(ws), synclog.PrefixEnd(synclog.ChangePrefix(ws)))
	if err != nil {
		h.t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

func payloadField(t testing.TB, payload []byte, field string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	return m[field]
}

var _ = fmt.Sprint
