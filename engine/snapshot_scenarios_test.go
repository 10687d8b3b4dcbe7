package engine

// Snapshot scenarios of sync-contract §5 (67–76; 77 is legacy data syncd
// never writes), notification scoping (40), bad input, and a bootstrap
// under concurrent pushes.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
)

// Scenario 67.
func TestSnapshot_BootstrapWithoutHistory(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice", put("threads", "t1", 4, "4:0:dA", newOpID(), thread("t1", "kept")))
	h.collectHistory("ws-1", 1)
	items, hw, _ := h.snapshotChain("ws-1", "alice", 10)
	if hw != 1 || len(items) != 1 {
		t.Fatalf("snapshot @%d: %+v", hw, items)
	}
	it := items[0]
	if it.Kind != "row" || it.Revision != (Revision{Clock: 4, HLC: "4:0:dA", OpID: res.Results[0].OpID}) {
		t.Fatalf("item %+v", it)
	}
	var p map[string]any
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		t.Fatal(err)
	}
	for k, want := range thread("t1", "kept") {
		if k == "clock" {
			want = 4 // the winning revision's clock
		}
		if fmt.Sprint(p[k]) != fmt.Sprint(want) {
			t.Fatalf("payload %s: %s = %v, want %v", it.Payload, k, p[k], want)
		}
	}
	if p["hlc"] != "4:0:dA" {
		t.Fatalf("payload %s: hlc", it.Payload)
	}
}

// Scenario 68: the shared fixture, folded straight into the log (its op
// ids are not UUIDs, so no push could write them).
func TestSnapshot_SharedFixture(t *testing.T) {
	h := newHarness(t)
	b := h.db.NewBatch()
	defer b.Close()
	recs := map[uint64]*synclog.ChangeRecord{
		3: {Table: "messages", PK: "message-live", Op: synclog.OpPut, Payload: []byte(`{"id":"message-live","thread_id":"t"}`),
			Clock: 3, HLC: "1000-0-a", DeviceID: "dA", OpID: "put-3", CreatedAtMs: 1000_000},
		4: {Table: "messages", PK: "message-deleted", Op: synclog.OpDelete,
			Clock: 4, HLC: "1001-0-a", DeviceID: "dA", OpID: "delete-4", CreatedAtMs: 1001_000},
	}
	for _, v := range []uint64{3, 4} {
		if err := b.AppendEvent(synclog.ChangeKey("ws-1", v), recs[v]); err != nil {
			t.Fatal(err)
		}
		if err := FoldChange(b, "ws-1", v, recs[v]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetRecord(synclog.CounterKey("ws-1"), &synclog.CounterRecord{Counter: 7}); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	items, hw, pages := h.snapshotChain("ws-1", "alice", 1)
	if hw != 7 || pages != 2 || len(items) != 2 {
		t.Fatalf("@%d, %d pages: %+v", hw, pages, items)
	}
	del, live := items[0], items[1]
	if del.PK != "message-deleted" || del.Kind != "tombstone" || del.Revision != (Revision{4, "1001-0-a", "delete-4"}) || *del.ServerDeletedAt != 1001 {
		t.Fatalf("tombstone %+v", del)
	}
	if live.PK != "message-live" || live.Kind != "row" || live.Revision != (Revision{3, "1000-0-a", "put-3"}) {
		t.Fatalf("row %+v", live)
	}
}

// Scenario 69.
func TestSnapshot_ExactlyOnceOrdered(t *testing.T) {
	h := newHarness(t)
	delOp := del("projects", "project-deleted", 2, "2:0:dA", newOpID())
	h.push("ws-1", "alice",
		put("threads", "thread-b", 1, "1:0:dA", newOpID(), thread("thread-b", "b")),
		put("messages", "message-a", 1, "1:0:dA", newOpID(), map[string]any{"id": "message-a"}),
		put("projects", "project-deleted", 1, "1:0:dA", newOpID(), map[string]any{"id": "project-deleted"}),
		put("threads", "thread-a", 1, "1:0:dA", newOpID(), thread("thread-a", "a")),
		delOp)
	items, hw, pages := h.snapshotChain("ws-1", "alice", 2)
	want := "[messages:message-a:row projects:project-deleted:tombstone threads:thread-a:row threads:thread-b:row]"
	if hw != 5 || pages != 2 || fmt.Sprint(itemStrings(items)) != want {
		t.Fatalf("@%d, %d pages: %v", hw, pages, itemStrings(items))
	}
	if r := items[1].Revision; r.OpID != delOp.Stamp.OpID || r.Clock != 2 || items[1].ServerDeletedAt == nil {
		t.Fatalf("tombstone %+v", items[1])
	}
}

// Scenario 70.
func TestSnapshot_StableUnderConcurrentWrites(t *testing.T) {
	h := newHarness(t)
	threadOp := put("threads", "thread-a", 1, "1:0:dA", newOpID(), thread("thread-a", "before snapshot"))
	h.push("ws-1", "alice", threadOp,
		put("messages", "message-a", 1, "1:0:dA", newOpID(), map[string]any{"id": "message-a"}),
		put("projects", "project-a", 1, "1:0:dA", newOpID(), map[string]any{"id": "project-a"}))
	first, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
	if err != nil || first.HighWatermark != 3 || first.NextPageToken == nil {
		t.Fatalf("page 1: %+v %v", first, err)
	}
	later := []PendingOp{
		put("threads", "thread-a", 2, "2:0:dA", newOpID(), thread("thread-a", "after snapshot")),
		put("notifications", "n1", 1, "1:0:dA", newOpID(), map[string]any{"id": "n1", "type": "x", "title": "t"}),
		del("projects", "project-a", 2, "2:0:dA", newOpID()),
	}
	h.push("ws-1", "alice", later...)
	items := first.Items
	token := *first.NextPageToken
	for token != "" {
		res, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: token})
		if err != nil || res.HighWatermark != 3 || res.SnapshotID != first.SnapshotID {
			t.Fatalf("page: %+v %v", res, err)
		}
		items = append(items, res.Items...)
		token = ""
		if res.NextPageToken != nil {
			token = *res.NextPageToken
		}
	}
	if got := fmt.Sprint(itemStrings(items)); got != "[messages:message-a:row projects:project-a:row threads:thread-a:row]" {
		t.Fatalf("items %s", got)
	}
	if payloadField(t, items[2].Payload, "title") != "before snapshot" || items[2].Revision.OpID != threadOp.Stamp.OpID {
		t.Fatalf("thread %s %+v", items[2].Payload, items[2].Revision)
	}
	p := h.pull("ws-1", "alice", 3, 100)
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Stamp.OpID)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{later[0].Stamp.OpID, later[1].Stamp.OpID, later[2].Stamp.OpID}) {
		t.Fatalf("pull after the watermark: %v", got)
	}
}

