package identity

import (
	"context"
	"strings"

	synclog "github.com/or3/syncd/log"
)

// UserInput names an identity-provider subject and the profile the
// provider reports for it (getOrCreateUser's argument).
type UserInput struct {
	Provider       string // e.g. "clerk", "basic-auth"
	ProviderUserID string // the provider's subject; never used as a user id
	Email          string // optional; stored normalized
	DisplayName    string // optional
}

// User is a user as reads return it.
type User struct {
	ID                string
	Email             string // normalized; "" when unknown
	DisplayName       string
	ActiveWorkspaceID string // may be stale; GetOrCreateDefaultWorkspace repairs it
	CreatedAtMs       int64
}

// UserRef is getOrCreateUser's answer.
type UserRef struct {
	UserID  string
	Created bool // this call created the user
}

func (in *UserInput) normalize() error {
	in.Email = normalizeEmail(in.Email)
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	var emailErr error
	if len(in.Email) > MaxEmailLen {
		// Users' emails come from the identity provider: syncd caps them
		// but does not judge their form (invite emails must contain @).
		emailErr = invalid("email must be at most %d bytes", MaxEmailLen)
	}
	return firstErr(
		checkProvider(in.Provider),
		checkID("providerUserId", in.ProviderUserID),
		emailErr,
		checkDisplayName(in.DisplayName),
	)
}

// profileChanged reports whether in carries a profile value that differs
// from u's. An empty input value means "not reported", never "clear".
func profileChanged(u *userRecord, in *UserInput) bool {
	return (in.Email != "" && in.Email != u.Email) || (in.DisplayName != "" && in.DisplayName != u.DisplayName)
}

func userFrom(id string, u *userRecord) *User {
	return &User{ID: id, Email: u.Email, DisplayName: u.DisplayName, ActiveWorkspaceID: u.ActiveWorkspaceID, CreatedAtMs: u.CreatedAtMs}
}

// GetOrCreateUser returns the user bound to (Provider, ProviderUserID),
// creating the user and its auth account when there is none
// (workspace-admin §3.1). It is idempotent and concurrency-safe: racing
// calls for one subject create exactly one user and one account. The id is
// DeriveUserID of the subject, so every region creates the same one.
//
// For an existing user it writes nothing unless the provider reports a
// changed email or display name, which it records (profile fields merge
// last-writer-wins by event time; the providers never synced them back,
// weakness 4). It does not create a default workspace: the host calls
// GetOrCreateDefaultWorkspace next.
func (s *Store) GetOrCreateUser(ctx context.Context, in UserInput) (UserRef, error) {
	if err := in.normalize(); err != nil {
		return UserRef{}, err
	}
	id := s.UserIDFor(in.Provider, in.ProviderUserID)
	// Fast path: a known user with an unchanged profile needs no lock.
	known := false
	if err := s.read(func(v *synclog.View) error {
		a, err := loadAccount(v, in.Provider, in.ProviderUserID)
		if err != nil || a == nil {
			return err
		}
		u, err := loadUser(v, a.UserID)
		if err != nil || u == nil {
			return err
		}
		id, known = a.UserID, !profileChanged(u, &in)
		return nil
	}); err != nil {
		return UserRef{}, storeErr("getOrCreateUser", err)
	}
	if known {
		return UserRef{UserID: id}, nil
	}
	created := false
	err := s.write(ctx, "getOrCreateUser", id, func(t *txn) error {
		a, err := loadAccount(t.b, in.Provider, in.ProviderUserID)
		if err != nil {
			return err
		}
		if a != nil {
			id = a.UserID
			u, err := loadUser(t.b, id)
			if err != nil {
				return err
			}
			if u == nil {
				return corrupt("account without user %q", id)
			}
			if !profileChanged(u, &in) {
				return nil
			}
			p := &userProfileBody{UserID: id, Email: u.Email, DisplayName: u.DisplayName}
			if in.Email != "" {
				p.Email = in.Email
			}
			if in.DisplayName != "" {
				p.DisplayName = in.DisplayName
			}
			return t.emit(evUserProfile, p)
		}
		if err := t.emit(evUserCreate, &userCreateBody{UserID: id, Email: in.Email, DisplayName: in.DisplayName}); err != nil {
			return err
		}
		created = true
		return t.emit(evAccountLink, &accountLinkBody{Provider: in.Provider, ProviderUserID: in.ProviderUserID, UserID: id})
	})
	if err != nil {
		return UserRef{}, err
	}
	return UserRef{UserID: id, Created: created}, nil
}

// GetUser returns the user bound to (provider, providerUserID), or nil when
// there is none (§3.2). It is a pure lookup.
func (s *Store) GetUser(ctx context.Context, provider, providerUserID string) (*User, error) {
	if err := firstErr(checkProvider(provider), checkID("providerUserId", providerUserID)); err != nil {
		return nil, err
	}
	var out *User
	err := s.read(func(v *synclog.View) error {
		a, err := loadAccount(v, provider, providerUserID)
		if err != nil || a == nil {
			return err
		}
		u, err := loadUser(v, a.UserID)
		if err != nil || u == nil {
			return err
		}
		out = userFrom(a.UserID, u)
		return nil
	})
	return out, storeErr("getUser", err)
}

// GetUserByID returns the user with that id, or nil when there is none
// (including for a malformed id).
func (s *Store) GetUserByID(ctx context.Context, userID string) (*User, error) {
	if checkID("userId", userID) != nil {
		return nil, nil
	}
	var out *User
	err := s.read(func(v *synclog.View) error {
		u, err := loadUser(v, userID)
		if err != nil || u == nil {
			return err
		}
		out = userFrom(userID, u)
		return nil
	})
	return out, storeErr("getUserByID", err)
}

// UserExists reports whether userID names a user. A malformed or foreign
// id is simply false (scenario 14). The HTTP layer uses it for the acting
// user of X-Syncd-User (api.md Decisions 3).
func (s *Store) UserExists(ctx context.Context, userID string) (bool, error) {
	u, err := s.GetUserByID(ctx, userID)
	return u != nil, err
}
