package identity

import (
	"context"
	"strings"

	synclog "github.com/or3/syncd/log"
)

// Workspace is a workspace as reads return it.
type Workspace struct {
	ID          string
	Name        string
	Description string // "" is null
	OwnerUserID string // the primary owner
	HomeRegion  string
	CreatedAtMs int64
	UpdatedAtMs int64
	Deleted     bool
	DeletedAtMs int64
}

// DefaultWorkspace is getOrCreateDefaultWorkspace's answer.
type DefaultWorkspace struct {
	WorkspaceID   string
	WorkspaceName string
	Created       bool // this call created the workspace
}

// UserWorkspace is one row of ListUserWorkspaces.
type UserWorkspace struct {
	ID          string
	Name        string
	Description string // "" is null
	Role        Role
	CreatedAtMs int64 // the workspace's creation time
	IsActive    bool
}

func workspaceFrom(id string, w *workspaceRecord) *Workspace {
	return &Workspace{
		ID: id, Name: w.Name, Description: w.Description, OwnerUserID: w.OwnerUserID,
		HomeRegion: w.HomeRegion, CreatedAtMs: w.CreatedAtMs, UpdatedAtMs: w.UpdatedAtMs,
		Deleted: w.Deleted, DeletedAtMs: w.DeletedAtMs,
	}
}

// roleIn returns userID's role in ws, or RoleNone when there is no
// membership or the workspace is missing or deleted.
func roleIn(r synclog.Reader, ws, userID string) (Role, error) {
	m, err := loadMember(r, ws, userID)
	if err != nil || m == nil {
		return RoleNone, err
	}
	w, err := loadLiveWorkspace(r, ws)
	if err != nil || w == nil {
		return RoleNone, err
	}
	return m.Role, nil
}

// Role returns userID's role in workspaceID, or RoleNone when the user is
// not a member or the workspace is missing or deleted. The sync engine and
// the HTTP layer call it on every request: it is two point reads from the
// durable view (no cache, so a committed revocation takes effect on the
// next request). Malformed ids are RoleNone, never an error.
func (s *Store) Role(ctx context.Context, workspaceID, userID string) (Role, error) {
	if checkID("workspaceId", workspaceID) != nil || checkID("userId", userID) != nil {
		return RoleNone, nil
	}
	var role Role
	err := s.read(func(v *synclog.View) error {
		var err error
		role, err = roleIn(v, workspaceID, userID)
		return err
	})
	return role, storeErr("role", err)
}

// GetWorkspaceRole is getWorkspaceRole({userId, workspaceId}) of §3.5: the
// membership role for any non-deleted workspace, RoleNone otherwise (the Go
// decision; Convex answered only for the active workspace).
func (s *Store) GetWorkspaceRole(ctx context.Context, userID, workspaceID string) (Role, error) {
	return s.Role(ctx, workspaceID, userID)
}

// GetWorkspace returns the workspace, deleted or not, or nil when unknown.
func (s *Store) GetWorkspace(ctx context.Context, workspaceID string) (*Workspace, error) {
	if checkID("workspaceId", workspaceID) != nil {
		return nil, nil
	}
	var out *Workspace
	err := s.read(func(v *synclog.View) error {
		w, err := loadWorkspace(v, workspaceID)
		if err != nil || w == nil {
			return err
		}
		out = workspaceFrom(workspaceID, w)
		return nil
	})
	return out, storeErr("getWorkspace", err)
}

// resolveDefault finds userID's default workspace (§3.3): the active one if
// it is live and the user still belongs to it, else the oldest live
// membership (repair is then true: the pointer must move). ws is "" when
// the user has no live membership.
func resolveDefault(r synclog.Reader, userID string) (ws, name string, repair bool, err error) {
	u, err := loadUser(r, userID)
	if err != nil {
		return "", "", false, err
	}
	if u == nil {
		return "", "", false, errUserNotFound()
	}
	if u.ActiveWorkspaceID != "" {
		role, err := roleIn(r, u.ActiveWorkspaceID, userID)
		if err != nil {
			return "", "", false, err
		}
		if role != RoleNone {
			w, err := loadWorkspace(r, u.ActiveWorkspaceID)
			if err != nil {
				return "", "", false, err
			}
			return u.ActiveWorkspaceID, w.Name, false, nil
		}
	}
	ws, err = oldestLiveMembership(r, userID, "")
	if err != nil || ws == "" {
		return "", "", false, err
	}
	w, err := loadWorkspace(r, ws)
	if err != nil {
		return "", "", false, err
	}
	return ws, w.Name, true, nil
}

