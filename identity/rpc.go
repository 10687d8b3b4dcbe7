package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"

	"github.com/or3/syncd/syncerr"
)

// Call runs the auth RPC method (api.md "RPC stores": POST
// /v1/rpc/auth.{method}) with args, the JSON array of the TypeScript
// method's arguments: one object for object-taking methods
// (getOrCreateUser([{provider, providerUserId, email?, displayName?}])),
// positional values otherwise (getOrCreateDefaultWorkspace([userId])). The
// result marshals to the TypeScript result shape (camelCase keys, epoch
// milliseconds, null where the interface says null).
//
// Decoding is strict about types and lenient about extras: a body that is
// not an array, a missing required argument or field, or a value of the
// wrong JSON type is syncerr 400 (ErrInvalidArgument); unknown object keys
// are ignored, and so are trailing null arguments (what JSON.stringify
// makes of undefined). An unknown method is 404 (ErrUnknownMethod).
func (s *Store) Call(ctx context.Context, method string, args json.RawMessage) (any, error) {
	m, ok := rpcMethods[method]
	if !ok {
		return nil, fail(ErrUnknownMethod, syncerr.NotFound, "unknown method auth.%.64q", method)
	}
	a, err := parseArgs(method, args, m.args)
	if err != nil {
		return nil, err
	}
	return m.fn(s, ctx, a)
}

// Methods returns the names of the auth RPC methods.
func Methods() []string {
	out := make([]string, 0, len(rpcMethods))
	for name := range rpcMethods {
		out = append(out, name)
	}
	return out
}

type rpcMethod struct {
	args int // the number of arguments the method takes
	fn   func(s *Store, ctx context.Context, a *rpcArgs) (any, error)
}

