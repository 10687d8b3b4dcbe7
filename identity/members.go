package identity

import (
	"context"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Member is one membership of a workspace as ListMembers returns it.
type Member struct {
	UserID      string
	Email       string
	DisplayName string
	Role        Role
	CreatedAtMs int64
}

func errLastOwner(verb string) error {
	return fail(ErrLastOwner, syncerr.Conflict, "Cannot %s the last workspace owner. Transfer ownership first.", verb)
}

// changeRole decides a role change of an existing member under the write
// lock: the last owner may not be demoted (ErrLastOwner).
func changeRole(t *txn, ws, userID string, cur *memberRecord, role Role) error {
	if cur.Role == role {
		return nil
	}
	if cur.Role == RoleOwner {
		ms, err := workspaceMembers(t.b, ws)
		if err != nil {
			return err
		}
		if countOwners(ms) <= 1 {
			return errLastOwner("demote")
		}
	}
	return t.emit(evMemberSet, &memberSetBody{WorkspaceID: ws, UserID: userID, Role: role})
}

// AddMember makes userID a member of the live workspace workspaceID with
// role; for an existing member it is SetRole (the admin upsert of §5.5).
// The user must exist (ErrUserNotFound): syncd never creates placeholder
// users from an admin upsert. actorID names who acts ("" for the system or
// a super admin); it is recorded on the event. Authorization is the
// caller's (the admin store).
func (s *Store) AddMember(ctx context.Context, workspaceID, userID string, role Role, actorID string) error {
	role, err := checkRole(role)
	if err := firstErr(checkID("workspaceId", workspaceID), checkID("userId", userID), err); err != nil {
		return err
	}
	return s.write(ctx, "addMember", actorID, func(t *txn) error {
		_, err := requireWorkspace(t.b, workspaceID, true)
		if err != nil {
			return err
		}
		u, err := loadUser(t.b, userID)
		if err != nil {
			return err
		}
		if u == nil {
			return errUserNotFound()
		}
		m, err := loadMember(t.b, workspaceID, userID)
		if err != nil {
			return err
		}
		if m != nil {
			return changeRole(t, workspaceID, userID, m, role)
		}
		return t.emit(evMemberSet, &memberSetBody{WorkspaceID: workspaceID, UserID: userID, Role: role})
	})
}

// SetRole changes a member's role (setMemberRole of §5.5) in a workspace,
// deleted or not (an unknown one is ErrWorkspaceNotFound). A missing
// membership is ErrMemberNotFound; demoting the last owner is ErrLastOwner
// (409) and leaves the role as it was; demoting the primary owner while
// another owner exists moves the primary ownership to the oldest other
// owner.
func (s *Store) SetRole(ctx context.Context, workspaceID, userID string, role Role, actorID string) error {
	role, err := checkRole(role)
	if err := firstErr(checkID("workspaceId", workspaceID), checkID("userId", userID), err); err != nil {
		return err
	}
	return s.write(ctx, "setRole", actorID, func(t *txn) error {
		if w, err := loadWorkspace(t.b, workspaceID); err != nil {
			return err
		} else if w == nil {
			return errWorkspaceNotFound()
		}
		m, err := loadMember(t.b, workspaceID, userID)
		if err != nil {
			return err
		}
		if m == nil {
			return errMemberNotFound()
		}
		return changeRole(t, workspaceID, userID, m, role)
	})
}

// RemoveMember removes a membership (removeMember of §5.5). Removing the
// last owner is ErrLastOwner (409). Unlike the providers, the removed
// user's active pointer is re-homed at once, and the primary ownership
// moves on when its holder leaves.
func (s *Store) RemoveMember(ctx context.Context, workspaceID, userID, actorID string) error {
	if err := firstErr(checkID("workspaceId", workspaceID), checkID("userId", userID)); err != nil {
		return err
	}
	return s.write(ctx, "removeMember", actorID, func(t *txn) error {
		if w, err := loadWorkspace(t.b, workspaceID); err != nil {
			return err
		} else if w == nil {
			return errWorkspaceNotFound()
		}
		m, err := loadMember(t.b, workspaceID, userID)
		if err != nil {
			return err
		}
		if m == nil {
			return errMemberNotFound()
		}
		if m.Role == RoleOwner {
			ms, err := workspaceMembers(t.b, workspaceID)
			if err != nil {
				return err
			}
			if countOwners(ms) <= 1 {
				return errLastOwner("remove")
			}
		}
		return t.emit(evMemberRemove, &memberRemoveBody{WorkspaceID: workspaceID, UserID: userID})
	})
}

// ListMembers lists a workspace's members, oldest membership first. An
// unknown workspace is ErrWorkspaceNotFound.
func (s *Store) ListMembers(ctx context.Context, workspaceID string) ([]Member, error) {
	if err := checkID("workspaceId", workspaceID); err != nil {
		return nil, err
	}
	out := []Member{}
	err := s.read(func(v *synclog.View) error {
		_, err := requireWorkspace(v, workspaceID, false)
		if err != nil {
			return err
		}
		ms, err := workspaceMembers(v, workspaceID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			mem := Member{UserID: m.userID, Role: m.rec.Role, CreatedAtMs: m.rec.CreatedAtMs}
			u, err := loadUser(v, m.userID)
			if err != nil {
				return err
			}
			if u != nil {
				mem.Email, mem.DisplayName = u.Email, u.DisplayName
			}
			out = append(out, mem)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("listMembers", err)
	}
	return out, nil
}