// Scenario 71.
func TestSnapshot_TokenBoundToTableFilter(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 3)
	res, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, Tables: []string{"threads"}})
	if err != nil || res.NextPageToken == nil {
		t.Fatalf("%+v %v", res, err)
	}
	tok := *res.NextPageToken
	e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: tok, Tables: []string{"messages"}})
	if e == nil || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "cannot change") {
		t.Fatalf("other filter: %v", e)
	}
	// The same filter, or none (canonical: compared only when supplied), goes on.
	for _, tables := range [][]string{{"threads"}, {" threads ", "threads"}, nil} {
		if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: tok, Tables: tables}); e != nil {
			t.Fatalf("tables %q: %v", tables, e)
		}
	}
}

// Scenario 72 (api.md Overrides: 410).
func TestSnapshot_TokenBoundToUser(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 3)
	res, _ := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
	e := h.snapErr("bob", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: *res.NextPageToken})
	if e == nil || e.Status != http.StatusGone {
		t.Fatalf("bob's continuation: %v", e)
	}
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: *res.NextPageToken}); e != nil {
		t.Fatalf("alice's continuation after bob's try: %v", e)
	}
}

// Scenario 73, and the janitor releasing expired sessions.
func TestSnapshot_TokenExpiresAfterOneHour(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 3)
	res, _ := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
	res2, _ := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
	h.clock.add(SnapshotTTL - time.Second)
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: *res.NextPageToken}); e != nil {
		t.Fatalf("before expiry: %v", e)
	}
	h.clock.add(time.Second)
	e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: *res.NextPageToken})
	if e == nil || e.Status != http.StatusGone || e.Message != "Snapshot expired or unavailable" {
		t.Fatalf("after expiry: %v", e)
	}
	if n := h.eng.snaps.sweep(h.clock.now()); n != 1 || h.eng.SnapshotSessions() != 0 {
		t.Fatalf("janitor released %d, %d left", n, h.eng.SnapshotSessions())
	}
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: *res2.NextPageToken}); e == nil || e.Status != http.StatusGone {
		t.Fatalf("swept session: %v", e)
	}
}

