package identity

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"fmt"

	synclog "github.com/or3/syncd/log"
)

// Domains are the system-event domains this package folds. The daemon
// registers Store.Fold for each of them on its log.FolderMux (Register does
// it).
var Domains = []string{"user", "account", "ws", "member", "invite"}

// Event types. Each is one fact, decided by a Store method under its lock;
// a method that changes several things appends several events to one batch,
// which commits all or nothing.
const (
	evUserCreate   = "user.create"   // a user record (no account yet)
	evUserProfile  = "user.profile"  // email / display name, LWW by event time
	evUserActive   = "user.active"   // the active-workspace pointer
	evAccountLink  = "account.link"  // (provider, subject) → user
	evWSCreate     = "ws.create"     // workspace + owner membership (+ active pointer)
	evWSUpdate     = "ws.update"     // name and description
	evWSRemove     = "ws.remove"     // soft delete, re-homing active pointers
	evMemberSet    = "member.set"    // add a membership or change its role
	evMemberRemove = "member.remove" // drop a membership, re-homing the user
	evInviteCreate = "invite.create" // a pending invite
	evInviteRevoke = "invite.revoke" // pending → revoked
	evInviteExpire = "invite.expire" // pending → expired (persisting what reads derive)
	evInviteAccept = "invite.accept" // pending → accepted
)

// Event bodies (SystemEvent.Body, msgpack arrays). They carry every value
// the fold needs that state does not hold — ids, names, the decided role —
// and no wall-clock time: a fold's only clock is SystemEvent.AtMs.

type userCreateBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	UserID      string
	Email       string
	DisplayName string
}

type userProfileBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	UserID      string
	Email       string
	DisplayName string
}

type userActiveBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	UserID      string
	WorkspaceID string // "" clears the pointer
}

type accountLinkBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	Provider       string
	ProviderUserID string
	UserID         string
}

type wsCreateBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
	Name        string
	Description string
	OwnerUserID string
	HomeRegion  string
	// SetActive makes the new workspace the owner's active one (the
	// default-workspace path; createWorkspace leaves the pointer alone).
	SetActive bool
}

type wsUpdateBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
	Name        string
	Description string
}

type wsRemoveBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
}

type memberSetBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
	UserID      string
	Role        Role
}

type memberRemoveBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
	UserID      string
}

type inviteCreateBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID     string
	InviteID        string
	Email           string
	Role            Role
	InvitedByUserID string
	TokenKey        []byte
	ExpiresAtMs     int64
}

type inviteRevokeBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID     string
	InviteID        string
	RevokedByUserID string
}

type inviteExpireBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
	InviteID    string
}

type inviteAcceptBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID    string
	InviteID       string
	AcceptedUserID string
}

// Register registers Fold on m for every domain in Domains.
func (s *Store) Register(m *synclog.FolderMux) {
	for _, d := range Domains {
		m.Handle(d, s.Fold)
	}
}

// Fold applies one identity system event to the state keyspaces through b.
// The write path calls it right after appending the event, and replay calls
// it for the same event in the same sequence order, so both produce the
// same bytes: Fold reads only identity state through b, takes its only time
// from ev.AtMs and its only tie-breaker from seq, and uses no randomness.
// It does not re-decide conditions (the Store method decided them under its
// lock); it reports ErrCorruptState where the state contradicts the event.
func (s *Store) Fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	return Fold(b, seq, ev)
}

