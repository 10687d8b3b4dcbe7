package identity

import (
	"strings"
	"sync"
	"testing"
)

// Scenario 15.
func TestDefaultWorkspace_FirstLoginCreatesOwnedActiveWorkspace(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "s", "")
	d, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
	must(t, err)
	if !d.Created || d.WorkspaceName != DefaultWorkspaceName || d.WorkspaceID == "" {
		t.Fatalf("%+v", d)
	}
	if r := f.role(t, d.WorkspaceID, u); r != RoleOwner {
		t.Fatalf("creator role %q", r)
	}
	if a := f.userRec(t, u).ActiveWorkspaceID; a != d.WorkspaceID {
		t.Fatalf("active %q", a)
	}
	w, err := f.s.GetWorkspace(f.ctx, d.WorkspaceID)
	must(t, err)
	if w.OwnerUserID != u || w.HomeRegion != "eu" {
		t.Fatalf("%+v", w)
	}
}

// Scenario 16, and racing first calls.
func TestDefaultWorkspace_RepeatedCallsReturnTheSameWorkspace(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "s", "")
	var wg sync.WaitGroup
	res := make([]DefaultWorkspace, 8)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
			if err != nil {
				t.Error(err)
			}
			res[i] = d
		}()
	}
	wg.Wait()
	created := 0
	for _, d := range res {
		if d.WorkspaceID != res[0].WorkspaceID {
			t.Fatalf("different workspaces: %+v", res)
		}
		if d.Created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d calls created a workspace", created)
	}
	ws, err := f.s.ListUserWorkspaces(f.ctx, u)
	must(t, err)
	if len(ws) != 1 {
		t.Fatalf("%d workspaces", len(ws))
	}
}

// Scenario 17.
func TestDefaultWorkspace_ReturnsActiveNotOldest(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "s", "")
	first, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
	must(t, err)
	second := f.workspace(t, u, "Second")
	must(t, f.s.SetActiveWorkspace(f.ctx, u, second))
	d, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
	must(t, err)
	if d.WorkspaceID != second || d.Created || d.WorkspaceName != "Second" {
		t.Fatalf("got %+v, want the active %s (not %s)", d, second, first.WorkspaceID)
	}
}

// Scenario 18.
func TestDefaultWorkspace_RepairsStalePointer(t *testing.T) {
	t.Run("active workspace deleted", func(t *testing.T) {
		f := newFixture(t)
		u := f.user(t, "s", "")
		oldest := f.workspace(t, u, "Oldest")
		f.clock.Advance(1000)
		newer := f.workspace(t, u, "Newer")
		must(t, f.s.SetActiveWorkspace(f.ctx, u, newer))
		must(t, f.s.RemoveWorkspace(f.ctx, u, newer))
		d, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
		must(t, err)
		if d.WorkspaceID != oldest || d.Created {
			t.Fatalf("%+v", d)
		}
		if a := f.userRec(t, u).ActiveWorkspaceID; a != oldest {
			t.Fatalf("pointer not repaired: %q", a)
		}
	})
	t.Run("user left the active workspace", func(t *testing.T) {
		f := newFixture(t)
		owner, u := f.user(t, "owner", ""), f.user(t, "member", "")
		own := f.workspace(t, u, "Own")
		f.clock.Advance(1000)
		shared := f.workspace(t, owner, "Shared")
		must(t, f.s.AddMember(f.ctx, shared, u, RoleEditor, ""))
		must(t, f.s.SetActiveWorkspace(f.ctx, u, shared))
		must(t, f.s.RemoveMember(f.ctx, shared, u, owner))
		d, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
		must(t, err)
		if d.WorkspaceID != own {
			t.Fatalf("%+v, want %s", d, own)
		}
	})
	t.Run("stale pointer and no membership left creates one", func(t *testing.T) {
		f := newFixture(t)
		u := f.user(t, "s", "")
		d, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
		must(t, err)
		must(t, f.s.RemoveWorkspace(f.ctx, u, d.WorkspaceID))
		d2, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
		must(t, err)
		if !d2.Created || d2.WorkspaceID == d.WorkspaceID {
			t.Fatalf("%+v", d2)
		}
	})
}

// Scenario 19.
func TestWorkspaceRole_CreatorIsOwnerNonMemberIsNone(t *testing.T) {
	f := newFixture(t)
	u, other := f.user(t, "a", ""), f.user(t, "b", "")
	ws := f.workspace(t, u, "W")
	if r, err := f.s.GetWorkspaceRole(f.ctx, u, ws); err != nil || r != RoleOwner {
		t.Fatalf("creator: %q %v", r, err)
	}
	if r, err := f.s.GetWorkspaceRole(f.ctx, other, ws); err != nil || r != RoleNone {
		t.Fatalf("non-member: %q %v", r, err)
	}
	if r := f.role(t, "no-such-ws", u); r != RoleNone {
		t.Fatalf("unknown workspace: %q", r)
	}
}

