package api_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/or3/syncd/internal/crashtest"
)

// TestAuth_SyncMatrix walks the authorization matrix of api.md
// "Authentication" over every sync endpoint, and checks that no refused
// call wrote anything.
func TestAuth_SyncMatrix(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice") // owner of wsA
	wsA := e.workspace(alice)
	bob := e.user("bob") // owner of wsB, not a member of wsA
	wsB := e.workspace(bob)
	victor := e.addMember(alice, wsA, "victor", "viewer")
	edith := e.addMember(alice, wsA, "edith", "editor")

	op := func() crashtest.Op { return crashtest.KVPut("dev-1", "k-"+uuid.NewString(), 1, "v") }
	cursorBody := func(ws string) []byte {
		return mustJSON(map[string]any{"scope": map[string]string{"workspaceId": ws}, "deviceId": "dev-1", "version": 0})
	}
	type call struct {
		name         string
		method, path string
		body         func(ws string) []byte
	}
	calls := []call{
		{"push", http.MethodPost, "/v1/sync/push", func(ws string) []byte { return pushBody(ws, op()) }},
		{"pull", http.MethodPost, "/v1/sync/pull", func(ws string) []byte { return pullBody(ws, 0) }},
		{"update-cursor", http.MethodPost, "/v1/sync/update-cursor", cursorBody},
		{"server-version", http.MethodGet, "/v1/sync/server-version?workspaceId=", nil},
		{"watch", http.MethodGet, "/v1/sync/watch?workspaceId=", nil},
		{"ws", http.MethodGet, "/v1/sync/ws?workspaceId=", nil},
	}
	build := func(c call, ws string) req {
		r := req{method: c.method, path: c.path}
		if c.body != nil {
			r.body = c.body(ws)
		} else {
			r.path += ws
		}
		return r
	}
	wrongLen := "short"
	wrongSame := testToken[:len(testToken)-1] + "X"
	cases := []struct {
		name   string
		token  *string
		user   string
		ws     string
		status int
		code   string
	}{
		{"no token", strp(""), alice, wsA, 401, "UNAUTHORIZED"},
		{"bad token of another length", &wrongLen, alice, wsA, 401, "UNAUTHORIZED"},
		{"bad token of the same length", &wrongSame, alice, wsA, 401, "UNAUTHORIZED"},
		{"forged user without a token", strp(""), alice, wsA, 401, "UNAUTHORIZED"},
		{"token without a user", nil, "", wsA, 401, "UNAUTHORIZED"},
		{"unknown user", nil, uuid.NewString(), wsA, 403, "FORBIDDEN"},
		{"unknown user that is not a UUID", nil, "nobody", wsA, 403, "FORBIDDEN"},
		{"non-member", nil, bob, wsA, 403, "FORBIDDEN"},
		{"unknown workspace", nil, alice, uuid.NewString(), 403, "FORBIDDEN"},
	}
	before := e.serverVersion(alice, wsA)
	for _, c := range calls {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				r := build(c, tc.ws)
				r.token, r.user = tc.token, tc.user
				expect(t, e.do(r), tc.status, tc.code)
			})
		}
	}
	// Also "Bearer" spelled differently, or a token with no scheme.
	for _, h := range []string{testToken, "Basic " + testToken, "Bearer", "Bearer  "} {
		a := e.do(req{method: http.MethodPost, path: "/v1/sync/pull", body: pullBody(wsA, 0), token: strp(""), user: alice,
			header: map[string]string{"Authorization": h}})
		expect(t, a, 401, "UNAUTHORIZED")
	}
	if got := e.serverVersion(alice, wsA); got != before {
		t.Fatalf("refused calls wrote: server version %d → %d", before, got)
	}

	t.Run("viewer may not push", func(t *testing.T) {
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: victor, body: pushBody(wsA, op())}), 403, "FORBIDDEN")
		// Even an empty batch (sync-contract §3.1).
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: victor, body: pushBody(wsA)}), 403, "FORBIDDEN")
		if got := e.serverVersion(alice, wsA); got != before {
			t.Fatalf("viewer push wrote: %d → %d", before, got)
		}
	})
	t.Run("viewer may read", func(t *testing.T) {
		for _, c := range calls[1:4] {
			a := e.do(func() req { r := build(c, wsA); r.user = victor; return r }())
			expect(t, a, 200, "")
		}
	})
	t.Run("editor may push", func(t *testing.T) {
		a := e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: edith, body: pushBody(wsA, op())})
		expect(t, a, 200, "")
		if got := e.serverVersion(alice, wsA); got != before+1 {
			t.Fatalf("server version %d, want %d", got, before+1)
		}
	})
	t.Run("workspaces are isolated", func(t *testing.T) {
		a := e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: bob, body: pushBody(wsB, op(), op())})
		expect(t, a, 200, "")
		if v := e.serverVersion(bob, wsB); v != 2 {
			t.Fatalf("wsB version %d, want 2", v)
		}
		if v := e.serverVersion(alice, wsA); v != before+1 {
			t.Fatalf("wsA version moved to %d by a push to wsB", v)
		}
		// Bob cannot push into or read wsA, alice cannot read wsB.
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: bob, body: pushBody(wsA, op())}), 403, "FORBIDDEN")
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/sync/pull", user: alice, body: pullBody(wsB, 0)}), 403, "FORBIDDEN")
		// Each pull sees only its own workspace's changes.
		var pr crashtest.PullResponse
		a = e.do(req{method: http.MethodPost, path: "/v1/sync/pull", user: alice, body: pullBody(wsA, 0)})
		expect(t, a, 200, "")
		decode(t, a.body, &pr)
		if len(pr.Changes) != 1 {
			t.Fatalf("wsA pull: %d changes, want 1", len(pr.Changes))
		}
	})
	t.Run("no-store on sync answers", func(t *testing.T) {
		a := e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: pushBody(wsA)})
		expect(t, a, 200, "")
		if cc := a.header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("push Cache-Control %q", cc)
		}
	})
}
