package isolation

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/identity"
	"github.com/or3/syncd/internal/crashtest"
)

var (
	opsFlag  = flag.Int("isolation.ops", 5000, "random operations to run (the full run uses 100000)")
	seedFlag = flag.Uint64("isolation.seed", 0, "seed (0: time-based)")
)

const token = "isolation-test-token-0123456789"

type world struct {
	t      *testing.T
	c      *crashtest.Client
	d      *daemon.Daemon
	users  []string            // user ids; the last one is unknown to syncd
	wss    []string            // workspace ids
	roles  []map[string]string // per workspace: user → role ("" = not a member)
	owners []string
	rng    *rand.Rand
	n      int
	checks int
}

func TestIsolation_RandomOperations(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -isolation.seed=%d)", seed, seed)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := daemon.New(daemon.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	w := &world{t: t, c: crashtest.NewClient(d.URL(), token), d: d, rng: rand.New(rand.NewPCG(seed, 99))}
	w.setup(6, 4)
	for i := 0; i < *opsFlag; i++ {
		w.step()
	}
	t.Logf("%d random operations, %d isolation checks, 0 violations", *opsFlag, w.checks)
}

func (w *world) setup(nUsers, nWS int) {
	ctx := context.Background()
	for i := 0; i < nUsers; i++ {
		id, err := w.c.CreateUser(ctx, "iso", fmt.Sprintf("user-%d", i))
		if err != nil {
			w.t.Fatal(err)
		}
		w.users = append(w.users, id)
	}
	w.users = append(w.users, uuid.NewString()) // a user syncd never saw
	for i := 0; i < nWS; i++ {
		owner := w.users[i%nUsers]
		var out struct {
			WorkspaceID string `json:"workspaceId"`
		}
		if err := w.c.RPC(ctx, "auth.createWorkspace", &out, map[string]any{"userId": owner, "name": fmt.Sprintf("ws %d", i)}); err != nil {
			w.t.Fatal(err)
		}
		w.wss = append(w.wss, out.WorkspaceID)
		w.owners = append(w.owners, owner)
		roles := map[string]string{owner: "owner"}
		for _, u := range w.users[:nUsers] {
			if u == owner {
				continue
			}
			role := []string{"", "", "editor", "viewer"}[w.rng.IntN(4)]
			if role != "" {
				if err := w.d.Identity.AddMember(ctx, out.WorkspaceID, u, identity.Role(role), owner); err != nil {
					w.t.Fatal(err)
				}
				roles[u] = role
			}
		}
		w.roles = append(w.roles, roles)
	}
}

func (w *world) violation(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("ISOLATION VIOLATION: "+format, args...)
}

// expect checks an answer against what the role allows.
func (w *world) expect(what string, err error, allowed bool) {
	w.t.Helper()
	w.checks++
	var se *crashtest.StatusError
	switch {
	case allowed && err != nil:
		if errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusUnauthorized) {
			w.violation("%s refused for an allowed user: %v", what, err)
		}
		// Other refusals (409 cursor regress, 400) are the op's own rules.
	case !allowed && err == nil:
		w.violation("%s succeeded for a user without the right", what)
	case !allowed && (!errors.As(err, &se) || (se.Status != http.StatusForbidden && se.Status != http.StatusUnauthorized)):
		w.violation("%s by a user without the right answered %v, want 403", what, err)
	}
}