// Fold is Store.Fold; it needs nothing of a Store.
func Fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	var err error
	switch ev.Type {
	case evUserCreate:
		err = foldWith(ev, func(x *userCreateBody) error { return foldUserCreate(b, ev.AtMs, x) })
	case evUserProfile:
		err = foldWith(ev, func(x *userProfileBody) error { return foldUserProfile(b, ev.AtMs, x) })
	case evUserActive:
		err = foldWith(ev, func(x *userActiveBody) error { return foldUserActive(b, x) })
	case evAccountLink:
		err = foldWith(ev, func(x *accountLinkBody) error { return foldAccountLink(b, ev.AtMs, x) })
	case evWSCreate:
		err = foldWith(ev, func(x *wsCreateBody) error { return foldWSCreate(b, seq, ev.AtMs, x) })
	case evWSUpdate:
		err = foldWith(ev, func(x *wsUpdateBody) error { return foldWSUpdate(b, ev.AtMs, x) })
	case evWSRemove:
		err = foldWith(ev, func(x *wsRemoveBody) error { return foldWSRemove(b, ev.AtMs, x) })
	case evWSSoftDelete:
		err = foldWith(ev, func(x *wsSoftDeleteBody) error { return foldWSSoftDelete(b, ev.AtMs, x) })
	case evWSRestore:
		err = foldWith(ev, func(x *wsRestoreBody) error { return foldWSRestore(b, ev.AtMs, x) })
	case evMemberSet:
		err = foldWith(ev, func(x *memberSetBody) error { return foldMemberSet(b, seq, ev.AtMs, x) })
	case evMemberRemove:
		err = foldWith(ev, func(x *memberRemoveBody) error { return foldMemberRemove(b, x) })
	case evInviteCreate:
		err = foldWith(ev, func(x *inviteCreateBody) error { return foldInviteCreate(b, ev.AtMs, x) })
	case evInviteRevoke:
		err = foldWith(ev, func(x *inviteRevokeBody) error { return foldInviteRevoke(b, ev.AtMs, x) })
	case evInviteExpire:
		err = foldWith(ev, func(x *inviteExpireBody) error { return foldInviteExpire(b, ev.AtMs, x) })
	case evInviteAccept:
		err = foldWith(ev, func(x *inviteAcceptBody) error { return foldInviteAccept(b, ev.AtMs, x) })
	default:
		return fmt.Errorf("identity: fold: unknown event type %q", ev.Type)
	}
	if err != nil {
		return fmt.Errorf("identity: fold %s (seq %d): %w", ev.Type, seq, err)
	}
	return nil
}

func foldWith[T any](ev *synclog.SystemEvent, fn func(*T) error) error {
	body := new(T)
	if err := synclog.Decode([]byte(ev.Type), ev.Body, body); err != nil {
		return err
	}
	return fn(body)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorruptState}, args...)...)
}

func foldUserCreate(b *synclog.Batch, at int64, x *userCreateBody) error {
	u, err := loadUser(b, x.UserID)
	if err != nil {
		return err
	}
	if u != nil {
		// The same subject created in another region first (ids are
		// deterministic): keep the existing record.
		return nil
	}
	return b.SetRecord(userKey(x.UserID), &userRecord{
		Email: x.Email, DisplayName: x.DisplayName, CreatedAtMs: at, ProfileAtMs: at,
	})
}

func foldUserProfile(b *synclog.Batch, at int64, x *userProfileBody) error {
	u, err := loadUser(b, x.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return corrupt("no user %q", x.UserID)
	}
	if at < u.ProfileAtMs {
		return nil // an older write loses (LWW by event time)
	}
	u.Email, u.DisplayName, u.ProfileAtMs = x.Email, x.DisplayName, at
	return b.SetRecord(userKey(x.UserID), u)
}

func foldUserActive(b *synclog.Batch, x *userActiveBody) error {
	u, err := loadUser(b, x.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return corrupt("no user %q", x.UserID)
	}
	u.ActiveWorkspaceID = x.WorkspaceID
	return b.SetRecord(userKey(x.UserID), u)
}

func foldAccountLink(b *synclog.Batch, at int64, x *accountLinkBody) error {
	a, err := loadAccount(b, x.Provider, x.ProviderUserID)
	if err != nil {
		return err
	}
	if a != nil {
		if a.UserID != x.UserID {
			return corrupt("account already bound to another user")
		}
		return nil
	}
	return b.SetRecord(accountKey(x.Provider, x.ProviderUserID), &accountRecord{UserID: x.UserID, CreatedAtMs: at})
}

