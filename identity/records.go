package identity

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"cmp"
	"slices"

	synclog "github.com/or3/syncd/log"
)

// State records and their keys. Every record is written only by a fold
// (events.go), so replaying the system events rebuilds them byte for byte.
// Records encode as msgpack arrays: a field may be added at the end.
//
//	user           0x30 | userId                     → userRecord
//	auth account   0x31 | provider | providerUserId  → accountRecord
//	workspace      0x32 | ws                         → workspaceRecord
//	member         0x33 | ws | userId                → memberRecord
//	member by user 0x34 | userId | ws                → memberRecord (same bytes)
//	invite         0x35 | ws | inviteId              → inviteRecord
//	invite token   0x36 | ws | SHA-256(tokenHash)    → tokenRecord
//
// Every component is length-prefixed (log.Key.Str). Invites are keyed under
// their workspace (keys.go sketches 0x35 | inviteId): every invite operation
// names its workspace, revokeInvite must not find another workspace's invite
// by id, and listInvites scans one workspace. Invite ids are time-ordered
// (UUIDv7 of the creation time), so that scan runs newest first by walking
// the keys backwards.

// userRecord is a user (workspace-admin §1.1).
type userRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Email       string // normalized; "" when unknown
	DisplayName string
	// ActiveWorkspaceID may be stale (a deleted workspace, or one the user
	// left before re-homing existed); readers repair it lazily (§3.3).
	ActiveWorkspaceID string
	CreatedAtMs       int64
	// ProfileAtMs is the event time of the last profile write; profile
	// fields merge last-writer-wins by it (model.md §6).
	ProfileAtMs int64
}

// accountRecord binds a provider subject to a user (§1.2).
type accountRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	UserID      string
	CreatedAtMs int64
}

// workspaceRecord is a workspace (§1.3).
type workspaceRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name        string
	Description string // "" is null
	// OwnerUserID is the primary owner; other members may have the owner
	// role too.
	OwnerUserID string
	// HomeRegion decides the workspace's members, roles and invites
	// (model.md §6).
	HomeRegion  string
	CreatedAtMs int64
	UpdatedAtMs int64
	Deleted     bool
	DeletedAtMs int64
}

// memberRecord is a membership (§1.4), stored under both member keys.
type memberRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Role        Role
	CreatedAtMs int64
	// CreatedSeq is the system sequence of the event that created the
	// membership; it breaks ties of CreatedAtMs, so "oldest membership" is
	// a total order that replay reproduces.
	CreatedSeq  uint64
	UpdatedAtMs int64
}

// inviteRecord is an invite (§1.5). It never holds the token or the token
// hash the host sends, only SHA-256 of that hash.
type inviteRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Email           string // normalized
	Role            Role
	Status          InviteStatus // as persisted; see effectiveStatus
	InvitedByUserID string
	TokenKey        []byte // SHA-256(tokenHash)
	ExpiresAtMs     int64
	AcceptedAtMs    int64
	AcceptedUserID  string
	RevokedAtMs     int64
	RevokedByUserID string
	CreatedAtMs     int64
	UpdatedAtMs     int64
}

// tokenRecord points a (workspace, token key) at its invite.
type tokenRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	InviteID string
}

func userKey(userID string) []byte { return synclog.NewKey(synclog.PrefixUser).Str(userID) }

func accountKey(provider, providerUserID string) []byte {
	return synclog.NewKey(synclog.PrefixAccount).Str(provider).Str(providerUserID)
}

func workspaceKey(ws string) []byte { return synclog.NewKey(synclog.PrefixWorkspace).Str(ws) }

func memberKey(ws, userID string) []byte {
	return synclog.NewKey(synclog.PrefixMember).Str(ws).Str(userID)
}

func memberPrefix(ws string) []byte { return synclog.NewKey(synclog.PrefixMember).Str(ws) }

func memberByUserKey(userID, ws string) []byte {
	return synclog.NewKey(synclog.PrefixMemberByUser).Str(userID).Str(ws)
}

func memberByUserPrefix(userID string) []byte {
	return synclog.NewKey(synclog.PrefixMemberByUser).Str(userID)
}

func inviteKey(ws, inviteID string) []byte {
	return synclog.NewKey(synclog.PrefixInvite).Str(ws).Str(inviteID)
}

func invitePrefix(ws string) []byte { return synclog.NewKey(synclog.PrefixInvite).Str(ws) }

func inviteTokenKey(ws string, tokenKey []byte) []byte {
	return synclog.NewKey(synclog.PrefixInviteByToken).Str(ws).Str(string(tokenKey))
}

