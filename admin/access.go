package admin

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/or3/syncd/identity"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// WorkspaceMember is one row of listMembers.
type WorkspaceMember struct {
	UserID      string        `json:"userId"`
	Email       *string       `json:"email"`
	DisplayName *string       `json:"displayName"`
	Role        identity.Role `json:"role"`
	CreatedAt   int64         `json:"createdAt"`
}

// ListMembers lists a workspace's members, oldest first (§5.5).
func (s *Service) ListMembers(ctx context.Context, ws string) ([]WorkspaceMember, error) {
	ms, err := s.id.ListMembers(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := make([]WorkspaceMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, WorkspaceMember{UserID: m.UserID, Email: nullStr(m.Email), DisplayName: nullStr(m.DisplayName), Role: m.Role, CreatedAt: m.CreatedAtMs})
	}
	return out, nil
}

// memberRole reads a member's current role from the durable view (the
// "before" of an audit record).
func (s *Service) memberRole(ws, userID string) identity.Role {
	var r identity.Role
	_ = s.read(func(v *synclog.View) error {
		var err error
		r, err = identity.ReadMemberRole(v, ws, userID)
		return err
	})
	return r
}

func roleOrNil(r identity.Role) any {
	if r == identity.RoleNone {
		return nil
	}
	return map[string]any{"role": r}
}

// UpsertMember adds or re-roles a member named by email or by a provider
// subject (§5.5). Go decision: never create placeholder users; the user
// must exist ("User not found"). Without a provider the identifier is a
// syncd user id (no match across providers, weakness 19). An email held
// by several users is 409.
func (s *Service) UpsertMember(ctx context.Context, actor Actor, ws, emailOrProviderID string, role identity.Role, provider string) (string, error) {
	id := strings.TrimSpace(emailOrProviderID)
	if err := checkID("emailOrProviderId", id); err != nil {
		return "", err
	}
	var userID string
	switch {
	case strings.Contains(id, "@"):
		us, err := s.id.UsersByEmail(ctx, id)
		if err != nil {
			return "", err
		}
		switch len(us) {
		case 0:
			return "", syncerr.NotFound("User not found")
		case 1:
			userID = us[0].ID
		default:
			return "", syncerr.Conflict("several users have the email %q; name the user id", id)
		}
	case provider != "":
		u, err := s.id.GetUser(ctx, provider, id)
		if err != nil {
			return "", err
		}
		if u == nil {
			return "", syncerr.NotFound("User not found")
		}
		userID = u.ID
	default:
		u, err := s.id.GetUserByID(ctx, id)
		if err != nil {
			return "", err
		}
		if u == nil {
			return "", syncerr.NotFound("User not found")
		}
		userID = u.ID
	}
	before := s.memberRole(ws, userID)
	action := "member.add"
	if before != identity.RoleNone {
		action = "member.role"
	}
	hctx := s.withAudit(ctx, actor, action, "workspace", ws,
		mergeUser(roleOrNil(before), userID), map[string]any{"userId": userID, "role": role})
	return userID, s.id.AddMember(hctx, ws, userID, role, actor.ID)
}

func mergeUser(v any, userID string) any {
	if v == nil {
		return nil
	}
	m := v.(map[string]any)
	m["userId"] = userID
	return m
}

// SetMemberRole changes a member's role (§5.5): "Member not found", and
// the last owner cannot be demoted ("Cannot demote the last workspace
// owner. Transfer ownership first."); demoting the primary owner moves the
// primary ownership to the oldest other owner (identity decides both).
func (s *Service) SetMemberRole(ctx context.Context, actor Actor, ws, userID string, role identity.Role) error {
	before := s.memberRole(ws, userID)
	hctx := s.withAudit(ctx, actor, "member.role", "workspace", ws,
		mergeUser(roleOrNil(before), userID), map[string]any{"userId": userID, "role": role})
	return s.id.SetRole(hctx, ws, userID, role, actor.ID)
}

// RemoveMember removes a member (§5.5), never the last owner.
func (s *Service) RemoveMember(ctx context.Context, actor Actor, ws, userID string) error {
	before := s.memberRole(ws, userID)
	hctx := s.withAudit(ctx, actor, "member.remove", "workspace", ws,
		mergeUser(roleOrNil(before), userID), nil)
	return s.id.RemoveMember(hctx, ws, userID, actor.ID)
}

