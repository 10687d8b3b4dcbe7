package identity

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/or3/syncd/syncerr"
)

// FuzzCall feeds arbitrary (method, args) to Call on a real store. Call must
// never panic, must answer a client error (4xx *syncerr.Error) or a result
// that marshals to JSON, and must never fail with a server error.
func FuzzCall(f *testing.F) {
	fx := newFixture(f)
	owner := fx.user(f, "fuzz-owner", "owner@x.io")
	d, err := fx.s.GetOrCreateDefaultWorkspace(fx.ctx, owner)
	must(f, err)
	ws := d.WorkspaceID
	exp := fx.clock.Ms() + 3600_000
	for _, seed := range []struct{ method, args string }{
		{"getOrCreateUser", `[{"provider":"clerk","providerUserId":"s1","email":"a@x.io","displayName":"A"}]`},
		{"getOrCreateUser", `[{"provider":"clerk","providerUserId":"s1"},null,null]`},
		{"getUser", `[{"provider":"test","providerUserId":"fuzz-owner"}]`},
		{"getOrCreateDefaultWorkspace", fmt.Sprintf(`[%q]`, owner)},
		{"getWorkspaceRole", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q}]`, owner, ws)},
		{"listUserWorkspaces", fmt.Sprintf(`[%q]`, owner)},
		{"createWorkspace", fmt.Sprintf(`[{"userId":%q,"name":"W","description":"d"}]`, owner)},
		{"updateWorkspace", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q,"name":"N"}]`, owner, ws)},
		{"removeWorkspace", fmt.Sprintf(`[{"userId":"x","workspaceId":%q}]`, ws)},
		{"setActiveWorkspace", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q}]`, owner, ws)},
		{"createInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"i@x.io","role":"editor","invitedByUserId":%q,"expiresAt":%d,"tokenHash":"t"}]`, ws, owner, exp)},
		{"createInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"i@x.io","role":"editor","invitedByUserId":%q,"expiresAt":1e3}]`, ws, owner)},
		{"listInvites", fmt.Sprintf(`[{"workspaceId":%q,"status":"pending","limit":-5}]`, ws)},
		{"revokeInvite", fmt.Sprintf(`[{"workspaceId":%q,"inviteId":"i","revokedByUserId":%q}]`, ws, owner)},
		{"validateInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"i@x.io","tokenHash":"t"}]`, ws)},
		{"acceptInviteAndProvisionUser", fmt.Sprintf(`[{"provider":"p","providerUserId":"s","email":"i@x.io","workspaceId":%q,"tokenHash":"t"}]`, ws)},
		{"consumeInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"i@x.io","tokenHash":"t","acceptedUserId":%q}]`, ws, owner)},
		{"getOrCreateUser", `[{"provider":"a\u0000b","providerUserId":"\ud800"}]`},
		{"listInvites", `[{"workspaceId":"w","limit":1e999}]`},
		{"nope", `[]`},
		{"getUser", `{}`},
		{"getUser", `[[[[[[[[`},
		{"createWorkspace", `[{"userId":"u","name":"\u0000","description":"` + "\xff\xfe" + `"}]`},
	} {
		f.Add(seed.method, []byte(seed.args))
	}
	f.Fuzz(func(t *testing.T, method string, args []byte) {
		res, err := fx.s.Call(fx.ctx, method, json.RawMessage(args))
		if err != nil {
			se, ok := syncerr.As(err)
			if !ok {
				t.Fatalf("%s(%q): not a *syncerr.Error: %T %v", method, args, err, err)
			}
			if se.Status < 400 || se.Status >= 500 {
				t.Fatalf("%s(%q): status %d: %v", method, args, se.Status, err)
			}
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("%s(%q): result does not marshal: %v", method, args, err)
		}
	})
}
