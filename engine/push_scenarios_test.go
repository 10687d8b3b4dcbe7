package engine

// Push scenarios of sync-contract §5 (1–8, 10–19; 9 is host-only), with
// api.md's overrides, plus concurrency and subscription properties. Every
// test runs on real Pebble in t.TempDir() through the harness.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// --- helpers shared by the scenario files ---

// fixedOpID returns the v4 UUID spelled with one hex digit, e.g.
// fixedOpID('a') = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", for scenarios
// whose outcome depends on opId order.
func fixedOpID(c byte) string {
	r := func(n int) string { return strings.Repeat(string(c), n) }
	return r(8) + "-" + r(4) + "-4" + r(3) + "-8" + r(3) + "-" + r(12)
}

// onDevice returns op as sent by device dev.
func onDevice(op PendingOp, dev string) PendingOp {
	op.Stamp.DeviceID = dev
	return op
}

// withPayload returns op carrying the raw payload bytes.
func withPayload(op PendingOp, raw string) PendingOp {
	op.Payload = json.RawMessage(raw)
	return op
}

func message(pk, threadID string) map[string]any {
	return map[string]any{"id": pk, "thread_id": threadID, "role": "user", "index": 0, "order_key": "0001",
		"deleted": false, "created_at": 1, "updated_at": 1, "clock": 1}
}

// pushErr pushes a batch and returns the engine's answer as is.
func (h *harness) pushErr(ws, user string, ops ...PendingOp) (PushResult, error) {
	return h.eng.Push(context.Background(), user, PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: ops})
}

// wantSyncErr checks that err is a *syncerr.Error with the given status and
// code.
func wantSyncErr(t testing.TB, err error, status int, code string) *syncerr.Error {
	t.Helper()
	se, ok := syncerr.As(err)
	if !ok {
		t.Fatalf("error %v: want *syncerr.Error %d %s", err, status, code)
	}
	if se.Status != status || se.Code != code {
		t.Fatalf("error %v: status %d code %s, want %d %s", err, se.Status, se.Code, status, code)
	}
	return se
}

// wantOpErr checks that a result is a per-op failure with code, whose
// message contains msg.
func wantOpErr(t testing.TB, r OpResult, code, msg string) {
	t.Helper()
	if r.Success || r.ErrorCode != code || !strings.Contains(r.Error, msg) || r.ServerVersion != 0 {
		t.Fatalf("result %+v: want failure %s containing %q and no version", r, code, msg)
	}
}

// wantApplied checks a successful result's version and applied flag.
func wantApplied(t testing.TB, r OpResult, version uint64, applied bool) {
	t.Helper()
	if !r.Success || r.ServerVersion != version || r.Applied == nil || *r.Applied != applied {
		t.Fatalf("result %+v: want success at v%d applied=%v", r, version, applied)
	}
}

// logEntries returns ws's log entries in version order.
func (h *harness) logEntries(ws string) ([]uint64, []synclog.ChangeRecord) {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	it, err := v.NewIter(synclog.ChangePrefix(ws), synclog.PrefixEnd(synclog.ChangePrefix(ws)))
	if err != nil {
		h.t.Fatal(err)
	}
	defer it.Close()
	var vers []uint64
	var recs []synclog.ChangeRecord
	for ok := it.First(); ok; ok = it.Next() {
		r := synclog.ReadKey(it.Key())
		r.Str()
		ver := r.U64()
		var rec synclog.ChangeRecord
		if err := synclog.Decode(it.Key(), it.Value(), &rec); err != nil || r.Err() != nil {
			h.t.Fatalf("log entry %q: %v %v", it.Key(), err, r.Err())
		}
		vers = append(vers, ver)
		recs = append(recs, rec)
	}
	return vers, recs
}

// opIndex reads the op_id index entry of opID.
func (h *harness) opIndex(opID string) (synclog.OpIndexRecord, bool) {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	var idx synclog.OpIndexRecord
	found, err := synclog.GetRecord(v, synclog.OpIndexKey(opID), &idx)
	if err != nil {
		h.t.Fatal(err)
	}
	return idx, found
}

// checkGapFree checks that ws's log holds exactly versions 1..counter.
func (h *harness) checkGapFree(ws string) {
	h.t.Helper()
	vers, _ := h.logEntries(ws)
	ctr := h.counter(ws)
	if uint64(len(vers)) != ctr {
		h.t.Fatalf("%s: %d log entries, counter %d", ws, len(vers), ctr)
	}
	for i, v := range vers {
		if v != uint64(i+1) {
			h.t.Fatalf("%s: log entry %d has version %d (gap)", ws, i, v)
		}
	}
}