var rpcMethods = map[string]rpcMethod{
	"getOrCreateUser": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		in := UserInput{
			Provider: o.str("provider", true), ProviderUserID: o.str("providerUserId", true),
			Email: o.str("email", false), DisplayName: o.str("displayName", false),
		}
		if err := a.err(); err != nil {
			return nil, err
		}
		ref, err := s.GetOrCreateUser(ctx, in)
		if err != nil {
			return nil, err
		}
		return jsonUserRef(ref), nil
	}},
	"getUser": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		provider, sub := o.str("provider", true), o.str("providerUserId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		u, err := s.GetUser(ctx, provider, sub)
		if err != nil || u == nil {
			return nil, err
		}
		return jsonUser{UserID: u.ID, Email: u.Email, DisplayName: u.DisplayName}, nil
	}},
	"getOrCreateDefaultWorkspace": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		userID := a.str(0, "userId")
		if err := a.err(); err != nil {
			return nil, err
		}
		d, err := s.GetOrCreateDefaultWorkspace(ctx, userID)
		if err != nil {
			return nil, err
		}
		return jsonDefaultWorkspace(d), nil
	}},
	"getWorkspaceRole": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		userID, ws := o.str("userId", true), o.str("workspaceId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		if err := firstErr(checkID("userId", userID), checkID("workspaceId", ws)); err != nil {
			return nil, err
		}
		r, err := s.GetWorkspaceRole(ctx, userID, ws)
		if err != nil || r == RoleNone {
			return nil, err
		}
		return r, nil
	}},
	"listUserWorkspaces": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		userID := a.str(0, "userId")
		if err := a.err(); err != nil {
			return nil, err
		}
		if err := checkID("userId", userID); err != nil {
			return nil, err
		}
		ws, err := s.ListUserWorkspaces(ctx, userID)
		if err != nil {
			return nil, err
		}
		out := make([]jsonUserWorkspace, 0, len(ws))
		for _, w := range ws {
			out = append(out, jsonUserWorkspace{
				ID: w.ID, Name: w.Name, Description: nullString(w.Description), Role: w.Role,
				CreatedAt: w.CreatedAtMs, IsActive: w.IsActive,
			})
		}
		return out, nil
	}},
	"createWorkspace": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		userID, name, desc := o.str("userId", true), o.str("name", true), o.str("description", false)
		if err := a.err(); err != nil {
			return nil, err
		}
		id, err := s.CreateWorkspace(ctx, userID, name, desc)
		if err != nil {
			return nil, err
		}
		return jsonWorkspaceID{WorkspaceID: id}, nil
	}},
	"updateWorkspace": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		userID, ws := o.str("userId", true), o.str("workspaceId", true)
		name, desc := o.str("name", true), o.str("description", false)
		if err := a.err(); err != nil {
			return nil, err
		}
		return nil, s.UpdateWorkspace(ctx, userID, ws, name, desc)
	}},
	"removeWorkspace": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		userID, ws := o.str("userId", true), o.str("workspaceId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		return nil, s.RemoveWorkspace(ctx, userID, ws)
	}},
	"setActiveWorkspace": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		userID, ws := o.str("userId", true), o.str("workspaceId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		return nil, s.SetActiveWorkspace(ctx, userID, ws)
	}},
	"createInvite": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		in := InviteInput{
			WorkspaceID: o.str("workspaceId", true), Email: o.str("email", true),
			Role: Role(o.str("role", true)), InvitedByUserID: o.str("invitedByUserId", true),
			ExpiresAtMs: o.int64("expiresAt", true), TokenHash: o.str("tokenHash", false),
		}
		if err := a.err(); err != nil {
			return nil, err
		}
		c, err := s.CreateInvite(ctx, in)
		if err != nil {
			return nil, err
		}
		return jsonCreatedInvite(c), nil
	}},
	"listInvites": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		ws, status, limit := o.str("workspaceId", true), o.str("status", false), o.int64("limit", false)
		if err := a.err(); err != nil {
			return nil, err
		}
		if o.has("limit") {
			limit = min(max(limit, 1), MaxInviteListLimit) // 0 and negatives clamp to 1
		}
		invs, err := s.ListInvites(ctx, ws, InviteStatus(status), int(limit))
		if err != nil {
			return nil, err
		}
		out := make([]jsonInvite, 0, len(invs))
		for _, v := range invs {
			out = append(out, jsonInvite{
				ID: v.ID, WorkspaceID: v.WorkspaceID, Email: v.Email, Role: v.Role, Status: v.Status,
				InvitedByUserID: v.InvitedByUserID, ExpiresAt: v.ExpiresAtMs,
				AcceptedAt: nullMs(v.AcceptedAtMs), AcceptedUserID: nullString(v.AcceptedUserID),
				RevokedAt: nullMs(v.RevokedAtMs), RevokedByUserID: nullString(v.RevokedByUserID),
				CreatedAt: v.CreatedAtMs, UpdatedAt: v.UpdatedAtMs,
			})
		}
		return out, nil
	}},
	"revokeInvite": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		ws, id, by := o.str("workspaceId", true), o.str("inviteId", true), o.str("revokedByUserId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		return nil, s.RevokeInvite(ctx, ws, id, by)
	}},
	"validateInvite": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		ws, email, hash := o.str("workspaceId", true), o.str("email", true), o.str("tokenHash", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		c, err := s.ValidateInvite(ctx, ws, email, hash)
		if err != nil {
			return nil, err
		}
		return jsonCheck(c), nil
	}},
	"acceptInviteAndProvisionUser": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		in := AcceptInput{
			Provider: o.str("provider", true), ProviderUserID: o.str("providerUserId", true),
			Email: o.str("email", true), DisplayName: o.str("displayName", false),
			WorkspaceID: o.str("workspaceId", true), TokenHash: o.str("tokenHash", true),
		}
		if err := a.err(); err != nil {
			return nil, err
		}
		r, err := s.AcceptInviteAndProvisionUser(ctx, in)
		if err != nil {
			return nil, err
		}
		if !r.OK {
			return jsonCheck{Reason: r.Reason}, nil
		}
		return jsonAccepted{OK: true, UserID: r.UserID, Role: r.Role, CreatedUser: r.CreatedUser}, nil
	}},
	"consumeInvite": {1, func(s *Store, ctx context.Context, a *rpcArgs) (any, error) {
		o := a.obj(0)
		in := ConsumeInput{
			WorkspaceID: o.str("workspaceId", true), Email: o.str("email", true),
			TokenHash: o.str("tokenHash", true), AcceptedUserID: o.str("acceptedUserId", true),
		}
		if err := a.err(); err != nil {
			return nil, err
		}
		c, err := s.ConsumeInvite(ctx, in)
		if err != nil {
			return nil, err
		}
		return jsonCheck(c), nil
	}},
}

// --- result shapes (workspace-admin §3, camelCase) ---

type jsonUserRef struct {
	UserID  string `json:"userId"`
	Created bool   `json:"created"`
}