// setMember writes a membership under both keys.
func setMember(b *synclog.Batch, ws, userID string, m *memberRecord) error {
	data, err := synclog.Encode(m)
	if err != nil {
		return err
	}
	if err := b.Set(memberKey(ws, userID), data); err != nil {
		return err
	}
	return b.Set(memberByUserKey(userID, ws), data)
}

func deleteMember(b *synclog.Batch, ws, userID string) error {
	if err := b.Delete(memberKey(ws, userID)); err != nil {
		return err
	}
	return b.Delete(memberByUserKey(userID, ws))
}

func foldWSCreate(b *synclog.Batch, seq uint64, at int64, x *wsCreateBody) error {
	if w, err := loadWorkspace(b, x.WorkspaceID); err != nil {
		return err
	} else if w != nil {
		return corrupt("workspace %q exists", x.WorkspaceID)
	}
	u, err := loadUser(b, x.OwnerUserID)
	if err != nil {
		return err
	}
	if u == nil {
		return corrupt("no owner user %q", x.OwnerUserID)
	}
	if err := b.SetRecord(workspaceKey(x.WorkspaceID), &workspaceRecord{
		Name: x.Name, Description: x.Description, OwnerUserID: x.OwnerUserID,
		HomeRegion: x.HomeRegion, CreatedAtMs: at, UpdatedAtMs: at,
	}); err != nil {
		return err
	}
	if err := setMember(b, x.WorkspaceID, x.OwnerUserID, &memberRecord{
		Role: RoleOwner, CreatedAtMs: at, CreatedSeq: seq, UpdatedAtMs: at,
	}); err != nil {
		return err
	}
	if x.SetActive {
		u.ActiveWorkspaceID = x.WorkspaceID
		return b.SetRecord(userKey(x.OwnerUserID), u)
	}
	return nil
}

func foldWSUpdate(b *synclog.Batch, at int64, x *wsUpdateBody) error {
	w, err := loadWorkspace(b, x.WorkspaceID)
	if err != nil {
		return err
	}
	if w == nil {
		return corrupt("no workspace %q", x.WorkspaceID)
	}
	w.Name, w.Description, w.UpdatedAtMs = x.Name, x.Description, at
	return b.SetRecord(workspaceKey(x.WorkspaceID), w)
}

// foldWSRemove soft-deletes the workspace, then re-homes every member whose
// active pointer named it to that member's oldest other live membership
// (or none). Members stay, so a later restore brings the workspace back as
// it was.
func foldWSRemove(b *synclog.Batch, at int64, x *wsRemoveBody) error {
	w, err := loadWorkspace(b, x.WorkspaceID)
	if err != nil {
		return err
	}
	if w == nil {
		return corrupt("no workspace %q", x.WorkspaceID)
	}
	w.Deleted, w.DeletedAtMs, w.UpdatedAtMs = true, at, at
	if err := b.SetRecord(workspaceKey(x.WorkspaceID), w); err != nil {
		return err
	}
	ms, err := workspaceMembers(b, x.WorkspaceID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := rehome(b, m.userID, x.WorkspaceID); err != nil {
			return err
		}
	}
	return nil
}

// rehome moves userID's active pointer off ws when it points there.
func rehome(b *synclog.Batch, userID, ws string) error {
	u, err := loadUser(b, userID)
	if err != nil || u == nil || u.ActiveWorkspaceID != ws {
		return err
	}
	next, err := oldestLiveMembership(b, userID, ws)
	if err != nil {
		return err
	}
	u.ActiveWorkspaceID = next
	return b.SetRecord(userKey(userID), u)
}

// transferPrimary moves a workspace's primary ownership off userID to the
// oldest other owner-role member, when userID holds it and another owner
// exists (§5.5: demoting the primary owner transfers owner_user_id).
func transferPrimary(b *synclog.Batch, ws, userID string) error {
	w, err := loadWorkspace(b, ws)
	if err != nil || w == nil || w.OwnerUserID != userID {
		return err
	}
	ms, err := workspaceMembers(b, ws)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.userID != userID && m.rec.Role == RoleOwner {
			w.OwnerUserID = m.userID
			return b.SetRecord(workspaceKey(ws), w)
		}
	}
	return nil
}

