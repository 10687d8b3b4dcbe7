package identity

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// TestReplay_RebuildEqualsLive runs a random workload through the public
// API, rebuilds a fresh log by replaying its events through Fold, and
// requires the identity keyspaces to be byte-identical.
func TestReplay_RebuildEqualsLive(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	f := newFixture(t)
	ctx := context.Background()
	pick := func(xs []string) string {
		if len(xs) == 0 {
			return "none"
		}
		return xs[rng.IntN(len(xs))]
	}
	roles := []Role{RoleOwner, RoleEditor, RoleViewer}
	var users, workspaces []string
	type inv struct{ ws, id, email, hash string }
	var invites []inv
	// actor is usually the workspace's primary owner, so that role-checked
	// calls succeed often enough to build state, and sometimes anyone.
	actor := func(ws string) string {
		if w, err := f.s.GetWorkspace(ctx, ws); err == nil && w != nil && rng.IntN(4) > 0 {
			return w.OwnerUserID
		}
		return pick(users)
	}
	ops := 0
	check := func(op string, err error) {
		if err == nil {
			ops++
			return
		}
		if se, ok := syncerr.As(err); ok && se.Status < 500 {
			return // a refused request is part of the workload
		}
		t.Fatalf("%s: %v", op, err)
	}
	for i := 0; i < 600; i++ {
		f.clock.Advance(int64(rng.IntN(3)) * 500)
		switch rng.IntN(14) {
		case 0, 1:
			sub := fmt.Sprint("sub-", rng.IntN(8))
			ref, err := f.s.GetOrCreateUser(ctx, UserInput{Provider: pick([]string{"clerk", "basic-auth"}), ProviderUserID: sub, Email: fmt.Sprintf("%s-%d@x.io", sub, rng.IntN(2)), DisplayName: pick([]string{"", "A", "B"})})
			check("getOrCreateUser", err)
			if err == nil && ref.Created {
				users = append(users, ref.UserID)
			}
		case 2:
			d, err := f.s.GetOrCreateDefaultWorkspace(ctx, pick(users))
			check("default", err)
			if err == nil && d.Created {
				workspaces = append(workspaces, d.WorkspaceID)
			}
		case 3:
			id, err := f.s.CreateWorkspace(ctx, pick(users), fmt.Sprint("W", i), pick([]string{"", "desc"}))
			check("createWorkspace", err)
			if err == nil {
				workspaces = append(workspaces, id)
			}
		case 4:
			ws := pick(workspaces)
			check("updateWorkspace", f.s.UpdateWorkspace(ctx, actor(ws), ws, fmt.Sprint("R", i), pick([]string{"", "d"})))
		case 5:
			if rng.IntN(3) == 0 {
				ws := pick(workspaces)
				check("removeWorkspace", f.s.RemoveWorkspace(ctx, actor(ws), ws))
			}
		case 6:
			check("setActive", f.s.SetActiveWorkspace(ctx, pick(users), pick(workspaces)))
		case 7:
			check("addMember", f.s.AddMember(ctx, pick(workspaces), pick(users), roles[rng.IntN(3)], ""))
		case 8:
			check("setRole", f.s.SetRole(ctx, pick(workspaces), pick(users), roles[rng.IntN(3)], ""))
		case 9:
			check("removeMember", f.s.RemoveMember(ctx, pick(workspaces), pick(users), ""))
		case 10:
			x := inv{ws: pick(workspaces), email: fmt.Sprintf("sub-%d-%d@x.io", rng.IntN(8), rng.IntN(2)), hash: fmt.Sprint("h", i)}
			c, err := f.s.CreateInvite(ctx, InviteInput{WorkspaceID: x.ws, Email: x.email, Role: roles[rng.IntN(3)], InvitedByUserID: actor(x.ws), ExpiresAtMs: f.clock.Ms() + int64(rng.IntN(30_000)+1), TokenHash: x.hash})
			check("createInvite", err)
			if err == nil {
				x.id = c.InviteID
				invites = append(invites, x)
			}
		case 11, 13:
			if len(invites) == 0 {
				continue
			}
			x := invites[rng.IntN(len(invites))]
			if rng.IntN(2) == 0 {
				r, err := f.s.AcceptInviteAndProvisionUser(ctx, AcceptInput{Provider: "clerk", ProviderUserID: fmt.Sprint("sub-", rng.IntN(10)), Email: x.email, WorkspaceID: x.ws, TokenHash: x.hash})
				check("accept", err)
				if err == nil && r.CreatedUser {
					users = append(users, r.UserID)
				}
			} else {
				_, err := f.s.ConsumeInvite(ctx, ConsumeInput{WorkspaceID: x.ws, Email: x.email, TokenHash: pick([]string{x.hash, "wrong"}), AcceptedUserID: pick(users)})
				check("consume", err)
			}
		case 12:
			if len(invites) == 0 {
				continue
			}
			x := invites[rng.IntN(len(invites))]
			check("revokeInvite", f.s.RevokeInvite(ctx, x.ws, x.id, actor(x.ws)))
		}
	}
	t.Logf("%d successful operations; %d users, %d workspaces, %d invites", ops, len(users), len(workspaces), len(invites))
	if len(users) < 3 || len(workspaces) < 3 || len(invites) < 3 {
		t.Fatalf("workload too thin to prove anything")
	}

	src := f.db.View()
	defer src.Release()
	t.Logf("events by type: %v", eventTypes(t, src))
	checkInvariants(t, src)
	fresh := openLog(t, t.TempDir())
	mux := &synclog.FolderMux{}
	f.s.Register(mux)
	if err := synclog.Rebuild(ctx, src, fresh, mux, 50); err != nil {
		t.Fatal(err)
	}
	dst := fresh.View()
	defer dst.Release()
	diff, err := synclog.DiffState(src, dst, Prefixes...)
	must(t, err)
	if diff != "" {
		t.Fatalf("replay differs from live: %s", diff)
	}
	for _, p := range Prefixes {
		if f.countKeys(t, p) == 0 {
			t.Errorf("keyspace %#x is empty: the workload did not exercise it", p)
		}
	}
}

