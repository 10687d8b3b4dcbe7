package identity

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"cmp"
	"context"
	"slices"
	"strings"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Admin-facing additions (workspace-admin §5.5): the admin store (package
// admin) builds its WorkspaceAccessStore on these and on AddMember,
// SetRole, RemoveMember, ListMembers and GetWorkspace.

// Event types of the admin soft delete and restore (domain "ws").
const (
	evWSSoftDelete = "ws.softdelete" // soft delete with the deletedAt the admin gives
	evWSRestore    = "ws.restore"    // clear the deleted flag
)

type wsSoftDeleteBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
	DeletedAtMs int64
}

type wsRestoreBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
}

// foldWSSoftDelete is foldWSRemove (flags and re-homing) with the
// deletedAt the admin named.
func foldWSSoftDelete(b *synclog.Batch, at int64, x *wsSoftDeleteBody) error {
	if err := foldWSRemove(b, at, &wsRemoveBody{WorkspaceID: x.WorkspaceID}); err != nil {
		return err
	}
	w, err := loadWorkspace(b, x.WorkspaceID)
	if err != nil {
		return err
	}
	if x.DeletedAtMs > 0 {
		w.DeletedAtMs = x.DeletedAtMs
	}
	return b.SetRecord(workspaceKey(x.WorkspaceID), w)
}

func foldWSRestore(b *synclog.Batch, at int64, x *wsRestoreBody) error {
	w, err := loadWorkspace(b, x.WorkspaceID)
	if err != nil {
		return err
	}
	if w == nil {
		return corrupt("no workspace %q", x.WorkspaceID)
	}
	w.Deleted, w.DeletedAtMs, w.UpdatedAtMs = false, 0, at
	return b.SetRecord(workspaceKey(x.WorkspaceID), w)
}

// SoftDeleteWorkspace marks a workspace deleted with deletedAtMs (0: now)
// and re-homes the active pointers that named it (softDeleteWorkspace of
// §5.5; unlike the providers, pointers move at once). An unknown workspace
// is ErrWorkspaceNotFound; an already deleted one is left as it is.
func (s *Store) SoftDeleteWorkspace(ctx context.Context, workspaceID string, deletedAtMs int64, actorID string) error {
	if err := checkID("workspaceId", workspaceID); err != nil {
		return err
	}
	if deletedAtMs < 0 {
		return invalid("deletedAt must not be negative")
	}
	return s.write(ctx, "softDeleteWorkspace", actorID, func(t *txn) error {
		w, err := requireWorkspace(t.b, workspaceID, false)
		if err != nil {
			return err
		}
		if w.Deleted {
			return nil
		}
		return t.emit(evWSSoftDelete, &wsSoftDeleteBody{WorkspaceID: workspaceID, DeletedAtMs: deletedAtMs})
	})
}

// RestoreWorkspace clears a workspace's deleted flag (restoreWorkspace of
// §5.5). Members are as they were; active pointers re-homed by the delete
// stay where they went. Restoring a live workspace is a no-op.
func (s *Store) RestoreWorkspace(ctx context.Context, workspaceID, actorID string) error {
	if err := checkID("workspaceId", workspaceID); err != nil {
		return err
	}
	return s.write(ctx, "restoreWorkspace", actorID, func(t *txn) error {
		w, err := requireWorkspace(t.b, workspaceID, false)
		if err != nil {
			return err
		}
		if !w.Deleted {
			return nil
		}
		return t.emit(evWSRestore, &wsRestoreBody{WorkspaceID: workspaceID})
	})
}

// WorkspaceQuery is listWorkspaces' argument.
type WorkspaceQuery struct {
	Search         string // case-insensitive substring of the name or description
	IncludeDeleted bool
	Page, PerPage  int // page ≥ 1; perPage clamped to [1, 100]
}

// WorkspaceSummary is one row of ListWorkspaces (§5.5 WorkspaceSummary).
type WorkspaceSummary struct {
	Workspace
	OwnerEmail  string
	MemberCount int
}

// MaxPerPage caps listWorkspaces' perPage.
const MaxPerPage = 100

