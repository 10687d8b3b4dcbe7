package engine

// LWW and tombstone scenarios of sync-contract §5 (22–35) and §4, and the
// replay-equals-live property of model.md §4.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/or3/syncd/crdt"
	synclog "github.com/or3/syncd/log"
)

// snapshotKind is how a snapshot would emit the stored key.
func snapshotKind(row *synclog.RowRecord) crdt.Kind {
	return entityOf(row, true).SnapshotKind()
}

// Scenario 22.
func TestLWW_HigherClockWins(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t1", 1, "1:0:dA", newOpID(), thread("t1", "first")))
	res := h.push("ws-1", "alice", onDevice(put("threads", "t1", 2, "1:0:dB", newOpID(), thread("t1", "second")), "dB"))
	wantApplied(t, res.Results[0], 2, true)
	row, _ := h.row("ws-1", "threads", "t1")
	if payloadField(t, row.Payload, "title") != "second" || row.Winner.Clock != 2 || row.DeviceID != "dB" || row.ServerVersion != 2 {
		t.Fatalf("row %+v", row)
	}
}

// Scenario 23.
func TestLWW_EqualClockHLCTieBreak(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t1", 1, "2025-01-01T00:00:00.000Z-0001", newOpID(), thread("t1", "first")))
	res := h.push("ws-1", "alice", put("threads", "t1", 1, "2025-01-01T00:00:00.000Z-0002", newOpID(), thread("t1", "second")))
	wantApplied(t, res.Results[0], 2, true)
	// And the other arrival order: the lower hlc loses.
	lost := h.push("ws-1", "alice", put("threads", "t1", 1, "2025-01-01T00:00:00.000Z-0000", newOpID(), thread("t1", "zeroth")))
	wantApplied(t, lost.Results[0], 3, false)
	row, _ := h.row("ws-1", "threads", "t1")
	if payloadField(t, row.Payload, "title") != "second" {
		t.Fatalf("title %v", payloadField(t, row.Payload, "title"))
	}
}

// Scenario 24.
func TestLWW_EqualClockAndHLCOpIDTieBreak(t *testing.T) {
	h := newHarness(t)
	winner, loser := fixedOpID('b'), fixedOpID('a')
	h.push("ws-1", "alice", put("threads", "t1", 4, "4:0:dev", winner, thread("t1", "winner")))
	res := h.push("ws-1", "alice", put("threads", "t1", 4, "4:0:dev", loser, thread("t1", "loser")))
	r := res.Results[0]
	wantApplied(t, r, 2, false)
	if r.Winner == nil || r.Winner.Kind != "put" || r.Winner.Revision.OpID != winner ||
		payloadField(t, r.Winner.Payload, "title") != "winner" || payloadField(t, r.Payload, "title") != "winner" {
		t.Fatalf("loser result %+v", r)
	}
	row, _ := h.row("ws-1", "threads", "t1")
	if row.Winner.OpID != winner {
		t.Fatalf("row op_id %s, want the winner's", row.Winner.OpID)
	}
	_, recs := h.logEntries("ws-1")
	if len(recs) != 2 || recs[1].OpID != loser {
		t.Fatalf("loser not logged: %+v", recs)
	}
}

// Scenario 25.
func TestLWW_LowerClockDoesNotOverwrite(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t1", 5, "5:0:dA", newOpID(), thread("t1", "newer")))
	res := h.push("ws-1", "alice", put("threads", "t1", 3, "9:0:dA", newOpID(), thread("t1", "older")))
	wantApplied(t, res.Results[0], 2, false)
	row, _ := h.row("ws-1", "threads", "t1")
	if payloadField(t, row.Payload, "title") != "newer" || row.Winner.Clock != 5 || row.ServerVersion != 1 {
		t.Fatalf("row %+v", row)
	}
	if h.logCount("ws-1") != 2 {
		t.Fatal("losing op not logged")
	}
}

