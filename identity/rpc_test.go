package identity

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// call runs an RPC and returns the JSON of its result, as the HTTP layer
// would send it.
func (f *fixture) call(t *testing.T, method, args string) string {
	t.Helper()
	res, err := f.s.Call(f.ctx, method, json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s(%s): %v", method, args, err)
	}
	out, err := json.Marshal(res)
	must(t, err)
	return string(out)
}

func (f *fixture) callErr(t *testing.T, method, args string) error {
	t.Helper()
	_, err := f.s.Call(f.ctx, method, json.RawMessage(args))
	if err == nil {
		t.Fatalf("%s(%s) succeeded", method, args)
	}
	return err
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	must(t, json.Unmarshal([]byte(s), &m))
	return m
}

func TestCall_UnknownMethodIs404(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{"", "nope", "GetOrCreateUser", "getOrCreateUser ", "listAdmins", strings.Repeat("x", 10_000)} {
		wantErr(t, f.callErr(t, m, `[]`), ErrUnknownMethod, 404)
	}
	if len(Methods()) != 15 {
		t.Fatalf("methods: %v", Methods())
	}
}

func TestCall_MalformedArgsAre400(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ method, args string }{
		{"getOrCreateUser", ``},
		{"getOrCreateUser", `null`},
		{"getOrCreateUser", `{"provider":"p","providerUserId":"s"}`},
		{"getOrCreateUser", `[`},
		{"getOrCreateUser", `[]`},
		{"getOrCreateUser", `[null]`},
		{"getOrCreateUser", `["p","s"]`},
		{"getOrCreateUser", `[{"provider":"p"}]`},
		{"getOrCreateUser", `[{"provider":1,"providerUserId":"s"}]`},
		{"getOrCreateUser", `[{"provider":"p","providerUserId":["s"]}]`},
		{"getOrCreateUser", `[{"provider":"p","providerUserId":"s","email":false}]`},
		{"getOrCreateUser", `[{"provider":"p","providerUserId":"s"},{"extra":1}]`},
		{"getOrCreateUser", `[{"provider":"p","providerUserId":"` + strings.Repeat("s", 257) + `"}]`},
		{"getOrCreateUser", `[{"provider":"","providerUserId":"s"}]`},
		{"getUser", `[{"provider":"p"}]`},
		{"getOrCreateDefaultWorkspace", `[]`},
		{"getOrCreateDefaultWorkspace", `[42]`},
		{"getOrCreateDefaultWorkspace", `[{"userId":"u"}]`},
		{"getWorkspaceRole", `["u","w"]`},
		{"getWorkspaceRole", `[{"userId":"u"}]`},
		{"listUserWorkspaces", `[true]`},
		{"createWorkspace", `[{"userId":"u"}]`},
		{"createWorkspace", `[{"userId":"u","name":7}]`},
		{"updateWorkspace", `[{"userId":"u","workspaceId":"w"}]`},
		{"removeWorkspace", `[{"userId":"u"}]`},
		{"setActiveWorkspace", `[{"workspaceId":"w"}]`},
		{"createInvite", `[{"workspaceId":"w","email":"a@b","role":"viewer","invitedByUserId":"u"}]`},
		{"createInvite", `[{"workspaceId":"w","email":"a@b","role":"viewer","invitedByUserId":"u","expiresAt":"soon"}]`},
		{"createInvite", `[{"workspaceId":"w","email":"a@b","role":"viewer","invitedByUserId":"u","expiresAt":1.5}]`},
		{"createInvite", `[{"workspaceId":"w","email":"a@b","role":"viewer","invitedByUserId":"u","expiresAt":1e300}]`},
		{"createInvite", `[{"workspaceId":"w","email":"a@b","role":"god","invitedByUserId":"u","expiresAt":9007199254740991}]`},
		{"listInvites", `[{"workspaceId":"w","limit":"10"}]`},
		{"listInvites", `[{"workspaceId":"w","status":"weird"}]`},
		{"revokeInvite", `[{"workspaceId":"w","inviteId":"i"}]`},
		{"validateInvite", `[{"workspaceId":"w","email":"a@b"}]`},
		{"acceptInviteAndProvisionUser", `[{"provider":"p","providerUserId":"s","workspaceId":"w","tokenHash":"h"}]`},
		{"consumeInvite", `[{"workspaceId":"w","email":"a@b","tokenHash":"h"}]`},
	} {
		t.Run(c.method+" "+c.args[:min(len(c.args), 60)], func(t *testing.T) {
			wantErr(t, f.callErr(t, c.method, c.args), ErrInvalidArgument, 400)
		})
	}
}

