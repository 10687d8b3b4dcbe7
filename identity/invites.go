package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// InviteStatus is an invite's state (§1.5).
type InviteStatus string

// Invite statuses. Expired is also what reads report for a pending invite
// whose expiry has passed, whether or not the transition was persisted.
const (
	InvitePending  InviteStatus = "pending"
	InviteAccepted InviteStatus = "accepted"
	InviteRevoked  InviteStatus = "revoked"
	InviteExpired  InviteStatus = "expired"
)

// Reasons an invite check fails (validateInvite, acceptInviteAndProvisionUser,
// consumeInvite).
const (
	ReasonNotFound      = "not_found"
	ReasonEmailMismatch = "email_mismatch"
	ReasonAlreadyUsed   = "already_used"
	ReasonRevoked       = "revoked"
	ReasonExpired       = "expired"
	ReasonTokenMismatch = "token_mismatch"
)

// Invite listing limits (§3.6).
const (
	DefaultInviteListLimit = 100
	MaxInviteListLimit     = 500
)

// InviteInput is createInvite's argument.
type InviteInput struct {
	WorkspaceID string
	Email       string // normalized before it is stored
	Role        Role
	// InvitedByUserID is the acting user; it must be an owner.
	InvitedByUserID string
	// ExpiresAtMs is the expiry in epoch milliseconds; it must be in the
	// future (a value in seconds is therefore refused, §3.6 hazard).
	ExpiresAtMs int64
	// TokenHash is what the host will present to validate and accept the
	// invite. When empty, syncd generates a token and returns it.
	TokenHash string
}

// CreatedInvite is createInvite's answer. Token and TokenHash are set only
// when syncd generated the token: the raw token is returned this once and
// stored nowhere; TokenHash (hex SHA-256 of Token) is what later calls
// present.
type CreatedInvite struct {
	InviteID  string
	Token     string
	TokenHash string
}

// Invite is an invite as ListInvites returns it. It carries no token hash.
type Invite struct {
	ID              string
	WorkspaceID     string
	Email           string
	Role            Role
	Status          InviteStatus // effective: an overdue pending invite is expired
	InvitedByUserID string
	ExpiresAtMs     int64
	AcceptedAtMs    int64 // 0 is null
	AcceptedUserID  string
	RevokedAtMs     int64 // 0 is null
	RevokedByUserID string
	CreatedAtMs     int64
	UpdatedAtMs     int64
}

// InviteCheck is the answer of ValidateInvite and ConsumeInvite: OK with
// the role, or a Reason.
type InviteCheck struct {
	OK     bool
	Role   Role
	Reason string
}

// AcceptInput is acceptInviteAndProvisionUser's argument. The host has
// checked that the identity provider verified Email (api.md Trust model).
type AcceptInput struct {
	Provider       string
	ProviderUserID string
	Email          string
	DisplayName    string
	WorkspaceID    string
	TokenHash      string
}

// AcceptResult is acceptInviteAndProvisionUser's answer.
type AcceptResult struct {
	OK          bool
	Reason      string
	UserID      string
	Role        Role // the membership's role after acceptance
	CreatedUser bool
}

// ConsumeInput is consumeInvite's argument (an existing user accepts).
type ConsumeInput struct {
	WorkspaceID    string
	Email          string
	TokenHash      string
	AcceptedUserID string
}

// tokenKey is what syncd stores for a token hash: SHA-256 of it. The hash
// the host sends is itself the credential that validates an invite, so a
// leaked store must not reveal it.
func tokenKey(tokenHash string) []byte {
	k := sha256.Sum256([]byte(tokenHash))
	return k[:]
}

func effectiveStatus(inv *inviteRecord, nowMs int64) InviteStatus {
	if inv.Status == InvitePending && inv.ExpiresAtMs <= nowMs {
		return InviteExpired
	}
	return inv.Status
}

