package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"math"

	"github.com/or3/syncd/identity"
	"github.com/or3/syncd/syncerr"
)

// The three admin RPC stores of api.md. Each is an api.RPCStore.
type (
	// AccessStore is the workspaceAccess RPC store.
	AccessStore struct{ s *Service }
	// SettingsStore is the workspaceSettings RPC store.
	SettingsStore struct{ s *Service }
	// UsersStore is the adminUsers RPC store.
	UsersStore struct{ s *Service }
)

// Access returns the workspaceAccess store.
func (s *Service) Access() *AccessStore { return &AccessStore{s} }

// Settings returns the workspaceSettings store.
func (s *Service) Settings() *SettingsStore { return &SettingsStore{s} }

// Users returns the adminUsers store.
func (s *Service) Users() *UsersStore { return &UsersStore{s} }

// maxArgs bounds the argument array of any admin method.
const maxArgs = 8

// args is a decoded RPC argument array.
type args struct {
	raw   []json.RawMessage
	first error
}

func parseArgs(body json.RawMessage) (*args, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, syncerr.Validation("arguments must be a JSON array: %v", err)
	}
	if len(raw) > maxArgs {
		return nil, syncerr.Validation("too many arguments (%d)", len(raw))
	}
	return &args{raw: raw}, nil
}

func (a *args) fail(format string, v ...any) {
	if a.first == nil {
		a.first = syncerr.Validation(format, v...)
	}
}

func isNull(r json.RawMessage) bool {
	return len(r) == 0 || bytes.Equal(bytes.TrimSpace(r), []byte("null"))
}

// str reads positional argument i as a string.
func (a *args) str(i int, name string, required bool) string {
	if i >= len(a.raw) || isNull(a.raw[i]) {
		if required {
			a.fail("%s is required", name)
		}
		return ""
	}
	var s string
	if err := json.Unmarshal(a.raw[i], &s); err != nil {
		a.fail("%s must be a string", name)
	}
	return s
}

// object is one object argument.
type object struct {
	a *args
	m map[string]json.RawMessage
}

// obj reads positional argument i as an object (absent: empty unless required).
func (a *args) obj(i int, required bool) *object {
	o := &object{a: a, m: map[string]json.RawMessage{}}
	if i >= len(a.raw) || isNull(a.raw[i]) {
		if required {
			a.fail("argument %d must be an object", i+1)
		}
		return o
	}
	if err := json.Unmarshal(a.raw[i], &o.m); err != nil || o.m == nil {
		a.fail("argument %d must be an object", i+1)
		o.m = map[string]json.RawMessage{}
	}
	return o
}

func (o *object) str(key string, required bool) string {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		if required {
			o.a.fail("%s is required", key)
		}
		return ""
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		o.a.fail("%s must be a string", key)
	}
	return s
}

func (o *object) int(key string, def int64) int64 {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return def
	}
	var f float64
	if err := json.Unmarshal(r, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		o.a.fail("%s must be an integer", key)
		return def
	}
	return int64(f)
}

func (o *object) bool(key string) bool {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return false
	}
	var b bool
	if err := json.Unmarshal(r, &b); err != nil {
		o.a.fail("%s must be a boolean", key)
	}
	return b
}

func (o *object) role(key string) identity.Role {
	s := o.str(key, true)
	r, ok := identity.ParseRole(s)
	if !ok && o.a.first == nil {
		o.a.fail("%s must be one of owner, editor, viewer", key)
	}
	return r
}

// actor reads the optional acting admin of a call from o (actorUserId,
// adminUsername, requestId) and checks it.
func (s *Service) actorOf(ctx context.Context, o *object) (Actor, error) {
	uid, name, rid := o.str("actorUserId", false), o.str("adminUsername", false), o.str("requestId", false)
	if err := o.a.first; err != nil {
		return Actor{}, err
	}
	if len(uid) > identity.MaxIDLen || len(name) > identity.MaxIDLen || len(rid) > identity.MaxIDLen {
		return Actor{}, syncerr.Validation("actorUserId, adminUsername and requestId must be at most %d bytes", identity.MaxIDLen)
	}
	return s.resolveActor(ctx, uid, name, rid)
}