// The whole auth flow through Call, checking the JSON shapes of §3.
func TestCall_FlowAndResultShapes(t *testing.T) {
	f := newFixture(t)
	// Extra keys and trailing nulls are tolerated.
	ref := decodeJSON(t, f.call(t, "getOrCreateUser", `[{"provider":"clerk","providerUserId":"u1","email":"Owner@X.io","displayName":"Own","future":1}, null]`))
	owner := ref["userId"].(string)
	if ref["created"] != true || owner != f.s.UserIDFor("clerk", "u1") {
		t.Fatalf("%v", ref)
	}
	if got := f.call(t, "getUser", `[{"provider":"clerk","providerUserId":"u1"}]`); got != fmt.Sprintf(`{"userId":%q,"email":"owner@x.io","displayName":"Own"}`, owner) {
		t.Fatal(got)
	}
	if got := f.call(t, "getUser", `[{"provider":"clerk","providerUserId":"nobody"}]`); got != "null" {
		t.Fatal(got)
	}
	d := decodeJSON(t, f.call(t, "getOrCreateDefaultWorkspace", fmt.Sprintf(`[%q]`, owner)))
	ws := d["workspaceId"].(string)
	if d["workspaceName"] != DefaultWorkspaceName || d["created"] != true {
		t.Fatalf("%v", d)
	}
	if got := f.call(t, "getWorkspaceRole", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q}]`, owner, ws)); got != `"owner"` {
		t.Fatal(got)
	}
	if got := f.call(t, "getWorkspaceRole", fmt.Sprintf(`[{"userId":"someone","workspaceId":%q}]`, ws)); got != `null` {
		t.Fatal(got)
	}
	ws2 := decodeJSON(t, f.call(t, "createWorkspace", fmt.Sprintf(`[{"userId":%q,"name":"Two","description":"second"}]`, owner)))["workspaceId"].(string)
	if got := f.call(t, "updateWorkspace", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q,"name":"Zwei","description":null}]`, owner, ws2)); got != "null" {
		t.Fatal(got)
	}
	f.call(t, "setActiveWorkspace", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q}]`, owner, ws2))
	var list []map[string]any
	must(t, json.Unmarshal([]byte(f.call(t, "listUserWorkspaces", fmt.Sprintf(`[%q]`, owner))), &list))
	if len(list) != 2 || list[1]["name"] != "Zwei" || list[1]["description"] != nil || list[1]["isActive"] != true ||
		list[0]["role"] != "owner" || list[0]["createdAt"] == nil {
		t.Fatalf("%v", list)
	}
	exp := f.clock.Ms() + 3600_000
	inv := decodeJSON(t, f.call(t, "createInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":" New@X.io","role":"editor","invitedByUserId":%q,"expiresAt":%d,"tokenHash":"th"}]`, ws, owner, exp)))
	inviteID := inv["inviteId"].(string)
	if _, ok := inv["token"]; ok {
		t.Fatalf("token returned for a host-supplied hash: %v", inv)
	}
	var invs []map[string]any
	must(t, json.Unmarshal([]byte(f.call(t, "listInvites", fmt.Sprintf(`[{"workspaceId":%q,"status":"pending","limit":10}]`, ws))), &invs))
	if len(invs) != 1 {
		t.Fatalf("%v", invs)
	}
	row := invs[0]
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"acceptedAt", "acceptedUserId", "createdAt", "email", "expiresAt", "id", "invitedByUserId", "revokedAt", "revokedByUserId", "role", "status", "updatedAt", "workspaceId"}
	if !slices.Equal(keys, want) {
		t.Fatalf("invite keys %v", keys)
	}
	if row["id"] != inviteID || row["email"] != "new@x.io" || row["expiresAt"] != float64(exp) || row["acceptedAt"] != nil {
		t.Fatalf("%v", row)
	}
	if got := f.call(t, "validateInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"new@x.io","tokenHash":"th"}]`, ws)); got != `{"ok":true,"role":"editor"}` {
		t.Fatal(got)
	}
	if got := f.call(t, "validateInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"new@x.io","tokenHash":"zz"}]`, ws)); got != `{"ok":false,"reason":"not_found"}` {
		t.Fatal(got)
	}
	acc := decodeJSON(t, f.call(t, "acceptInviteAndProvisionUser", fmt.Sprintf(`[{"provider":"clerk","providerUserId":"u2","email":"new@x.io","workspaceId":%q,"tokenHash":"th"}]`, ws)))
	if acc["ok"] != true || acc["role"] != "editor" || acc["createdUser"] != true || acc["userId"] != f.s.UserIDFor("clerk", "u2") {
		t.Fatalf("%v", acc)
	}
	if got := f.call(t, "acceptInviteAndProvisionUser", fmt.Sprintf(`[{"provider":"clerk","providerUserId":"u3","email":"new@x.io","workspaceId":%q,"tokenHash":"th"}]`, ws)); got != `{"ok":false,"reason":"already_used"}` {
		t.Fatal(got)
	}
	inv2 := decodeJSON(t, f.call(t, "createInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"owner@x.io","role":"viewer","invitedByUserId":%q,"expiresAt":%d}]`, ws, owner, exp)))
	token, hash := inv2["token"].(string), inv2["tokenHash"].(string)
	if token == "" || hash == "" {
		t.Fatalf("%v", inv2)
	}
	if got := f.call(t, "consumeInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"owner@x.io","tokenHash":%q,"acceptedUserId":%q}]`, ws, hash, owner)); got != `{"ok":true,"role":"owner"}` {
		t.Fatal(got)
	}
	inv3 := decodeJSON(t, f.call(t, "createInvite", fmt.Sprintf(`[{"workspaceId":%q,"email":"x@x.io","role":"viewer","invitedByUserId":%q,"expiresAt":%d}]`, ws, owner, exp)))
	if got := f.call(t, "revokeInvite", fmt.Sprintf(`[{"workspaceId":%q,"inviteId":%q,"revokedByUserId":%q}]`, ws, inv3["inviteId"], owner)); got != "null" {
		t.Fatal(got)
	}
	if got := f.call(t, "removeWorkspace", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q}]`, owner, ws2)); got != "null" {
		t.Fatal(got)
	}
	if got := f.call(t, "listUserWorkspaces", `["nobody"]`); got != "[]" {
		t.Fatal(got)
	}
}

// api.md Decisions 4: unknown workspace or invite → 404; an acting user whose
// role may not act → 403; conflicts → 409.
func TestCall_ErrorStatuses(t *testing.T) {
	f := newFixture(t)
	owner, viewer := f.user(t, "o", ""), f.user(t, "v", "")
	ws := f.workspace(t, owner, "W")
	must(t, f.s.AddMember(f.ctx, ws, viewer, RoleViewer, owner))
	exp := f.clock.Ms() + 1000
	invite := func(by, hash string) string {
		return fmt.Sprintf(`[{"workspaceId":%q,"email":"a@x.io","role":"viewer","invitedByUserId":%q,"expiresAt":%d,"tokenHash":%q}]`, ws, by, exp, hash)
	}
	wantErr(t, f.callErr(t, "createInvite", invite(viewer, "h")), ErrForbidden, 403)
	f.call(t, "createInvite", invite(owner, "h"))
	wantErr(t, f.callErr(t, "createInvite", invite(owner, "h")), ErrConflict, 409)
	wantErr(t, f.callErr(t, "revokeInvite", fmt.Sprintf(`[{"workspaceId":%q,"inviteId":"nope","revokedByUserId":%q}]`, ws, owner)), ErrInviteNotFound, 404)
	wantErr(t, f.callErr(t, "revokeInvite", fmt.Sprintf(`[{"workspaceId":"nope","inviteId":"nope","revokedByUserId":%q}]`, owner)), ErrWorkspaceNotFound, 404)
	wantErr(t, f.callErr(t, "updateWorkspace", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q,"name":"x"}]`, viewer, ws)), ErrForbidden, 403)
	wantErr(t, f.callErr(t, "removeWorkspace", fmt.Sprintf(`[{"userId":%q,"workspaceId":%q}]`, viewer, ws)), ErrForbidden, 403)
	wantErr(t, f.callErr(t, "listInvites", `[{"workspaceId":"nope"}]`), ErrWorkspaceNotFound, 404)
	wantErr(t, f.callErr(t, "getOrCreateDefaultWorkspace", `["ghost"]`), ErrUserNotFound, 404)
}