// findByToken returns the invite of a live workspace with that token hash,
// or a nil record.
func findByToken(r synclog.Reader, ws, tokenHash string) (string, *inviteRecord, error) {
	w, err := loadLiveWorkspace(r, ws)
	if err != nil || w == nil {
		return "", nil, err
	}
	key := tokenKey(tokenHash)
	tr, err := get[tokenRecord](r, inviteTokenKey(ws, key))
	if err != nil || tr == nil {
		return "", nil, err
	}
	inv, err := loadInvite(r, ws, tr.InviteID)
	if err != nil || inv == nil {
		return "", nil, err
	}
	if subtle.ConstantTimeCompare(inv.TokenKey, key) != 1 {
		return "", nil, corrupt("invite %q token index disagrees with its record", tr.InviteID)
	}
	return tr.InviteID, inv, nil
}

// validateReason is the check order of validateInvite and
// acceptInviteAndProvisionUser (§3.6): email_mismatch, already_used,
// revoked, expired; "" when the invite may be accepted.
func validateReason(inv *inviteRecord, email string, nowMs int64) string {
	switch {
	case subtle.ConstantTimeCompare([]byte(inv.Email), []byte(email)) != 1:
		return ReasonEmailMismatch
	case inv.Status == InviteAccepted:
		return ReasonAlreadyUsed
	case inv.Status == InviteRevoked:
		return ReasonRevoked
	case effectiveStatus(inv, nowMs) == InviteExpired:
		return ReasonExpired
	}
	return ""
}

// CreateInvite creates a pending invite (§3.6). The workspace must be live
// (ErrWorkspaceNotFound) and InvitedByUserID one of its owners
// (ErrForbidden); the email is stored normalized; any role may be invited,
// owner included; ExpiresAtMs must lie in the future; a token hash already
// used in the workspace is ErrConflict (token hashes are unique per
// workspace, unlike the providers').
func (s *Store) CreateInvite(ctx context.Context, in InviteInput) (CreatedInvite, error) {
	in.Email = normalizeEmail(in.Email)
	role, roleErr := checkRole(in.Role)
	var out CreatedInvite
	var hashErr error
	if in.TokenHash == "" {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return CreatedInvite{}, syncerr.Internal(err, "identity: random token")
		}
		out.Token = base64.RawURLEncoding.EncodeToString(raw[:])
		sum := sha256.Sum256([]byte(out.Token))
		out.TokenHash = hex.EncodeToString(sum[:])
		in.TokenHash = out.TokenHash
	} else {
		hashErr = checkTokenHash(in.TokenHash)
	}
	if err := firstErr(
		checkID("workspaceId", in.WorkspaceID), checkEmail(in.Email, true), roleErr,
		checkID("invitedByUserId", in.InvitedByUserID), hashErr,
	); err != nil {
		return CreatedInvite{}, err
	}
	err := s.write(ctx, "createInvite", in.InvitedByUserID, func(t *txn) error {
		if in.ExpiresAtMs <= t.atMs {
			return invalid("expiresAt must be in the future (epoch milliseconds)")
		}
		_, err := requireWorkspace(t.b, in.WorkspaceID, true)
		if err != nil {
			return err
		}
		r, err := roleIn(t.b, in.WorkspaceID, in.InvitedByUserID)
		if err != nil {
			return err
		}
		if !r.CanManage() {
			return forbidden("Forbidden: only owners can manage invites")
		}
		key := tokenKey(in.TokenHash)
		if cur, err := t.b.Get(inviteTokenKey(in.WorkspaceID, key)); err != nil {
			return err
		} else if cur != nil {
			return fail(ErrConflict, syncerr.Conflict, "invite token already in use in this workspace")
		}
		id, err := newInviteID(t.atMs)
		if err != nil {
			return err
		}
		out.InviteID = id
		return t.emit(evInviteCreate, &inviteCreateBody{
			WorkspaceID: in.WorkspaceID, InviteID: id, Email: in.Email, Role: role,
			InvitedByUserID: in.InvitedByUserID, TokenKey: key, ExpiresAtMs: in.ExpiresAtMs,
		})
	})
	if err != nil {
		return CreatedInvite{}, err
	}
	return out, nil
}

