package engine

// History GC scenarios of sync-contract §5 (59–66) and the GC rules of
// §3.10 and §4.5.

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
)

// Scenario 59.
func TestGC_CollectsAcknowledgedOldEntries(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 5)
	h.age(3600) // every entry is now older than the window
	h.setCursor("ws-1", "alice", "dA", 3)
	h.setCursor("ws-1", "alice", "dB", 5)
	if res := h.gcLog("ws-1", 3600); res.Purged != 3 || res.HasMore {
		t.Fatalf("gc %+v, want purged 3", res)
	}
	vers, _ := h.logEntries("ws-1")
	if fmt.Sprint(vers) != "[4 5]" {
		t.Fatalf("remaining entries %v", vers)
	}
	if p := h.pull("ws-1", "alice", 3, 10); p.RequiresSnapshot || p.OldestRetainedVersion != 4 || len(p.Changes) != 2 {
		t.Fatalf("pull after gc %+v", p)
	}
	items, hw, _ := h.snapshotChain("ws-1", "alice", 100)
	if len(items) != 5 || hw != 5 {
		t.Fatalf("snapshot after gc: %d items @%d", len(items), hw)
	}
	// A second run finds nothing more.
	if res := h.gcLog("ws-1", 3600); res.Purged != 0 {
		t.Fatalf("second gc %+v", res)
	}
}

// Scenario 60.
func TestGC_KeepsEntriesWithinTheWindow(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 5)
	h.clock.add(time.Hour)
	if res := h.gcLog("ws-1", 86400); res.Purged != 0 || res.HasMore {
		t.Fatalf("gc %+v", res)
	}
	if h.logCount("ws-1") != 5 || h.floor("ws-1") != 0 {
		t.Fatal("entries within the window were collected")
	}
}

// Scenario 61 (canonical: SQLite's rule).
func TestGC_WithoutCursorsCollectsEveryOldEntry(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 5)
	h.age(3600)
	if res := h.gcLog("ws-1", 3600); res.Purged != 5 {
		t.Fatalf("gc %+v", res)
	}
	if h.logCount("ws-1") != 0 || h.floor("ws-1") != 5 {
		t.Fatalf("log %d entries, floor %d", h.logCount("ws-1"), h.floor("ws-1"))
	}
	// An up-to-date client needs no snapshot.
	if p := h.pull("ws-1", "alice", 5, 10); p.RequiresSnapshot || p.OldestRetainedVersion != 6 {
		t.Fatalf("pull %+v", p)
	}
}

// Scenario 62.
func TestGC_ExpiresCursorsSilentForAWholeWindow(t *testing.T) {
	h := newHarness(t)
	h.setCursor("ws-1", "alice", "dA", 0)
	h.pushThreads("ws-1", 5)
	h.age(3600)
	if res := h.gcLog("ws-1", 3600); res.Purged != 5 {
		t.Fatalf("gc %+v: the stale cursor still pinned history", res)
	}
	if h.cursorExists("ws-1", "dA") {
		t.Fatal("stale cursor not expired")
	}
	// The returning device's pull needs a snapshot.
	if p := h.pull("ws-1", "alice", 0, 10); !p.RequiresSnapshot {
		t.Fatalf("pull %+v", p)
	}
	// A device that is heard from keeps its cursor and pins history.
	h.pushThreads("ws-1", 3)
	h.age(3600)
	h.setCursor("ws-1", "alice", "dB", 6)
	if res := h.gcLog("ws-1", 3600); res.Purged != 1 || !h.cursorExists("ws-1", "dB") {
		t.Fatalf("gc %+v", res)
	}
}

// Scenario 63 and §4.5: tombstones go, the soft-deleted row stays and
// keeps blocking resurrection.
func TestGC_CollectsTombstonesButKeepsSoftDeletedRows(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t1", 1, "1:0:dA", newOpID(), thread("t1", "x")))
	h.push("ws-1", "alice", del("threads", "t1", 2, "2:0:dA", newOpID()))
	h.age(3600)
	h.setCursor("ws-1", "alice", "dA", 2)
	if res := h.gcTombs("ws-1", 3600); res.Purged != 1 || res.HasMore {
		t.Fatalf("gc tombstones %+v", res)
	}
	if _, found := h.tomb("ws-1", "threads", "t1"); found {
		t.Fatal("tombstone not collected")
	}
	row, found := h.row("ws-1", "threads", "t1")
	if !found || !rowDeleted(&row) {
		t.Fatalf("soft-deleted row gone: %+v", row)
	}
	items, _, _ := h.snapshotChain("ws-1", "alice", 10)
	if len(items) != 1 || items[0].Kind != "tombstone" || items[0].Revision.Clock != 2 || items[0].ServerDeletedAt == nil {
		t.Fatalf("snapshot %+v", items)
	}
	// Collect the log too; a stale put from an old outbox still loses.
	h.gcLog("ws-1", 3600)
	res := h.push("ws-1", "alice", put("threads", "t1", 1, "1:5:dA", newOpID(), thread("t1", "zombie")))
	wantApplied(t, res.Results[0], 3, false)
	if row, _ := h.row("ws-1", "threads", "t1"); !rowDeleted(&row) {
		t.Fatal("stale put resurrected the row")
	}
}