// recorder counts post-commit notifications.
type recorder struct {
	mu  sync.Mutex
	got []Committed
}

func (h *harness) record() *recorder {
	r := &recorder{}
	cancel := h.eng.Subscribe(func(c Committed) {
		r.mu.Lock()
		r.got = append(r.got, c)
		r.mu.Unlock()
	})
	h.t.Cleanup(cancel)
	return r
}

func (r *recorder) changes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.got {
		n += len(c.Changes)
	}
	return n
}

// --- scenarios ---

// Scenario 1.
func TestPush_MonotonicVersionsFromEmpty(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice",
		put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a")),
		put("threads", "t2", 1, "h1", newOpID(), thread("t2", "b")))
	wantApplied(t, res.Results[0], 1, true)
	wantApplied(t, res.Results[1], 2, true)
	if res.ServerVersion != 2 || h.counter("ws-1") != 2 || h.logCount("ws-1") != 2 {
		t.Fatalf("response %d, counter %d, log %d; want 2, 2, 2", res.ServerVersion, h.counter("ws-1"), h.logCount("ws-1"))
	}
}

// Scenario 2.
func TestPush_ContiguousAcrossBatches(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice",
		put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a")),
		put("threads", "t2", 1, "h1", newOpID(), thread("t2", "b")))
	res := h.push("ws-1", "alice", put("threads", "t3", 1, "h1", newOpID(), thread("t3", "c")))
	wantApplied(t, res.Results[0], 3, true)
	if res.ServerVersion != 3 {
		t.Fatalf("response version %d, want 3", res.ServerVersion)
	}
	h.checkGapFree("ws-1")
}

// Scenario 3: the second push of X is a pure replay — same version, no log
// row, no counter bump, no post-commit notification (which is what fires
// webhooks), replayed:true.
func TestPush_ReplayIsIdempotent(t *testing.T) {
	h := newHarness(t)
	rec := h.record()
	x := put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a"))
	first := h.push("ws-1", "alice", x)
	wantApplied(t, first.Results[0], 1, true)
	if rec.changes() != 1 {
		t.Fatalf("first push notified %d changes, want 1", rec.changes())
	}
	second := h.push("ws-1", "alice", x)
	r := second.Results[0]
	wantApplied(t, r, 1, true)
	if !r.Replayed || r.WasExisting == nil || !*r.WasExisting {
		t.Fatalf("replay result %+v: want replayed and wasExisting", r)
	}
	if second.ServerVersion != 1 || h.counter("ws-1") != 1 || h.logCount("ws-1") != 1 {
		t.Fatalf("after replay: response %d counter %d log %d, want 1 1 1", second.ServerVersion, h.counter("ws-1"), h.logCount("ws-1"))
	}
	if rec.changes() != 1 {
		t.Fatalf("replay notified subscribers (%d changes)", rec.changes())
	}
	// The same op sent by another editor is the same op: still a replay.
	if r := h.push("ws-1", "bob", x).Results[0]; !r.Replayed || r.ServerVersion != 1 {
		t.Fatalf("replay by another member: %+v", r)
	}
}

// Scenario 3, canonical replay "applied": true only while the op still
// holds the row (SQLite's rule).
func TestPush_ReplayAppliedTellsWhetherStillVisible(t *testing.T) {
	h := newHarness(t)
	x := put("threads", "t1", 1, "h1", newOpID(), thread("t1", "old"))
	h.push("ws-1", "alice", x)
	h.push("ws-1", "alice", put("threads", "t1", 2, "h2", newOpID(), thread("t1", "new")))
	r := h.push("ws-1", "alice", x).Results[0]
	wantApplied(t, r, 1, false)
	if !r.Replayed || r.Winner == nil || r.Winner.Kind != "put" || payloadField(t, r.Winner.Payload, "title") != "new" {
		t.Fatalf("replay of a superseded op: %+v", r)
	}
}

// Scenario 4.
func TestPush_MixedReplayAndNew(t *testing.T) {
	h := newHarness(t)
	x := put("threads", "t1", 1, "h1", newOpID(), thread("t1", "x"))
	h.push("ws-1", "alice", x)
	y := put("threads", "t2", 1, "h1", newOpID(), thread("t2", "y"))
	res := h.push("ws-1", "alice", x, y)
	wantApplied(t, res.Results[0], 1, true)
	wantApplied(t, res.Results[1], 2, true)
	if !res.Results[0].Replayed || res.Results[1].Replayed {
		t.Fatalf("replayed flags: %+v", res.Results)
	}
	_, recs := h.logEntries("ws-1")
	if len(recs) != 2 || recs[1].OpID != y.Stamp.OpID {
		t.Fatalf("log: %+v; want X then only Y", recs)
	}
}

