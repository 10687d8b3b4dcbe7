package admin_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/or3/syncd/admin"
)

type member struct {
	UserID string  `json:"userId"`
	Email  *string `json:"email"`
	Role   string  `json:"role"`
}

type wsList struct {
	Items []struct {
		ID          string `json:"id"`
		Deleted     bool   `json:"deleted"`
		DeletedAt   *int64 `json:"deletedAt"`
		OwnerUserID string `json:"ownerUserId"`
		MemberCount int    `json:"memberCount"`
	} `json:"items"`
	Total int `json:"total"`
}

// TestAdmin_Scenarios runs workspace-admin §7 scenarios 47, 49–58 over
// real HTTP against a daemon.
func TestAdmin_Scenarios(t *testing.T) {
	ctx := context.Background()
	_, c := startDaemon(t, t.TempDir(), nil)
	owner := mustUser(t, c, "owner")
	if err := c.RPC(ctx, "auth.getOrCreateUser", nil, map[string]string{"provider": "test", "providerUserId": "viewer", "email": "Viewer@Example.com"}); err != nil {
		t.Fatal(err)
	}
	viewer := mustUser(t, c, "viewer")

	t.Run("47 full method set and boolean capabilities", func(t *testing.T) {
		var caps map[string]any
		if err := c.RPC(ctx, "adminUsers.getCapabilities", &caps); err != nil {
			t.Fatal(err)
		}
		if len(caps) != 5 {
			t.Fatalf("caps %v", caps)
		}
		for k, v := range caps {
			if b, ok := v.(bool); !ok || !b {
				t.Fatalf("capability %s = %v", k, v)
			}
		}
		for _, m := range []string{"workspaceAccess.listMembers", "workspaceAccess.searchUsers", "workspaceSettings.get", "adminUsers.isAdmin"} {
			err := c.RPC(ctx, m, nil, map[string]any{})
			if status(err) == 404 && strings.Contains(err.Error(), "unknown method") {
				t.Fatalf("%s missing", m)
			}
		}
		if err := c.RPC(ctx, "adminUsers.nope", nil); status(err) != 404 {
			t.Fatalf("unknown method: %v", err)
		}
	})

	var ws string
	t.Run("58 owner must exist", func(t *testing.T) {
		err := c.RPC(ctx, "workspaceAccess.createWorkspace", nil, map[string]any{"name": "X", "ownerUserId": "nobody"})
		if status(err) != 404 || !strings.Contains(err.Error(), "Owner user not found") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("52 lifecycle", func(t *testing.T) {
		var created struct {
			WorkspaceID string `json:"workspaceId"`
		}
		if err := c.RPC(ctx, "workspaceAccess.createWorkspace", &created, map[string]any{"name": "Acme", "description": "d", "ownerUserId": owner}); err != nil {
			t.Fatal(err)
		}
		ws = created.WorkspaceID
		if err := c.RPC(ctx, "workspaceAccess.upsertMember", nil, map[string]any{"workspaceId": ws, "emailOrProviderId": "viewer@example.com", "role": "viewer"}); err != nil {
			t.Fatal(err)
		}
		var ms []member
		if err := c.RPC(ctx, "workspaceAccess.listMembers", &ms, map[string]any{"workspaceId": ws}); err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 || ms[1].UserID != viewer || ms[1].Role != "viewer" || ms[1].Email == nil || *ms[1].Email != "viewer@example.com" {
			t.Fatalf("members %+v", ms)
		}
		if err := c.RPC(ctx, "workspaceAccess.setMemberRole", nil, map[string]any{"workspaceId": ws, "userId": viewer, "role": "editor"}); err != nil {
			t.Fatal(err)
		}
		var hits []admin.UserHit
		if err := c.RPC(ctx, "workspaceAccess.searchUsers", &hits, map[string]any{"query": "VIEWER@"}); err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].UserID != viewer {
			t.Fatalf("search %+v", hits)
		}
		if err := c.RPC(ctx, "workspaceAccess.removeMember", nil, map[string]any{"workspaceId": ws, "userId": viewer}); err != nil {
			t.Fatal(err)
		}
		if err := c.RPC(ctx, "workspaceAccess.softDeleteWorkspace", nil, map[string]any{"workspaceId": ws, "deletedAt": 1234567}); err != nil {
			t.Fatal(err)
		}
		var one *struct {
			Deleted   bool   `json:"deleted"`
			DeletedAt *int64 `json:"deletedAt"`
		}
		if err := c.RPC(ctx, "workspaceAccess.getWorkspace", &one, map[string]any{"workspaceId": ws}); err != nil {
			t.Fatal(err)
		}
		if one == nil || !one.Deleted || one.DeletedAt == nil || *one.DeletedAt != 1234567 {
			t.Fatalf("after delete %+v", one)
		}
		var l wsList
		if err := c.RPC(ctx, "workspaceAccess.listWorkspaces", &l, map[string]any{"search": "acm", "page": 1, "perPage": 10}); err != nil {
			t.Fatal(err)
		}
		if l.Total != 0 {
			t.Fatalf("deleted workspace listed: %+v", l)
		}
		if err := c.RPC(ctx, "workspaceAccess.restoreWorkspace", nil, map[string]any{"workspaceId": ws}); err != nil {
			t.Fatal(err)
		}
		if err := c.RPC(ctx, "workspaceAccess.listWorkspaces", &l, map[string]any{"search": "ACM", "page": 1, "perPage": 10}); err != nil {
			t.Fatal(err)
		}
		if l.Total != 1 || l.Items[0].ID != ws || l.Items[0].Deleted || l.Items[0].MemberCount != 1 {
			t.Fatalf("after restore %+v", l)
		}
	})

	t.Run("50 upsert by email lists it", func(t *testing.T) {
		if err := c.RPC(ctx, "workspaceAccess.upsertMember", nil, map[string]any{"workspaceId": ws, "emailOrProviderId": " Viewer@example.com ", "role": "viewer"}); err != nil {
			t.Fatal(err)
		}
		var ms []member
		if err := c.RPC(ctx, "workspaceAccess.listMembers", &ms, map[string]any{"workspaceId": ws}); err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 {
			t.Fatalf("members %+v", ms)
		}
		err := c.RPC(ctx, "workspaceAccess.upsertMember", nil, map[string]any{"workspaceId": ws, "emailOrProviderId": "ghost@example.com", "role": "viewer"})
		if status(err) != 404 {
			t.Fatalf("no placeholder users: %v", err)
		}
	})

	t.Run("53 last owner cannot be demoted or removed", func(t *testing.T) {
		err := c.RPC(ctx, "workspaceAccess.setMemberRole", nil, map[string]any{"workspaceId": ws, "userId": owner, "role": "editor"})
		if status(err) != 409 || !strings.Contains(err.Error(), "last workspace owner") {
			t.Fatalf("demote: %v", err)
		}
		err = c.RPC(ctx, "workspaceAccess.removeMember", nil, map[string]any{"workspaceId": ws, "userId": owner})
		if status(err) != 409 || !strings.Contains(err.Error(), "last workspace owner") {
			t.Fatalf("remove: %v", err)
		}
	})

	t.Run("54 demoting the primary owner transfers it", func(t *testing.T) {
		if err := c.RPC(ctx, "workspaceAccess.setMemberRole", nil, map[string]any{"workspaceId": ws, "userId": viewer, "role": "owner"}); err != nil {
			t.Fatal(err)
		}
		if err := c.RPC(ctx, "workspaceAccess.setMemberRole", nil, map[string]any{"workspaceId": ws, "userId": owner, "role": "viewer"}); err != nil {
			t.Fatal(err)
		}
		var w struct {
			OwnerUserID string `json:"ownerUserId"`
		}
		if err := c.RPC(ctx, "workspaceAccess.getWorkspace", &w, map[string]any{"workspaceId": ws}); err != nil {
			t.Fatal(err)
		}
		if w.OwnerUserID != viewer {
			t.Fatalf("primary owner %q, want %q", w.OwnerUserID, viewer)
		}
	})

	t.Run("51 settings round trip", func(t *testing.T) {
		var v *string
		if err := c.RPC(ctx, "workspaceSettings.get", &v, ws, "guest_access_enabled"); err != nil || v != nil {
			t.Fatalf("missing: %v %v", v, err)
		}
		for _, val := range []string{"true", "false"} {
			if err := c.RPC(ctx, "workspaceSettings.set", nil, ws, "guest_access_enabled", val); err != nil {
				t.Fatal(err)
			}
			if err := c.RPC(ctx, "workspaceSettings.get", &v, ws, "guest_access_enabled"); err != nil || v == nil || *v != val {
				t.Fatalf("get after set %q: %v %v", val, v, err)
			}
		}
		if err := c.RPC(ctx, "workspaceSettings.set", nil, "no-such-ws", "k", "v"); status(err) != 404 {
			t.Fatalf("unknown workspace: %v", err)
		}
	})

	t.Run("55 56 grants", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if err := c.RPC(ctx, "adminUsers.grantAdmin", nil, map[string]any{"userId": viewer}); err != nil {
				t.Fatal(err)
			}
		}
		var is bool
		if err := c.RPC(ctx, "adminUsers.isAdmin", &is, map[string]any{"userId": viewer}); err != nil || !is {
			t.Fatalf("isAdmin %v %v", is, err)
		}
		var admins []admin.AdminUser
		if err := c.RPC(ctx, "adminUsers.listAdmins", &admins); err != nil || len(admins) != 1 || admins[0].UserID != viewer {
			t.Fatalf("listAdmins %+v %v", admins, err)
		}
		for i := 0; i < 2; i++ {
			if err := c.RPC(ctx, "adminUsers.revokeAdmin", nil, map[string]any{"userId": viewer}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.RPC(ctx, "adminUsers.isAdmin", &is, map[string]any{"userId": viewer}); err != nil || is {
			t.Fatalf("isAdmin after revoke %v %v", is, err)
		}
		if err := c.RPC(ctx, "adminUsers.grantAdmin", nil, map[string]any{"userId": "nobody"}); status(err) != 404 || !strings.Contains(err.Error(), "User not found") {
			t.Fatalf("grant unknown: %v", err)
		}
	})

	t.Run("49 acting admin must be an admin", func(t *testing.T) {
		err := c.RPC(ctx, "workspaceAccess.listWorkspaces", nil, map[string]any{"actorUserId": owner})
		if status(err) != 403 || !strings.Contains(err.Error(), "Admin access required") {
			t.Fatalf("non-admin: %v", err)
		}
		err = c.RPC(ctx, "workspaceAccess.listWorkspaces", nil, map[string]any{"actorUserId": "ghost"})
		if status(err) != 401 || !strings.Contains(err.Error(), "User not found") {
			t.Fatalf("unknown: %v", err)
		}
		if err := c.RPC(ctx, "adminUsers.grantAdmin", nil, map[string]any{"userId": owner}); err != nil {
			t.Fatal(err)
		}
		if err := c.RPC(ctx, "workspaceAccess.listWorkspaces", nil, map[string]any{"actorUserId": owner}); err != nil {
			t.Fatalf("admin actor: %v", err)
		}
	})

	t.Run("57 bridge grant", func(t *testing.T) {
		br := mustUser(t, c, "bridge")
		args := map[string]any{"provider": "test", "providerUserId": "bridge", "adminUsername": "root", "bridgeSignature": "00"}
		if err := c.RPC(ctx, "adminUsers.ensureDeploymentAdmin", nil, args); status(err) != 403 {
			t.Fatalf("bad signature: %v", err)
		}
		args["bridgeSignature"] = admin.BridgeSignature([]byte("bridge-secret-for-tests"), "bridge", "root")
		var res struct {
			Created bool   `json:"created"`
			UserID  string `json:"userId"`
		}
		if err := c.RPC(ctx, "adminUsers.ensureDeploymentAdmin", &res, args); err != nil || !res.Created || res.UserID != br {
			t.Fatalf("first: %+v %v", res, err)
		}
		if err := c.RPC(ctx, "adminUsers.ensureDeploymentAdmin", &res, args); err != nil || res.Created {
			t.Fatalf("second: %+v %v", res, err)
		}
		var page admin.AuditPage
		if err := c.RPC(ctx, "adminUsers.listAudit", &page, map[string]any{"action": "admin.grant", "targetId": br}); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].ActorID != "root" || page.Items[0].ActorType != admin.ActorSuperAdmin {
			t.Fatalf("bridge audit %+v", page.Items)
		}
		var ok bool
		if err := c.RPC(ctx, "adminUsers.checkDeploymentAdmin", &ok, "bridge", "test"); err != nil || !ok {
			t.Fatalf("checker: %v %v", ok, err)
		}
		if err := c.RPC(ctx, "adminUsers.checkDeploymentAdmin", &ok, "nobody", "test"); err != nil || ok {
			t.Fatalf("checker unknown: %v %v", ok, err)
		}
	})

	t.Run("audit records every mutation with before and after", func(t *testing.T) {
		var page admin.AuditPage
		if err := c.RPC(ctx, "adminUsers.listAudit", &page, map[string]any{"targetId": ws, "limit": 500}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range page.Items {
			seen[e.Action]++
			if e.CreatedAt == 0 || e.ActorID == "" {
				t.Fatalf("entry without who/when: %+v", e)
			}
		}
		for _, a := range []string{"workspace.create", "member.add", "member.role", "member.remove", "workspace.delete", "workspace.restore", "settings.set"} {
			if seen[a] == 0 {
				t.Fatalf("no %s in audit: %v", a, seen)
			}
		}
		// The failed last-owner demotion wrote nothing.
		for _, e := range page.Items {
			if e.Action == "member.role" {
				var after map[string]any
				_ = json.Unmarshal(e.After, &after)
				if after["userId"] == owner && after["role"] == "editor" {
					t.Fatalf("refused change audited: %+v", e)
				}
			}
		}
	})
}