func TestFold_RejectsUnknownAndCorruptEvents(t *testing.T) {
	f := newFixture(t)
	b := f.db.NewBatch()
	defer b.Close()
	if err := f.s.Fold(b, 1, &synclog.SystemEvent{Type: "ws.teleport"}); err == nil {
		t.Fatal("unknown event type folded")
	}
	if err := f.s.Fold(b, 1, &synclog.SystemEvent{Type: evWSCreate, Body: []byte{0xc1}}); err == nil {
		t.Fatal("undecodable body folded")
	}
	body := synclog.MustEncode(&inviteAcceptBody{WorkspaceID: "w", InviteID: "i", AcceptedUserID: "u"})
	if err := f.s.Fold(b, 1, &synclog.SystemEvent{Type: evInviteAccept, Body: body}); err == nil {
		t.Fatal("accepting a missing invite folded")
	}
}

// eventTypes counts the system events of r by type.
func eventTypes(t *testing.T, r synclog.Reader) map[string]int {
	it, err := r.NewIter([]byte{synclog.PrefixSystem}, []byte{synclog.PrefixSystem + 1})
	must(t, err)
	defer it.Close()
	out := map[string]int{}
	for ok := it.First(); ok; ok = it.Next() {
		var ev synclog.SystemEvent
		must(t, synclog.Decode(it.Key(), it.Value(), &ev))
		out[ev.Type]++
	}
	return out
}

// checkInvariants checks what every sequence of Store calls must leave:
// each workspace has an owner and its primary owner holds the owner role;
// both member indexes agree; an active pointer is empty or names a live
// workspace the user belongs to (re-homing leaves none dangling); every
// invite is reachable from its token index.
func checkInvariants(t *testing.T, r synclog.Reader) {
	t.Helper()
	scan := func(p byte, fn func(k, v []byte)) {
		it, err := r.NewIter([]byte{p}, []byte{p + 1})
		must(t, err)
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			fn(append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...))
		}
	}
	scan(synclog.PrefixWorkspace, func(k, v []byte) {
		ws := synclog.ReadKey(k).Str()
		var w workspaceRecord
		must(t, synclog.Decode(k, v, &w))
		ms, err := workspaceMembers(r, ws)
		must(t, err)
		if countOwners(ms) == 0 {
			t.Fatalf("workspace %s has no owner", ws)
		}
		if m, err := loadMember(r, ws, w.OwnerUserID); err != nil || m == nil || m.Role != RoleOwner {
			t.Fatalf("workspace %s: primary owner %s is not an owner (%+v, %v)", ws, w.OwnerUserID, m, err)
		}
		for _, m := range ms {
			byUser, err := r.Get(memberByUserKey(m.userID, ws))
			must(t, err)
			if string(byUser) != string(synclog.MustEncode(&m.rec)) {
				t.Fatalf("member indexes disagree for %s in %s", m.userID, ws)
			}
		}
	})
	scan(synclog.PrefixUser, func(k, v []byte) {
		id := synclog.ReadKey(k).Str()
		var u userRecord
		must(t, synclog.Decode(k, v, &u))
		if u.ActiveWorkspaceID == "" {
			return
		}
		if role, err := roleIn(r, u.ActiveWorkspaceID, id); err != nil || role == RoleNone {
			t.Fatalf("user %s: active workspace %s is not a live membership (%v)", id, u.ActiveWorkspaceID, err)
		}
	})
	scan(synclog.PrefixInvite, func(k, v []byte) {
		kr := synclog.ReadKey(k)
		ws, id := kr.Str(), kr.Str()
		var inv inviteRecord
		must(t, synclog.Decode(k, v, &inv))
		tr, err := get[tokenRecord](r, inviteTokenKey(ws, inv.TokenKey))
		if err != nil || tr == nil || tr.InviteID != id {
			t.Fatalf("invite %s/%s not reachable from its token (%+v, %v)", ws, id, tr, err)
		}
	})
}

func BenchmarkRole(b *testing.B) {
	f := newFixture(b)
	u := f.user(b, "bench", "")
	ws := f.workspace(b, u, "W")
	b.ResetTimer()
	for b.Loop() {
		if r, err := f.s.Role(f.ctx, ws, u); err != nil || r != RoleOwner {
			b.Fatal(r, err)
		}
	}
}