// Scenario 5: same opId, same content in another key order → one op.
func TestPush_InBatchIdenticalDuplicate(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t0", 1, "h1", newOpID(), thread("t0", "seed")))
	id := newOpID()
	x := withPayload(put("threads", "t1", 1, "h1", id, nil), `{"id":"t1","title":"same","status":"ready","deleted":false,"pinned":false,"created_at":1,"updated_at":1,"clock":1}`)
	x2 := withPayload(put("threads", "t1", 1, "h1", id, nil), `{"clock":1,"updated_at":1,"created_at":1,"pinned":false,"deleted":false,"status":"ready","title":"same","id":"t1"}`)
	res := h.push("ws-1", "alice", x, x2)
	wantApplied(t, res.Results[0], 2, true)
	wantApplied(t, res.Results[1], 2, true)
	if h.counter("ws-1") != 2 || h.logCount("ws-1") != 2 {
		t.Fatalf("counter %d log %d, want 2 2", h.counter("ws-1"), h.logCount("ws-1"))
	}
}

// Scenario 6.
func TestPush_InBatchConflictingDuplicate(t *testing.T) {
	h := newHarness(t)
	z := newOpID()
	res := h.push("ws-1", "alice",
		put("threads", "t-a", 6, "h6", z, thread("t-a", "a")),
		del("threads", "t-a", 7, "h7", z))
	for _, r := range res.Results {
		wantOpErr(t, r, syncerr.CodeConflict, "Conflicting operations reuse op_id "+z)
	}
	if res.ServerVersion != 0 || h.counter("ws-1") != 0 || h.logCount("ws-1") != 0 {
		t.Fatalf("conflict consumed state: response %d counter %d log %d", res.ServerVersion, h.counter("ws-1"), h.logCount("ws-1"))
	}
	if _, found := h.row("ws-1", "threads", "t-a"); found {
		t.Fatal("conflicting duplicate wrote a row")
	}
	if _, found := h.opIndex(z); found {
		t.Fatal("conflicting duplicate claimed its op_id")
	}
}

// Scenario 7.
func TestPush_ProcessedOpIDReusedWithDifferentFingerprint(t *testing.T) {
	h := newHarness(t)
	q := newOpID()
	h.push("ws-1", "alice", put("threads", "t-fp", 1, "h1", q, thread("t-fp", "a")))
	res := h.push("ws-1", "alice", put("threads", "t-fp-other", 9, "h9", q, thread("t-fp-other", "b")))
	wantOpErr(t, res.Results[0], syncerr.CodeConflict, "reuses processed op_id "+q)
	if res.ServerVersion != 1 || h.logCount("ws-1") != 1 {
		t.Fatalf("response %d log %d, want 1 1", res.ServerVersion, h.logCount("ws-1"))
	}
	if _, found := h.row("ws-1", "threads", "t-fp-other"); found {
		t.Fatal("conflicting reuse wrote a row")
	}
}

// Scenario 8: the op_id index is global.
func TestPush_SameOpIDInOtherWorkspaceConflicts(t *testing.T) {
	h := newHarness(t)
	x := put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a"))
	h.push("ws-A", "alice", x)
	res := h.push("ws-B", "alice", x)
	wantOpErr(t, res.Results[0], syncerr.CodeConflict, "reuses processed op_id")
	if res.ServerVersion != 0 || h.counter("ws-B") != 0 || h.logCount("ws-B") != 0 {
		t.Fatalf("ws-B written: response %d counter %d log %d", res.ServerVersion, h.counter("ws-B"), h.logCount("ws-B"))
	}
	if _, found := h.row("ws-B", "threads", "t1"); found {
		t.Fatal("ws-B got a row")
	}
	if idx, _ := h.opIndex(x.Stamp.OpID); idx.Workspace != "ws-A" || idx.Version != 1 {
		t.Fatalf("op index %+v, want ws-A v1", idx)
	}
}

// Scenario 10.
func TestPush_NonUUIDOpIDRejectedPerOp(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"not-a-uuid", "aaaaaaaa-aaaa-0aaa-8aaa-aaaaaaaaaaaa", "aaaaaaaa-aaaa-4aaa-caaa-aaaaaaaaaaaa", "aaaaaaaaaaaa4aaa8aaaaaaaaaaaaaaaaaaa"} {
		res := h.push("ws-1", "alice", put("threads", "t1", 1, "h1", id, thread("t1", "a")))
		wantOpErr(t, res.Results[0], syncerr.CodeValidation, "UUID")
	}
	// Upper-case hex is a UUID too.
	res := h.push("ws-1", "alice", put("threads", "t1", 1, "h1", strings.ToUpper(newOpID()), thread("t1", "a")))
	wantApplied(t, res.Results[0], 1, true)
	if h.counter("ws-1") != 1 {
		t.Fatalf("counter %d, want 1", h.counter("ws-1"))
	}
}