// Scenario 74.
func TestSnapshot_TokenBoundToWorkspace(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-A", 3)
	res, _ := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-A"}, PageSize: 1})
	e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-B"}, PageSize: 1, PageToken: *res.NextPageToken})
	if e == nil || e.Status != http.StatusForbidden {
		t.Fatalf("other workspace: %v", e)
	}
}

// Scenario 75 and the bad input: each answer is the spec's status
// and nothing changes (no session opens, the chain goes on).
func TestSnapshot_BadInput(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 3)
	res, _ := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
	good := *res.NextPageToken
	sessions := h.eng.SnapshotSessions()
	tok := decodeTok(t, good)
	other := tok
	other.id[0] ^= 0xff
	cases := []struct {
		name   string
		user   string
		req    SnapshotRequest
		status int
	}{
		{"pageSize 0", "alice", SnapshotRequest{PageSize: 0}, 400},
		{"pageSize -1", "alice", SnapshotRequest{PageSize: -1}, 400},
		{"pageSize 1001", "alice", SnapshotRequest{PageSize: 1001}, 400},
		{"garbage token", "alice", SnapshotRequest{PageSize: 1, PageToken: "not a token!"}, 400},
		{"base64 garbage", "alice", SnapshotRequest{PageSize: 1, PageToken: "AAAA"}, 400},
		{"oversized token", "alice", SnapshotRequest{PageSize: 1, PageToken: strings.Repeat("A", MaxSnapshotToken+1)}, 400},
		{"bad table", "alice", SnapshotRequest{PageSize: 1, Tables: []string{"nope"}}, 400},
		{"too many tables", "alice", SnapshotRequest{PageSize: 1, Tables: make([]string, 51)}, 400},
		{"unknown session", "alice", SnapshotRequest{PageSize: 1, PageToken: encodeSnapToken(other)}, 410},
		{"non-member", "mallory", SnapshotRequest{PageSize: 1}, 403},
		{"no user", "", SnapshotRequest{PageSize: 1}, 401},
		{"empty scope", "alice", SnapshotRequest{Scope: Scope{WorkspaceID: " "}, PageSize: 1}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.Scope.WorkspaceID == "" {
				c.req.Scope.WorkspaceID = "ws-1"
			}
			e := h.snapErr(c.user, c.req)
			if e == nil || e.Status != c.status {
				t.Fatalf("got %v, want %d", e, c.status)
			}
		})
	}
	if h.eng.SnapshotSessions() != sessions {
		t.Fatalf("bad input opened sessions: %d → %d", sessions, h.eng.SnapshotSessions())
	}
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: good}); e != nil {
		t.Fatalf("the chain after bad input: %v", e)
	}
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, Tables: []string{"nope"}}); !strings.Contains(e.Message, "Invalid snapshot table: nope") {
		t.Fatalf("message %q", e.Message)
	}
}

func decodeTok(t *testing.T, s string) snapToken {
	t.Helper()
	tok, err := decodeSnapToken(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Scenario 76, over a random workspace and page sizes, with another
// user's notifications in it.
func TestSnapshot_PageBound(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(76, 76))
	tables := Tables()
	var ops []PendingOp
	for i := range 300 {
		table := tables[rng.IntN(len(tables))]
		pk := fmt.Sprintf("k%03d", rng.IntN(120))
		if table == "file_meta" {
			pk = fmt.Sprintf("sha256:%064x", rng.IntN(120))
		}
		payload := map[string]any{PKField(table): pk, "n": i}
		user := "alice"
		if table == "notifications" && rng.IntN(2) == 0 {
			user = "bob"
		}
		op := put(table, pk, int64(i), fmt.Sprintf("%d:0:dA", i), newOpID(), payload)
		if rng.IntN(5) == 0 {
			op = del(table, pk, int64(i), fmt.Sprintf("%d:0:dA", i), newOpID())
		}
		ops = append(ops, op)
		res, err := h.eng.Push(context.Background(), user, PushBatch{Scope: Scope{WorkspaceID: "ws-1"}, Ops: []PendingOp{op}})
		if err != nil {
			t.Fatal(err)
		}
		_ = res
	}
	want, n := h.serverDigest("ws-1", "alice")
	for _, size := range []int64{1, 2, 7, 100, 1000} {
		items, _, pages := h.snapshotChain("ws-1", "alice", size)
		c := clientState{}
		c.install(items)
		if len(items) != n || c.digest() != want {
			t.Fatalf("pageSize %d: %d items in %d pages, digest differs (want %d items)", size, len(items), pages, n)
		}
		for _, it := range items {
			if it.TableName == "notifications" {
				var p map[string]any
				_ = json.Unmarshal(it.Payload, &p)
				if it.Kind == "row" && p["user_id"] != "alice" {
					t.Fatalf("bob's notification in alice's snapshot: %s", it.Payload)
				}
			}
		}
	}
	_ = ops
}

// Scenario 40 (snapshot half): each user sees only their notifications.
func TestSnapshot_NotificationsScopedToOwner(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "thread-1", 1, "1:0:dA", newOpID(), thread("thread-1", "x")))
	h.push("ws-1", "alice", put("notifications", "notification-own", 1, "1:0:dA", newOpID(), map[string]any{"id": "notification-own"}))
	h.push("ws-1", "bob", put("notifications", "notification-other", 1, "1:0:dA", newOpID(), map[string]any{"id": "notification-other"}))
	h.push("ws-1", "bob", del("notifications", "notification-other", 2, "2:0:dA", newOpID()))
	items, _, _ := h.snapshotChain("ws-1", "alice", 10)
	if got := fmt.Sprint(itemStrings(items)); got != "[notifications:notification-own:row threads:thread-1:row]" {
		t.Fatalf("alice: %s", got)
	}
	items, _, _ = h.snapshotChain("ws-1", "bob", 10)
	if got := fmt.Sprint(itemStrings(items)); got != "[notifications:notification-other:tombstone threads:thread-1:row]" {
		t.Fatalf("bob: %s", got)
	}
}