func (w *world) step() {
	ctx := context.Background()
	wi := w.rng.IntN(len(w.wss))
	ws := w.wss[wi]
	user := w.users[w.rng.IntN(len(w.users))]
	role := w.roles[wi][user]
	member := role != ""
	writer := role == "owner" || role == "editor"
	w.n++
	switch w.rng.IntN(8) {
	case 0, 1: // push a tagged kv row or a notification
		var op crashtest.Op
		if w.rng.IntN(3) == 0 {
			op = notificationPut(fmt.Sprintf("n-%d", w.n), ws, user)
		} else {
			op = crashtest.KVPut("dev", fmt.Sprintf("k-%d", w.n), 1, ws)
		}
		res, err := w.c.Push(ctx, user, ws, []crashtest.Op{op})
		w.expect("push to "+ws, err, writer)
		if err == nil && (len(res.Results) != 1 || !res.Results[0].Success) {
			w.t.Fatalf("push by a writer failed per op: %+v", res)
		}
	case 2, 3: // pull everything: only this workspace's rows, only own notifications
		changes, err := w.c.PullAll(ctx, user, ws)
		w.expect("pull of "+ws, err, member)
		for _, ch := range changes {
			w.checkVisible("pull", ws, user, ch.TableName, ch.Payload)
		}
	case 4: // snapshot, first page
		var snap struct {
			Items []struct {
				Kind      string          `json:"kind"`
				TableName string          `json:"tableName"`
				Payload   json.RawMessage `json:"payload"`
			} `json:"items"`
		}
		err := w.c.Do(ctx, http.MethodPost, "/v1/sync/snapshot", user, map[string]any{"scope": map[string]string{"workspaceId": ws}, "pageSize": 1000}, &snap)
		w.expect("snapshot of "+ws, err, member)
		for _, it := range snap.Items {
			if it.Kind == "row" {
				w.checkVisible("snapshot", ws, user, it.TableName, it.Payload)
			}
		}
	case 5: // server version and device cursor
		_, err := w.c.ServerVersion(ctx, user, ws)
		w.expect("server-version of "+ws, err, member)
		err = w.c.Do(ctx, http.MethodPost, "/v1/sync/update-cursor", user, map[string]any{"scope": map[string]string{"workspaceId": ws}, "deviceId": "dev-" + user, "version": 0}, nil)
		w.expect("update-cursor in "+ws, err, member)
	case 6: // canonical storage and upload intents
		err := w.c.Do(ctx, http.MethodPost, "/v1/sync/canonical-storage", user, map[string]any{"scope": map[string]string{"workspaceId": ws}, "kind": "live_metadata"}, nil)
		w.expect("canonical-storage of "+ws, err, member)
		err = w.c.Do(ctx, http.MethodPost, "/v1/sync/upload-intents/reserve", user, map[string]any{
			"scope": map[string]string{"workspaceId": ws}, "hash": fmt.Sprintf("sha256:%064x", w.n), "sizeBytes": 10, "mimeType": "image/png"}, nil)
		w.expect("upload-intent reserve in "+ws, err, writer)
	case 7: // an RPC whose acting user is checked: only owners invite
		err := w.c.RPC(ctx, "auth.createInvite", nil, map[string]any{"workspaceId": ws, "email": fmt.Sprintf("x%d@example.com", w.n),
			"role": "viewer", "invitedByUserId": user, "expiresAt": time.Now().Add(time.Hour).UnixMilli()})
		w.checks++
		if err == nil && role != "owner" {
			w.violation("createInvite in %s by role %q succeeded", ws, role)
		}
	}
}

// checkVisible asserts a row read by user from ws belongs to ws and, for a
// notification, to user.
func (w *world) checkVisible(via, ws, user, table string, payload json.RawMessage) {
	w.t.Helper()
	w.checks++
	var p map[string]any
	if len(payload) == 0 {
		return
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		w.t.Fatalf("%s payload %s: %v", via, payload, err)
	}
	switch table {
	case "kv":
		if p["value"] != ws {
			w.violation("%s of %s returned a row written to %v", via, ws, p["value"])
		}
	case "notifications":
		if p["user_id"] != user || p["body"] != ws {
			w.violation("%s of %s by %s returned notification of %v in %v", via, ws, user, p["user_id"], p["body"])
		}
	}
}

func notificationPut(pk, ws, user string) crashtest.Op {
	payload, _ := json.Marshal(map[string]any{"id": pk, "type": "info", "title": "t", "body": ws, "deleted": false,
		"created_at": 1, "updated_at": 1, "clock": 1})
	return crashtest.Op{TableName: "notifications", Operation: "put", PK: pk, Payload: payload,
		Stamp: crashtest.Stamp{DeviceID: "dev", OpID: uuid.NewString(), HLC: "0000000000001:0000:dev", Clock: 1}}
}