// Scenario 11.
func TestPush_InvalidTableIsolated(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t0", 1, "h1", newOpID(), thread("t0", "seed")))
	res := h.push("ws-1", "alice",
		put("evil_table", "x", 1, "h1", newOpID(), map[string]any{"id": "x"}),
		put("threads", "t-valid", 1, "h1", newOpID(), thread("t-valid", "ok")))
	wantOpErr(t, res.Results[0], syncerr.CodeValidation, "Invalid table: evil_table")
	wantApplied(t, res.Results[1], 2, true)
	if h.logCount("ws-1") != 2 {
		t.Fatalf("log %d, want 2", h.logCount("ws-1"))
	}
	h.checkGapFree("ws-1")
}

// Scenario 12.
func TestPush_PKMismatchRejected(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice",
		put("threads", "t-key", 1, "h1", newOpID(), thread("different-key", "a")),
		put("file_meta", "sha256:aa", 1, "h1", newOpID(), map[string]any{"hash": "sha256:bb", "deleted": false}))
	wantOpErr(t, res.Results[0], syncerr.CodeValidation, "'id' must match operation pk")
	wantOpErr(t, res.Results[1], syncerr.CodeValidation, "'hash' must match")
	for _, k := range [][2]string{{"threads", "t-key"}, {"threads", "different-key"}, {"file_meta", "sha256:aa"}, {"file_meta", "sha256:bb"}} {
		if _, found := h.row("ws-1", k[0], k[1]); found {
			t.Fatalf("row %v written", k)
		}
	}
	if h.counter("ws-1") != 0 {
		t.Fatalf("counter %d", h.counter("ws-1"))
	}
}

// Scenario 13.
func TestPush_WorkspaceIDImmutable(t *testing.T) {
	h := newHarness(t)
	other := thread("t1", "a")
	other["workspace_id"] = "ws-other"
	same := thread("t2", "b")
	same["workspace_id"] = "ws-1"
	res := h.push("ws-1", "alice",
		put("threads", "t1", 1, "h1", newOpID(), other),
		put("threads", "t2", 1, "h1", newOpID(), same))
	wantOpErr(t, res.Results[0], syncerr.CodeValidation, "'workspace_id' is immutable")
	wantApplied(t, res.Results[1], 1, true)
}

// Scenario 14.
func TestPush_UnderscoreIDRejected(t *testing.T) {
	h := newHarness(t)
	p := thread("t1", "a")
	p["_id"] = "doc-1"
	res := h.push("ws-1", "alice", put("threads", "t1", 1, "h1", newOpID(), p))
	wantOpErr(t, res.Results[0], syncerr.CodeValidation, "'_id' is immutable")
	if h.counter("ws-1") != 0 {
		t.Fatal("rejected op consumed a version")
	}
}

// Scenario 15.
func TestPush_NonObjectPayloadRejected(t *testing.T) {
	h := newHarness(t)
	bad := thread("t1", "a")
	bad["deleted"] = "yes"
	res := h.push("ws-1", "alice",
		withPayload(put("threads", "t1", 1, "h1", newOpID(), nil), `[1,2]`),
		withPayload(put("threads", "t1", 1, "h1", newOpID(), nil), `"x"`),
		withPayload(del("threads", "t1", 1, "h1", newOpID()), `[1,2]`),
		put("threads", "t1", 1, "h1", newOpID(), bad))
	for _, r := range res.Results[:3] {
		wantOpErr(t, r, syncerr.CodeValidation, "payload must be an object")
	}
	wantOpErr(t, res.Results[3], syncerr.CodeValidation, "deleted")
	if h.counter("ws-1") != 0 || h.logCount("ws-1") != 0 {
		t.Fatal("rejected ops consumed versions")
	}
}

// sizedThread returns a threads put payload whose compacted JSON is exactly
// n bytes; with spaced, the payload as sent also has whitespace between its
// tokens (which api.md's "compacted" rule does not count).
func sizedThread(t testing.TB, pk string, n int, spaced bool) string {
	t.Helper()
	prefix, suffix := `{"id":"`+pk+`","title":"`, `"}`
	pad := n - len(prefix) - len(suffix)
	if pad < 0 {
		t.Fatalf("size %d too small", n)
	}
	compact := prefix + strings.Repeat("a", pad) + suffix
	if !spaced {
		return compact
	}
	return "{ \"id\" :\n \"" + pk + "\" ,\t\"title\" : \"" + strings.Repeat("a", pad) + "\" }"
}