// The bound on open sessions: the next first page is 503, a continuation
// still works, and a session freed by expiry makes room.
func TestSnapshot_SessionBound(t *testing.T) {
	h := newHarness(t)
	h.eng.snaps.max = 2
	h.pushThreads("ws-1", 3)
	var tokens []string
	for range 2 {
		res, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, *res.NextPageToken)
	}
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1}); e == nil || e.Status != http.StatusServiceUnavailable {
		t.Fatalf("third session: %v", e)
	}
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: tokens[0]}); e != nil {
		t.Fatalf("continuation: %v", e)
	}
	h.clock.add(SnapshotTTL)
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1}); e != nil {
		t.Fatalf("after expiry: %v", e)
	}
}

// Sessions do not survive a restart: a continuation answers 410.
func TestSnapshot_RestartEndsSessions(t *testing.T) {
	h := newHarness(t)
	h.pushThreads("ws-1", 3)
	res, _ := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
	h.reopen()
	if e := h.snapErr("alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1, PageToken: *res.NextPageToken}); e == nil || e.Status != http.StatusGone {
		t.Fatalf("after restart: %v", e)
	}
}

// The end-to-end check: a client bootstraps by snapshot while
// another client keeps pushing, then pulls from the watermark; its rebuilt
// state equals the server's.
func TestSnapshot_BootstrapUnderConcurrentPushesConverges(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(7, 7))
	mkOp := func(rng *rand.Rand, i int) PendingOp {
		table := []string{"threads", "messages", "kv", "notifications"}[rng.IntN(4)]
		pk := fmt.Sprintf("k%02d", rng.IntN(60))
		clock := int64(rng.IntN(50))
		hlc := fmt.Sprintf("%05d:%d:dB", clock, i)
		if rng.IntN(4) == 0 {
			return onDevice(del(table, pk, clock, hlc, newOpID()), "dB")
		}
		return onDevice(put(table, pk, clock, hlc, newOpID(), map[string]any{"id": pk, "v": i}), "dB")
	}
	for i := range 200 {
		h.push("ws-1", "alice", mkOp(rng, i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var pushed atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(8, 8))
		for i := 1000; !stop.Load(); i++ {
			ops := []PendingOp{mkOp(rng, i), mkOp(rng, i+100000)}
			if _, err := h.eng.Push(context.Background(), "alice", PushBatch{Scope: Scope{WorkspaceID: "ws-1"}, Ops: ops}); err != nil {
				t.Errorf("push: %v", err)
				return
			}
			pushed.Add(2)
		}
	}()
	// Page slowly so pushes land between pages.
	var items []SnapshotItem
	token, hw := "", uint64(0)
	for {
		res, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 5, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		hw = res.HighWatermark
		items = append(items, res.Items...)
		if res.NextPageToken == nil {
			break
		}
		token = *res.NextPageToken
		for start := pushed.Load(); pushed.Load() < start+2 && !t.Failed(); {
			time.Sleep(100 * time.Microsecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	if h.counter("ws-1") <= hw+10 {
		t.Fatalf("only %d versions after the watermark %d: the pusher did not overlap", h.counter("ws-1")-hw, hw)
	}
	c := clientState{}
	c.install(items)
	cursor := int64(hw)
	for {
		p := h.pull("ws-1", "alice", cursor, 100)
		if p.RequiresSnapshot {
			t.Fatal("requiresSnapshot")
		}
		for _, ch := range p.Changes {
			if ch.ServerVersion <= hw {
				t.Fatalf("change v%d at or below the watermark %d", ch.ServerVersion, hw)
			}
			c.apply(ch)
		}
		cursor = int64(p.NextCursor)
		if !p.HasMore {
			break
		}
	}
	want, n := h.serverDigest("ws-1", "alice")
	if got := c.digest(); got != want {
		t.Fatalf("client state (%d keys) differs from the server's (%d keys)", len(c), n)
	}
	t.Logf("snapshot @%d with %d items, %d versions pulled after it, %d keys", hw, len(items), h.counter("ws-1")-hw, n)
}

// AppendJSON writes exactly what encoding/json writes for a page.
func TestSnapshot_AppendJSONMatchesEncodingJSON(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice",
		put("threads", "t<1>&\u2028", 1, "1:0:dA", newOpID(), map[string]any{"id": "t<1>&\u2028", "title": "é \"q\" <b>", "n": 1.5e3, "clock": 1}),
		put("messages", "m1", 2, "2:0:dA", newOpID(), map[string]any{"id": "m1", "data": map[string]any{"x": []any{1, "}"}}}),
		del("projects", "p1", 3, "3:0:dA", newOpID()))
	for _, size := range []int64{1, 10} {
		token := ""
		for {
			res, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: size, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(&res); err != nil {
				t.Fatal(err)
			}
			if got, want := string(res.AppendJSON(nil)), strings.TrimSuffix(buf.String(), "\n"); got != want {
				t.Fatalf("AppendJSON\n%s\nencoding/json\n%s", got, want)
			}
			if res.NextPageToken == nil {
				break
			}
			token = *res.NextPageToken
		}
	}
}

// SnapshotJSON writes, page by page, exactly what Snapshot + AppendJSON
// write for the same session, over a random workspace with deletes,
// soft deletes and other users' notifications.
func TestSnapshot_JSONPathMatchesGoPath(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(11, 11))
	for i := range 200 {
		table := Tables()[rng.IntN(7)]
		pk := fmt.Sprintf("k%02d\u00e9<%d>", rng.IntN(40), rng.IntN(2))
		if table == "file_meta" {
			pk = fmt.Sprintf("sha256:%064x", rng.IntN(40))
		}
		payload := map[string]any{PKField(table): pk, "n": i, "deleted": rng.IntN(8) == 0}
		if rng.IntN(2) == 0 {
			payload["hlc"] = fmt.Sprintf("%d:0:dA", i)
			payload["clock"] = i
		}
		op := put(table, pk, int64(i), fmt.Sprintf("%d:0:dA", i), newOpID(), payload)
		if rng.IntN(5) == 0 {
			op = del(table, pk, int64(i), fmt.Sprintf("%d:0:dA", i), newOpID())
		}
		user := []string{"alice", "bob"}[rng.IntN(2)]
		if _, err := h.eng.Push(context.Background(), user, PushBatch{Scope: Scope{WorkspaceID: "ws-1"}, Ops: []PendingOp{op}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int64{1, 3, 50, 1000} {
		first, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: size})
		if err != nil {
			t.Fatal(err)
		}
		pages := 1
		for tok := first.NextPageToken; tok != nil; pages++ {
			req := SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: size, PageToken: *tok}
			res, err := h.eng.Snapshot(context.Background(), "alice", req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := h.eng.SnapshotJSON(context.Background(), "alice", req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := res.AppendJSON(nil); string(got) != string(want) {
				t.Fatalf("pageSize %d page %d:\nJSON path %s\nGo path   %s", size, pages+1, got, want)
			}
			tok = res.NextPageToken
		}
		// A first page through the JSON path is the same page under a new id.
		got, err := h.eng.SnapshotJSON(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: size}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var page SnapshotResponse
		if err := json.Unmarshal(got, &page); err != nil {
			t.Fatalf("%v: %s", err, got)
		}
		page.SnapshotID = first.SnapshotID
		if page.NextPageToken != nil {
			tok := decodeTok(t, *page.NextPageToken)
			tok.id = decodeTok(t, *first.NextPageToken).id
			s := encodeSnapToken(tok)
			page.NextPageToken = &s
		}
		if a, b := string(page.AppendJSON(nil)), string(first.AppendJSON(nil)); a != b {
			t.Fatalf("first page:\n%s\n%s", a, b)
		}
	}
}
