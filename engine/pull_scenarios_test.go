package engine

// Pull and retention scenarios of sync-contract §5 (41–48, 50; 49 is legacy
// data syncd never writes), with api.md's limit override.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/or3/syncd/syncerr"
)

// collectHistory collects ws's history up to floor with the real GC: the
// clock moves past a one-hour window, a fresh device cursor at floor pins
// everything above it, and gc-change-log runs (it deletes the entries with
// their op_id index entries and records the floor pull's retention rule
// reads).
func (h *harness) collectHistory(ws string, floor uint64) {
	h.t.Helper()
	h.age(MinRetentionSeconds)
	h.setCursor(ws, "alice", "gc-floor", int64(floor))
	h.gcLog(ws, MinRetentionSeconds)
	if got := h.floor(ws); got != floor {
		h.t.Fatalf("collectHistory: floor %d, want %d", got, floor)
	}
}

// pushThreads pushes n new thread puts to ws, one op per key.
func (h *harness) pushThreads(ws string, n int) []PendingOp {
	h.t.Helper()
	var ops []PendingOp
	for i := range n {
		pk := fmt.Sprintf("t%d", h.counter(ws)+uint64(i)+1)
		ops = append(ops, put("threads", pk, 1, "1:0:dA", newOpID(), thread(pk, pk)))
	}
	for len(ops) > 0 {
		k := min(len(ops), MaxPushOps)
		h.push(ws, "alice", ops[:k]...)
		ops = ops[k:]
	}
	_, recs := h.logEntries(ws)
	out := make([]PendingOp, 0, n)
	for _, r := range recs[len(recs)-n:] {
		out = append(out, PendingOp{TableName: r.Table, Operation: opName(r.Op), PK: r.PK, Payload: r.Payload,
			Stamp: Stamp{DeviceID: r.DeviceID, OpID: r.OpID, HLC: r.HLC, Clock: r.Clock}})
	}
	return out
}

func versions(p PullResponse) []uint64 {
	out := make([]uint64, 0, len(p.Changes))
	for _, c := range p.Changes {
		out = append(out, c.ServerVersion)
	}
	return out
}

func (h *harness) pullReq(user string, req PullRequest) (PullResponse, error) {
	return h.eng.Pull(context.Background(), user, req)
}

func intp(n int) *int { return &n }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// Scenario 41.
func TestPull_AfterCursor(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 3)
	p := h.pull("ws-1", "alice", 1, 10)
	if fmt.Sprint(versions(p)) != "[2 3]" || p.HasMore || p.NextCursor != 3 || p.RequiresSnapshot || p.OldestRetainedVersion != 1 {
		t.Fatalf("pull %+v", p)
	}
}

// Scenario 42.
func TestPull_LimitAndHasMore(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 5)
	p := h.pull("ws-1", "alice", 0, 3)
	if fmt.Sprint(versions(p)) != "[1 2 3]" || !p.HasMore || p.NextCursor != 3 {
		t.Fatalf("pull %+v", p)
	}
	p = h.pull("ws-1", "alice", 3, 3)
	if fmt.Sprint(versions(p)) != "[4 5]" || p.HasMore || p.NextCursor != 5 {
		t.Fatalf("second page %+v", p)
	}
	// Exactly limit rows left: no more.
	if p := h.pull("ws-1", "alice", 2, 3); p.HasMore || p.NextCursor != 5 {
		t.Fatalf("exact page %+v", p)
	}
}