// ListInvites lists a live workspace's invites, newest first (§3.6). An
// overdue pending invite is reported as expired, and status, when not
// empty, filters on that effective status. limit 0 means 100; it is clamped
// to [1, 500]. It needs no acting user (api.md Decisions 4).
func (s *Store) ListInvites(ctx context.Context, workspaceID string, status InviteStatus, limit int) ([]Invite, error) {
	if err := checkID("workspaceId", workspaceID); err != nil {
		return nil, err
	}
	switch status {
	case "", InvitePending, InviteAccepted, InviteRevoked, InviteExpired:
	default:
		return nil, invalid("status must be one of pending, accepted, revoked, expired")
	}
	if limit == 0 {
		limit = DefaultInviteListLimit
	}
	limit = min(max(limit, 1), MaxInviteListLimit)
	now := s.nowMs()
	out := []Invite{}
	err := s.read(func(v *synclog.View) error {
		_, err := requireWorkspace(v, workspaceID, true)
		if err != nil {
			return err
		}
		p := invitePrefix(workspaceID)
		it, err := v.NewIter(p, synclog.PrefixEnd(p))
		if err != nil {
			return err
		}
		for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
			kr := synclog.ReadKey(it.Key())
			kr.Str()
			id := kr.Str()
			if err := kr.Err(); err != nil {
				it.Close()
				return &synclog.CorruptionError{Key: append([]byte(nil), it.Key()...), Err: err}
			}
			var inv inviteRecord
			if err := synclog.Decode(it.Key(), it.Value(), &inv); err != nil {
				it.Close()
				return err
			}
			st := effectiveStatus(&inv, now)
			if status != "" && st != status {
				continue
			}
			out = append(out, Invite{
				ID: id, WorkspaceID: workspaceID, Email: inv.Email, Role: inv.Role, Status: st,
				InvitedByUserID: inv.InvitedByUserID, ExpiresAtMs: inv.ExpiresAtMs,
				AcceptedAtMs: inv.AcceptedAtMs, AcceptedUserID: inv.AcceptedUserID,
				RevokedAtMs: inv.RevokedAtMs, RevokedByUserID: inv.RevokedByUserID,
				CreatedAtMs: inv.CreatedAtMs, UpdatedAtMs: inv.UpdatedAtMs,
			})
		}
		if err := it.Error(); err != nil {
			it.Close()
			return err
		}
		return it.Close()
	})
	if err != nil {
		return nil, storeErr("listInvites", err)
	}
	return out, nil
}

// RevokeInvite revokes a pending invite of a live workspace (§3.6).
// revokedByUserID must be an owner (ErrForbidden) and is recorded; an
// invite of another workspace is ErrInviteNotFound; revoking an invite that
// is no longer pending is a no-op success.
func (s *Store) RevokeInvite(ctx context.Context, workspaceID, inviteID, revokedByUserID string) error {
	if err := firstErr(checkID("workspaceId", workspaceID), checkID("inviteId", inviteID), checkID("revokedByUserId", revokedByUserID)); err != nil {
		return err
	}
	return s.write(ctx, "revokeInvite", revokedByUserID, func(t *txn) error {
		_, err := requireWorkspace(t.b, workspaceID, true)
		if err != nil {
			return err
		}
		r, err := roleIn(t.b, workspaceID, revokedByUserID)
		if err != nil {
			return err
		}
		if !r.CanManage() {
			return forbidden("Forbidden: only owners can manage invites")
		}
		inv, err := loadInvite(t.b, workspaceID, inviteID)
		if err != nil {
			return err
		}
		if inv == nil {
			return errInviteNotFound()
		}
		if inv.Status != InvitePending {
			return nil
		}
		return t.emit(evInviteRevoke, &inviteRevokeBody{WorkspaceID: workspaceID, InviteID: inviteID, RevokedByUserID: revokedByUserID})
	})
}

func checkInviteLookup(workspaceID, email, tokenHash string) error {
	return firstErr(checkID("workspaceId", workspaceID), checkEmail(email, true), checkTokenHash(tokenHash))
}

