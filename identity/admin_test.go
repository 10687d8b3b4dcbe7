package identity

import (
	"errors"
	"net/http"
	"testing"

	synclog "github.com/or3/syncd/log"
)

// TestAdmin_SoftDeleteRestoreListSearch covers the admin-facing additions:
// soft delete with a given deletedAt (re-homing active pointers), restore,
// the workspace list (search, deleted, paging, order, counts), user search
// and lookup by email, and that replay rebuilds the new events' state.
func TestAdmin_SoftDeleteRestoreListSearch(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice", "Alice@Example.com")
	bob := f.user(t, "bob", "bob@example.com")
	w1 := f.workspace(t, alice, "Alpha team")
	f.clock.Advance(10)
	w2 := f.workspace(t, alice, "Beta")
	must(t, f.s.AddMember(f.ctx, w2, bob, RoleViewer, "admin-key"))
	must(t, f.s.SetActiveWorkspace(f.ctx, bob, w2))

	wantErr(t, f.s.SoftDeleteWorkspace(f.ctx, "nope", 0, ""), ErrWorkspaceNotFound, http.StatusNotFound)
	must(t, f.s.SoftDeleteWorkspace(f.ctx, w2, 4242, "admin-key"))
	must(t, f.s.SoftDeleteWorkspace(f.ctx, w2, 9999, "admin-key")) // already deleted: no-op
	w, err := f.s.GetWorkspace(f.ctx, w2)
	must(t, err)
	if !w.Deleted || w.DeletedAtMs != 4242 {
		t.Fatalf("soft delete: %+v", w)
	}
	if u := f.userRec(t, bob); u.ActiveWorkspaceID == w2 {
		t.Fatal("active pointer not re-homed")
	}
	page, total, err := f.s.ListWorkspaces(f.ctx, WorkspaceQuery{})
	must(t, err)
	if total != 1 || page[0].ID != w1 {
		t.Fatalf("live list: %d %+v", total, page)
	}
	page, total, err = f.s.ListWorkspaces(f.ctx, WorkspaceQuery{IncludeDeleted: true, PerPage: 1, Page: 1})
	must(t, err)
	if total != 2 || len(page) != 1 || page[0].ID != w2 || page[0].MemberCount != 2 || page[0].OwnerEmail != "alice@example.com" {
		t.Fatalf("newest first with counts: %d %+v", total, page)
	}
	must(t, f.s.RestoreWorkspace(f.ctx, w2, "admin-key"))
	if page, total, _ = f.s.ListWorkspaces(f.ctx, WorkspaceQuery{Search: "BET"}); total != 1 || page[0].ID != w2 || page[0].Deleted {
		t.Fatalf("restored and searched: %d %+v", total, page)
	}
	wantErr(t, f.s.CreateWorkspaceWithID(f.ctx, w1, alice, "Again", ""), ErrConflict, http.StatusConflict)
	wantErr(t, f.s.CreateWorkspaceWithID(f.ctx, "fresh-id", "ghost", "X", ""), ErrUserNotFound, http.StatusNotFound)
	us, err := f.s.SearchUsers(f.ctx, "EXAMPLE.com", 1)
	must(t, err)
	if len(us) != 1 {
		t.Fatalf("limit: %+v", us)
	}
	if us, _ := f.s.SearchUsers(f.ctx, "   ", 10); len(us) != 0 {
		t.Fatal("empty query found users")
	}
	if us, _ := f.s.UsersByEmail(f.ctx, " BOB@example.com"); len(us) != 1 || us[0].ID != bob {
		t.Fatalf("by email: %+v", us)
	}

	// Replay rebuilds the soft delete and restore byte for byte.
	src := f.db.View()
	defer src.Release()
	fresh := openLog(t, t.TempDir())
	mux := &synclog.FolderMux{}
	f.s.Register(mux)
	must(t, synclog.Rebuild(f.ctx, src, fresh, mux, 50))
	dst := fresh.View()
	defer dst.Release()
	diff, err := synclog.DiffState(src, dst, Prefixes...)
	must(t, err)
	if diff != "" {
		t.Fatalf("replay differs: %s", diff)
	}
}

// TestWriteHook_CommitsWithTheWrite: a hook's writes land in the same
// batch, only when the method wrote something, and a failing hook fails
// the write whole.
func TestWriteHook_CommitsWithTheWrite(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice", "")
	ws := f.workspace(t, alice, "W")
	marker := synclog.NewKey(synclog.PrefixTest).Raw("hook")
	calls := 0
	ctx := WithWriteHook(f.ctx, func(b *synclog.Batch, atMs int64) error {
		calls++
		return b.Set(marker, []byte("x"))
	})
	must(t, f.s.RestoreWorkspace(ctx, ws, "")) // a live workspace: nothing written
	if calls != 0 {
		t.Fatal("hook ran for a write that wrote nothing")
	}
	must(t, f.s.SoftDeleteWorkspace(ctx, ws, 0, ""))
	v := f.db.View()
	got, _ := v.Get(marker)
	v.Release()
	if calls != 1 || string(got) != "x" {
		t.Fatalf("hook write not committed: %d %q", calls, got)
	}
	boom := errors.New("boom")
	ctx = WithWriteHook(f.ctx, func(*synclog.Batch, int64) error { return boom })
	if err := f.s.RestoreWorkspace(ctx, ws, ""); err == nil {
		t.Fatal("failing hook did not fail the write")
	}
	if w, _ := f.s.GetWorkspace(f.ctx, ws); !w.Deleted {
		t.Fatal("write committed although its hook failed")
	}
}
