package identity

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	synclog "github.com/or3/syncd/log"
)

// inviteFixture is a workspace with an owner, an editor and a viewer.
type inviteFixture struct {
	*fixture
	ws, owner, editor, viewer string
}

func newInviteFixture(t *testing.T) *inviteFixture {
	f := newFixture(t)
	x := &inviteFixture{fixture: f, owner: f.user(t, "owner", "owner@x.io")}
	x.editor, x.viewer = f.user(t, "editor", ""), f.user(t, "viewer", "")
	x.ws = f.workspace(t, x.owner, "Team")
	must(t, f.s.AddMember(f.ctx, x.ws, x.editor, RoleEditor, x.owner))
	must(t, f.s.AddMember(f.ctx, x.ws, x.viewer, RoleViewer, x.owner))
	return x
}

func (x *inviteFixture) accept(t *testing.T, sub, email, hash string) AcceptResult {
	t.Helper()
	r, err := x.s.AcceptInviteAndProvisionUser(x.ctx, AcceptInput{
		Provider: "test", ProviderUserID: sub, Email: email, WorkspaceID: x.ws, TokenHash: hash,
	})
	must(t, err)
	return r
}

func (x *inviteFixture) listOne(t *testing.T, id string) Invite {
	t.Helper()
	invs, err := x.s.ListInvites(x.ctx, x.ws, "", 0)
	must(t, err)
	for _, inv := range invs {
		if inv.ID == id {
			return inv
		}
	}
	t.Fatalf("invite %s not listed", id)
	return Invite{}
}

// Scenario 30 (listing needs no acting user: api.md Decisions 4).
func TestInvite_OnlyOwnersCreateAndRevoke(t *testing.T) {
	x := newInviteFixture(t)
	id := x.invite(t, x.ws, x.owner, "a@x.io", RoleEditor, "h1")
	for _, who := range []string{x.editor, x.viewer, "stranger"} {
		_, err := x.s.CreateInvite(x.ctx, InviteInput{WorkspaceID: x.ws, Email: "b@x.io", Role: RoleViewer, InvitedByUserID: who, ExpiresAtMs: x.clock.Ms() + 1000, TokenHash: "h2"})
		wantErr(t, err, ErrForbidden, 403)
		wantErr(t, x.s.RevokeInvite(x.ctx, x.ws, id, who), ErrForbidden, 403)
	}
	if inv := x.listOne(t, id); inv.Status != InvitePending {
		t.Fatalf("%+v", inv)
	}
}

// Scenario 31.
func TestInvite_EmailNormalizedAndInviterRecorded(t *testing.T) {
	x := newInviteFixture(t)
	id := x.invite(t, x.ws, x.owner, "  INVITEE@Example.com ", RoleOwner, "h")
	inv := x.listOne(t, id)
	if inv.Email != "invitee@example.com" || inv.InvitedByUserID != x.owner || inv.Role != RoleOwner ||
		inv.CreatedAtMs != x.clock.Ms() || inv.WorkspaceID != x.ws {
		t.Fatalf("%+v", inv)
	}
}

// Scenario 32.
func TestInvite_Revoke(t *testing.T) {
	x := newInviteFixture(t)
	id := x.invite(t, x.ws, x.owner, "a@x.io", RoleEditor, "h")
	x.clock.Advance(5)
	must(t, x.s.RevokeInvite(x.ctx, x.ws, id, x.owner))
	inv := x.listOne(t, id)
	if inv.Status != InviteRevoked || inv.RevokedAtMs != x.clock.Ms() || inv.RevokedByUserID != x.owner {
		t.Fatalf("%+v", inv)
	}
	events := x.countKeys(t, synclog.PrefixSystem)
	must(t, x.s.RevokeInvite(x.ctx, x.ws, id, x.owner)) // already handled: no-op success
	if n := x.countKeys(t, synclog.PrefixSystem); n != events {
		t.Fatal("a no-op revoke wrote an event")
	}
	other := x.workspace(t, x.owner, "Other")
	err := x.s.RevokeInvite(x.ctx, other, id, x.owner)
	wantErr(t, err, ErrInviteNotFound, 404)
	if !strings.Contains(err.Error(), "Invite not found") {
		t.Fatalf("message: %v", err)
	}
}