// GetOrCreateDefaultWorkspace returns userID's workspace for a new session
// (§3.3): the active workspace when it is live and the user belongs to it;
// else the oldest live membership, repairing the active pointer to it; else
// a new workspace named Config.DefaultWorkspaceName with the user as owner,
// made active, all in one batch (Created true). Calling it again returns the
// same workspace; racing first calls create exactly one. An unknown user is
// ErrUserNotFound (404).
func (s *Store) GetOrCreateDefaultWorkspace(ctx context.Context, userID string) (DefaultWorkspace, error) {
	if err := checkID("userId", userID); err != nil {
		return DefaultWorkspace{}, err
	}
	var out DefaultWorkspace
	settled := false
	if err := s.read(func(v *synclog.View) error {
		ws, name, repair, err := resolveDefault(v, userID)
		if err == nil && ws != "" && !repair {
			out, settled = DefaultWorkspace{WorkspaceID: ws, WorkspaceName: name}, true
		}
		return err
	}); err != nil {
		return DefaultWorkspace{}, storeErr("getOrCreateDefaultWorkspace", err)
	}
	if settled {
		return out, nil
	}
	err := s.write(ctx, "getOrCreateDefaultWorkspace", userID, func(t *txn) error {
		ws, name, repair, err := resolveDefault(t.b, userID)
		if err != nil {
			return err
		}
		if ws != "" {
			out = DefaultWorkspace{WorkspaceID: ws, WorkspaceName: name}
			if !repair {
				return nil // a racing call settled it
			}
			return t.emit(evUserActive, &userActiveBody{UserID: userID, WorkspaceID: ws})
		}
		id, err := newWorkspaceID()
		if err != nil {
			return err
		}
		out = DefaultWorkspace{WorkspaceID: id, WorkspaceName: s.cfg.DefaultWorkspaceName, Created: true}
		return t.emit(evWSCreate, &wsCreateBody{
			WorkspaceID: id, Name: s.cfg.DefaultWorkspaceName, OwnerUserID: userID,
			HomeRegion: s.cfg.Region, SetActive: true,
		})
	})
	if err != nil {
		return DefaultWorkspace{}, err
	}
	return out, nil
}