// ListWorkspaces lists every workspace matching q, newest first (ties by
// id), one page of them, with the total after filtering. It scans the
// workspace keyspace of the durable view once and keeps only the sort
// keys of the matches in memory.
func (s *Store) ListWorkspaces(ctx context.Context, q WorkspaceQuery) ([]WorkspaceSummary, int, error) {
	q.PerPage = min(max(q.PerPage, 1), MaxPerPage)
	q.Page = max(q.Page, 1)
	search := strings.ToLower(strings.TrimSpace(q.Search))
	type hit struct {
		id string
		at int64
	}
	var hits []hit
	var out []WorkspaceSummary
	err := s.read(func(v *synclog.View) error {
		prefix := []byte{synclog.PrefixWorkspace}
		it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			kr := synclog.ReadKey(it.Key())
			id := kr.Str()
			if kr.Err() != nil {
				continue
			}
			var w workspaceRecord
			if err := synclog.Decode(it.Key(), it.Value(), &w); err != nil {
				it.Close()
				return err
			}
			if w.Deleted && !q.IncludeDeleted {
				continue
			}
			if search != "" && !strings.Contains(strings.ToLower(w.Name), search) &&
				!strings.Contains(strings.ToLower(w.Description), search) {
				continue
			}
			hits = append(hits, hit{id: id, at: w.CreatedAtMs})
		}
		if err := it.Close(); err != nil {
			return err
		}
		slices.SortFunc(hits, func(a, b hit) int {
			if c := cmp.Compare(b.at, a.at); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		start := (q.Page - 1) * q.PerPage
		if start >= len(hits) {
			return nil
		}
		for _, h := range hits[start:min(len(hits), start+q.PerPage)] {
			sum, err := summarize(v, h.id)
			if err != nil {
				return err
			}
			if sum != nil {
				out = append(out, *sum)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, storeErr("listWorkspaces", err)
	}
	if out == nil {
		out = []WorkspaceSummary{}
	}
	return out, len(hits), nil
}

// GetWorkspaceSummary returns one workspace's summary, or nil.
func (s *Store) GetWorkspaceSummary(ctx context.Context, workspaceID string) (*WorkspaceSummary, error) {
	if checkID("workspaceId", workspaceID) != nil {
		return nil, nil
	}
	var out *WorkspaceSummary
	err := s.read(func(v *synclog.View) error {
		var err error
		out, err = summarize(v, workspaceID)
		return err
	})
	return out, storeErr("getWorkspace", err)
}

func summarize(r synclog.Reader, id string) (*WorkspaceSummary, error) {
	w, err := loadWorkspace(r, id)
	if err != nil || w == nil {
		return nil, err
	}
	ms, err := workspaceMembers(r, id)
	if err != nil {
		return nil, err
	}
	sum := &WorkspaceSummary{Workspace: *workspaceFrom(id, w), MemberCount: len(ms)}
	if u, err := loadUser(r, w.OwnerUserID); err != nil {
		return nil, err
	} else if u != nil {
		sum.OwnerEmail = u.Email
	}
	return sum, nil
}

// MaxUserSearch caps searchUsers' limit.
const MaxUserSearch = 100

// SearchUsers finds users whose normalized email or display name contains
// query case-insensitively, or whose id equals it (§5.2 Go decision),
// ordered by id, at most limit (default 20, capped at 100). An empty query
// finds none.
func (s *Store) SearchUsers(ctx context.Context, query string, limit int) ([]User, error) {
	q := strings.ToLower(strings.TrimSpace(query))
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, MaxUserSearch)
	out := []User{}
	if q == "" {
		return out, nil
	}
	err := s.read(func(v *synclog.View) error {
		prefix := []byte{synclog.PrefixUser}
		it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
			kr := synclog.ReadKey(it.Key())
			id := kr.Str()
			if kr.Err() != nil {
				continue
			}
			var u userRecord
			if err := synclog.Decode(it.Key(), it.Value(), &u); err != nil {
				return err
			}
			if id == query || strings.Contains(u.Email, q) || strings.Contains(strings.ToLower(u.DisplayName), q) {
				out = append(out, *userFrom(id, &u))
			}
		}
		return it.Error()
	})
	if err != nil {
		return nil, storeErr("searchUsers", err)
	}
	return out, nil
}

// UsersByEmail returns the users whose normalized email equals email.
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]User, error) {
	e := normalizeEmail(email)
	out := []User{}
	if e == "" {
		return out, nil
	}
	err := s.read(func(v *synclog.View) error {
		prefix := []byte{synclog.PrefixUser}
		it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			kr := synclog.ReadKey(it.Key())
			id := kr.Str()
			var u userRecord
			if kr.Err() != nil || synclog.Decode(it.Key(), it.Value(), &u) != nil || u.Email != e {
				continue
			}
			out = append(out, *userFrom(id, &u))
		}
		return it.Error()
	})
	return out, storeErr("usersByEmail", err)
}

// ReadUser reads a user through r (a batch or a view); nil when absent.
// Other modules use it to decide against identity state under their own
// lock.
func ReadUser(r synclog.Reader, userID string) (*User, error) {
	u, err := loadUser(r, userID)
	if err != nil || u == nil {
		return nil, err
	}
	return userFrom(userID, u), nil
}

// ReadWorkspace reads a workspace through r; nil when absent.
func ReadWorkspace(r synclog.Reader, workspaceID string) (*Workspace, error) {
	w, err := loadWorkspace(r, workspaceID)
	if err != nil || w == nil {
		return nil, err
	}
	return workspaceFrom(workspaceID, w), nil
}

// ReadMemberRole reads a membership's role through r (RoleNone when
// absent), whether or not the workspace is deleted.
func ReadMemberRole(r synclog.Reader, workspaceID, userID string) (Role, error) {
	m, err := loadMember(r, workspaceID, userID)
	if err != nil || m == nil {
		return RoleNone, err
	}
	return m.Role, nil
}

// hookKey carries a WriteHook in a context.
type hookKey struct{}

// WriteHook runs inside an identity write, under the store's write lock,
// after the method decided and folded its events into b and only when it
// emitted any, so a caller can add its own events (the admin store's audit
// record) to the same batch: both commit or neither does.
type WriteHook func(b *synclog.Batch, atMs int64) error

// WithWriteHook returns ctx carrying h for the identity write it is passed to.
func WithWriteHook(ctx context.Context, h WriteHook) context.Context {
	return context.WithValue(ctx, hookKey{}, h)
}

func writeHookFrom(ctx context.Context) WriteHook {
	h, _ := ctx.Value(hookKey{}).(WriteHook)
	return h
}

// CreateWorkspaceWithID is CreateWorkspace with the id chosen by the
// caller (the admin store names it in the audit record written in the same
// batch). The id must be new: an existing one is ErrConflict.
func (s *Store) CreateWorkspaceWithID(ctx context.Context, id, userID, name, description string) error {
	name, description, err := normalizeWorkspaceText(name, description)
	if err := firstErr(checkID("workspaceId", id), checkID("userId", userID), err); err != nil {
		return err
	}
	return s.write(ctx, "createWorkspace", userID, func(t *txn) error {
		if w, err := loadWorkspace(t.b, id); err != nil {
			return err
		} else if w != nil {
			return fail(ErrConflict, syncerr.Conflict, "workspace %q exists", id)
		}
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
}