// Scenario 33.
func TestValidateInvite_Reasons(t *testing.T) {
	x := newInviteFixture(t)
	x.invite(t, x.ws, x.owner, "ok@x.io", RoleEditor, "pending")
	x.invite(t, x.ws, x.owner, "used@x.io", RoleEditor, "used")
	revoked := x.invite(t, x.ws, x.owner, "rev@x.io", RoleEditor, "revoked")
	_, err := x.s.CreateInvite(x.ctx, InviteInput{WorkspaceID: x.ws, Email: "late@x.io", Role: RoleViewer, InvitedByUserID: x.owner, ExpiresAtMs: x.clock.Ms() + 10, TokenHash: "expiring"})
	must(t, err)
	if r := x.accept(t, "u", "used@x.io", "used"); !r.OK {
		t.Fatalf("%+v", r)
	}
	must(t, x.s.RevokeInvite(x.ctx, x.ws, revoked, x.owner))
	x.clock.Advance(10) // expires_at <= now: expired although still pending
	for _, c := range []struct{ email, hash, want string }{
		{"ok@x.io", "pending", ""},
		{" OK@X.io", "pending", ""},
		{"other@x.io", "pending", ReasonEmailMismatch},
		{"used@x.io", "used", ReasonAlreadyUsed},
		{"rev@x.io", "revoked", ReasonRevoked},
		{"late@x.io", "expiring", ReasonExpired},
		{"ok@x.io", "unknown-hash", ReasonNotFound},
	} {
		got, err := x.s.ValidateInvite(x.ctx, x.ws, c.email, c.hash)
		must(t, err)
		if c.want == "" {
			if !got.OK || got.Role != RoleEditor {
				t.Fatalf("%s: %+v", c.hash, got)
			}
		} else if got.OK || got.Reason != c.want {
			t.Fatalf("%s/%s: %+v, want %s", c.email, c.hash, got, c.want)
		}
	}
	if inv, _ := x.s.ListInvites(x.ctx, x.ws, InvitePending, 0); len(inv) != 1 {
		t.Fatalf("pending after validation: %+v", inv)
	}
}

// Scenario 34.
func TestInvite_AcceptProvisionsUserAtomically(t *testing.T) {
	x := newInviteFixture(t)
	id := x.invite(t, x.ws, x.owner, "new@x.io", RoleEditor, "h")
	r, err := x.s.AcceptInviteAndProvisionUser(x.ctx, AcceptInput{
		Provider: "clerk", ProviderUserID: "new-sub", Email: "new@x.io", DisplayName: "New", WorkspaceID: x.ws, TokenHash: "h",
	})
	must(t, err)
	if !r.OK || !r.CreatedUser || r.Role != RoleEditor || r.UserID != x.s.UserIDFor("clerk", "new-sub") {
		t.Fatalf("%+v", r)
	}
	u := x.userRec(t, r.UserID)
	if u.Email != "new@x.io" || u.DisplayName != "New" || u.ActiveWorkspaceID != x.ws {
		t.Fatalf("%+v", u)
	}
	if got, err := x.s.GetUser(x.ctx, "clerk", "new-sub"); err != nil || got == nil || got.ID != r.UserID {
		t.Fatalf("account: %+v %v", got, err)
	}
	if role := x.role(t, x.ws, r.UserID); role != RoleEditor {
		t.Fatalf("role %q", role)
	}
	inv := x.listOne(t, id)
	if inv.Status != InviteAccepted || inv.AcceptedUserID != r.UserID || inv.AcceptedAtMs != x.clock.Ms() {
		t.Fatalf("%+v", inv)
	}
	// An existing account is reused, not created again.
	existing := x.user(t, "existing", "e@x.io")
	x.invite(t, x.ws, x.owner, "e@x.io", RoleViewer, "h2")
	users := x.countKeys(t, synclog.PrefixUser)
	if r2 := x.accept(t, "existing", "e@x.io", "h2"); !r2.OK || r2.CreatedUser || r2.UserID != existing {
		t.Fatalf("%+v", r2)
	}
	if n := x.countKeys(t, synclog.PrefixUser); n != users {
		t.Fatal("a user was created for an existing account")
	}
}

// Scenario 35.
func TestInvite_AcceptNormalizesEmail(t *testing.T) {
	x := newInviteFixture(t)
	x.invite(t, x.ws, x.owner, "invitee@example.com", RoleViewer, "h")
	if r := x.accept(t, "s", " Invitee@Example.com ", "h"); !r.OK {
		t.Fatalf("%+v", r)
	}
}