// Scenario 43 as api.md overrides it: a missing limit is 100; a limit
// outside 1..1000 (0, negative, 5000) is a 400, not a clamp.
func TestPull_LimitDefaultsAndBounds(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 101)
	p, err := h.pullReq("alice", PullRequest{Scope: Scope{WorkspaceID: "ws-1"}})
	if err != nil || len(p.Changes) != DefaultPullLimit || !p.HasMore || p.NextCursor != 100 {
		t.Fatalf("missing limit: %v %d changes hasMore %v next %d", err, len(p.Changes), p.HasMore, p.NextCursor)
	}
	for _, limit := range []int{0, -1, 1001, 5000} {
		_, err := h.pullReq("alice", PullRequest{Scope: Scope{WorkspaceID: "ws-1"}, Limit: intp(limit)})
		wantSyncErr(t, err, 400, syncerr.CodeValidation)
	}
	for _, limit := range []int{1, 1000} {
		p, err := h.pullReq("alice", PullRequest{Scope: Scope{WorkspaceID: "ws-1"}, Limit: intp(limit)})
		if err != nil || len(p.Changes) != min(limit, 101) {
			t.Fatalf("limit %d: %v %d changes", limit, err, len(p.Changes))
		}
	}
	_, err = h.pullReq("alice", PullRequest{Scope: Scope{WorkspaceID: "ws-1"}, Cursor: -1, Limit: intp(10)})
	wantSyncErr(t, err, 400, syncerr.CodeValidation)
}

// Scenario 44.
func TestPull_TableFilter(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice",
		put("threads", "t1", 1, "1:0:dA", newOpID(), thread("t1", "a")),
		put("messages", "m1", 1, "1:0:dA", newOpID(), message("m1", "t1")),
		put("threads", "t2", 1, "1:0:dA", newOpID(), thread("t2", "b")))
	p := h.pull("ws-1", "alice", 0, 10, "threads")
	if len(p.Changes) != 2 || p.Changes[0].TableName != "threads" || p.Changes[1].TableName != "threads" || p.NextCursor != 3 {
		t.Fatalf("pull %+v", p)
	}
	// A filtered-out tail still advances the cursor (Convex's rule, canonical).
	if p := h.pull("ws-1", "alice", 0, 2, "messages", " messages "); len(p.Changes) != 1 || p.NextCursor != 2 || !p.HasMore {
		t.Fatalf("messages page %+v", p)
	}
	_, err := h.pullReq("alice", PullRequest{Scope: Scope{WorkspaceID: "ws-1"}, Limit: intp(10), Tables: []string{"nope"}})
	wantSyncErr(t, err, 400, syncerr.CodeValidation)
}

// Scenario 45.
func TestPull_EmptyWorkspace(t *testing.T) {
	h := newHarness(t)
	p := h.pull("ws-1", "alice", 0, 10)
	if len(p.Changes) != 0 || p.Changes == nil || p.HasMore || p.NextCursor != 0 || p.OldestRetainedVersion != 1 || p.RequiresSnapshot {
		t.Fatalf("pull %+v", p)
	}
	raw, _ := json.Marshal(p)
	if string(raw) != `{"changes":[],"nextCursor":0,"hasMore":false,"oldestRetainedVersion":1,"requiresSnapshot":false}` {
		t.Fatalf("wire form %s", raw)
	}
}

// Scenario 46: the pulled change is the op as pushed (its payload
// compacted, api.md Overrides), not the merged row.
func TestPull_PayloadFidelity(t *testing.T) {
	h := newHarness(t)
	raw := `{ "id": "t1", "title": "kept \"as sent\"", "status": "ready", "extra": {"b": 1, "a": [1.50, 2e3]},
		"deleted": false, "pinned": false, "created_at": 1, "updated_at": 1, "clock": 7 }`
	op := onDevice(withPayload(put("threads", "t1", 7, "1736648823456:0003:abc12345", newOpID(), nil), raw), "device-9")
	h.push("ws-1", "alice", op)
	// A loser is pulled with its own payload too.
	loser := put("threads", "t1", 1, "0:0:dA", newOpID(), thread("t1", "loser"))
	h.push("ws-1", "alice", loser)
	p := h.pull("ws-1", "alice", 0, 10)
	if len(p.Changes) != 2 {
		t.Fatalf("pull %+v", p)
	}
	c := p.Changes[0]
	want := `{"id":"t1","title":"kept \"as sent\"","status":"ready","extra":{"b":1,"a":[1.50,2e3]},"deleted":false,"pinned":false,"created_at":1,"updated_at":1,"clock":7}`
	if string(c.Payload) != want {
		t.Fatalf("payload\n%s\nwant\n%s", c.Payload, want)
	}
	if c.Stamp != op.Stamp || c.Op != "put" || c.TableName != "threads" || c.PK != "t1" || c.ServerVersion != 1 {
		t.Fatalf("change %+v, stamp want %+v", c, op.Stamp)
	}
	if payloadField(t, p.Changes[1].Payload, "title") != "loser" || p.Changes[1].Stamp != loser.Stamp {
		t.Fatalf("loser change %+v", p.Changes[1])
	}
	// A delete with no payload has none in pull.
	h.push("ws-1", "alice", del("threads", "t1", 9, "9:0:dA", newOpID()))
	if c := h.pull("ws-1", "alice", 2, 10).Changes[0]; c.Op != "delete" || c.Payload != nil {
		t.Fatalf("delete change %+v", c)
	}
}