// Scenario 26: the delete's receipt time is the server's, never the
// client's deleted_at.
func TestLWW_DeleteCreatesTombstoneAndSoftDeletedRow(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t1", 1, "1:0:dA", newOpID(), thread("t1", "a")))
	h.clock.add(90 * time.Second)
	nowMs := h.clock.now().UnixMilli()
	d := withPayload(del("threads", "t1", 2, "2:0:dA", newOpID()), `{"deleted":true,"deleted_at":1}`)
	res := h.push("ws-1", "alice", d)
	wantApplied(t, res.Results[0], 2, true)
	row, found := h.row("ws-1", "threads", "t1")
	if !found || !rowDeleted(&row) || row.DeletedAtMs != nowMs {
		t.Fatalf("row %+v: want deleted at %d", row, nowMs)
	}
	tomb, found := h.tomb("ws-1", "threads", "t1")
	if !found || tomb.Rev.Clock != 2 || tomb.ServerVersion != 2 || tomb.DeletedAtMs < nowMs {
		t.Fatalf("tombstone %+v, found %v", tomb, found)
	}
	if n := h.tombsByVersion("ws-1"); len(n) != 1 {
		t.Fatalf("tombstone index %v, want one entry", n)
	}
}

// tombsByVersion lists ws's tombstone-by-version index.
func (h *harness) tombsByVersion(ws string) []uint64 {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	p := synclog.NewKey(synclog.PrefixTombByVersion).Str(ws)
	it, err := v.NewIter(p, synclog.PrefixEnd(p))
	if err != nil {
		h.t.Fatal(err)
	}
	defer it.Close()
	var out []uint64
	for ok := it.First(); ok; ok = it.Next() {
		r := synclog.ReadKey(it.Key())
		r.Str()
		out = append(out, r.U64())
	}
	return out
}

// Scenario 27.
func TestLWW_SingleTombstonePerKey(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t1", 1, "1:0:dA", newOpID(), thread("t1", "a")))
	h.push("ws-1", "alice", del("threads", "t1", 2, "2:0:dA", newOpID()))
	h.push("ws-1", "alice", onDevice(del("threads", "t1", 3, "3:0:dB", newOpID()), "dB"))
	tomb, _ := h.tomb("ws-1", "threads", "t1")
	if tomb.Rev.Clock != 3 || tomb.ServerVersion != 3 {
		t.Fatalf("tombstone %+v, want clock 3 at v3", tomb)
	}
	if idx := h.tombsByVersion("ws-1"); len(idx) != 1 || idx[0] != 3 {
		t.Fatalf("tombstone index %v, want [3]", idx)
	}
}

// Scenario 28.
func TestLWW_StaleDeleteAgainstNewerLiveState(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "thread-b", 5, "5:0:dev", newOpID(), thread("thread-b", "live")))
	before, _ := h.row("ws-1", "threads", "thread-b")
	res := h.push("ws-1", "alice", onDevice(del("threads", "thread-b", 4, "4:9:device-z", newOpID()), "device-z"))
	r := res.Results[0]
	wantApplied(t, r, 2, false)
	if r.WasExisting == nil || !*r.WasExisting || r.Winner == nil || r.Winner.Kind != "put" {
		t.Fatalf("result %+v", r)
	}
	after, _ := h.row("ws-1", "threads", "thread-b")
	if rowDeleted(&after) || after.Winner != before.Winner || string(after.Payload) != string(before.Payload) {
		t.Fatalf("row changed: %+v", after)
	}
	if h.logCount("ws-1") != 2 {
		t.Fatal("losing delete not logged")
	}
	// §4.4: the losing delete still leaves a tombstone with its own
	// revision; it is below the row and changes nothing visible.
	if tomb, found := h.tomb("ws-1", "threads", "thread-b"); !found || tomb.Rev.Clock != 4 {
		t.Fatalf("tombstone %+v %v", tomb, found)
	}
	if snapshotKind(&after) != crdt.KindPut {
		t.Fatal("snapshot would not show the live row")
	}
}

// Scenario 29.
func TestLWW_HigherDeleteBeatsLaterLowerPut(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("messages", "m1", 1, "1:0:dA", newOpID(), message("m1", "t1")))
	h.push("ws-1", "alice", del("messages", "m1", 3, "3:0:dA", newOpID()))
	res := h.push("ws-1", "alice", onDevice(put("messages", "m1", 2, "2:0:dB", newOpID(), message("m1", "t1")), "dB"))
	wantApplied(t, res.Results[0], 3, false)
	row, _ := h.row("ws-1", "messages", "m1")
	if !rowDeleted(&row) || snapshotKind(&row) != crdt.KindDelete || row.Winner.Clock != 3 {
		t.Fatalf("row %+v: want a tombstone at clock 3", row)
	}
}