func TestRole_DeletedWorkspaceGrantsNothing(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "a", "")
	ws := f.workspace(t, u, "W")
	must(t, f.s.RemoveWorkspace(f.ctx, u, ws))
	if r := f.role(t, ws, u); r != RoleNone {
		t.Fatalf("role in a deleted workspace: %q", r)
	}
}

// Scenario 20.
func TestListUserWorkspaces_ListsEveryWorkspaceWithDetails(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "a", "")
	a, err := f.s.CreateWorkspace(f.ctx, u, "  Alpha ", "first")
	must(t, err)
	f.clock.Advance(1000)
	b, err := f.s.CreateWorkspace(f.ctx, u, "Beta", "")
	must(t, err)
	must(t, f.s.SetActiveWorkspace(f.ctx, u, b))
	ws, err := f.s.ListUserWorkspaces(f.ctx, u)
	must(t, err)
	if len(ws) != 2 {
		t.Fatalf("%+v", ws)
	}
	if ws[0].ID != a || ws[0].Name != "Alpha" || ws[0].Description != "first" || ws[0].Role != RoleOwner || ws[0].IsActive {
		t.Fatalf("first: %+v", ws[0])
	}
	if ws[1].ID != b || ws[1].Name != "Beta" || ws[1].Description != "" || !ws[1].IsActive || ws[1].CreatedAtMs <= ws[0].CreatedAtMs {
		t.Fatalf("second: %+v", ws[1])
	}
	if none, err := f.s.ListUserWorkspaces(f.ctx, "nobody"); err != nil || len(none) != 0 {
		t.Fatalf("unknown user: %+v %v", none, err)
	}
}

func TestCreateWorkspace_LeavesActiveAloneAndNeedsUser(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "a", "")
	d, err := f.s.GetOrCreateDefaultWorkspace(f.ctx, u)
	must(t, err)
	f.workspace(t, u, "Other")
	if a := f.userRec(t, u).ActiveWorkspaceID; a != d.WorkspaceID {
		t.Fatal("createWorkspace moved the active pointer")
	}
	_, err = f.s.CreateWorkspace(f.ctx, "ghost", "X", "")
	wantErr(t, err, ErrUserNotFound, 404)
	_, err = f.s.CreateWorkspace(f.ctx, u, "   ", "")
	wantErr(t, err, ErrInvalidArgument, 400)
	_, err = f.s.CreateWorkspace(f.ctx, u, strings.Repeat("n", 101), "")
	wantErr(t, err, ErrInvalidArgument, 400)
	_, err = f.s.CreateWorkspace(f.ctx, u, strings.Repeat("n", 100), strings.Repeat("d", 1001))
	wantErr(t, err, ErrInvalidArgument, 400)
	// 100 characters is allowed; an astral character counts twice, as in JavaScript.
	_, err = f.s.CreateWorkspace(f.ctx, u, strings.Repeat("n", 98)+"😀", "")
	must(t, err)
	_, err = f.s.CreateWorkspace(f.ctx, u, strings.Repeat("n", 99)+"😀", "")
	wantErr(t, err, ErrInvalidArgument, 400)
}

// Scenario 21.
func TestUpdateWorkspace_OwnerAndEditorMayViewerMayNot(t *testing.T) {
	f := newFixture(t)
	owner, editor, viewer, stranger := f.user(t, "o", ""), f.user(t, "e", ""), f.user(t, "v", ""), f.user(t, "x", "")
	ws := f.workspace(t, owner, "W")
	must(t, f.s.AddMember(f.ctx, ws, editor, RoleEditor, owner))
	must(t, f.s.AddMember(f.ctx, ws, viewer, RoleViewer, owner))
	must(t, f.s.UpdateWorkspace(f.ctx, owner, ws, "Renamed", "desc"))
	must(t, f.s.UpdateWorkspace(f.ctx, editor, ws, "By editor", ""))
	w, err := f.s.GetWorkspace(f.ctx, ws)
	must(t, err)
	if w.Name != "By editor" || w.Description != "" {
		t.Fatalf("%+v", w)
	}
	err = f.s.UpdateWorkspace(f.ctx, viewer, ws, "No", "")
	wantErr(t, err, ErrForbidden, 403)
	if !strings.Contains(err.Error(), "insufficient workspace role") {
		t.Fatalf("message: %v", err)
	}
	wantErr(t, f.s.UpdateWorkspace(f.ctx, stranger, ws, "No", ""), ErrForbidden, 403)
	wantErr(t, f.s.UpdateWorkspace(f.ctx, owner, "nope", "No", ""), ErrWorkspaceNotFound, 404)
}