// Scenario 47.
func TestPull_RetentionAfterGCPastCursor(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 5)
	h.collectHistory("ws-1", 3)
	p := h.pull("ws-1", "alice", 3, 10)
	if p.RequiresSnapshot || fmt.Sprint(versions(p)) != "[4 5]" || p.OldestRetainedVersion != 4 || p.NextCursor != 5 {
		t.Fatalf("cursor 3: %+v", p)
	}
	p = h.pull("ws-1", "alice", 2, 10)
	want := PullResponse{Changes: []SyncChange{}, NextCursor: 2, HasMore: false, OldestRetainedVersion: 4, RequiresSnapshot: true}
	if got, exp := mustJSON(t, p), mustJSON(t, want); got != exp {
		t.Fatalf("cursor 2: %+v, want %+v", p, want)
	}
	for _, c := range []int64{0, 1} {
		if p := h.pull("ws-1", "alice", c, 10); !p.RequiresSnapshot || len(p.Changes) != 0 || p.NextCursor != uint64(c) {
			t.Fatalf("cursor %d: %+v", c, p)
		}
	}
	// Pushing continues gap-free above the collected history.
	res := h.push("ws-1", "alice", put("threads", "t6", 1, "1:0:dA", newOpID(), thread("t6", "x")))
	wantApplied(t, res.Results[0], 6, true)
}

// Scenario 48.
func TestPull_FullyCollectedLog(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 5)
	h.collectHistory("ws-1", 5)
	if h.logCount("ws-1") != 0 {
		t.Fatal("log not empty")
	}
	p := h.pull("ws-1", "alice", 5, 10)
	if p.RequiresSnapshot || p.OldestRetainedVersion != 6 || len(p.Changes) != 0 || p.NextCursor != 5 || p.HasMore {
		t.Fatalf("cursor 5: %+v", p)
	}
	for _, c := range []int64{4, 0} {
		if p := h.pull("ws-1", "alice", c, 10); !p.RequiresSnapshot || p.OldestRetainedVersion != 6 || p.NextCursor != uint64(c) {
			t.Fatalf("cursor %d: %+v", c, p)
		}
	}
}

// model.md §4 (api.md Overrides): an op replayed after its entry was
// collected is new — a new version and entry that loses (applied:false,
// not replayed), so the row does not change.
func TestPush_ReplayAfterCollectionIsNewLosingOp(t *testing.T) {
	h := newHarness(t)
	ops := h.pushThreads("ws-1", 3)
	h.collectHistory("ws-1", 3)
	before, _ := h.row("ws-1", "threads", ops[0].PK)
	res := h.push("ws-1", "alice", ops[0])
	r := res.Results[0]
	wantApplied(t, r, 4, false)
	if r.Replayed {
		t.Fatalf("result %+v: a collected op is not a replay", r)
	}
	after, _ := h.row("ws-1", "threads", ops[0].PK)
	if after.Winner != before.Winner || after.ServerVersion != before.ServerVersion {
		t.Fatalf("row changed: %+v -> %+v", before, after)
	}
	// Now it is indexed again, so the next copy is a replay of v4.
	if r := h.push("ws-1", "alice", ops[0]).Results[0]; !r.Replayed || r.ServerVersion != 4 {
		t.Fatalf("second copy %+v", r)
	}
}