// Scenarios 30 and 31: a tombstone for a key with no materialized row.
func TestLWW_OrphanTombstone(t *testing.T) {
	h := newHarness(t)
	opD := fixedOpID('d')
	res := h.push("ws-1", "alice", del("messages", "message-dead", 5, "5:0:dev", opD))
	// Canonical §4.3: no placeholder row; applied because the tombstone was
	// installed.
	wantApplied(t, res.Results[0], 1, true)
	if r := res.Results[0]; r.WasExisting == nil || *r.WasExisting {
		t.Fatalf("result %+v: want wasExisting false", r)
	}
	row, _ := h.row("ws-1", "messages", "message-dead")
	if row.HasPut || snapshotKind(&row) != crdt.KindDelete {
		t.Fatalf("delete of an unseen key made a row: %+v", row)
	}

	t.Run("blocks a stale put", func(t *testing.T) { // scenario 30
		res := h.push("ws-1", "alice", put("messages", "message-dead", 5, "5:0:dev", fixedOpID('a'), message("message-dead", "t1")))
		wantApplied(t, res.Results[0], 2, false)
		row, _ := h.row("ws-1", "messages", "message-dead")
		if !rowDeleted(&row) || row.Winner.OpID != opD || entityOf(&row, true).Live() {
			t.Fatalf("stale put resurrected the key: %+v", row)
		}
		if p := h.pull("ws-1", "alice", 0, 10); len(p.Changes) != 2 {
			t.Fatalf("pull %+v", p)
		}
	})
	t.Run("loses to a strictly newer revision", func(t *testing.T) { // scenario 31
		newer := fixedOpID('e')
		res := h.push("ws-1", "alice", put("messages", "message-dead", 5, "5:0:dev", newer, message("message-dead", "t1")))
		wantApplied(t, res.Results[0], 3, true)
		row, _ := h.row("ws-1", "messages", "message-dead")
		if rowDeleted(&row) || row.Winner.OpID != newer || row.Winner.Clock != 5 || snapshotKind(&row) != crdt.KindPut {
			t.Fatalf("row %+v", row)
		}
	})
}

// Scenario 32: canonical storage reads the materialized file_meta row, and a
// losing delete leaves it live even after the log is collected. (The
// live_metadata query itself is the storage module's.)
func TestLWW_LosingDeleteKeepsFileMetaLive(t *testing.T) {
	h := newHarness(t)
	const hash = "sha256:ABCDEF0123"
	h.push("ws-1", "alice", put("file_meta", hash, 5, "5:0:dA", newOpID(),
		map[string]any{"hash": hash, "name": "a.png", "size_bytes": 321, "storage_id": "object-1", "deleted": false, "created_at": 1, "updated_at": 1, "clock": 5}))
	res := h.push("ws-1", "alice", del("file_meta", hash, 4, "4:0:dA", newOpID()))
	wantApplied(t, res.Results[0], 2, false)
	h.collectHistory("ws-1", 2)
	row, found := h.row("ws-1", "file_meta", hash)
	if !found || rowDeleted(&row) || snapshotKind(&row) != crdt.KindPut {
		t.Fatalf("row %+v", row)
	}
	if payloadField(t, row.Payload, "size_bytes") != float64(321) || payloadField(t, row.Payload, "storage_id") != "object-1" {
		t.Fatalf("payload %s", row.Payload)
	}
}