type jsonUser struct {
	UserID      string `json:"userId"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

type jsonDefaultWorkspace struct {
	WorkspaceID   string `json:"workspaceId"`
	WorkspaceName string `json:"workspaceName"`
	Created       bool   `json:"created"`
}

type jsonUserWorkspace struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Role        Role    `json:"role"`
	CreatedAt   int64   `json:"createdAt"`
	IsActive    bool    `json:"isActive"`
}

type jsonWorkspaceID struct {
	WorkspaceID string `json:"workspaceId"`
}

type jsonCreatedInvite struct {
	InviteID  string `json:"inviteId"`
	Token     string `json:"token,omitempty"`
	TokenHash string `json:"tokenHash,omitempty"`
}

type jsonInvite struct {
	ID              string       `json:"id"`
	WorkspaceID     string       `json:"workspaceId"`
	Email           string       `json:"email"`
	Role            Role         `json:"role"`
	Status          InviteStatus `json:"status"`
	InvitedByUserID string       `json:"invitedByUserId"`
	ExpiresAt       int64        `json:"expiresAt"`
	AcceptedAt      *int64       `json:"acceptedAt"`
	AcceptedUserID  *string      `json:"acceptedUserId"`
	RevokedAt       *int64       `json:"revokedAt"`
	RevokedByUserID *string      `json:"revokedByUserId"`
	CreatedAt       int64        `json:"createdAt"`
	UpdatedAt       int64        `json:"updatedAt"`
}

// jsonCheck is {ok:true, role} or {ok:false, reason}.
type jsonCheck struct {
	OK     bool   `json:"ok"`
	Role   Role   `json:"role,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type jsonAccepted struct {
	OK          bool   `json:"ok"`
	UserID      string `json:"userId"`
	Role        Role   `json:"role"`
	CreatedUser bool   `json:"createdUser"`
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullMs(ms int64) *int64 {
	if ms == 0 {
		return nil
	}
	return &ms
}

// --- argument decoding ---

// rpcArgs holds a method's decoded argument list and the first decoding
// error; accessors after an error return zero values, so a handler reads
// every argument and checks err once.
type rpcArgs struct {
	method string
	list   []json.RawMessage
	first  error
}

func (a *rpcArgs) fail(format string, args ...any) {
	if a.first == nil {
		a.first = invalid("auth."+a.method+": "+format, args...)
	}
}

func (a *rpcArgs) err() error { return a.first }

// parseArgs decodes body as a JSON array of at most n meaningful
// arguments; trailing nulls beyond n are dropped.
func parseArgs(method string, body json.RawMessage, n int) (*rpcArgs, error) {
	a := &rpcArgs{method: method}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		a.fail("the body must be a JSON array of arguments")
		return nil, a.first
	}
	if err := json.Unmarshal(body, &a.list); err != nil {
		a.fail("the body must be a JSON array of arguments")
		return nil, a.first
	}
	for len(a.list) > n && isNull(a.list[len(a.list)-1]) {
		a.list = a.list[:len(a.list)-1]
	}
	if len(a.list) > n {
		a.fail("expects %d argument(s), got %d", n, len(a.list))
		return nil, a.first
	}
	return a, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// str returns the required positional string argument i.
func (a *rpcArgs) str(i int, name string) string {
	if a.first != nil {
		return ""
	}
	if i >= len(a.list) || isNull(a.list[i]) {
		a.fail("argument %d (%s) is required", i+1, name)
		return ""
	}
	v, ok := decodeString(a.list[i])
	if !ok {
		a.fail("argument %d (%s) must be a string", i+1, name)
	}
	return v
}

// rpcObject is one object argument.
type rpcObject struct {
	a *rpcArgs
	m map[string]json.RawMessage
}

// obj returns the required object argument i.
func (a *rpcArgs) obj(i int) *rpcObject {
	o := &rpcObject{a: a}
	if a.first != nil {
		return o
	}
	if i >= len(a.list) || isNull(a.list[i]) {
		a.fail("argument %d is required", i+1)
		return o
	}
	raw := bytes.TrimSpace(a.list[i])
	if raw[0] != '{' || json.Unmarshal(raw, &o.m) != nil {
		a.fail("argument %d must be an object", i+1)
	}
	return o
}

// has reports whether the object has a non-null value for key.
func (o *rpcObject) has(key string) bool {
	raw, ok := o.m[key]
	return ok && !isNull(raw)
}

// str returns the string field key; null and absent are "" and an error
// only when required.
func (o *rpcObject) str(key string, required bool) string {
	if o.a.first != nil {
		return ""
	}
	if !o.has(key) {
		if required {
			o.a.fail("%s is required", key)
		}
		return ""
	}
	v, ok := decodeString(o.m[key])
	if !ok {
		o.a.fail("%s must be a string", key)
	}
	return v
}

// int64 returns the integer field key (a JSON number with no fraction,
// within ±2^53 so that JavaScript sent it exactly).
func (o *rpcObject) int64(key string, required bool) int64 {
	if o.a.first != nil {
		return 0
	}
	if !o.has(key) {
		if required {
			o.a.fail("%s is required", key)
		}
		return 0
	}
	v, ok := decodeInt(o.m[key])
	if !ok {
		o.a.fail("%s must be an integer", key)
	}
	return v
}

func decodeString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

const maxSafeInt = 1<<53 - 1

func decodeInt(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	if v, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return v, v >= -maxSafeInt && v <= maxSafeInt
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
		return 0, false
	}
	return int64(f), true
}