// WorkspaceSummary is §5.5's WorkspaceSummary.
type WorkspaceSummary struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	CreatedAt   int64   `json:"createdAt"`
	Deleted     bool    `json:"deleted"`
	DeletedAt   *int64  `json:"deletedAt"`
	OwnerUserID *string `json:"ownerUserId"`
	OwnerEmail  *string `json:"ownerEmail"`
	MemberCount int     `json:"memberCount"`
}

func summaryOf(w *identity.WorkspaceSummary) WorkspaceSummary {
	out := WorkspaceSummary{
		ID: w.ID, Name: w.Name, Description: nullStr(w.Description), CreatedAt: w.CreatedAtMs,
		Deleted: w.Deleted, OwnerUserID: nullStr(w.OwnerUserID), OwnerEmail: nullStr(w.OwnerEmail), MemberCount: w.MemberCount,
	}
	if w.Deleted {
		at := w.DeletedAtMs
		out.DeletedAt = &at
	}
	return out
}

// WorkspaceList is listWorkspaces' answer.
type WorkspaceList struct {
	Items []WorkspaceSummary `json:"items"`
	Total int                `json:"total"`
}

// ListWorkspaces lists workspaces with search and paging (§5.5).
func (s *Service) ListWorkspaces(ctx context.Context, q identity.WorkspaceQuery) (WorkspaceList, error) {
	ws, total, err := s.id.ListWorkspaces(ctx, q)
	if err != nil {
		return WorkspaceList{}, err
	}
	out := WorkspaceList{Items: make([]WorkspaceSummary, 0, len(ws)), Total: total}
	for i := range ws {
		out.Items = append(out.Items, summaryOf(&ws[i]))
	}
	return out, nil
}

// GetWorkspace returns one summary, or nil.
func (s *Service) GetWorkspace(ctx context.Context, ws string) (*WorkspaceSummary, error) {
	w, err := s.id.GetWorkspaceSummary(ctx, ws)
	if err != nil || w == nil {
		return nil, err
	}
	out := summaryOf(w)
	return &out, nil
}

// CreateWorkspace creates a workspace for an owner (§5.5): "Owner user not
// found" when the owner does not exist. Duplicate names are allowed
// (SQLite's behaviour; names are not identifiers).
func (s *Service) CreateWorkspace(ctx context.Context, actor Actor, name, description, ownerUserID string) (string, error) {
	if err := checkID("ownerUserId", ownerUserID); err != nil {
		return "", err
	}
	id := uuid.NewString()
	hctx := s.withAudit(ctx, actor, "workspace.create", "workspace", id, nil,
		map[string]any{"name": strings.TrimSpace(name), "description": strings.TrimSpace(description), "ownerUserId": ownerUserID})
	err := s.id.CreateWorkspaceWithID(hctx, id, ownerUserID, name, description)
	if errors.Is(err, identity.ErrUserNotFound) {
		return "", syncerr.NotFound("Owner user not found")
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// SoftDeleteWorkspace marks a workspace deleted at deletedAtMs (§5.5).
func (s *Service) SoftDeleteWorkspace(ctx context.Context, actor Actor, ws string, deletedAtMs int64) error {
	name := ""
	if w, _ := s.id.GetWorkspace(ctx, ws); w != nil {
		name = w.Name
	}
	hctx := s.withAudit(ctx, actor, "workspace.delete", "workspace", ws,
		map[string]any{"name": name, "deleted": false}, map[string]any{"deleted": true, "deletedAt": deletedAtMs})
	return s.id.SoftDeleteWorkspace(hctx, ws, deletedAtMs, actor.ID)
}

// RestoreWorkspace clears the deleted flag (§5.5), audited (unlike the
// providers).
func (s *Service) RestoreWorkspace(ctx context.Context, actor Actor, ws string) error {
	hctx := s.withAudit(ctx, actor, "workspace.restore", "workspace", ws,
		map[string]any{"deleted": true}, map[string]any{"deleted": false})
	return s.id.RestoreWorkspace(hctx, ws, actor.ID)
}

// UserHit is one row of searchUsers.
type UserHit struct {
	UserID      string  `json:"userId"`
	Email       *string `json:"email"`
	DisplayName *string `json:"displayName"`
}

// SearchUsers is searchUsers of §5.2/§5.5.
func (s *Service) SearchUsers(ctx context.Context, query string, limit int) ([]UserHit, error) {
	us, err := s.id.SearchUsers(ctx, query, limit)
	if err != nil {
		return nil, err
	}
	out := make([]UserHit, 0, len(us))
	for _, u := range us {
		out = append(out, UserHit{UserID: u.ID, Email: nullStr(u.Email), DisplayName: nullStr(u.DisplayName)})
	}
	return out, nil
}