// ValidateInvite checks, without writing, whether the invite with that
// token hash in workspaceID may be accepted by email (§3.6). The first
// failing check is the reason: not_found, email_mismatch, already_used,
// revoked, expired. An invite of a deleted workspace is not_found.
func (s *Store) ValidateInvite(ctx context.Context, workspaceID, email, tokenHash string) (InviteCheck, error) {
	email = normalizeEmail(email)
	if err := checkInviteLookup(workspaceID, email, tokenHash); err != nil {
		return InviteCheck{}, err
	}
	now := s.nowMs()
	var out InviteCheck
	err := s.read(func(v *synclog.View) error {
		_, inv, err := findByToken(v, workspaceID, tokenHash)
		if err != nil {
			return err
		}
		switch {
		case inv == nil:
			out.Reason = ReasonNotFound
		default:
			if out.Reason = validateReason(inv, email, now); out.Reason == "" {
				out = InviteCheck{OK: true, Role: inv.Role}
			}
		}
		return nil
	})
	if err != nil {
		return InviteCheck{}, storeErr("validateInvite", err)
	}
	return out, nil
}

// accept appends the acceptance of a validated invite by userID: the
// membership (never lowering an existing role: an editor invite does not
// demote an owner, weakness 13), the active pointer, and the invite's
// transition. It returns the membership's role.
func accept(t *txn, ws, inviteID string, inv *inviteRecord, userID string) (Role, error) {
	m, err := loadMember(t.b, ws, userID)
	if err != nil {
		return RoleNone, err
	}
	role := inv.Role
	if m != nil {
		role = maxRole(m.Role, inv.Role)
	}
	if m == nil || m.Role != role {
		if err := t.emit(evMemberSet, &memberSetBody{WorkspaceID: ws, UserID: userID, Role: role}); err != nil {
			return RoleNone, err
		}
	}
	if err := t.step("membership_created"); err != nil {
		return RoleNone, err
	}
	u, err := loadUser(t.b, userID)
	if err != nil {
		return RoleNone, err
	}
	if u == nil {
		return RoleNone, corrupt("no user %q", userID)
	}
	if u.ActiveWorkspaceID != ws {
		if err := t.emit(evUserActive, &userActiveBody{UserID: userID, WorkspaceID: ws}); err != nil {
			return RoleNone, err
		}
	}
	if err := t.emit(evInviteAccept, &inviteAcceptBody{WorkspaceID: ws, InviteID: inviteID, AcceptedUserID: userID}); err != nil {
		return RoleNone, err
	}
	return role, t.step("invite_consumed")
}

// AcceptInviteAndProvisionUser accepts an invite for an identity-provider
// subject, creating its user and auth account when there is none, in one
// batch (§3.6): the invite is validated as ValidateInvite does (an overdue
// pending invite is persisted as expired), then the user is created or
// reused, the membership upserted without lowering an existing role, the
// active workspace set, and the invite marked accepted. Any failure leaves
// nothing written; of racing acceptances exactly one wins, the others get
// already_used. The host has checked that the provider verified Email.
func (s *Store) AcceptInviteAndProvisionUser(ctx context.Context, in AcceptInput) (AcceptResult, error) {
	ui := UserInput{Provider: in.Provider, ProviderUserID: in.ProviderUserID, Email: in.Email, DisplayName: in.DisplayName}
	uerr := ui.normalize()
	email := ui.Email
	if err := firstErr(uerr, checkInviteLookup(in.WorkspaceID, email, in.TokenHash)); err != nil {
		return AcceptResult{}, err
	}
	userID := s.UserIDFor(ui.Provider, ui.ProviderUserID)
	var out AcceptResult
	err := s.write(ctx, "acceptInviteAndProvisionUser", userID, func(t *txn) error {
		id, inv, err := findByToken(t.b, in.WorkspaceID, in.TokenHash)
		if err != nil {
			return err
		}
		if inv == nil {
			out.Reason = ReasonNotFound
			return nil
		}
		if out.Reason = validateReason(inv, email, t.atMs); out.Reason != "" {
			if out.Reason == ReasonExpired && inv.Status == InvitePending {
				return t.emit(evInviteExpire, &inviteExpireBody{WorkspaceID: in.WorkspaceID, InviteID: id})
			}
			return nil
		}
		if err := t.step("invite_validated"); err != nil {
			return err
		}
		created := false
		a, err := loadAccount(t.b, ui.Provider, ui.ProviderUserID)
		if err != nil {
			return err
		}
		if a != nil {
			userID = a.UserID
		} else {
			if err := t.emit(evUserCreate, &userCreateBody{UserID: userID, Email: email, DisplayName: ui.DisplayName}); err != nil {
				return err
			}
			if err := t.emit(evAccountLink, &accountLinkBody{Provider: ui.Provider, ProviderUserID: ui.ProviderUserID, UserID: userID}); err != nil {
				return err
			}
			created = true
		}
		if err := t.step("user_created"); err != nil {
			return err
		}
		role, err := accept(t, in.WorkspaceID, id, inv, userID)
		if err != nil {
			return err
		}
		out = AcceptResult{OK: true, UserID: userID, Role: role, CreatedUser: created}
		return nil
	})
	if err != nil {
		return AcceptResult{}, err
	}
	return out, nil
}