// Scenario 36.
func TestInvite_AcceptLeavesNothingOnFailure(t *testing.T) {
	for _, step := range []string{"invite_validated", "user_created", "membership_created", "invite_consumed"} {
		t.Run(step, func(t *testing.T) {
			x := newInviteFixture(t)
			id := x.invite(t, x.ws, x.owner, "new@x.io", RoleEditor, "h")
			users, accounts, members := x.countKeys(t, synclog.PrefixUser), x.countKeys(t, synclog.PrefixAccount), x.countKeys(t, synclog.PrefixMember)
			injected := errors.New("injected")
			x.s.hook = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			_, err := x.s.AcceptInviteAndProvisionUser(x.ctx, AcceptInput{Provider: "test", ProviderUserID: "n", Email: "new@x.io", WorkspaceID: x.ws, TokenHash: "h"})
			if !errors.Is(err, injected) {
				t.Fatalf("err %v", err)
			}
			x.s.hook = nil
			if u, a, m := x.countKeys(t, synclog.PrefixUser), x.countKeys(t, synclog.PrefixAccount), x.countKeys(t, synclog.PrefixMember); u != users || a != accounts || m != members {
				t.Fatalf("partial state: users %d→%d accounts %d→%d members %d→%d", users, u, accounts, a, members, m)
			}
			if inv := x.listOne(t, id); inv.Status != InvitePending || inv.AcceptedUserID != "" {
				t.Fatalf("%+v", inv)
			}
			// The invite is still usable.
			if r := x.accept(t, "n", "new@x.io", "h"); !r.OK {
				t.Fatalf("%+v", r)
			}
		})
	}
}

// Scenario 37.
func TestInvite_AcceptedOnce(t *testing.T) {
	x := newInviteFixture(t)
	x.invite(t, x.ws, x.owner, "a@x.io", RoleEditor, "h")
	if r := x.accept(t, "first", "a@x.io", "h"); !r.OK {
		t.Fatalf("%+v", r)
	}
	for _, sub := range []string{"first", "second"} {
		if r := x.accept(t, sub, "a@x.io", "h"); r.OK || r.Reason != ReasonAlreadyUsed {
			t.Fatalf("%s: %+v", sub, r)
		}
	}
	existing := x.user(t, "existing", "a@x.io")
	c, err := x.s.ConsumeInvite(x.ctx, ConsumeInput{WorkspaceID: x.ws, Email: "a@x.io", TokenHash: "h", AcceptedUserID: existing})
	must(t, err)
	if c.OK || c.Reason != ReasonAlreadyUsed {
		t.Fatalf("%+v", c)
	}
}

func TestInvite_ConcurrentAcceptExactlyOneWins(t *testing.T) {
	x := newInviteFixture(t)
	id := x.invite(t, x.ws, x.owner, "a@x.io", RoleEditor, "h")
	const n = 20
	var wg sync.WaitGroup
	res := make([]AcceptResult, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := x.s.AcceptInviteAndProvisionUser(x.ctx, AcceptInput{
				Provider: "test", ProviderUserID: fmt.Sprint("racer-", i), Email: "a@x.io", WorkspaceID: x.ws, TokenHash: "h",
			})
			if err != nil {
				t.Error(err)
			}
			res[i] = r
		}()
	}
	wg.Wait()
	winners := 0
	var winner string
	for _, r := range res {
		switch {
		case r.OK:
			winners++
			winner = r.UserID
		case r.Reason != ReasonAlreadyUsed:
			t.Fatalf("loser reason %q", r.Reason)
		}
	}
	if winners != 1 {
		t.Fatalf("%d winners", winners)
	}
	if inv := x.listOne(t, id); inv.AcceptedUserID != winner {
		t.Fatalf("%+v", inv)
	}
	// Only the winner was provisioned: losers leave no user behind.
	ms, err := x.s.ListMembers(x.ctx, x.ws)
	must(t, err)
	if len(ms) != 4 {
		t.Fatalf("%d members", len(ms))
	}
	if u := x.countKeys(t, synclog.PrefixUser); u != 4 {
		t.Fatalf("%d users", u)
	}
}

// Scenario 39.
func TestConsumeInvite_TokenMismatchThenExpiry(t *testing.T) {
	x := newInviteFixture(t)
	u := x.user(t, "existing", "a@x.io")
	id := x.invite(t, x.ws, x.owner, "a@x.io", RoleViewer, "right")
	consume := func(email, hash string) InviteCheck {
		c, err := x.s.ConsumeInvite(x.ctx, ConsumeInput{WorkspaceID: x.ws, Email: email, TokenHash: hash, AcceptedUserID: u})
		must(t, err)
		return c
	}
	if c := consume("a@x.io", "wrong"); c.OK || c.Reason != ReasonTokenMismatch {
		t.Fatalf("%+v", c)
	}
	if c := consume("nobody@x.io", "wrong"); c.OK || c.Reason != ReasonNotFound {
		t.Fatalf("%+v", c)
	}
	if c := consume("nobody@x.io", "right"); c.OK || c.Reason != ReasonNotFound {
		t.Fatalf("another email with the right token: %+v", c)
	}
	x.clock.Advance(24*3600*1000 + 1)
	if c := consume("a@x.io", "right"); c.OK || c.Reason != ReasonExpired {
		t.Fatalf("%+v", c)
	}
	// Persisted as expired, not only derived at read time.
	v := x.db.View()
	inv, err := loadInvite(v, x.ws, id)
	v.Release()
	must(t, err)
	if inv.Status != InviteExpired {
		t.Fatalf("persisted status %q", inv.Status)
	}
	_, err = x.s.ConsumeInvite(x.ctx, ConsumeInput{WorkspaceID: x.ws, Email: "a@x.io", TokenHash: "right", AcceptedUserID: "ghost"})
	wantErr(t, err, ErrUserNotFound, 404)
}