// Scenario 16 with api.md's override: one op's payload over 262,144
// compacted bytes fails alone with OVERSIZED.
func TestPush_PayloadSizeCeiling(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice",
		withPayload(put("threads", "t-120k", 1, "h1", newOpID(), nil), sizedThread(t, "t-120k", 120<<10, false)),
		withPayload(put("threads", "t-257k", 1, "h1", newOpID(), nil), sizedThread(t, "t-257k", 257<<10, false)))
	wantApplied(t, res.Results[0], 1, true)
	wantOpErr(t, res.Results[1], syncerr.CodeOversized, "Payload too large for threads")

	t.Run("boundary", func(t *testing.T) {
		res := h.push("ws-1", "alice",
			withPayload(put("threads", "t-max", 1, "h1", newOpID(), nil), sizedThread(t, "t-max", MaxPayloadBytes, false)),
			withPayload(put("threads", "t-over", 1, "h1", newOpID(), nil), sizedThread(t, "t-over", MaxPayloadBytes+1, false)),
			withPayload(del("threads", "t-over-del", 1, "h1", newOpID()), sizedThread(t, "t-over-del", MaxPayloadBytes+1, false)))
		wantApplied(t, res.Results[0], 2, true)
		wantOpErr(t, res.Results[1], syncerr.CodeOversized, "exceeds 262144 bytes")
		wantOpErr(t, res.Results[2], syncerr.CodeOversized, "Payload too large")
	})
	t.Run("whitespace is not counted", func(t *testing.T) {
		raw := sizedThread(t, "t-spaced", MaxPayloadBytes, true)
		if len(raw) <= MaxPayloadBytes {
			t.Fatalf("spaced payload is %d bytes; the case needs more than the limit", len(raw))
		}
		res := h.push("ws-1", "alice", withPayload(put("threads", "t-spaced", 1, "h1", newOpID(), nil), raw))
		wantApplied(t, res.Results[0], 3, true)
		row, _ := h.row("ws-1", "threads", "t-spaced")
		if len(row.Payload) != MaxPayloadBytes {
			t.Fatalf("stored payload %d bytes, want the compacted %d", len(row.Payload), MaxPayloadBytes)
		}
	})
	h.checkGapFree("ws-1")
}

// Scenario 17 with api.md Decisions 2: more than 100 ops or more than 2 MiB
// of compacted ops → the whole call fails with 400.
func TestPush_BatchLimits(t *testing.T) {
	h := newHarness(t)
	mk := func(n int) []PendingOp {
		ops := make([]PendingOp, n)
		for i := range ops {
			pk := fmt.Sprintf("t%03d", i)
			ops[i] = put("threads", pk, 1, "h1", newOpID(), thread(pk, "x"))
		}
		return ops
	}
	_, err := h.pushErr("ws-1", "alice", mk(101)...)
	wantSyncErr(t, err, 400, syncerr.CodeValidation)
	if h.counter("ws-1") != 0 {
		t.Fatal("rejected batch consumed versions")
	}
	res := h.push("ws-1", "alice", mk(100)...)
	if res.ServerVersion != 100 || h.logCount("ws-1") != 100 {
		t.Fatalf("100 ops: response %d, log %d", res.ServerVersion, h.logCount("ws-1"))
	}

	t.Run("over 2 MiB as measured by the decoder", func(t *testing.T) {
		ops := mk(1)
		_, err := h.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: "ws-1"}, Ops: ops, OpsBytes: MaxPushBatchBytes + 1})
		wantSyncErr(t, err, 400, syncerr.CodeValidation)
		res, err := h.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: "ws-1"}, Ops: ops, OpsBytes: MaxPushBatchBytes})
		if err != nil || !res.Results[0].Success {
			t.Fatalf("exactly 2 MiB: %v %+v", err, res)
		}
	})
	t.Run("over 2 MiB of payloads with no decoder size", func(t *testing.T) {
		// Nine payloads of 240 KiB each: every op is under the per-op
		// ceiling, the batch is over 2 MiB.
		before := h.counter("ws-1")
		ops := make([]PendingOp, 9)
		for i := range ops {
			pk := fmt.Sprintf("big%d", i)
			ops[i] = withPayload(put("threads", pk, 1, "h1", newOpID(), nil), sizedThread(t, pk, 240<<10, false))
		}
		_, err := h.pushErr("ws-1", "alice", ops...)
		wantSyncErr(t, err, 400, syncerr.CodeValidation)
		if h.counter("ws-1") != before {
			t.Fatal("rejected batch consumed versions")
		}
		// Eight of them (1.875 MiB) pass.
		if res := h.push("ws-1", "alice", ops[:8]...); res.ServerVersion != before+8 {
			t.Fatalf("8 big ops: %+v", res.ServerVersion)
		}
	})
	h.checkGapFree("ws-1")
}