func foldMemberSet(b *synclog.Batch, seq uint64, at int64, x *memberSetBody) error {
	if _, ok := ParseRole(string(x.Role)); !ok {
		return corrupt("role %q", x.Role)
	}
	m, err := loadMember(b, x.WorkspaceID, x.UserID)
	if err != nil {
		return err
	}
	if m == nil {
		m = &memberRecord{CreatedAtMs: at, CreatedSeq: seq}
	}
	m.Role, m.UpdatedAtMs = x.Role, at
	if err := setMember(b, x.WorkspaceID, x.UserID, m); err != nil {
		return err
	}
	if x.Role != RoleOwner {
		return transferPrimary(b, x.WorkspaceID, x.UserID)
	}
	return nil
}

func foldMemberRemove(b *synclog.Batch, x *memberRemoveBody) error {
	m, err := loadMember(b, x.WorkspaceID, x.UserID)
	if err != nil {
		return err
	}
	if m == nil {
		return corrupt("no member %q in %q", x.UserID, x.WorkspaceID)
	}
	if err := deleteMember(b, x.WorkspaceID, x.UserID); err != nil {
		return err
	}
	if err := transferPrimary(b, x.WorkspaceID, x.UserID); err != nil {
		return err
	}
	// Unlike the providers (weakness 8), re-home the removed user now.
	return rehome(b, x.UserID, x.WorkspaceID)
}

func foldInviteCreate(b *synclog.Batch, at int64, x *inviteCreateBody) error {
	tk := inviteTokenKey(x.WorkspaceID, x.TokenKey)
	if cur, err := b.Get(tk); err != nil {
		return err
	} else if cur != nil {
		return corrupt("invite token key in use")
	}
	if err := b.SetRecord(inviteKey(x.WorkspaceID, x.InviteID), &inviteRecord{
		Email: x.Email, Role: x.Role, Status: InvitePending, InvitedByUserID: x.InvitedByUserID,
		TokenKey: x.TokenKey, ExpiresAtMs: x.ExpiresAtMs, CreatedAtMs: at, UpdatedAtMs: at,
	}); err != nil {
		return err
	}
	return b.SetRecord(tk, &tokenRecord{InviteID: x.InviteID})
}

// pendingInvite loads an invite that must be pending for the event to apply.
func pendingInvite(b *synclog.Batch, ws, id string) (*inviteRecord, error) {
	inv, err := loadInvite(b, ws, id)
	if err != nil {
		return nil, err
	}
	if inv == nil {
		return nil, corrupt("no invite %q in %q", id, ws)
	}
	if inv.Status != InvitePending {
		return nil, corrupt("invite %q is %s, not pending", id, inv.Status)
	}
	return inv, nil
}

func foldInviteRevoke(b *synclog.Batch, at int64, x *inviteRevokeBody) error {
	inv, err := pendingInvite(b, x.WorkspaceID, x.InviteID)
	if err != nil {
		return err
	}
	inv.Status, inv.RevokedAtMs, inv.RevokedByUserID, inv.UpdatedAtMs = InviteRevoked, at, x.RevokedByUserID, at
	return b.SetRecord(inviteKey(x.WorkspaceID, x.InviteID), inv)
}

func foldInviteExpire(b *synclog.Batch, at int64, x *inviteExpireBody) error {
	inv, err := pendingInvite(b, x.WorkspaceID, x.InviteID)
	if err != nil {
		return err
	}
	inv.Status, inv.UpdatedAtMs = InviteExpired, at
	return b.SetRecord(inviteKey(x.WorkspaceID, x.InviteID), inv)
}

func foldInviteAccept(b *synclog.Batch, at int64, x *inviteAcceptBody) error {
	inv, err := pendingInvite(b, x.WorkspaceID, x.InviteID)
	if err != nil {
		return err
	}
	inv.Status, inv.AcceptedAtMs, inv.AcceptedUserID, inv.UpdatedAtMs = InviteAccepted, at, x.AcceptedUserID, at
	return b.SetRecord(inviteKey(x.WorkspaceID, x.InviteID), inv)
}