func TestConsumeInvite_AcceptsForExistingUser(t *testing.T) {
	x := newInviteFixture(t)
	u := x.user(t, "existing", "a@x.io")
	id := x.invite(t, x.ws, x.owner, "a@x.io", RoleEditor, "h")
	c, err := x.s.ConsumeInvite(x.ctx, ConsumeInput{WorkspaceID: x.ws, Email: "A@x.io", TokenHash: "h", AcceptedUserID: u})
	must(t, err)
	if !c.OK || c.Role != RoleEditor {
		t.Fatalf("%+v", c)
	}
	if x.userRec(t, u).ActiveWorkspaceID != x.ws || x.role(t, x.ws, u) != RoleEditor {
		t.Fatal("membership or active pointer missing")
	}
	if inv := x.listOne(t, id); inv.Status != InviteAccepted || inv.AcceptedUserID != u {
		t.Fatalf("%+v", inv)
	}
}

// Weakness 13: an invite never lowers a role (so it cannot remove the last owner).
func TestInvite_NeverDowngradesExistingMember(t *testing.T) {
	x := newInviteFixture(t)
	x.invite(t, x.ws, x.owner, "owner@x.io", RoleViewer, "h")
	c, err := x.s.ConsumeInvite(x.ctx, ConsumeInput{WorkspaceID: x.ws, Email: "owner@x.io", TokenHash: "h", AcceptedUserID: x.owner})
	must(t, err)
	if !c.OK || c.Role != RoleOwner || x.role(t, x.ws, x.owner) != RoleOwner {
		t.Fatalf("%+v, role %q", c, x.role(t, x.ws, x.owner))
	}
	// A higher role does upgrade.
	x.invite(t, x.ws, x.owner, "viewer@x.io", RoleEditor, "up")
	c, err = x.s.ConsumeInvite(x.ctx, ConsumeInput{WorkspaceID: x.ws, Email: "viewer@x.io", TokenHash: "up", AcceptedUserID: x.viewer})
	must(t, err)
	if !c.OK || c.Role != RoleEditor {
		t.Fatalf("%+v", c)
	}
}

// Scenario 40.
func TestListInvites_ExpiredNewestFirstCapped(t *testing.T) {
	x := newInviteFixture(t)
	var ids []string
	for i := range 5 {
		_, err := x.s.CreateInvite(x.ctx, InviteInput{WorkspaceID: x.ws, Email: fmt.Sprintf("u%d@x.io", i), Role: RoleViewer, InvitedByUserID: x.owner, ExpiresAtMs: x.clock.Ms() + int64(1000*(i+1)), TokenHash: fmt.Sprint("h", i)})
		must(t, err)
		invs, err := x.s.ListInvites(x.ctx, x.ws, "", 1)
		must(t, err)
		ids = append(ids, invs[0].ID)
		x.clock.Advance(1)
	}
	x.clock.Advance(2000) // the first two are overdue
	all, err := x.s.ListInvites(x.ctx, x.ws, "", 0)
	must(t, err)
	if len(all) != 5 {
		t.Fatalf("%d invites", len(all))
	}
	for i, inv := range all {
		if inv.ID != ids[4-i] {
			t.Fatalf("not newest first at %d", i)
		}
	}
	exp, err := x.s.ListInvites(x.ctx, x.ws, InviteExpired, 0)
	must(t, err)
	if len(exp) != 2 || exp[0].ID != ids[1] || exp[1].ID != ids[0] {
		t.Fatalf("expired: %+v", exp)
	}
	pend, err := x.s.ListInvites(x.ctx, x.ws, InvitePending, 2)
	must(t, err)
	if len(pend) != 2 || pend[0].ID != ids[4] {
		t.Fatalf("pending: %+v", pend)
	}
	_, err = x.s.ListInvites(x.ctx, x.ws, "bogus", 0)
	wantErr(t, err, ErrInvalidArgument, 400)
	_, err = x.s.ListInvites(x.ctx, "nope", "", 0)
	wantErr(t, err, ErrWorkspaceNotFound, 404)
	big, err := x.s.ListInvites(x.ctx, x.ws, "", 1_000_000)
	must(t, err)
	if len(big) != 5 {
		t.Fatal(len(big))
	}
}