// Scenario 64. (3600.5 is refused by the HTTP decoder: api tests.)
func TestGC_RetentionBounds(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 2)
	h.age(3600)
	for _, sec := range []int64{-1, 0, 1, 3599, 31_536_001} {
		for name, gc := range map[string]func(context.Context, string, GCRequest) (GCResult, error){
			"change-log": h.eng.GCChangeLog, "tombstones": h.eng.GCTombstones} {
			_, err := gc(context.Background(), "alice", GCRequest{Scope: Scope{WorkspaceID: "ws-1"}, RetentionSeconds: sec})
			wantStatus(t, err, http.StatusBadRequest)
			_ = name
		}
	}
	if h.logCount("ws-1") != 2 {
		t.Fatal("a refused GC collected entries")
	}
	for _, sec := range []int64{31_536_000, 3600} {
		h.gcLog("ws-1", sec)
		h.gcTombs("ws-1", sec)
	}
	if h.logCount("ws-1") != 0 {
		t.Fatal("GC with 3600 collected nothing")
	}
}

// GC needs the owner role (api.md Decisions 3).
func TestGC_NeedsOwner(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 2)
	h.age(3600)
	for _, user := range []string{"bob", "victor", "mallory", ""} {
		_, err := h.eng.GCChangeLog(context.Background(), user, GCRequest{Scope: Scope{WorkspaceID: "ws-1"}, RetentionSeconds: 3600})
		if err == nil {
			t.Fatalf("%q may GC", user)
		}
	}
	if h.logCount("ws-1") != 2 {
		t.Fatal("a refused GC collected entries")
	}
}