// ConsumeInvite accepts an invite for an existing user (the legacy path of
// §3.6). The invite is found by its token hash, as the Go decision says;
// when no invite of that email has this token the answer is token_mismatch
// if the email has any invite in the workspace, else not_found. Then the
// checks run in the legacy order: revoked, already_used, expired (an
// overdue pending invite is persisted as expired). On success the
// membership is upserted (never lowering an existing role) and made active.
// An unknown acceptedUserId is ErrUserNotFound.
func (s *Store) ConsumeInvite(ctx context.Context, in ConsumeInput) (InviteCheck, error) {
	email := normalizeEmail(in.Email)
	if err := firstErr(checkInviteLookup(in.WorkspaceID, email, in.TokenHash), checkID("acceptedUserId", in.AcceptedUserID)); err != nil {
		return InviteCheck{}, err
	}
	var out InviteCheck
	err := s.write(ctx, "consumeInvite", in.AcceptedUserID, func(t *txn) error {
		u, err := loadUser(t.b, in.AcceptedUserID)
		if err != nil {
			return err
		}
		if u == nil {
			return errUserNotFound()
		}
		id, inv, err := findByToken(t.b, in.WorkspaceID, in.TokenHash)
		if err != nil {
			return err
		}
		if inv == nil || subtle.ConstantTimeCompare([]byte(inv.Email), []byte(email)) != 1 {
			has, err := hasInviteFor(t.b, in.WorkspaceID, email)
			if err != nil {
				return err
			}
			out.Reason = ReasonNotFound
			if has {
				out.Reason = ReasonTokenMismatch
			}
			return nil
		}
		switch {
		case inv.Status == InviteRevoked:
			out.Reason = ReasonRevoked
		case inv.Status == InviteAccepted:
			out.Reason = ReasonAlreadyUsed
		case effectiveStatus(inv, t.atMs) == InviteExpired:
			out.Reason = ReasonExpired
			if inv.Status == InvitePending {
				return t.emit(evInviteExpire, &inviteExpireBody{WorkspaceID: in.WorkspaceID, InviteID: id})
			}
		}
		if out.Reason != "" {
			return nil
		}
		role, err := accept(t, in.WorkspaceID, id, inv, in.AcceptedUserID)
		if err != nil {
			return err
		}
		out = InviteCheck{OK: true, Role: role}
		return nil
	})
	if err != nil {
		return InviteCheck{}, err
	}
	return out, nil
}

// hasInviteFor reports whether the live workspace ws has any invite for
// email. It scans the workspace's invites; it runs only on the failure
// path of ConsumeInvite.
func hasInviteFor(r synclog.Reader, ws, email string) (bool, error) {
	if w, err := loadLiveWorkspace(r, ws); err != nil || w == nil {
		return false, err
	}
	p := invitePrefix(ws)
	it, err := r.NewIter(p, synclog.PrefixEnd(p))
	if err != nil {
		return false, err
	}
	found := false
	for ok := it.First(); ok && !found; ok = it.Next() {
		var inv inviteRecord
		if err := synclog.Decode(it.Key(), it.Value(), &inv); err != nil {
			it.Close()
			return false, err
		}
		found = inv.Email == email
	}
	if err := it.Error(); err != nil {
		it.Close()
		return false, err
	}
	return found, it.Close()
}