// Scenario 18.
func TestPush_ViewerCannotPush(t *testing.T) {
	h := newHarness(t)
	_, err := h.pushErr("ws-1", "victor")
	wantSyncErr(t, err, 403, syncerr.CodeForbidden)
	_, err = h.pushErr("ws-1", "victor", put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a")))
	wantSyncErr(t, err, 403, syncerr.CodeForbidden)
	_, err = h.pushErr("ws-1", "mallory", put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a")))
	wantSyncErr(t, err, 403, syncerr.CodeForbidden)
	if h.counter("ws-1") != 0 {
		t.Fatal("refused push wrote")
	}
	h.push("ws-1", "bob", put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a")))
	if p := h.pull("ws-1", "victor", 0, 10); len(p.Changes) != 1 {
		t.Fatalf("viewer pull: %+v", p)
	}
}

// Scenario 19: one result per op, in input order, each version ≤ the
// response's.
func TestPush_ResultsCoverEveryOpInOrder(t *testing.T) {
	h := newHarness(t)
	replayed := put("threads", "t0", 1, "h1", newOpID(), thread("t0", "a"))
	h.push("ws-1", "alice", replayed)
	ops := []PendingOp{
		put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a")),
		put("nope", "x", 1, "h1", newOpID(), map[string]any{}),
		replayed,
		del("threads", "t1", 2, "h2", newOpID()),
		put("threads", "t2", 1, "h1", "bad-id", thread("t2", "a")),
		put("threads", "t0", 0, "h0", newOpID(), thread("t0", "stale")),
	}
	res := h.push("ws-1", "alice", ops...)
	for i, r := range res.Results {
		if r.OpID != ops[i].Stamp.OpID {
			t.Fatalf("result %d is for %s, want %s", i, r.OpID, ops[i].Stamp.OpID)
		}
		if r.ServerVersion > res.ServerVersion {
			t.Fatalf("result %d version %d above response %d", i, r.ServerVersion, res.ServerVersion)
		}
	}
	if res.ServerVersion != 4 || h.counter("ws-1") != 4 {
		t.Fatalf("response %d counter %d, want 4", res.ServerVersion, h.counter("ws-1"))
	}
	h.checkGapFree("ws-1")
}

// api.md Overrides: patch is refused per op, the rest of the batch proceeds.
func TestPush_PatchRefusedPerOp(t *testing.T) {
	h := newHarness(t)
	patch := put("threads", "t1", 2, "h2", newOpID(), map[string]any{"title": "b"})
	patch.Operation = "patch"
	res := h.push("ws-1", "alice", patch, put("threads", "t2", 1, "h1", newOpID(), thread("t2", "ok")))
	wantOpErr(t, res.Results[0], syncerr.CodeValidation, "patch")
	wantApplied(t, res.Results[1], 1, true)
	if h.logCount("ws-1") != 1 {
		t.Fatal("patch was logged")
	}
}

// 8 workspaces × 4 goroutines push random batches (new ops, replays,
// invalid ops, in-batch duplicates) at once: every workspace's log is
// 1..counter, every acknowledged op is logged exactly once at its version,
// and the op_id index points at it.
func TestPush_ConcurrentWorkspacesGapFree(t *testing.T) {
	h := newHarness(t)
	const nWS, nG, rounds = 8, 4, 20
	wss := make([]string, nWS)
	for i := range wss {
		wss[i] = fmt.Sprintf("ws-c%d", i)
		h.roles.set(wss[i], "alice", "owner")
	}
	type ack struct {
		ws string
		v  uint64
	}
	var mu sync.Mutex
	acks := map[string]ack{}
	var wg sync.WaitGroup
	for w := range nWS {
		for g := range nG {
			wg.Add(1)
			go func(ws string, seed uint64) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, 7))
				var mine []PendingOp
				for range rounds {
					n := 1 + rng.IntN(8)
					ops := make([]PendingOp, 0, n)
					for range n {
						pk := fmt.Sprintf("k%d", rng.IntN(6))
						clock := int64(rng.IntN(5))
						switch k := rng.IntN(10); {
						case k < 5:
							ops = append(ops, put("threads", pk, clock, fmt.Sprintf("h%d", rng.IntN(3)), newOpID(), thread(pk, fmt.Sprint(rng.Int()))))
						case k < 6:
							ops = append(ops, del("threads", pk, clock, "h1", newOpID()))
						case k < 8 && len(mine) > 0:
							ops = append(ops, mine[rng.IntN(len(mine))])
						case k < 9:
							ops = append(ops, put("threads", pk, clock, "h1", "not-a-uuid", thread(pk, "x")))
						case len(ops) > 0:
							ops = append(ops, ops[len(ops)-1])
						default:
							ops = append(ops, put("nope", pk, clock, "h1", newOpID(), thread(pk, "x")))
						}
					}
					res, err := h.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: ops})
					if err != nil {
						t.Errorf("%s: push: %v", ws, err)
						return
					}
					if len(res.Results) != len(ops) {
						t.Errorf("%s: %d results for %d ops", ws, len(res.Results), len(ops))
						return
					}
					mu.Lock()
					for i, r := range res.Results {
						if !r.Success {
							continue
						}
						if prev, ok := acks[r.OpID]; ok && (prev.ws != ws || prev.v != r.ServerVersion) {
							t.Errorf("op %s acknowledged at %s v%d and %s v%d", r.OpID, prev.ws, prev.v, ws, r.ServerVersion)
						}
						acks[r.OpID] = ack{ws, r.ServerVersion}
						mine = append(mine, ops[i])
					}
					mu.Unlock()
				}
			}(wss[w], uint64(w*nG+g))
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	perWS := map[string]int{}
	for _, a := range acks {
		perWS[a.ws]++
	}
	seen := map[string]bool{}
	for _, ws := range wss {
		h.checkGapFree(ws)
		vers, recs := h.logEntries(ws)
		if perWS[ws] != len(vers) {
			t.Fatalf("%s: %d acknowledged ops, %d log entries", ws, perWS[ws], len(vers))
		}
		for i, rec := range recs {
			if seen[rec.OpID] {
				t.Fatalf("op %s logged twice", rec.OpID)
			}
			seen[rec.OpID] = true
			a, ok := acks[rec.OpID]
			if !ok || a.ws != ws || a.v != vers[i] {
				t.Fatalf("%s v%d holds op %s acknowledged as %+v", ws, vers[i], rec.OpID, a)
			}
			if idx, found := h.opIndex(rec.OpID); !found || idx.Workspace != ws || idx.Version != vers[i] {
				t.Fatalf("op index of %s is %+v, want %s v%d", rec.OpID, idx, ws, vers[i])
			}
		}
	}
	if len(seen) != len(acks) {
		t.Fatalf("%d acknowledged ops, %d logged", len(acks), len(seen))
	}
}