// Scenario 22.
func TestRemoveWorkspace_OnlyOwner(t *testing.T) {
	f := newFixture(t)
	owner, editor, stranger := f.user(t, "o", ""), f.user(t, "e", ""), f.user(t, "x", "")
	ws := f.workspace(t, owner, "W")
	must(t, f.s.AddMember(f.ctx, ws, editor, RoleEditor, owner))
	err := f.s.RemoveWorkspace(f.ctx, editor, ws)
	wantErr(t, err, ErrForbidden, 403)
	if !strings.Contains(err.Error(), "only owner") {
		t.Fatalf("message: %v", err)
	}
	wantErr(t, f.s.RemoveWorkspace(f.ctx, stranger, ws), ErrForbidden, 403)
	wantErr(t, f.s.RemoveWorkspace(f.ctx, owner, "nope"), ErrWorkspaceNotFound, 404)
	must(t, f.s.RemoveWorkspace(f.ctx, owner, ws))
	must(t, f.s.RemoveWorkspace(f.ctx, owner, ws)) // a retry is a no-op
	w, err := f.s.GetWorkspace(f.ctx, ws)
	must(t, err)
	if !w.Deleted || w.DeletedAtMs != f.clock.Ms() {
		t.Fatalf("%+v", w)
	}
}

// Scenario 23.
func TestRemoveWorkspace_RehomesOwner(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "o", "")
	other := f.workspace(t, u, "Other")
	f.clock.Advance(1000)
	active := f.workspace(t, u, "Active")
	must(t, f.s.SetActiveWorkspace(f.ctx, u, active))
	must(t, f.s.RemoveWorkspace(f.ctx, u, active))
	if a := f.userRec(t, u).ActiveWorkspaceID; a != other {
		t.Fatalf("active %q, want %q", a, other)
	}
	ws, err := f.s.ListUserWorkspaces(f.ctx, u)
	must(t, err)
	if len(ws) != 1 || ws[0].ID != other || !ws[0].IsActive {
		t.Fatalf("%+v", ws)
	}
}

// Scenario 24.
func TestRemoveWorkspace_RehomesEveryMember(t *testing.T) {
	f := newFixture(t)
	owner, m1, m2, m3 := f.user(t, "o", ""), f.user(t, "m1", ""), f.user(t, "m2", ""), f.user(t, "m3", "")
	home1 := f.workspace(t, m1, "m1 home")
	f.clock.Advance(1000)
	shared := f.workspace(t, owner, "Shared")
	for _, m := range []string{m1, m2, m3} {
		must(t, f.s.AddMember(f.ctx, shared, m, RoleEditor, owner))
	}
	must(t, f.s.SetActiveWorkspace(f.ctx, owner, shared))
	must(t, f.s.SetActiveWorkspace(f.ctx, m1, shared))
	must(t, f.s.SetActiveWorkspace(f.ctx, m2, shared))
	// m3's active pointer is elsewhere and must not move.
	m3home := f.workspace(t, m3, "m3 home")
	must(t, f.s.SetActiveWorkspace(f.ctx, m3, m3home))
	must(t, f.s.RemoveWorkspace(f.ctx, owner, shared))
	for u, want := range map[string]string{owner: "", m1: home1, m2: "", m3: m3home} {
		if a := f.userRec(t, u).ActiveWorkspaceID; a != want {
			t.Fatalf("user %s active %q, want %q", u, a, want)
		}
	}
}

// Scenarios 25–27.
func TestSetActiveWorkspace(t *testing.T) {
	f := newFixture(t)
	owner, member, stranger := f.user(t, "o", ""), f.user(t, "m", ""), f.user(t, "x", "")
	ws := f.workspace(t, owner, "W")
	must(t, f.s.AddMember(f.ctx, ws, member, RoleViewer, owner))
	t.Run("member may switch", func(t *testing.T) {
		must(t, f.s.SetActiveWorkspace(f.ctx, member, ws))
		if a := f.userRec(t, member).ActiveWorkspaceID; a != ws {
			t.Fatalf("active %q", a)
		}
	})
	t.Run("non-member may not", func(t *testing.T) {
		err := f.s.SetActiveWorkspace(f.ctx, stranger, ws)
		wantErr(t, err, ErrForbidden, 403)
		if !strings.Contains(err.Error(), "not a member") {
			t.Fatalf("message: %v", err)
		}
	})
	t.Run("deleted workspace refused", func(t *testing.T) {
		other := f.workspace(t, owner, "Doomed")
		must(t, f.s.RemoveWorkspace(f.ctx, owner, other))
		wantErr(t, f.s.SetActiveWorkspace(f.ctx, owner, other), ErrWorkspaceNotFound, 404)
	})
}
