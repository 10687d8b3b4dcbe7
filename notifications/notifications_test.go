package notifications_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/identity"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
)

const token = "test-token-0123456789abcdef"

type env struct {
	d                 *daemon.Daemon
	c                 *crashtest.Client
	ws                string
	alice, bob, carol string
	ctx               context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d, err := daemon.New(daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token,
		Secret:  []byte("0123456789abcdef0123456789abcdef"),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		TuneLog: func(c *synclog.Config) { c.MemTableSize = 4 << 20; c.CacheSize = 4 << 20 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	e := &env{d: d, c: crashtest.NewClient(d.URL(), token), ctx: context.Background()}
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e.alice = must(e.c.CreateUser(e.ctx, "basic", "alice"))
	e.bob = must(e.c.CreateUser(e.ctx, "basic", "bob"))
	e.carol = must(e.c.CreateUser(e.ctx, "basic", "carol"))
	e.ws = must(e.c.DefaultWorkspace(e.ctx, e.alice))
	if err := d.Identity.AddMember(e.ctx, e.ws, e.bob, identity.RoleEditor, ""); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) rpc(t *testing.T, call string, args ...any) (string, error) {
	t.Helper()
	var id string
	err := e.c.RPC(e.ctx, call, &id, args...)
	return id, err
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	se, ok := err.(*crashtest.StatusError)
	if !ok || se.Status != status {
		t.Fatalf("err %v, want HTTP %d", err, status)
	}
}

func notificationChanges(t *testing.T, e *env, user string) []crashtest.Change {
	t.Helper()
	all, err := e.c.PullAll(e.ctx, user, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	var out []crashtest.Change
	for _, c := range all {
		if c.TableName == "notifications" {
			out = append(out, c)
		}
	}
	return out
}

func payload(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Scenarios 63 and 66: the completion notification is a server-authored
// put the owner pulls, and no one else does.
func TestEmitBackgroundJobComplete_OwnerOnly(t *testing.T) {
	e := newEnv(t)
	before, _ := e.c.ServerVersion(e.ctx, e.alice, e.ws)
	id, err := e.rpc(t, "notifications.emitBackgroundJobComplete", e.ws, e.alice, "thread-1", "job-1", "msg-1")
	if err != nil {
		t.Fatal(err)
	}
	if !engine.IsUUID(id) {
		t.Fatalf("id %q", id)
	}
	if after, _ := e.c.ServerVersion(e.ctx, e.alice, e.ws); after != before+1 {
		t.Fatalf("server version %d → %d", before, after)
	}
	got := notificationChanges(t, e, e.alice)
	if len(got) != 1 {
		t.Fatalf("alice pulled %d notifications", len(got))
	}
	ch := got[0]
	if ch.PK != id || ch.Op != "put" || ch.Stamp.DeviceID != "server" || !engine.IsUUID(ch.Stamp.OpID) {
		t.Fatalf("%+v", ch)
	}
	p := payload(t, ch.Payload)
	if p["type"] != "ai.message.received" || p["title"] != "AI response ready" || p["body"] != "Your background response is ready." ||
		p["user_id"] != e.alice || p["thread_id"] != "thread-1" || p["job_id"] != "job-1" || p["deleted"] != false {
		t.Fatalf("payload %v", p)
	}
	actions := p["actions"].([]any)
	a := actions[0].(map[string]any)
	if len(actions) != 1 || a["label"] != "Open chat" || a["kind"] != "navigate" ||
		a["target"].(map[string]any)["threadId"] != "thread-1" || a["data"].(map[string]any)["messageId"] != "msg-1" {
		t.Fatalf("actions %v", actions)
	}
	if n := notificationChanges(t, e, e.bob); len(n) != 0 {
		t.Fatalf("bob pulled %d notifications", len(n))
	}
	// Snapshot: the owner sees the row, the other member does not.
	for user, want := range map[string]int{e.alice: 1, e.bob: 0} {
		var res engine.SnapshotResponse
		if err := e.c.Do(e.ctx, "POST", "/v1/sync/snapshot", user, map[string]any{
			"scope": map[string]any{"workspaceId": e.ws}, "pageSize": 100, "tables": []string{"notifications"},
		}, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != want {
			t.Fatalf("snapshot for %s: %d items", user, len(res.Items))
		}
	}
	// A retried emit for the same job rewrites the same notification.
	again, _ := e.rpc(t, "notifications.emitBackgroundJobComplete", e.ws, e.alice, "thread-1", "job-1", "msg-1")
	if again != id {
		t.Fatalf("retry made a second notification %s", again)
	}
}

// Scenario 64.
func TestEmitBackgroundJobError(t *testing.T) {
	e := newEnv(t)
	id, err := e.rpc(t, "notifications.emitBackgroundJobError", e.ws, e.alice, "thread-1", "job-1", "boom")
	if err != nil {
		t.Fatal(err)
	}
	got := notificationChanges(t, e, e.alice)
	p := payload(t, got[0].Payload)
	if got[0].PK != id || p["type"] != "ai.background.error" || p["title"] != "Background response failed" || p["body"] != "Failed: boom" || p["actions"] != nil {
		t.Fatalf("%v", p)
	}
}

// Scenario 66 with create, and a later client edit beating the server's
// revision (the clock weakness of the providers, fixed).
func TestCreate_ClientEditWins(t *testing.T) {
	e := newEnv(t)
	id, err := e.rpc(t, "notifications.create", map[string]any{
		"workspace_id": e.ws, "user_id": e.alice, "type": "info", "title": "Hello", "body": "b",
		"actions": []any{map[string]any{"id": "a1", "label": "x", "kind": "navigate", "target": map[string]any{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := notificationChanges(t, e, e.alice)
	p := payload(t, got[0].Payload)
	p["read_at"] = time.Now().Unix()
	body, _ := json.Marshal(p)
	op := crashtest.Op{TableName: "notifications", Operation: "put", PK: id, Payload: body,
		Stamp: crashtest.Stamp{DeviceID: "dev-a", OpID: "7b0e6f0e-4a51-4d52-9c64-000000000001", HLC: "0000000000001:0000:dev-a", Clock: got[0].Stamp.Clock + 1}}
	res, err := e.c.Push(e.ctx, e.alice, e.ws, []crashtest.Op{op})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Results[0]; !r.Success || r.Applied == nil || !*r.Applied {
		t.Fatalf("client edit lost to the server's revision: %+v", r)
	}
}

// Bad input and the recipient check.
func TestNotifications_BadInput(t *testing.T) {
	e := newEnv(t)
	before, _ := e.c.ServerVersion(e.ctx, e.alice, e.ws)
	_, err := e.rpc(t, "notifications.emitBackgroundJobComplete", e.ws, e.carol, "t", "j")
	wantStatus(t, err, 403) // not a member
	_, err = e.rpc(t, "notifications.create", map[string]any{"workspace_id": e.ws, "user_id": e.alice, "type": "x"})
	wantStatus(t, err, 400) // no title
	_, err = e.rpc(t, "notifications.create", map[string]any{"workspace_id": e.ws, "user_id": e.alice, "type": "x", "title": "t", "actions": "no"})
	wantStatus(t, err, 400)
	_, err = e.rpc(t, "notifications.create", "not an object")
	wantStatus(t, err, 400)
	_, err = e.rpc(t, "notifications.emitBackgroundJobError", e.ws, e.alice, "t", "j")
	wantStatus(t, err, 400) // no error text
	_, err = e.rpc(t, "notifications.markRead", e.ws, "x")
	wantStatus(t, err, 404)
	if after, _ := e.c.ServerVersion(e.ctx, e.alice, e.ws); after != before {
		t.Fatal("a refused call wrote")
	}
}

// Watch: the owner's stream carries the notification, another member's
// does not.
func TestNotifications_Watch(t *testing.T) {
	e := newEnv(t)
	cur, _ := e.c.ServerVersion(e.ctx, e.alice, e.ws)
	open := func(user string) <-chan string {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/sync/watch?workspaceId=%s&cursor=%d", e.d.URL(), e.ws, cur), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Syncd-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(err, resp.StatusCode)
		}
		t.Cleanup(func() { resp.Body.Close() })
		ch := make(chan string, 16)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if l := sc.Text(); strings.HasPrefix(l, "data: ") {
					ch <- l[6:]
				}
			}
		}()
		return ch
	}
	aliceCh, bobCh := open(e.alice), open(e.bob)
	time.Sleep(100 * time.Millisecond)
	id, err := e.rpc(t, "notifications.emitBackgroundJobComplete", e.ws, e.alice, "thread-1", "job-9", nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-aliceCh:
		if !strings.Contains(d, id) {
			t.Fatalf("alice got %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("alice's watch did not deliver the notification")
	}
	// Bob sees the next change of the workspace, not the notification.
	if _, err := e.c.Push(e.ctx, e.alice, e.ws, []crashtest.Op{crashtest.KVPut("dev", "k1", 1, "v")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-bobCh:
		if strings.Contains(d, id) || !strings.Contains(d, "k1") {
			t.Fatalf("bob got %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bob's watch stalled")
	}
}