// Two workspaces race with one brand-new opId, many times: exactly one
// push logs it, the other answers CONFLICT, and neither log has a gap.
func TestPush_SameNewOpIDTwoWorkspacesRace(t *testing.T) {
	h := newHarness(t)
	const rounds = 150
	wins := map[string]int{}
	for round := range rounds {
		id := newOpID()
		pk := fmt.Sprintf("race-%d", round)
		op := put("threads", pk, 1, "h1", id, thread(pk, "r"))
		start := make(chan struct{})
		var wg sync.WaitGroup
		var results [2]OpResult
		var errs [2]error
		for i, ws := range []string{"ws-A", "ws-B"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := h.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: []PendingOp{op}})
				errs[i] = err
				if err == nil {
					results[i] = res.Results[0]
				}
			}()
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v %v", round, errs[0], errs[1])
		}
		if results[0].Success == results[1].Success {
			t.Fatalf("round %d: both %v: %+v %+v", round, results[0].Success, results[0], results[1])
		}
		winner, loser := "ws-A", results[1]
		if !results[0].Success {
			winner, loser = "ws-B", results[0]
		}
		if loser.ErrorCode != syncerr.CodeConflict {
			t.Fatalf("round %d: loser %+v, want CONFLICT", round, loser)
		}
		wins[winner]++
		if idx, found := h.opIndex(id); !found || idx.Workspace != winner {
			t.Fatalf("round %d: op index %+v, want %s", round, idx, winner)
		}
	}
	if h.counter("ws-A")+h.counter("ws-B") != rounds {
		t.Fatalf("counters %d + %d, want %d", h.counter("ws-A"), h.counter("ws-B"), rounds)
	}
	h.checkGapFree("ws-A")
	h.checkGapFree("ws-B")
	t.Logf("wins: %v", wins)
}

