package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// marshalNoEscape is encoding/json without HTML escaping, the reference
// PullJSON must match byte for byte.
func marshalNoEscape(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func TestPullJSON_MatchesPull(t *testing.T) {
	h := newHarness(t)
	var ops []PendingOp
	for i := 0; i < 30; i++ {
		p := thread(fmt.Sprintf("t%d", i), fmt.Sprintf("title \"%d\" <b> & \u2028 é", i))
		ops = append(ops, put("threads", fmt.Sprintf("t%d", i), 1, "h1", newOpID(), p))
	}
	h.push("ws-1", "alice", ops...)
	h.push("ws-1", "alice", put("notifications", "n1", 1, "h", newOpID(), map[string]any{"id": "n1", "type": "x", "title": "mine", "deleted": false, "created_at": 1, "updated_at": 1, "clock": 1}))
	h.push("ws-1", "bob", put("notifications", "n2", 1, "h", newOpID(), map[string]any{"id": "n2", "type": "x", "title": "bob's", "deleted": false, "created_at": 1, "updated_at": 1, "clock": 1}))
	h.push("ws-1", "alice", del("threads", "t3", 2, "h2", newOpID()), put("messages", "m1", 1, "h", newOpID(), map[string]any{"id": "m1", "thread_id": "t1", "role": "user", "index": 1, "order_key": "k", "deleted": false, "created_at": 1, "updated_at": 1, "clock": 1}))
	ctx := context.Background()
	for _, tc := range []struct {
		user   string
		cursor int64
		limit  int
		tables []string
	}{
		{"alice", 0, 1000, nil}, {"bob", 0, 1000, nil}, {"alice", 5, 7, nil}, {"alice", 0, 3, []string{"messages"}},
		{"victor", 31, 1, nil}, {"alice", 34, 10, nil}, {"alice", 100, 10, nil},
	} {
		limit := tc.limit
		req := PullRequest{Scope: Scope{WorkspaceID: "ws-1"}, Cursor: tc.cursor, Limit: &limit, Tables: tc.tables}
		want, err := h.eng.Pull(ctx, tc.user, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.eng.PullJSON(ctx, tc.user, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if w := marshalNoEscape(t, want); !bytes.Equal(got, w) {
			t.Fatalf("%+v:\n got %s\nwant %s", tc, got, w)
		}
	}
	// Errors are the same as Pull's.
	bad := 0
	if _, err := h.eng.PullJSON(ctx, "alice", PullRequest{Scope: Scope{WorkspaceID: "ws-1"}, Limit: &bad}, nil); err == nil {
		t.Fatal("limit 0 accepted")
	}
	if _, err := h.eng.PullJSON(ctx, "mallory", PullRequest{Scope: Scope{WorkspaceID: "ws-1"}}, nil); err == nil {
		t.Fatal("non-member pulled")
	}
}

func TestPullJSON_RequiresSnapshotBehindFloor(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "t1", 1, "h", newOpID(), thread("t1", "a")))
	b := h.db.NewBatch()
	if err := b.SetRecord(counterKeyForTest("ws-1"), counterRecordForTest(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	limit := 10
	req := PullRequest{Scope: Scope{WorkspaceID: "ws-1"}, Cursor: 0, Limit: &limit}
	want, _ := h.eng.Pull(context.Background(), "alice", req)
	got, err := h.eng.PullJSON(context.Background(), "alice", req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !want.RequiresSnapshot || !bytes.Equal(got, marshalNoEscape(t, want)) {
		t.Fatalf("got %s want %+v", got, want)
	}
}
