package engine

// Device cursor scenarios of sync-contract §5 (51–58) and §3.6.

import (
	"context"
	"strings"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

func (h *harness) updateCursor(ws, user, device string, version int64) error {
	return h.eng.UpdateCursor(context.Background(), user, CursorRequest{Scope: Scope{WorkspaceID: ws}, DeviceID: device, Version: version})
}

func (h *harness) cursor(ws, device string) (synclog.CursorRecord, bool) {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	var cur synclog.CursorRecord
	found, err := synclog.GetRecord(v, synclog.CursorKey(ws, device), &cur)
	if err != nil {
		h.t.Fatal(err)
	}
	return cur, found
}

// Scenario 51.
func TestCursor_FirstUpdateCreatesRow(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 5)
	if err := h.updateCursor("ws-1", "alice", "dA", 5); err != nil {
		t.Fatal(err)
	}
	cur, found := h.cursor("ws-1", "dA")
	if !found || cur.LastSeen != 5 || cur.Owner != "alice" || cur.UpdatedAtMs != h.clock.now().UnixMilli() {
		t.Fatalf("cursor %+v %v", cur, found)
	}
	// A viewer may keep a cursor too (read role).
	if err := h.updateCursor("ws-1", "victor", "dV", 0); err != nil {
		t.Fatalf("viewer cursor: %v", err)
	}
}

// Scenario 52.
func TestCursor_RegressionRejectedEqualRefreshes(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 10)
	if err := h.updateCursor("ws-1", "alice", "dA", 10); err != nil {
		t.Fatal(err)
	}
	wantSyncErr(t, h.updateCursor("ws-1", "alice", "dA", 5), 409, syncerr.CodeConflict)
	if cur, _ := h.cursor("ws-1", "dA"); cur.LastSeen != 10 {
		t.Fatalf("regressed to %d", cur.LastSeen)
	}
	first, _ := h.cursor("ws-1", "dA")
	h.clock.add(time.Minute)
	if err := h.updateCursor("ws-1", "alice", "dA", 10); err != nil {
		t.Fatalf("equal version: %v", err)
	}
	cur, _ := h.cursor("ws-1", "dA")
	if cur.LastSeen != 10 || cur.UpdatedAtMs != first.UpdatedAtMs+time.Minute.Milliseconds() {
		t.Fatalf("heartbeat: %+v after %+v", cur, first)
	}
}

// Scenario 53. Fractions, NaN and Infinity cannot reach the engine (the
// version is an int64; the HTTP decoder answers 400 for them); negatives and
// values past 2^53-1 are refused here.
func TestCursor_MalformedVersionRejected(t *testing.T) {
	h := newHarness(t)
	for _, v := range []int64{-1, -1 << 40, 1 << 53, 1<<63 - 1} {
		wantSyncErr(t, h.updateCursor("ws-1", "alice", "dA", v), 400, syncerr.CodeValidation)
	}
	if _, found := h.cursor("ws-1", "dA"); found {
		t.Fatal("malformed update stored a cursor")
	}
}

// Scenario 54.
func TestCursor_BeyondCounterRejected(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 4)
	se := wantSyncErr(t, h.updateCursor("ws-1", "alice", "dA", 5), 400, syncerr.CodeValidation)
	if !strings.Contains(se.Message, "Cursor exceeds workspace version") {
		t.Fatalf("message %q", se.Message)
	}
	if err := h.updateCursor("ws-1", "alice", "dA", 4); err != nil {
		t.Fatal(err)
	}
	// An empty workspace accepts only 0.
	wantSyncErr(t, h.updateCursor("ws-A", "alice", "dA", 1), 400, syncerr.CodeValidation)
	if err := h.updateCursor("ws-A", "alice", "dA", 0); err != nil {
		t.Fatal(err)
	}
}

// Scenario 55.
func TestCursor_OwnedByFirstWriter(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 3)
	if err := h.updateCursor("ws-1", "alice", "dA", 1); err != nil {
		t.Fatal(err)
	}
	se := wantSyncErr(t, h.updateCursor("ws-1", "bob", "dA", 2), 403, syncerr.CodeForbidden)
	if !strings.Contains(se.Message, "belongs to another user") {
		t.Fatalf("message %q", se.Message)
	}
	if cur, _ := h.cursor("ws-1", "dA"); cur.Owner != "alice" || cur.LastSeen != 1 {
		t.Fatalf("cursor %+v", cur)
	}
}

// Scenario 56.
func TestCursor_MembershipRequired(t *testing.T) {
	h := newHarness(t)
	wantSyncErr(t, h.updateCursor("ws-other", "alice", "dA", 0), 403, syncerr.CodeForbidden)
	wantSyncErr(t, h.updateCursor("ws-1", "mallory", "dA", 0), 403, syncerr.CodeForbidden)
	wantSyncErr(t, h.updateCursor("ws-1", "", "dA", 0), 401, syncerr.CodeUnauthorized)
	if _, found := h.cursor("ws-other", "dA"); found {
		t.Fatal("cursor stored")
	}
}

// Scenario 57.
func TestCursor_DeviceIDTrimmedAndBounded(t *testing.T) {
	h := newHarness(t)
	if err := h.updateCursor("ws-1", "alice", "  dev-a  ", 0); err != nil {
		t.Fatal(err)
	}
	if _, found := h.cursor("ws-1", "dev-a"); !found {
		t.Fatal("device id not trimmed")
	}
	for _, dev := range []string{"", "   ", strings.Repeat("d", 257)} {
		wantSyncErr(t, h.updateCursor("ws-1", "alice", dev, 0), 400, syncerr.CodeValidation)
	}
	if err := h.updateCursor("ws-1", "alice", strings.Repeat("d", 256), 0); err != nil {
		t.Fatalf("256 characters: %v", err)
	}
}

// Scenario 58.
func TestCursor_SeparateDevicesSeparateCursors(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 10)
	if err := h.updateCursor("ws-1", "alice", "dA", 10); err != nil {
		t.Fatal(err)
	}
	if err := h.updateCursor("ws-1", "alice", "dB", 5); err != nil {
		t.Fatal(err)
	}
	a, _ := h.cursor("ws-1", "dA")
	b, _ := h.cursor("ws-1", "dB")
	if a.LastSeen != 10 || b.LastSeen != 5 {
		t.Fatalf("dA %d dB %d", a.LastSeen, b.LastSeen)
	}
}