// An opId that a push to one workspace rejects (here: an invalid table) is
// not processed, so a push of the same opId to another workspace while the
// first is still in flight succeeds (sync-contract §3.3: only a processed
// opId conflicts). The second push runs inside the first one's post-commit
// callback, i.e. deterministically while the first holds its claims.
func TestPush_RejectedOpIDDoesNotBlockOtherWorkspace(t *testing.T) {
	h := newHarness(t)
	x := newOpID()
	var inner OpResult
	var innerErr error
	done := false
	cancel := h.eng.Subscribe(func(c Committed) {
		if c.Workspace != "ws-A" || done {
			return
		}
		done = true
		res, err := h.pushErr("ws-B", "alice", put("threads", "t-x", 1, "h1", x, thread("t-x", "b")))
		innerErr = err
		if err == nil {
			inner = res.Results[0]
		}
	})
	defer cancel()
	res := h.push("ws-A", "alice",
		put("threads", "t-y", 1, "h1", newOpID(), thread("t-y", "a")),
		put("evil_table", "t-x", 1, "h1", x, thread("t-x", "a")))
	wantOpErr(t, res.Results[1], syncerr.CodeValidation, "Invalid table")
	if !done || innerErr != nil {
		t.Fatalf("inner push did not run: %v", innerErr)
	}
	wantApplied(t, inner, 1, true)
	if idx, _ := h.opIndex(x); idx.Workspace != "ws-B" {
		t.Fatalf("op index %+v, want ws-B", idx)
	}
}

// A subscriber sees every committed change exactly once, in version order
// per workspace, and only once the commit is in the durable view.
func TestSubscribe_DeliversCommittedInOrder(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	delivered := map[string][]SyncChange{}
	cancel := h.eng.Subscribe(func(c Committed) {
		// Durable: the published view already holds every change.
		v := h.db.View()
		defer v.Release()
		ctr, err := readCounter(v, c.Workspace)
		if err != nil || ctr.Counter < c.Counter {
			t.Errorf("%s: notified at counter %d, durable view has %d (%v)", c.Workspace, c.Counter, ctr.Counter, err)
		}
		for i, ch := range c.Changes {
			raw, err := v.Get(synclog.ChangeKey(c.Workspace, ch.ServerVersion))
			if err != nil || raw == nil {
				t.Errorf("%s v%d notified before it is durable", c.Workspace, ch.ServerVersion)
			}
			if i > 0 && ch.ServerVersion != c.Changes[i-1].ServerVersion+1 {
				t.Errorf("%s: changes of one commit not contiguous: %d after %d", c.Workspace, ch.ServerVersion, c.Changes[i-1].ServerVersion)
			}
		}
		if n := len(c.Changes); n > 0 && c.Changes[n-1].ServerVersion != c.Counter {
			t.Errorf("%s: last change v%d, counter %d", c.Workspace, c.Changes[n-1].ServerVersion, c.Counter)
		}
		mu.Lock()
		for _, ch := range c.Changes {
			delivered[c.Workspace] = append(delivered[c.Workspace], ch.SyncChange)
		}
		mu.Unlock()
	})

	wss := []string{"ws-1", "ws-A", "ws-B"}
	var wg sync.WaitGroup
	for gi := range 6 {
		wg.Add(1)
		go func(ws string, seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 3))
			var last PendingOp
			for i := range 15 {
				pk := fmt.Sprintf("k%d", rng.IntN(4))
				ops := []PendingOp{put("threads", pk, int64(i), "h", newOpID(), thread(pk, "x"))}
				if i > 0 {
					ops = append(ops, last) // a replay: never delivered again
				}
				if rng.IntN(3) == 0 {
					ops = append(ops, del("threads", pk, int64(i), "h", newOpID()))
				}
				if _, err := h.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: ws}, Ops: ops}); err != nil {
					t.Errorf("push: %v", err)
					return
				}
				last = ops[0]
				if rng.IntN(4) == 0 {
					if _, err := h.eng.ServerWrite(context.Background(), ServerOp{Workspace: ws, Table: "kv", PK: "srv", Operation: "put", Payload: []byte(`{"id":"srv","name":"n"}`)}); err != nil {
						t.Errorf("server write: %v", err)
						return
					}
				}
			}
		}(wss[gi%len(wss)], uint64(gi))
	}
	wg.Wait()
	cancel()
	h.push("ws-1", "alice", put("threads", "after-cancel", 1, "h", newOpID(), thread("after-cancel", "x")))

	for _, ws := range wss {
		got := delivered[ws]
		vers, recs := h.logEntries(ws)
		if ws == "ws-1" {
			vers, recs = vers[:len(vers)-1], recs[:len(recs)-1] // pushed after cancel
		}
		if len(got) != len(vers) {
			t.Fatalf("%s: %d delivered, %d committed", ws, len(got), len(vers))
		}
		for i, ch := range got {
			if ch.ServerVersion != vers[i] || ch.Stamp.OpID != recs[i].OpID {
				t.Fatalf("%s: delivery %d is v%d %s, want v%d %s", ws, i, ch.ServerVersion, ch.Stamp.OpID, vers[i], recs[i].OpID)
			}
		}
	}
}