func TestCreateInvite_Validation(t *testing.T) {
	x := newInviteFixture(t)
	base := InviteInput{WorkspaceID: x.ws, Email: "a@x.io", Role: RoleViewer, InvitedByUserID: x.owner, ExpiresAtMs: x.clock.Ms() + 1000, TokenHash: "h"}
	for name, c := range map[string]struct {
		mod    func(*InviteInput)
		err    error
		status int
	}{
		"expiry now":          {func(in *InviteInput) { in.ExpiresAtMs = x.clock.Ms() }, ErrInvalidArgument, 400},
		"expiry in seconds":   {func(in *InviteInput) { in.ExpiresAtMs = x.clock.Ms()/1000 + 3600 }, ErrInvalidArgument, 400},
		"bad role":            {func(in *InviteInput) { in.Role = "admin" }, ErrInvalidArgument, 400},
		"no email":            {func(in *InviteInput) { in.Email = "  " }, ErrInvalidArgument, 400},
		"email without @":     {func(in *InviteInput) { in.Email = "nobody" }, ErrInvalidArgument, 400},
		"long token hash":     {func(in *InviteInput) { in.TokenHash = strings.Repeat("h", MaxTokenHashLen+1) }, ErrInvalidArgument, 400},
		"unknown workspace":   {func(in *InviteInput) { in.WorkspaceID = "nope" }, ErrWorkspaceNotFound, 404},
		"no inviter":          {func(in *InviteInput) { in.InvitedByUserID = "" }, ErrInvalidArgument, 400},
		"duplicate tokenHash": {func(in *InviteInput) { in.TokenHash = "dup" }, ErrConflict, 409},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "duplicate tokenHash" {
				x.invite(t, x.ws, x.owner, "first@x.io", RoleViewer, "dup")
			}
			in := base
			c.mod(&in)
			_, err := x.s.CreateInvite(x.ctx, in)
			wantErr(t, err, c.err, c.status)
		})
	}
	// The same token hash in another workspace is a different invite.
	other := x.workspace(t, x.owner, "Other")
	x.invite(t, other, x.owner, "a@x.io", RoleViewer, "dup")
}

func TestInvite_GeneratedTokenAndOnlyHashesStored(t *testing.T) {
	x := newInviteFixture(t)
	c, err := x.s.CreateInvite(x.ctx, InviteInput{WorkspaceID: x.ws, Email: "a@x.io", Role: RoleViewer, InvitedByUserID: x.owner, ExpiresAtMs: x.clock.Ms() + 1000})
	must(t, err)
	if len(c.Token) != 43 || len(c.TokenHash) != 64 {
		t.Fatalf("%+v", c)
	}
	given := "host-token-hash-0123456789"
	x.invite(t, x.ws, x.owner, "b@x.io", RoleViewer, given)
	if r, err := x.s.ValidateInvite(x.ctx, x.ws, "a@x.io", c.TokenHash); err != nil || !r.OK {
		t.Fatalf("generated token does not validate: %+v %v", r, err)
	}
	// Neither the raw token nor any token hash appears anywhere in the store.
	v := x.db.View()
	defer v.Release()
	it, err := v.NewIter(nil, nil)
	must(t, err)
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		for _, secret := range []string{c.Token, c.TokenHash, given} {
			if bytes.Contains(it.Key(), []byte(secret)) || bytes.Contains(it.Value(), []byte(secret)) {
				t.Fatalf("%q stored at key %q", secret, it.Key())
			}
		}
	}
}

func TestInvite_DeletedWorkspaceInvitesAreNotFound(t *testing.T) {
	x := newInviteFixture(t)
	x.invite(t, x.ws, x.owner, "a@x.io", RoleViewer, "h")
	must(t, x.s.RemoveWorkspace(x.ctx, x.owner, x.ws))
	if r, err := x.s.ValidateInvite(x.ctx, x.ws, "a@x.io", "h"); err != nil || r.Reason != ReasonNotFound {
		t.Fatalf("%+v %v", r, err)
	}
	if r := x.accept(t, "s", "a@x.io", "h"); r.OK || r.Reason != ReasonNotFound {
		t.Fatalf("%+v", r)
	}
}