type method func(s *Service, ctx context.Context, a *args) (any, error)

func call(s *Service, store string, methods map[string]method, ctx context.Context, name string, body json.RawMessage) (any, error) {
	m, ok := methods[name]
	if !ok {
		return nil, syncerr.NotFound("unknown method %s.%.64q", store, name)
	}
	a, err := parseArgs(body)
	if err != nil {
		return nil, err
	}
	return m(s, ctx, a)
}

// Call implements the workspaceAccess RPC store.
func (x *AccessStore) Call(ctx context.Context, name string, body json.RawMessage) (any, error) {
	return call(x.s, "workspaceAccess", accessMethods, ctx, name, body)
}

// Call implements the workspaceSettings RPC store.
func (x *SettingsStore) Call(ctx context.Context, name string, body json.RawMessage) (any, error) {
	return call(x.s, "workspaceSettings", settingsMethods, ctx, name, body)
}

// Call implements the adminUsers RPC store.
func (x *UsersStore) Call(ctx context.Context, name string, body json.RawMessage) (any, error) {
	return call(x.s, "adminUsers", usersMethods, ctx, name, body)
}

// withActor runs fn after reading and checking the acting admin of o.
func withActor(s *Service, ctx context.Context, o *object, fn func(Actor) (any, error)) (any, error) {
	actor, err := s.actorOf(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := o.a.first; err != nil {
		return nil, err
	}
	return fn(actor)
}

var accessMethods = map[string]method{
	"listMembers": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		ws := o.str("workspaceId", true)
		return withActor(s, ctx, o, func(Actor) (any, error) { return s.ListMembers(ctx, ws) })
	},
	"upsertMember": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		ws, who, role, prov := o.str("workspaceId", true), o.str("emailOrProviderId", true), o.role("role"), o.str("provider", false)
		return withActor(s, ctx, o, func(act Actor) (any, error) {
			_, err := s.UpsertMember(ctx, act, ws, who, role, prov)
			return nil, err
		})
	},
	"setMemberRole": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		ws, user, role := o.str("workspaceId", true), o.str("userId", true), o.role("role")
		return withActor(s, ctx, o, func(act Actor) (any, error) { return nil, s.SetMemberRole(ctx, act, ws, user, role) })
	},
	"removeMember": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		ws, user := o.str("workspaceId", true), o.str("userId", true)
		return withActor(s, ctx, o, func(act Actor) (any, error) { return nil, s.RemoveMember(ctx, act, ws, user) })
	},
	"listWorkspaces": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, false)
		q := identity.WorkspaceQuery{Search: o.str("search", false), IncludeDeleted: o.bool("includeDeleted"),
			Page: int(clamp(o.int("page", 1), 1, 1<<30)), PerPage: int(clamp(o.int("perPage", 20), 1, identity.MaxPerPage))}
		return withActor(s, ctx, o, func(Actor) (any, error) { return s.ListWorkspaces(ctx, q) })
	},
	"getWorkspace": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		ws := o.str("workspaceId", true)
		return withActor(s, ctx, o, func(Actor) (any, error) {
			w, err := s.GetWorkspace(ctx, ws)
			if err != nil || w == nil {
				return nil, err
			}
			return w, nil
		})
	},
	"createWorkspace": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		name, desc, owner := o.str("name", true), o.str("description", false), o.str("ownerUserId", true)
		return withActor(s, ctx, o, func(act Actor) (any, error) {
			id, err := s.CreateWorkspace(ctx, act, name, desc, owner)
			if err != nil {
				return nil, err
			}
			return map[string]string{"workspaceId": id}, nil
		})
	},
	"softDeleteWorkspace": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		ws, at := o.str("workspaceId", true), o.int("deletedAt", 0)
		return withActor(s, ctx, o, func(act Actor) (any, error) {
			if at <= 0 {
				at = s.cfg.Now().UnixMilli()
			}
			return nil, s.SoftDeleteWorkspace(ctx, act, ws, at)
		})
	},
	"restoreWorkspace": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		ws := o.str("workspaceId", true)
		return withActor(s, ctx, o, func(act Actor) (any, error) { return nil, s.RestoreWorkspace(ctx, act, ws) })
	},
	"searchUsers": searchUsers,
}