// Prefixes are the keyspaces this package owns; replay tests compare them.
var Prefixes = []byte{
	synclog.PrefixUser, synclog.PrefixAccount, synclog.PrefixWorkspace,
	synclog.PrefixMember, synclog.PrefixMemberByUser, synclog.PrefixInvite,
	synclog.PrefixInviteByToken,
}

// --- readers, shared by the write path (through the batch) and the read
// path (through the durable view) ---

// get decodes the record at key from r; found is false when absent.
func get[T any](r synclog.Reader, key []byte) (*T, error) {
	v := new(T)
	found, err := synclog.GetRecord(r, key, v)
	if err != nil || !found {
		return nil, err
	}
	return v, nil
}

func loadUser(r synclog.Reader, userID string) (*userRecord, error) {
	return get[userRecord](r, userKey(userID))
}

func loadAccount(r synclog.Reader, provider, sub string) (*accountRecord, error) {
	return get[accountRecord](r, accountKey(provider, sub))
}

func loadWorkspace(r synclog.Reader, ws string) (*workspaceRecord, error) {
	return get[workspaceRecord](r, workspaceKey(ws))
}

// loadLiveWorkspace is loadWorkspace that treats a deleted workspace as
// absent.
func loadLiveWorkspace(r synclog.Reader, ws string) (*workspaceRecord, error) {
	w, err := loadWorkspace(r, ws)
	if err != nil || w == nil || w.Deleted {
		return nil, err
	}
	return w, nil
}

// requireWorkspace loads a workspace that must exist (and be live when
// live is set), answering ErrWorkspaceNotFound otherwise.
func requireWorkspace(r synclog.Reader, ws string, live bool) (*workspaceRecord, error) {
	load := loadWorkspace
	if live {
		load = loadLiveWorkspace
	}
	w, err := load(r, ws)
	if err == nil && w == nil {
		err = errWorkspaceNotFound()
	}
	return w, err
}

func loadMember(r synclog.Reader, ws, userID string) (*memberRecord, error) {
	return get[memberRecord](r, memberKey(ws, userID))
}

func loadInvite(r synclog.Reader, ws, inviteID string) (*inviteRecord, error) {
	return get[inviteRecord](r, inviteKey(ws, inviteID))
}

// membership is one row of a prefix scan over members.
type membership struct {
	ws, userID string
	rec        memberRecord
}

// older orders memberships by creation: time, then event sequence.
func older(a, b *membership) int {
	if c := cmp.Compare(a.rec.CreatedAtMs, b.rec.CreatedAtMs); c != 0 {
		return c
	}
	if c := cmp.Compare(a.rec.CreatedSeq, b.rec.CreatedSeq); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ws, b.ws); c != 0 {
		return c
	}
	return cmp.Compare(a.userID, b.userID)
}

// scanMembers returns the memberships under prefix (of one workspace, or
// of one user when byUser), oldest first.
func scanMembers(r synclog.Reader, prefix []byte, byUser bool) ([]membership, error) {
	it, err := r.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		return nil, err
	}
	var out []membership
	for ok := it.First(); ok; ok = it.Next() {
		kr := synclog.ReadKey(it.Key())
		a, b := kr.Str(), kr.Str()
		if err := kr.Err(); err != nil {
			it.Close()
			return nil, &synclog.CorruptionError{Key: append([]byte(nil), it.Key()...), Err: err}
		}
		m := membership{ws: a, userID: b}
		if byUser {
			m = membership{ws: b, userID: a}
		}
		if err := synclog.Decode(it.Key(), it.Value(), &m.rec); err != nil {
			it.Close()
			return nil, err
		}
		out = append(out, m)
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, err
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b membership) int { return older(&a, &b) })
	return out, nil
}

func workspaceMembers(r synclog.Reader, ws string) ([]membership, error) {
	return scanMembers(r, memberPrefix(ws), false)
}

func userMemberships(r synclog.Reader, userID string) ([]membership, error) {
	return scanMembers(r, memberByUserPrefix(userID), true)
}

// oldestLiveMembership returns the workspace of userID's oldest membership
// in a non-deleted workspace other than except, or "" when there is none
// (the re-homing target of §3.3 and §3.5).
func oldestLiveMembership(r synclog.Reader, userID, except string) (string, error) {
	ms, err := userMemberships(r, userID)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.ws == except {
			continue
		}
		w, err := loadLiveWorkspace(r, m.ws)
		if err != nil {
			return "", err
		}
		if w != nil {
			return m.ws, nil
		}
	}
	return "", nil
}

// countOwners counts the owner-role members of ws.
func countOwners(ms []membership) int {
	n := 0
	for _, m := range ms {
		if m.rec.Role == RoleOwner {
			n++
		}
	}
	return n
}