// Scenario 50: on a random log with hidden rows, table filters and every
// limit, each pull answer keeps the client's contract, and paging visits
// every visible change exactly once.
func TestPull_ContractHolds(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(50, 50))
	tables := []string{"threads", "messages", "notifications"}
	for range 12 {
		var ops []PendingOp
		for range 1 + rng.IntN(10) {
			pk := fmt.Sprintf("k%d", rng.IntN(10))
			switch tbl := tables[rng.IntN(len(tables))]; tbl {
			case "threads":
				ops = append(ops, put(tbl, pk, int64(rng.IntN(4)), "h", newOpID(), thread(pk, "x")))
			case "messages":
				ops = append(ops, del(tbl, pk, int64(rng.IntN(4)), "h", newOpID()))
			default:
				ops = append(ops, put(tbl, "n-"+pk, 1, "h", newOpID(), notification("n-"+pk, nil)))
			}
		}
		user := []string{"alice", "bob"}[rng.IntN(2)]
		h.push("ws-1", user, ops...)
	}
	total := h.counter("ws-1")
	for _, user := range []string{"alice", "bob", "victor"} {
		for _, filter := range [][]string{nil, {"threads"}, {"notifications", "messages"}} {
			for _, limit := range []int{1, 2, 3, 7, 1000} {
				var all []SyncChange
				cursor := int64(0)
				for pages := 0; ; pages++ {
					if pages > int(total)+1 {
						t.Fatalf("%s %v limit %d: paging does not end", user, filter, limit)
					}
					p := h.pull("ws-1", user, cursor, limit, filter...)
					checkPullContract(t, cursor, limit, p)
					all = append(all, p.Changes...)
					if !p.HasMore {
						if p.NextCursor != total {
							t.Fatalf("last page ends at %d, counter %d", p.NextCursor, total)
						}
						break
					}
					cursor = int64(p.NextCursor)
				}
				one := h.pull("ws-1", user, 0, 1000, filter...)
				if fmt.Sprint(versions(one)) != fmt.Sprint(versions(PullResponse{Changes: all})) {
					t.Fatalf("%s %v limit %d: paged %v, whole %v", user, filter, limit, versions(PullResponse{Changes: all}), versions(one))
				}
				for _, c := range all {
					if c.TableName == "notifications" && payloadField(t, c.Payload, "user_id") != user {
						t.Fatalf("%s sees %s's notification", user, payloadField(t, c.Payload, "user_id"))
					}
				}
			}
		}
	}
}

// checkPullContract is the client's PullResponse contract (sync-contract
// §3.4).
func checkPullContract(t testing.TB, cursor int64, limit int, p PullResponse) {
	t.Helper()
	seen := map[string]bool{}
	for i, c := range p.Changes {
		if c.ServerVersion <= uint64(cursor) || c.ServerVersion > p.NextCursor {
			t.Fatalf("change v%d outside (%d, %d]", c.ServerVersion, cursor, p.NextCursor)
		}
		if i > 0 && c.ServerVersion <= p.Changes[i-1].ServerVersion {
			t.Fatalf("changes not ascending: %v", versions(p))
		}
		if seen[c.Stamp.OpID] {
			t.Fatalf("op %s twice", c.Stamp.OpID)
		}
		seen[c.Stamp.OpID] = true
	}
	if len(p.Changes) > limit || len(p.Changes) > MaxPullLimit {
		t.Fatalf("%d changes for limit %d", len(p.Changes), limit)
	}
	if p.NextCursor < uint64(cursor) || (p.HasMore && p.NextCursor <= uint64(cursor)) {
		t.Fatalf("cursor %d → next %d hasMore %v", cursor, p.NextCursor, p.HasMore)
	}
}