// ListUserWorkspaces lists userID's memberships in live workspaces, oldest
// membership first, with IsActive marking the active pointer (§3.5). An
// unknown or malformed user has none.
func (s *Store) ListUserWorkspaces(ctx context.Context, userID string) ([]UserWorkspace, error) {
	out := []UserWorkspace{}
	if checkID("userId", userID) != nil {
		return out, nil
	}
	err := s.read(func(v *synclog.View) error {
		u, err := loadUser(v, userID)
		if err != nil || u == nil {
			return err
		}
		ms, err := userMemberships(v, userID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			w, err := loadLiveWorkspace(v, m.ws)
			if err != nil {
				return err
			}
			if w == nil {
				continue
			}
			out = append(out, UserWorkspace{
				ID: m.ws, Name: w.Name, Description: w.Description, Role: m.rec.Role,
				CreatedAtMs: w.CreatedAtMs, IsActive: m.ws == u.ActiveWorkspaceID,
			})
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("listUserWorkspaces", err)
	}
	return out, nil
}

// normalizeWorkspaceText trims and validates a name and description.
func normalizeWorkspaceText(name, description string) (string, string, error) {
	name, description = strings.TrimSpace(name), strings.TrimSpace(description)
	return name, description, firstErr(checkWorkspaceName(name), checkWorkspaceDescription(description))
}

// CreateWorkspace creates a workspace owned by userID, with an owner
// membership, in one batch (§3.5). It does not change the active
// workspace. An unknown user is ErrUserNotFound (404).
func (s *Store) CreateWorkspace(ctx context.Context, userID, name, description string) (string, error) {
	name, description, err := normalizeWorkspaceText(name, description)
	if err := firstErr(checkID("userId", userID), err); err != nil {
		return "", err
	}
	id, err := newWorkspaceID()
	if err != nil {
		return "", err
	}
	err = s.write(ctx, "createWorkspace", userID, func(t *txn) error {
		u, err := loadUser(t.b, userID)
		if err != nil {
			return err
		}
		if u == nil {
			return errUserNotFound()
		}
		return t.emit(evWSCreate, &wsCreateBody{
			WorkspaceID: id, Name: name, Description: description, OwnerUserID: userID, HomeRegion: s.cfg.Region,
		})
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// UpdateWorkspace sets a live workspace's name and description (an empty
// description clears it). The acting userID must be an owner or an editor
// (the spec's recommendation, §3.5); a viewer or non-member is ErrForbidden
// ("Forbidden: insufficient workspace role"), a missing or deleted
// workspace ErrWorkspaceNotFound.
func (s *Store) UpdateWorkspace(ctx context.Context, userID, workspaceID, name, description string) error {
	name, description, err := normalizeWorkspaceText(name, description)
	if err := firstErr(checkID("userId", userID), checkID("workspaceId", workspaceID), err); err != nil {
		return err
	}
	return s.write(ctx, "updateWorkspace", userID, func(t *txn) error {
		w, err := requireWorkspace(t.b, workspaceID, true)
		if err != nil {
			return err
		}
		role, err := roleIn(t.b, workspaceID, userID)
		if err != nil {
			return err
		}
		if !role.CanWrite() {
			return forbidden("Forbidden: insufficient workspace role")
		}
		if w.Name == name && w.Description == description {
			return nil
		}
		return t.emit(evWSUpdate, &wsUpdateBody{WorkspaceID: workspaceID, Name: name, Description: description})
	})
}

// RemoveWorkspace soft-deletes a workspace and re-homes every member whose
// active workspace it was to that member's oldest other live membership
// (§3.5, the Go decision). Only an owner may (ErrForbidden "Forbidden: only
// owner can remove workspace"); removing an already deleted workspace is a
// no-op for its owner, so a retried call succeeds.
func (s *Store) RemoveWorkspace(ctx context.Context, userID, workspaceID string) error {
	if err := firstErr(checkID("userId", userID), checkID("workspaceId", workspaceID)); err != nil {
		return err
	}
	return s.write(ctx, "removeWorkspace", userID, func(t *txn) error {
		w, err := requireWorkspace(t.b, workspaceID, false)
		if err != nil {
			return err
		}
		m, err := loadMember(t.b, workspaceID, userID)
		if err != nil {
			return err
		}
		if m == nil || m.Role != RoleOwner {
			return forbidden("Forbidden: only owner can remove workspace")
		}
		if w.Deleted {
			return nil
		}
		return t.emit(evWSRemove, &wsRemoveBody{WorkspaceID: workspaceID})
	})
}

// SetActiveWorkspace points userID's active workspace at workspaceID. The
// user must be a member (ErrForbidden "Forbidden: not a member of this
// workspace") of a live workspace (a missing or deleted one is
// ErrWorkspaceNotFound).
func (s *Store) SetActiveWorkspace(ctx context.Context, userID, workspaceID string) error {
	if err := firstErr(checkID("userId", userID), checkID("workspaceId", workspaceID)); err != nil {
		return err
	}
	return s.write(ctx, "setActiveWorkspace", userID, func(t *txn) error {
		_, err := requireWorkspace(t.b, workspaceID, true)
		if err != nil {
			return err
		}
		m, err := loadMember(t.b, workspaceID, userID)
		if err != nil {
			return err
		}
		u, err := loadUser(t.b, userID)
		if err != nil {
			return err
		}
		if m == nil || u == nil {
			return forbidden("Forbidden: not a member of this workspace")
		}
		if u.ActiveWorkspaceID == workspaceID {
			return nil
		}
		return t.emit(evUserActive, &userActiveBody{UserID: userID, WorkspaceID: workspaceID})
	})
}
