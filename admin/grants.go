package admin

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/or3/syncd/identity"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Event types of deployment admin grants (domain "admin").
const (
	evGrant  = "admin.grant"
	evRevoke = "admin.revoke"
)

type grantBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	UserID          string
	CreatedByUserID string
}

// grantRecord is a deployment admin grant (§1.6). key: PrefixAdmin | userId.
type grantRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	CreatedAtMs     int64
	CreatedByUserID string
}

func grantKey(userID string) []byte { return synclog.NewKey(synclog.PrefixAdmin).Str(userID) }

func loadGrant(r synclog.Reader, userID string) (*grantRecord, error) {
	g := new(grantRecord)
	found, err := synclog.GetRecord(r, grantKey(userID), g)
	if err != nil || !found {
		return nil, err
	}
	return g, nil
}

// AdminUser is one row of ListAdmins.
type AdminUser struct {
	UserID          string  `json:"userId"`
	Email           *string `json:"email"`
	DisplayName     *string `json:"displayName"`
	CreatedAt       int64   `json:"createdAt"`
	CreatedByUserID *string `json:"createdByUserId"`
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ListAdmins lists every grant, newest first (§5.2).
func (s *Service) ListAdmins(ctx context.Context) ([]AdminUser, error) {
	out := []AdminUser{}
	err := s.read(func(v *synclog.View) error {
		prefix := []byte{synclog.PrefixAdmin}
		it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			kr := synclog.ReadKey(it.Key())
			id := kr.Str()
			var g grantRecord
			if kr.Err() != nil {
				continue
			}
			if err := synclog.Decode(it.Key(), it.Value(), &g); err != nil {
				return err
			}
			a := AdminUser{UserID: id, CreatedAt: g.CreatedAtMs, CreatedByUserID: nullStr(g.CreatedByUserID)}
			if u, err := identity.ReadUser(v, id); err != nil {
				return err
			} else if u != nil {
				a.Email, a.DisplayName = nullStr(u.Email), nullStr(u.DisplayName)
			}
			out = append(out, a)
		}
		return it.Error()
	})
	slices.SortStableFunc(out, func(a, b AdminUser) int { return cmp.Compare(b.CreatedAt, a.CreatedAt) })
	return out, err
}

// GrantAdmin grants userID deployment admin (§5.2). The user must exist
// ("User not found"); a second grant is a no-op (SQLite's idempotence).
// createdBy records the granting user ("" for a super admin). It answers
// whether this call created the grant.
func (s *Service) GrantAdmin(ctx context.Context, actor Actor, userID, createdBy string) (bool, error) {
	if err := checkID("userId", userID); err != nil {
		return false, err
	}
	created := false
	err := s.write(ctx, actor, func(t *txn) error {
		u, err := identity.ReadUser(t.b, userID)
		if err != nil {
			return err
		}
		if u == nil {
			return syncerr.NotFound("User not found")
		}
		if g, err := loadGrant(t.b, userID); err != nil || g != nil {
			return err
		}
		if err := t.emit(evGrant, &grantBody{UserID: userID, CreatedByUserID: createdBy}); err != nil {
			return err
		}
		created = true
		return t.audit(evGrant, "user", userID, map[string]any{"admin": false},
			map[string]any{"admin": true, "email": u.Email, "createdByUserId": nullStr(createdBy)})
	})
	return created, err
}

// RevokeAdmin removes userID's grant (§5.2); revoking a non-admin is a
// no-op. Like the providers, it does not protect the last admin: the
// service token always remains (weakness 17 is moot under the trust model).
func (s *Service) RevokeAdmin(ctx context.Context, actor Actor, userID string) error {
	if err := checkID("userId", userID); err != nil {
		return err
	}
	return s.write(ctx, actor, func(t *txn) error {
		g, err := loadGrant(t.b, userID)
		if err != nil || g == nil {
			return err
		}
		email := ""
		if u, err := identity.ReadUser(t.b, userID); err != nil {
			return err
		} else if u != nil {
			email = u.Email
		}
		if err := t.emit(evRevoke, &grantBody{UserID: userID}); err != nil {
			return err
		}
		return t.audit(evRevoke, "user", userID, map[string]any{"admin": true, "email": email}, map[string]any{"admin": false})
	})
}

// IsAdmin reports whether userID holds a grant. It is reachable only with
// the service token (never unauthenticated, weakness 16).
func (s *Service) IsAdmin(ctx context.Context, userID string) (bool, error) {
	if checkID("userId", userID) != nil {
		return false, nil
	}
	var ok bool
	err := s.read(func(v *synclog.View) error {
		g, err := loadGrant(v, userID)
		ok = g != nil
		return err
	})
	return ok, err
}

// CheckDeploymentAdmin is the deployment admin checker (§5.4): the subject
// maps to a user holding a grant. A missing mapping or any error is false.
func (s *Service) CheckDeploymentAdmin(ctx context.Context, providerUserID, provider string) bool {
	u, err := s.id.GetUser(ctx, provider, providerUserID)
	if err != nil || u == nil {
		return false
	}
	ok, err := s.IsAdmin(ctx, u.ID)
	return err == nil && ok
}

// BridgeSignature is the signature the host's admin login presents to the
// bridge grant: hex HMAC-SHA256(secret, "or3-admin-bridge:<subject>:<username>").
func BridgeSignature(secret []byte, subject, username string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("or3-admin-bridge:" + subject + ":" + username))
	return hex.EncodeToString(m.Sum(nil))
}

// EnsureDeploymentAdmin is the bridge grant (§5.3): the caller's subject
// must map to a user; a valid signature (compared in constant time)
// grants admin once, audited as admin.grant by the super-admin username.
func (s *Service) EnsureDeploymentAdmin(ctx context.Context, provider, providerUserID, signature, username, requestID string) (created bool, userID string, err error) {
	if provider == "" || providerUserID == "" || username == "" {
		return false, "", syncerr.Unauthorized("Unauthorized: provider, providerUserId and adminUsername are required")
	}
	u, err := s.id.GetUser(ctx, provider, providerUserID)
	if err != nil {
		return false, "", err
	}
	if u == nil {
		return false, "", syncerr.Unauthorized("Unauthorized: User not found")
	}
	if ok, err := s.IsAdmin(ctx, u.ID); err != nil || ok {
		return false, u.ID, err
	}
	if len(s.cfg.BridgeSecret) == 0 {
		return false, "", syncerr.Forbidden("Forbidden: admin bridge secret not configured")
	}
	want := BridgeSignature(s.cfg.BridgeSecret, providerUserID, username)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return false, "", syncerr.Forbidden("Forbidden: Invalid super admin bridge signature")
	}
	created, err = s.GrantAdmin(ctx, SuperAdmin(username, requestID), u.ID, "")
	return created, u.ID, err
}

// Capabilities are the AdminStoreCapabilities flags: all true.
type Capabilities struct {
	SupportsServerSideAdmin       bool `json:"supportsServerSideAdmin"`
	SupportsUserSearch            bool `json:"supportsUserSearch"`
	SupportsWorkspaceList         bool `json:"supportsWorkspaceList"`
	SupportsWorkspaceManagement   bool `json:"supportsWorkspaceManagement"`
	SupportsDeploymentAdminGrants bool `json:"supportsDeploymentAdminGrants"`
}

// GetCapabilities answers adminUsers.getCapabilities.
func GetCapabilities() Capabilities {
	return Capabilities{true, true, true, true, true}
}