// Scenario 33: a row and a tombstone with one revision resolve to the
// tombstone. Only fingerprint-less legacy entries can tie exactly, so the
// test folds two such entries (in both orders) straight into the log.
func TestLWW_EqualRevisionTieGoesToTombstone(t *testing.T) {
	h := newHarness(t)
	b := h.db.NewBatch()
	defer b.Close()
	putRec := func(pk string) *synclog.ChangeRecord {
		return &synclog.ChangeRecord{Table: "messages", PK: pk, Op: synclog.OpPut, Payload: []byte(`{"id":"` + pk + `"}`),
			Clock: 3, HLC: "1000-0-a", DeviceID: "dA", OpID: "legacy-op", CreatedAtMs: 1}
	}
	delRec := func(pk string) *synclog.ChangeRecord {
		return &synclog.ChangeRecord{Table: "messages", PK: pk, Op: synclog.OpDelete,
			Clock: 3, HLC: "1000-0-a", DeviceID: "dA", OpID: "legacy-op", CreatedAtMs: 1}
	}
	entries := []*synclog.ChangeRecord{putRec("put-first"), delRec("put-first"), delRec("del-first"), putRec("del-first")}
	for i, rec := range entries {
		v := uint64(i + 1)
		if err := b.AppendEvent(synclog.ChangeKey("ws-1", v), rec); err != nil {
			t.Fatal(err)
		}
		if err := FoldChange(b, "ws-1", v, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, pk := range []string{"put-first", "del-first"} {
		row, _ := h.row("ws-1", "messages", pk)
		if row.WinnerKind != synclog.OpDelete || snapshotKind(&row) != crdt.KindDelete || row.Winner.OpID != "legacy-op" {
			t.Fatalf("%s: row %+v, want the tombstone to win the tie", pk, row)
		}
	}
}

// Scenario 34.
func TestLWW_WorkspaceIsolation(t *testing.T) {
	h := newHarness(t)
	a := h.push("ws-A", "alice", put("threads", "shared-id", 1, "1:0:dA", newOpID(), thread("shared-id", "in A")))
	b := h.push("ws-B", "alice", put("threads", "shared-id", 1, "1:0:dA", newOpID(), thread("shared-id", "in B")))
	wantApplied(t, a.Results[0], 1, true)
	wantApplied(t, b.Results[0], 1, true)
	ra, _ := h.row("ws-A", "threads", "shared-id")
	rb, _ := h.row("ws-B", "threads", "shared-id")
	if payloadField(t, ra.Payload, "title") != "in A" || payloadField(t, rb.Payload, "title") != "in B" {
		t.Fatalf("rows %s / %s", ra.Payload, rb.Payload)
	}
	if p := h.pull("ws-A", "alice", 0, 10); len(p.Changes) != 1 || payloadField(t, p.Changes[0].Payload, "title") != "in A" {
		t.Fatalf("ws-A pull %+v", p)
	}
}

// Scenario 35.
func TestLWW_RefCountIsNotClientAuthority(t *testing.T) {
	h := newHarness(t)
	const hash = "sha256:00ff"
	fm := func(name string, refCount, clock int) map[string]any {
		return map[string]any{"hash": hash, "name": name, "ref_count": refCount, "deleted": false, "created_at": 1, "updated_at": 1, "clock": clock}
	}
	res := h.push("ws-1", "alice", put("file_meta", hash, 1, "1:0:dA", newOpID(), fm("a.png", 999999, 1)))
	if payloadField(t, res.Results[0].Payload, "ref_count") != float64(0) {
		t.Fatalf("returned payload %s", res.Results[0].Payload)
	}
	row, _ := h.row("ws-1", "file_meta", hash)
	if payloadField(t, row.Payload, "ref_count") != float64(0) {
		t.Fatalf("stored ref_count %v", payloadField(t, row.Payload, "ref_count"))
	}
	h.push("ws-1", "alice", put("file_meta", hash, 2, "2:0:dA", newOpID(), fm("b.png", -123, 2)))
	row, _ = h.row("ws-1", "file_meta", hash)
	if payloadField(t, row.Payload, "ref_count") != float64(0) || payloadField(t, row.Payload, "name") != "b.png" {
		t.Fatalf("row payload %s", row.Payload)
	}
}

// Replaying every event of a live data dir into an empty one rebuilds the
// state keyspaces byte for byte (model.md §4), after a random workload of
// puts, deletes, conflicting edits, replays, notifications, cursor
// updates, server-authored writes and a restart.
func TestReplay_EqualsLive(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(42, 42))
	wss := []string{"ws-1", "ws-A"}
	users := []string{"alice", "bob"}
	var sent []PendingOp
	hlc := func() string {
		return fmt.Sprintf("%013d:%04d:dev%d", 1_750_000_000_000+rng.IntN(1000), rng.IntN(10), rng.IntN(3))
	}
	for step := range 400 {
		ws := wss[rng.IntN(len(wss))]
		user := users[rng.IntN(len(users))]
		h.clock.add(time.Second)
		pk := fmt.Sprintf("k%d", rng.IntN(8))
		clock := int64(rng.IntN(6))
		var ops []PendingOp
		switch k := rng.IntN(12); {
		case k < 3:
			ops = append(ops, onDevice(put("threads", pk, clock, hlc(), newOpID(), thread(pk, fmt.Sprint(step))), fmt.Sprintf("d%d", rng.IntN(3))))
		case k < 4: // conflicting edits of one key from two devices, same clock
			ops = append(ops,
				onDevice(put("messages", pk, clock, hlc(), newOpID(), message(pk, "t")), "dA"),
				onDevice(put("messages", pk, clock, hlc(), newOpID(), message(pk, "t")), "dB"))
		case k < 5:
			ops = append(ops, del([]string{"threads", "messages", "kv"}[rng.IntN(3)], pk, clock, hlc(), newOpID()))
		case k < 6 && len(sent) > 0: // replays, and an in-batch conflicting duplicate
			ops = append(ops, sent[rng.IntN(len(sent))])
			dup := put("threads", pk, clock, hlc(), newOpID(), thread(pk, "a"))
			other := dup
			other.Payload = []byte(`{"id":"` + pk + `","title":"b"}`)
			ops = append(ops, dup, other)
		case k < 8: // notifications: own puts, deletes, spoofs
			n := map[string]any{"id": "n-" + pk, "type": "info", "title": "t", "deleted": false, "created_at": 1, "updated_at": 1, "clock": clock}
			if rng.IntN(4) == 0 {
				n["user_id"] = "alice"
			}
			ops = append(ops, put("notifications", "n-"+pk, clock, hlc(), newOpID(), n))
			if rng.IntN(2) == 0 {
				ops = append(ops, del("notifications", "n-"+pk, clock+1, hlc(), newOpID()))
			}
		case k < 9: // cursor updates
			v, _ := h.eng.ServerVersion(ctx, user, ws)
			dev := fmt.Sprintf("%s-dev%d", user, rng.IntN(2))
			if err := h.eng.UpdateCursor(ctx, user, CursorRequest{Scope: Scope{WorkspaceID: ws}, DeviceID: dev, Version: int64(v)}); err != nil {
				t.Fatalf("cursor: %v", err)
			}
		case k < 11: // server-authored writes
			sop := ServerOp{Workspace: ws, Table: "kv", PK: pk, Operation: "put", Payload: []byte(`{"id":"` + pk + `","name":"srv","value":"` + fmt.Sprint(step) + `"}`)}
			switch rng.IntN(3) {
			case 0:
				sop.Operation, sop.Payload = "delete", nil
			case 1:
				sop.Table, sop.PK, sop.Owner = "notifications", "srv-"+pk, user
				sop.Payload = []byte(`{"id":"srv-` + pk + `","type":"job","title":"done","deleted":false,"created_at":1,"updated_at":1,"clock":1}`)
			}
			if _, err := h.eng.ServerWrite(ctx, sop); err != nil {
				t.Fatalf("server write: %v", err)
			}
		default:
			if step > 200 && step < 220 {
				h.reopen() // sequences continue from disk
			}
		}
		if len(ops) == 0 {
			continue
		}
		res, err := h.eng.Push(ctx, user, PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: ops})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for i, r := range res.Results {
			if r.Success {
				sent = append(sent, ops[i])
			}
		}
	}
	for _, ws := range wss {
		h.checkGapFree(ws)
	}

	live := h.db.View()
	defer live.Release()
	fresh, err := synclog.Open(synclog.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	mux := &synclog.FolderMux{Change: FoldChange}
	mux.Handle("cursor", FoldSystem)
	if err := synclog.Rebuild(ctx, live, fresh, mux, 100); err != nil {
		t.Fatal(err)
	}
	rebuilt := fresh.View()
	defer rebuilt.Release()
	diff, err := synclog.DiffState(live, rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("replay differs from live: %s", diff)
	}
	// The workload reached every kind of state.
	for _, p := range []byte{synclog.PrefixRow, synclog.PrefixTomb, synclog.PrefixCursor, synclog.PrefixOpIndex} {
		it, err := rebuilt.NewIter([]byte{p}, []byte{p + 1})
		if err != nil {
			t.Fatal(err)
		}
		if !it.First() {
			t.Fatalf("keyspace %#x empty: the workload is too thin", p)
		}
		it.Close()
	}
}