func searchUsers(s *Service, ctx context.Context, a *args) (any, error) {
	o := a.obj(0, true)
	q, limit := o.str("query", false), o.int("limit", 20)
	return withActor(s, ctx, o, func(Actor) (any, error) {
		return s.SearchUsers(ctx, q, int(clamp(limit, 1, identity.MaxUserSearch)))
	})
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

var settingsMethods = map[string]method{
	"get": func(s *Service, ctx context.Context, a *args) (any, error) {
		ws, key := a.str(0, "workspaceId", true), a.str(1, "key", true)
		o := a.obj(2, false)
		return withActor(s, ctx, o, func(Actor) (any, error) {
			v, err := s.GetSetting(ctx, ws, key)
			if err != nil || v == nil {
				return nil, err
			}
			return *v, nil
		})
	},
	"set": func(s *Service, ctx context.Context, a *args) (any, error) {
		ws, key, value := a.str(0, "workspaceId", true), a.str(1, "key", true), a.str(2, "value", true)
		o := a.obj(3, false)
		return withActor(s, ctx, o, func(act Actor) (any, error) { return nil, s.SetSetting(ctx, act, ws, key, value) })
	},
}

var usersMethods = map[string]method{
	"listAdmins": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, false)
		return withActor(s, ctx, o, func(Actor) (any, error) { return s.ListAdmins(ctx) })
	},
	"grantAdmin": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		user, by := o.str("userId", true), o.str("createdByUserId", false)
		return withActor(s, ctx, o, func(act Actor) (any, error) {
			if by == "" && act.Type == ActorAdmin {
				by = act.ID
			}
			_, err := s.GrantAdmin(ctx, act, user, by)
			return nil, err
		})
	},
	"revokeAdmin": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		user := o.str("userId", true)
		return withActor(s, ctx, o, func(act Actor) (any, error) { return nil, s.RevokeAdmin(ctx, act, user) })
	},
	"isAdmin": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		user := o.str("userId", true)
		return withActor(s, ctx, o, func(Actor) (any, error) { return s.IsAdmin(ctx, user) })
	},
	"searchUsers": searchUsers,
	"getCapabilities": func(s *Service, ctx context.Context, a *args) (any, error) {
		return GetCapabilities(), nil
	},
	"checkDeploymentAdmin": func(s *Service, ctx context.Context, a *args) (any, error) {
		sub, prov := a.str(0, "providerUserId", true), a.str(1, "provider", true)
		if err := a.first; err != nil {
			return nil, err
		}
		return s.CheckDeploymentAdmin(ctx, sub, prov), nil
	},
	"ensureDeploymentAdmin": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		prov, sub := o.str("provider", true), o.str("providerUserId", true)
		sig, name, rid := o.str("bridgeSignature", true), o.str("adminUsername", true), o.str("requestId", false)
		if err := a.first; err != nil {
			return nil, err
		}
		created, uid, err := s.EnsureDeploymentAdmin(ctx, prov, sub, sig, name, rid)
		if err != nil {
			return nil, err
		}
		return map[string]any{"created": created, "userId": uid}, nil
	},
	"listAudit": func(s *Service, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, false)
		q := AuditQuery{Before: uint64(clamp(o.int("before", 0), 0, math.MaxInt64)), SinceMs: o.int("since", 0),
			Action: o.str("action", false), TargetID: o.str("targetId", false), ActorID: o.str("actorId", false),
			Limit: int(clamp(o.int("limit", 50), 1, MaxAuditLimit))}
		return withActor(s, ctx, o, func(Actor) (any, error) { return s.ListAudit(ctx, q) })
	},
}