// Scenario 65: paging is internal; each commit collects at most GCBatch
// entries and says whether more are eligible.
func TestGC_BatchesAreBounded(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 2*GCBatch+5)
	h.age(3600)
	n, more, err := h.eng.gcChangeLogBatch(context.Background(), "ws-1", time.Hour)
	if err != nil || n != GCBatch || !more || h.floor("ws-1") != GCBatch {
		t.Fatalf("batch: %d %v %v floor %d", n, more, err, h.floor("ws-1"))
	}
	res := h.gcLog("ws-1", 3600)
	if res.Purged != GCBatch+5 || res.HasMore || h.logCount("ws-1") != 0 {
		t.Fatalf("rest: %+v, %d left", res, h.logCount("ws-1"))
	}
	// The op_id index went with the entries.
	v := h.db.View()
	defer v.Release()
	it, err := v.NewIter([]byte{synclog.PrefixOpIndex}, []byte{synclog.PrefixOpIndex + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if it.First() {
		t.Fatalf("op index entry left: %q", it.Key())
	}
}

// Scenario 66.
func TestGC_SnapshotAfterFullGC(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice", put("messages", "message-1", 3, "3:0:dA", newOpID(), map[string]any{"id": "message-1", "thread_id": "t", "clock": 3}))
	opID := res.Results[0].OpID
	h.pushThreads("ws-1", 4)
	h.age(3600)
	h.setCursor("ws-1", "alice", "dA", 5)
	h.gcLog("ws-1", 3600)
	if h.logCount("ws-1") != 0 {
		t.Fatal("log not empty")
	}
	items, hw, _ := h.snapshotChain("ws-1", "alice", 100, "messages")
	if hw != 5 || len(items) != 1 || items[0].PK != "message-1" || items[0].Revision != (Revision{Clock: 3, HLC: "3:0:dA", OpID: opID}) {
		t.Fatalf("snapshot @%d: %+v", hw, items)
	}
}

// The maintenance loop's run collects every workspace under the
// configured retention and reports its state.
func TestGC_MaintenanceRunsEveryWorkspace(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-A", 3)
	h.pushThreads("ws-B", 4)
	h.push("ws-B", "alice", del("threads", "t1", 9, "9:0:dA", newOpID()))
	ids, err := h.eng.WorkspaceIDs(context.Background())
	if err != nil || fmt.Sprint(ids) != "[ws-A ws-B]" {
		t.Fatalf("workspaces %v %v", ids, err)
	}
	st, err := h.eng.Maintenance(context.Background())
	if err != nil || st.State != "idle" || st.LastRun != nil || st.Backlog == nil || *st.Backlog != 0 || !st.Enabled {
		t.Fatalf("state before %+v %v", st, err)
	}
	h.clock.add(31 * 24 * time.Hour)
	if err := h.eng.RunMaintenance(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.logCount("ws-A")+h.logCount("ws-B") != 0 {
		t.Fatal("maintenance left history")
	}
	if _, found := h.tomb("ws-B", "threads", "t1"); found {
		t.Fatal("maintenance left the tombstone")
	}
	st, err = h.eng.Maintenance(context.Background())
	if err != nil || st.State != "idle" || st.LastRun == nil || *st.LastRun != h.clock.now().UnixMilli() || *st.Backlog != 0 {
		t.Fatalf("state after %+v %v", st, err)
	}
}

// GC runs are events whose folds replay: rebuilding a collected log from
// its retained events gives the live counter (with its floor), op_id
// index, tombstones and cursors. (Rows of keys whose every entry was
// collected cannot come back from events; state is the checkpoint there,
// model.md §4.)
func TestGC_ReplayOfCollectedLogMatchesLive(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 20)
	h.push("ws-1", "alice", del("threads", "t3", 9, "9:0:dA", newOpID()))
	h.setCursor("ws-1", "alice", "old", 2)
	h.age(3600)
	h.setCursor("ws-1", "alice", "dA", 15)
	h.gcLog("ws-1", 3600)
	h.gcTombs("ws-1", 3600)
	h.pushThreads("ws-1", 3)
	src := h.db.View()
	defer src.Release()
	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	mux := &synclog.FolderMux{Change: FoldChange}
	mux.Handle("cursor", FoldSystem)
	mux.Handle("gc", FoldSystem)
	if err := synclog.Rebuild(context.Background(), src, dst, mux, 100); err != nil {
		t.Fatal(err)
	}
	got := dst.View()
	defer got.Release()
	for _, p := range []byte{synclog.PrefixOpIndex, synclog.PrefixCounter, synclog.PrefixTomb, synclog.PrefixTombByVersion, synclog.PrefixCursor} {
		a, b := dumpKeyspace(t, src, p), dumpKeyspace(t, got, p)
		if a != b {
			t.Fatalf("keyspace %#x differs after replay:\nlive   %.300s\nreplay %.300s", p, a, b)
		}
	}
}

func dumpKeyspace(t *testing.T, v *synclog.View, p byte) string {
	t.Helper()
	it, err := v.NewIter([]byte{p}, []byte{p + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := ""
	for ok := it.First(); ok; ok = it.Next() {
		out += fmt.Sprintf("%x=%x;", it.Key(), it.Value())
	}
	return out
}

// The background loop: it releases expired snapshot sessions and runs GC
// on its interval.
func TestGC_BackgroundLoopSweepsAndCollects(t *testing.T) {
	h := newHarness(t)
	eng, err := New(Config{DB: h.db, Roles: h.roles, Now: h.clock.now,
		History: HistoryConfig{MaintenanceInterval: 20 * time.Millisecond, SweepInterval: 10 * time.Millisecond, Retention: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	h.pushThreads("ws-1", 3)
	if _, err := eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1}); err != nil {
		t.Fatal(err)
	}
	h.age(3600)
	eng.Start()
	deadline := time.Now().Add(10 * time.Second)
	for eng.SnapshotSessions() != 0 || h.logCount("ws-1") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("loop did not run: %d sessions, %d entries", eng.SnapshotSessions(), h.logCount("ws-1"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := eng.Maintenance(context.Background())
	if err != nil || st.LastRun == nil || st.State == "failed" {
		t.Fatalf("state %+v %v", st, err)
	}
}

// The admin entry point collects both kinds to completion and checks the
// window.
func TestGC_CollectHistoryForAdmin(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", GCBatch+3)
	h.push("ws-1", "alice", del("threads", "t1", 9, "9:0:dA", newOpID()))
	if _, _, err := h.eng.CollectHistory(context.Background(), "ws-1", time.Minute); err == nil {
		t.Fatal("a one-minute window was accepted")
	}
	h.age(3600)
	ch, tb, err := h.eng.CollectHistory(context.Background(), "ws-1", time.Hour)
	if err != nil || ch.Purged != GCBatch+4 || ch.HasMore || tb.Purged != 1 {
		t.Fatalf("%+v %+v %v", ch, tb, err)
	}
}
