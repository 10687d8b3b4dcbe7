package identity

import (
	"strings"
	"testing"
)

// Scenario 53.
func TestRemoveMember_LastOwnerProtected(t *testing.T) {
	f := newFixture(t)
	owner, editor := f.user(t, "o", ""), f.user(t, "e", "")
	ws := f.workspace(t, owner, "W")
	must(t, f.s.AddMember(f.ctx, ws, editor, RoleEditor, owner))
	err := f.s.RemoveMember(f.ctx, ws, owner, "")
	wantErr(t, err, ErrLastOwner, 409)
	if !strings.Contains(err.Error(), "last workspace owner") {
		t.Fatalf("message: %v", err)
	}
	if r := f.role(t, ws, owner); r != RoleOwner {
		t.Fatalf("owner's role after refused removal: %q", r)
	}
	// With a second owner, the first may go.
	must(t, f.s.SetRole(f.ctx, ws, editor, RoleOwner, owner))
	must(t, f.s.RemoveMember(f.ctx, ws, owner, ""))
	if r := f.role(t, ws, owner); r != RoleNone {
		t.Fatalf("removed owner still has %q", r)
	}
	w, err := f.s.GetWorkspace(f.ctx, ws)
	must(t, err)
	if w.OwnerUserID != editor {
		t.Fatalf("primary owner %q, want %q", w.OwnerUserID, editor)
	}
}

// Scenario 53.
func TestSetRole_LastOwnerCannotBeDemoted(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "o", "")
	ws := f.workspace(t, owner, "W")
	for _, r := range []Role{RoleEditor, RoleViewer} {
		err := f.s.SetRole(f.ctx, ws, owner, r, "")
		wantErr(t, err, ErrLastOwner, 409)
	}
	// Through the admin upsert path too.
	wantErr(t, f.s.AddMember(f.ctx, ws, owner, RoleViewer, ""), ErrLastOwner, 409)
	if r := f.role(t, ws, owner); r != RoleOwner {
		t.Fatalf("role %q", r)
	}
}

// Scenario 54.
func TestSetRole_DemotingPrimaryOwnerTransfersOwnership(t *testing.T) {
	f := newFixture(t)
	primary, second, third := f.user(t, "p", ""), f.user(t, "s", ""), f.user(t, "t", "")
	ws := f.workspace(t, primary, "W")
	f.clock.Advance(1000)
	must(t, f.s.AddMember(f.ctx, ws, second, RoleOwner, primary))
	f.clock.Advance(1000)
	must(t, f.s.AddMember(f.ctx, ws, third, RoleOwner, primary))
	must(t, f.s.SetRole(f.ctx, ws, primary, RoleEditor, ""))
	w, err := f.s.GetWorkspace(f.ctx, ws)
	must(t, err)
	if w.OwnerUserID != second {
		t.Fatalf("primary owner %q, want the oldest other owner %q", w.OwnerUserID, second)
	}
	if r := f.role(t, ws, primary); r != RoleEditor {
		t.Fatalf("demoted role %q", r)
	}
}

func TestRemoveMember_RehomesActivePointer(t *testing.T) {
	f := newFixture(t)
	owner, m := f.user(t, "o", ""), f.user(t, "m", "")
	home := f.workspace(t, m, "Home")
	ws := f.workspace(t, owner, "W")
	must(t, f.s.AddMember(f.ctx, ws, m, RoleViewer, owner))
	must(t, f.s.SetActiveWorkspace(f.ctx, m, ws))
	must(t, f.s.RemoveMember(f.ctx, ws, m, owner))
	if a := f.userRec(t, m).ActiveWorkspaceID; a != home {
		t.Fatalf("active %q, want %q", a, home)
	}
	if r := f.role(t, ws, m); r != RoleNone {
		t.Fatalf("role after removal %q", r)
	}
}

func TestAddMember_Errors(t *testing.T) {
	f := newFixture(t)
	owner, u := f.user(t, "o", ""), f.user(t, "u", "")
	ws := f.workspace(t, owner, "W")
	wantErr(t, f.s.AddMember(f.ctx, ws, "ghost", RoleEditor, ""), ErrUserNotFound, 404)
	wantErr(t, f.s.AddMember(f.ctx, "nope", u, RoleEditor, ""), ErrWorkspaceNotFound, 404)
	wantErr(t, f.s.AddMember(f.ctx, ws, u, Role("admin"), ""), ErrInvalidArgument, 400)
	wantErr(t, f.s.SetRole(f.ctx, ws, u, RoleEditor, ""), ErrMemberNotFound, 404)
	wantErr(t, f.s.RemoveMember(f.ctx, ws, u, ""), ErrMemberNotFound, 404)
	must(t, f.s.AddMember(f.ctx, ws, u, RoleViewer, owner))
	must(t, f.s.AddMember(f.ctx, ws, u, RoleEditor, owner)) // upsert changes the role
	ms, err := f.s.ListMembers(f.ctx, ws)
	must(t, err)
	if len(ms) != 2 || ms[0].UserID != owner || ms[1].UserID != u || ms[1].Role != RoleEditor {
		t.Fatalf("%+v", ms)
	}
	other := f.workspace(t, owner, "Deleted")
	must(t, f.s.RemoveWorkspace(f.ctx, owner, other))
	wantErr(t, f.s.AddMember(f.ctx, other, u, RoleEditor, ""), ErrWorkspaceNotFound, 404)
}

// A committed role change is what the next Role call sees (no stale cache).
func TestRole_RevocationTakesEffectImmediately(t *testing.T) {
	f := newFixture(t)
	owner, u := f.user(t, "o", ""), f.user(t, "u", "")
	ws := f.workspace(t, owner, "W")
	must(t, f.s.AddMember(f.ctx, ws, u, RoleEditor, owner))
	if r := f.role(t, ws, u); !r.CanWrite() {
		t.Fatalf("editor cannot write: %q", r)
	}
	must(t, f.s.SetRole(f.ctx, ws, u, RoleViewer, owner))
	if r := f.role(t, ws, u); r.CanWrite() || !r.CanRead() {
		t.Fatalf("viewer: %q", r)
	}
	must(t, f.s.RemoveMember(f.ctx, ws, u, owner))
	if r := f.role(t, ws, u); r.CanRead() {
		t.Fatalf("removed: %q", r)
	}
}
