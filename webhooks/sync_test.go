package webhooks

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEventType_SyncOps(t *testing.T) {
	for _, c := range []struct {
		c    SyncChange
		want string
	}{
		{SyncChange{Table: "threads"}, "thread.created"},
		{SyncChange{Table: "threads", Existed: true}, "thread.updated"},
		{SyncChange{Table: "threads", Existed: true, Delete: true}, "thread.deleted"},
		{SyncChange{Table: "messages", Existed: true, Payload: json.RawMessage(`{"deleted":true}`)}, "message.deleted"},
		{SyncChange{Table: "messages", Payload: json.RawMessage(`{"deleted":false}`)}, "message.created"},
		{SyncChange{Table: "posts"}, "document.created"},
		{SyncChange{Table: "posts", Existed: true}, "document.updated"},
		{SyncChange{Table: "notifications"}, "notification.created"},
		{SyncChange{Table: "notifications", Existed: true}, ""},
		{SyncChange{Table: "kv"}, ""},
		{SyncChange{Table: "file_meta"}, ""},
	} {
		if got := EventType(&c.c); got != c.want {
			t.Errorf("%+v: %q want %q", c.c, got, c.want)
		}
	}
}

// Applied sync ops fire the matching hooks: user hooks of the workspace
// (notifications only to the recipient's own), admin hooks global or bound
// to it; data is the projected row; user_id is the pushing user.
func TestSync_FanOut(t *testing.T) {
	f := newFixture(t)
	url := "http://127.0.0.1:9/h"
	mine, _ := f.create(CreateInput{Scope: ScopeUser, UserID: "alice", WorkspaceID: "ws-1", URL: url, Events: []string{"message.created", "notification.created", "document.created"}})
	bobs, _ := f.create(CreateInput{Scope: ScopeUser, UserID: "bob", WorkspaceID: "ws-1", URL: url, Events: []string{"message.*", "notification.created"}})
	elsewhere, _ := f.create(CreateInput{Scope: ScopeUser, UserID: "alice", WorkspaceID: "ws-2", URL: url, Events: []string{"message.created"}})
	admin := f.adminHook(url, "message.created")
	long := strings.Repeat("x", 5000)
	f.s.OnSync([]SyncChange{
		{Workspace: "ws-1", Table: "messages", PK: "m1", UserID: "alice", Payload: json.RawMessage(`{"id":"m1","content":"` + long + `","token":"t"}`), AtMs: f.clock.Ms()},
		{Workspace: "ws-1", Table: "notifications", PK: "n1", Owner: "alice", Payload: json.RawMessage(`{"id":"n1","title":"hi"}`), AtMs: f.clock.Ms()},
		{Workspace: "ws-1", Table: "posts", PK: "p1", UserID: "alice", Payload: json.RawMessage(`{"title":"doc","content":"héllo"}`), AtMs: f.clock.Ms()},
		{Workspace: "ws-1", Table: "kv", PK: "k1", UserID: "alice", AtMs: f.clock.Ms()},
	})
	if n, err := f.s.DrainSync(f.ctx); err != nil || n != 4 {
		t.Fatalf("drained %d %v", n, err)
	}
	count := func(id string) map[string]int {
		out := map[string]int{}
		for _, d := range f.logs(id) {
			out[d.EventType]++
		}
		return out
	}
	if got := count(mine.ID); got["message.created"] != 1 || got["notification.created"] != 1 || got["document.created"] != 1 || len(got) != 3 {
		t.Fatalf("alice: %v", got)
	}
	if got := count(bobs.ID); got["message.created"] != 1 || len(got) != 1 {
		t.Fatalf("bob (must not see alice's notification): %v", got)
	}
	if got := count(elsewhere.ID); len(got) != 0 {
		t.Fatalf("other workspace: %v", got)
	}
	if got := count(admin.ID); got["message.created"] != 1 || len(got) != 1 {
		t.Fatalf("admin: %v", got)
	}
	for _, d := range f.logs(mine.ID) {
		env := decodeJSON(t, []byte(d.RequestPayload))
		data := env["data"].(map[string]any)
		switch d.EventType {
		case "message.created":
			if env["user_id"] != "alice" || env["workspace_id"] != "ws-1" || len(data["content"].(string)) != 4096 || data["token"] != nil {
				t.Fatalf("message envelope %v", env)
			}
		case "document.created":
			if data["content"] != nil || data["content_length"] != 5.0 || data["id"] != "p1" {
				t.Fatalf("document data %v", data)
			}
		case "notification.created":
			if env["user_id"] != nil {
				t.Fatalf("server-authored op names a user: %v", env)
			}
		}
		if env["timestamp"] != "2026-01-01T00:00:00.000Z" || env["event"] != d.EventType {
			t.Fatalf("envelope %v", env)
		}
	}
}

// OnSync does nothing while no webhook is enabled, and drops (counting)
// beyond the queue bound instead of blocking.
func TestSync_OnSyncNeverBlocks(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.QueueSize = 10 })
	ch := SyncChange{Workspace: "ws", Table: "threads", PK: "t"}
	f.s.OnSync([]SyncChange{ch})
	if f.s.Pending() != 0 {
		t.Fatal("queued without webhooks")
	}
	f.adminHook("http://127.0.0.1:9/h", "thread.created")
	for i := 0; i < 4; i++ {
		f.s.OnSync([]SyncChange{ch, ch, ch})
	}
	if f.s.Pending() != 10 || f.s.Dropped() != 2 {
		t.Fatalf("pending %d dropped %d", f.s.Pending(), f.s.Dropped())
	}
}

// A graceful Close enqueues what OnSync queued, and the deliveries survive
// the restart.
func TestSync_CloseDrainsQueue(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/h", "thread.created")
	f.s.OnSync([]SyncChange{{Workspace: "ws", Table: "threads", PK: "t1"}, {Workspace: "ws", Table: "threads", PK: "t2"}})
	f.restart()
	if n := len(f.logs(w.ID)); n != 2 {
		t.Fatalf("%d deliveries after a graceful restart", n)
	}
}
