package engine

// Notification ownership scenarios of sync-contract §5 (36–40) and §3.8.
// user-1 and user-2 of the spec are alice and bob, both members of ws-1.

import (
	"strings"
	"testing"

	"github.com/or3/syncd/syncerr"
)

func notification(pk string, fields map[string]any) map[string]any {
	n := map[string]any{"id": pk, "type": "info", "title": "hello", "deleted": false, "created_at": 1, "updated_at": 1, "clock": 1}
	for k, v := range fields {
		n[k] = v
	}
	return n
}

// Scenario 36.
func TestNotification_OwnerBoundOnPut(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice", put("notifications", "n1", 1, "1:0:dA", newOpID(), notification("n1", nil)))
	r := res.Results[0]
	wantApplied(t, r, 1, true)
	if payloadField(t, r.Payload, "user_id") != "alice" {
		t.Fatalf("returned payload %s", r.Payload)
	}
	row, _ := h.row("ws-1", "notifications", "n1")
	if payloadField(t, row.Payload, "user_id") != "alice" || row.Owner != "alice" {
		t.Fatalf("row %+v payload %s", row, row.Payload)
	}
	p := h.pull("ws-1", "alice", 0, 10)
	if len(p.Changes) != 1 || payloadField(t, p.Changes[0].Payload, "user_id") != "alice" {
		t.Fatalf("pull %+v", p)
	}
	// Naming oneself explicitly is fine too.
	res = h.push("ws-1", "alice", put("notifications", "n2", 1, "1:0:dA", newOpID(), notification("n2", map[string]any{"user_id": "alice"})))
	wantApplied(t, res.Results[0], 2, true)
}

// Scenario 37.
func TestNotification_SpoofedOwnerRejected(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice", put("notifications", "n1", 1, "1:0:dA", newOpID(), notification("n1", map[string]any{"user_id": "bob"})))
	wantOpErr(t, res.Results[0], syncerr.CodeUnauthorized, "owner mismatch")
	if _, found := h.row("ws-1", "notifications", "n1"); found || h.counter("ws-1") != 0 {
		t.Fatal("spoofed notification inserted")
	}
}

// Scenario 38: with no acting user the whole push is 401 (api.md: a sync
// call without X-Syncd-User is 401), so no notification can be written.
func TestNotification_AnonymousPushUnauthorized(t *testing.T) {
	h := newHarness(t)
	_, err := h.pushErr("ws-1", "", put("notifications", "n1", 1, "1:0:dA", newOpID(), notification("n1", nil)))
	wantSyncErr(t, err, 401, syncerr.CodeUnauthorized)
	if h.counter("ws-1") != 0 {
		t.Fatal("anonymous push wrote")
	}
}

// Scenario 39, and the put half of "an existing row owned by another user".
func TestNotification_CrossUserWritesRejected(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("notifications", "note-owned", 1, "1:0:dA", newOpID(), notification("note-owned", nil)))
	res := h.push("ws-1", "bob",
		del("notifications", "note-owned", 2, "2:0:dB", newOpID()),
		put("notifications", "note-owned", 2, "2:0:dB", newOpID(), notification("note-owned", nil)),
		del("notifications", "never-existed", 1, "1:0:dB", newOpID()))
	wantOpErr(t, res.Results[0], syncerr.CodeUnauthorized, "not owned by caller")
	wantOpErr(t, res.Results[1], syncerr.CodeUnauthorized, "owner mismatch")
	wantOpErr(t, res.Results[2], syncerr.CodeUnauthorized, "not owned by caller")
	if res.ServerVersion != 1 || h.counter("ws-1") != 1 {
		t.Fatalf("counter %d, want 1", h.counter("ws-1"))
	}
	row, _ := h.row("ws-1", "notifications", "note-owned")
	if rowDeleted(&row) || row.Owner != "alice" {
		t.Fatalf("row %+v", row)
	}
	// The owner may delete it.
	wantApplied(t, h.push("ws-1", "alice", del("notifications", "note-owned", 2, "2:0:dA", newOpID())).Results[0], 2, true)
}

// Scenario 40 (pull half; snapshots are the snapshot module's): each user
// pulls only their own notifications, and the cursor moves past the rest.
func TestNotification_PullScopedToOwner(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "thread-1", 1, "1:0:dA", newOpID(), thread("thread-1", "t")))
	h.push("ws-1", "alice", put("notifications", "notification-own", 1, "1:0:dA", newOpID(), notification("notification-own", nil)))
	h.push("ws-1", "bob", put("notifications", "notification-other", 1, "1:0:dB", newOpID(), notification("notification-other", nil)))

	pks := func(p PullResponse) []string {
		var out []string
		for _, c := range p.Changes {
			out = append(out, c.PK)
		}
		return out
	}
	for _, tc := range []struct {
		user string
		want []string
	}{
		{"alice", []string{"thread-1", "notification-own"}},
		{"bob", []string{"thread-1", "notification-other"}},
		{"victor", []string{"thread-1"}},
	} {
		p := h.pull("ws-1", tc.user, 0, 10)
		if got := pks(p); len(got) != len(tc.want) || got[0] != tc.want[0] || (len(got) > 1 && got[1] != tc.want[1]) || p.NextCursor != 3 || p.HasMore {
			t.Fatalf("%s pulls %v next %d hasMore %v; want %v next 3", tc.user, got, p.NextCursor, p.HasMore, tc.want)
		}
	}
	// A window holding only someone else's notification is empty but still
	// advances the cursor.
	p := h.pull("ws-1", "alice", 2, 1)
	if len(p.Changes) != 0 || p.NextCursor != 3 || p.HasMore {
		t.Fatalf("pull past hidden row: %+v", p)
	}
	// A delete sent without a payload reaches its owner (ARCHITECTURE.md:
	// the entry records the owner, fixing sync-contract §6 item 5) and
	// nobody else.
	h.push("ws-1", "alice", del("notifications", "notification-own", 2, "2:0:dA", newOpID()))
	if p := h.pull("ws-1", "alice", 3, 10); len(p.Changes) != 1 || p.Changes[0].Op != "delete" {
		t.Fatalf("owner misses the delete: %+v", p)
	}
	if p := h.pull("ws-1", "bob", 3, 10); len(p.Changes) != 0 || p.NextCursor != 4 {
		t.Fatalf("bob sees alice's delete: %+v", p)
	}
}

// Normalizing a notification's owner must not rewrite the other fields'
// bytes (no HTML escaping of <, > and &).
func TestNotification_NormalizationKeepsBytes(t *testing.T) {
	h := newHarness(t)
	op := put("notifications", "n-html", 1, "h1", newOpID(), nil)
	op.Payload = []byte(`{"id":"n-html","type":"info","title":"a <b> & c","deleted":false,"created_at":1,"updated_at":1,"clock":1}`)
	res := h.push("ws-1", "alice", op)
	if !res.Results[0].Success {
		t.Fatalf("push: %+v", res.Results[0])
	}
	pulled := h.pull("ws-1", "alice", 0, 10)
	if len(pulled.Changes) != 1 || !strings.Contains(string(pulled.Changes[0].Payload), `"a <b> & c"`) {
		t.Fatalf("payload bytes changed: %s", pulled.Changes[0].Payload)
	}
}
