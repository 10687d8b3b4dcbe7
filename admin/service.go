package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/or3/syncd/identity"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Service is the admin module: its RPC stores (Access, Settings, Users)
// and the operations.
type Service struct {
	cfg     Config
	db      *synclog.DB
	id      *identity.Store
	log     *slog.Logger
	started time.Time

	mu sync.Mutex // serializes this module's own writes (grants, settings, audit-only records)

	opMu sync.Mutex // one maintenance action (GC, compact, verify, backup) at a time
}

// New returns the admin service.
func New(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, db: cfg.DB, id: cfg.Identity, log: cfg.Logger.With("component", "admin"), started: cfg.Now()}, nil
}

// Actor types of the audit log (workspace-admin §1.7, plus syncd's own).
const (
	ActorSuperAdmin = "super_admin"     // the service-token holder or a named super admin
	ActorAdmin      = "workspace_admin" // a user holding a deployment admin grant
	ActorSystem     = "system"          // syncd itself (maintenance loop)
)

// Actor is who performs an admin call.
type Actor struct {
	ID        string // a user id, a super-admin username, or "admin-key"
	Type      string
	RequestID string
}

// SuperAdmin is the actor of a call made with the service token alone.
func SuperAdmin(username, requestID string) Actor {
	if username == "" {
		username = "admin-key"
	}
	return Actor{ID: username, Type: ActorSuperAdmin, RequestID: requestID}
}

// resolveActor checks the acting admin named by a call (requireAdmin of
// §5.1): an unknown user is 401 "Unauthorized: User not found", a user
// without a grant 403 "Forbidden: Admin access required".
func (s *Service) resolveActor(ctx context.Context, actorUserID, username, requestID string) (Actor, error) {
	if actorUserID == "" {
		return SuperAdmin(username, requestID), nil
	}
	var u *identity.User
	var granted bool
	err := s.read(func(v *synclog.View) error {
		var err error
		if u, err = identity.ReadUser(v, actorUserID); err != nil || u == nil {
			return err
		}
		g, err := loadGrant(v, actorUserID)
		granted = g != nil
		return err
	})
	if err != nil {
		return Actor{}, err
	}
	if u == nil {
		return Actor{}, syncerr.Unauthorized("Unauthorized: User not found")
	}
	if !granted {
		return Actor{}, syncerr.Forbidden("Forbidden: Admin access required")
	}
	return Actor{ID: actorUserID, Type: ActorAdmin, RequestID: requestID}, nil
}

// read runs fn on the durable view.
func (s *Service) read(fn func(v *synclog.View) error) error {
	v := s.db.View()
	if v == nil {
		return syncerr.Unavailable(synclog.ErrUnhealthy, "admin: store unavailable")
	}
	defer v.Release()
	return storeErr(fn(v))
}

// storeErr maps log errors to request failures.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := syncerr.As(err); ok {
		return err
	}
	if errors.Is(err, synclog.ErrOverloaded) || errors.Is(err, synclog.ErrUnhealthy) || errors.Is(err, synclog.ErrClosed) {
		return syncerr.Unavailable(err, "admin store unavailable")
	}
	return syncerr.Internal(fmt.Errorf("admin: %w", err), "admin store error")
}

// txn is one write of this module's domains.
type txn struct {
	s     *Service
	b     *synclog.Batch
	atMs  int64
	actor Actor
}

// emit appends one event of this module and folds it into the batch.
func (t *txn) emit(typ string, body any) error {
	return appendEvent(t.s.db, t.b, typ, t.atMs, t.actor.ID, body)
}

// audit appends an audit record to the batch.
func (t *txn) audit(action, targetType, targetID string, before, after any) error {
	return appendAudit(t.s.db, t.b, t.atMs, t.actor, action, targetType, targetID, before, after)
}

func appendEvent(db *synclog.DB, b *synclog.Batch, typ string, atMs int64, actor string, body any) error {
	data, err := synclog.Encode(body)
	if err != nil {
		return err
	}
	seq := db.NextSystemSeq()
	ev := &synclog.SystemEvent{Type: typ, AtMs: atMs, Actor: actor, Body: data}
	if err := b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return err
	}
	return Fold(b, seq, ev)
}

// write runs fn under the module lock with a fresh batch and commits it.
func (s *Service) write(ctx context.Context, actor Actor, fn func(t *txn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Healthy(); err != nil {
		return storeErr(err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	t := &txn{s: s, b: b, atMs: s.cfg.Now().UnixMilli(), actor: actor}
	if err := fn(t); err != nil {
		return storeErr(err)
	}
	if b.Empty() {
		return nil
	}
	return storeErr(s.db.Commit(ctx, b))
}

// withAudit returns ctx whose identity write appends an audit record to
// the identity batch (so the change and its record commit together).
func (s *Service) withAudit(ctx context.Context, actor Actor, action, targetType, targetID string, before, after any) context.Context {
	return identity.WithWriteHook(ctx, func(b *synclog.Batch, atMs int64) error {
		return appendAudit(s.db, b, atMs, actor, action, targetType, targetID, before, after)
	})
}

// jsonOf marshals v for an audit record; nil stays empty (JSON null).
func jsonOf(v any) []byte {
	if v == nil {
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return []byte(fmt.Sprintf("%q", fmt.Sprint(v)))
	}
	return data
}

func errUnavailable(format string, args ...any) error {
	return syncerr.Unavailable(nil, format, args...)
}

// ResolveActor checks the acting admin of an admin HTTP call (see
// resolveActor).
func (s *Service) ResolveActor(ctx context.Context, actorUserID, username, requestID string) (Actor, error) {
	if len(actorUserID) > identity.MaxIDLen || len(username) > identity.MaxIDLen || len(requestID) > identity.MaxIDLen {
		return Actor{}, syncerr.Validation("acting admin headers must be at most %d bytes", identity.MaxIDLen)
	}
	return s.resolveActor(ctx, actorUserID, username, requestID)
}
