package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Store is the auth store of api.md: users, auth accounts, workspaces,
// members and invites, kept as system events on the log with their state
// folded into the same batch.
//
// Writes are serialized by one lock that is held from the first read of a
// decision until its batch is durable. So every conditional write (create
// once, accept once, last-owner protection, role checks) decides against
// all earlier identity writes, and two racing calls can never both win.
// Identity writes are rare (logins of new users, workspace and invite
// management), so one fsync per write is the price of that simplicity;
// reads never take the lock and read only the durable view.
type Store struct {
	db     *synclog.DB
	cfg    Config
	log    *slog.Logger
	writer chan struct{} // the write lock; a channel so waiting honours ctx

	// hook, when set (tests only), runs at named steps of a write and may
	// fail it, to prove a failure leaves nothing behind.
	hook func(step string) error
}

// New returns a Store over db.
func New(db *synclog.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("identity: nil log")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Store{
		db:     db,
		cfg:    cfg,
		log:    cfg.Logger.With("component", "identity"),
		writer: make(chan struct{}, 1),
	}, nil
}

// DeriveUserID returns the user id of (provider, providerUserID) under
// secret: the first 16 bytes of HMAC-SHA256(secret, provider ‖ 0x00 ‖
// providerUserID) laid out as an RFC 9562 version-8 UUID. Every region with
// the same secret derives the same id, and the id reveals nothing of the
// subject (model.md §6). provider must not contain 0x00.
func DeriveUserID(secret []byte, provider, providerUserID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(provider))
	m.Write([]byte{0})
	m.Write([]byte(providerUserID))
	var u uuid.UUID
	copy(u[:], m.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

// UserIDFor is DeriveUserID under the store's secret.
func (s *Store) UserIDFor(provider, providerUserID string) string {
	return DeriveUserID(s.cfg.Secret, provider, providerUserID)
}

func (s *Store) nowMs() int64 { return s.cfg.Now().UnixMilli() }

// newWorkspaceID returns a random (version 4) UUID.
func newWorkspaceID() (string, error) {
	u, err := uuid.NewRandom()
	if err != nil {
		return "", syncerr.Internal(err, "identity: random id")
	}
	return u.String(), nil
}

// newInviteID returns a version-7 UUID of ms: time-ordered, so a
// workspace's invites sort by creation time in key order.
func newInviteID(ms int64) (string, error) {
	var u uuid.UUID
	if _, err := rand.Read(u[6:]); err != nil {
		return "", syncerr.Internal(err, "identity: random id")
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(ms))
	copy(u[:6], t[2:])
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String(), nil
}

// read runs fn against the current durable view.
func (s *Store) read(fn func(v *synclog.View) error) error {
	v := s.db.View()
	if v == nil {
		return errNoView()
	}
	defer v.Release()
	return fn(v)
}

// txn is one write: the events a method decides, folded into one batch as
// they are appended.
type txn struct {
	s     *Store
	b     *synclog.Batch
	atMs  int64
	actor string
}

// emit appends one system event and folds it into the batch, so the
// decisions after it see its state.
func (t *txn) emit(typ string, body any) error {
	data, err := synclog.Encode(body)
	if err != nil {
		return err
	}
	seq := t.s.db.NextSystemSeq()
	ev := &synclog.SystemEvent{Type: typ, AtMs: t.atMs, Actor: t.actor, Body: data}
	if err := t.b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return err
	}
	return Fold(t.b, seq, ev)
}

// step runs the test hook, if any.
func (t *txn) step(name string) error {
	if t.s.hook != nil {
		return t.s.hook(name)
	}
	return nil
}

// write runs fn under the write lock with a fresh batch and commits what it
// emitted. An error from fn discards the whole batch, so a method either
// writes all its events or none. A nil return means the events are durable
// (and visible in the durable view).
func (s *Store) write(ctx context.Context, op, actor string, fn func(t *txn) error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return syncerr.Unavailable(ctx.Err(), "identity: %s: %v", op, ctx.Err())
	}
	defer func() { <-s.writer }()
	if err := s.db.Healthy(); err != nil {
		return storeErr(op, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	t := &txn{s: s, b: b, atMs: s.nowMs(), actor: actor}
	if err := fn(t); err != nil {
		return storeErr(op, err)
	}
	if b.Empty() {
		return nil
	}
	if h := writeHookFrom(ctx); h != nil {
		if err := h(b, t.atMs); err != nil {
			return storeErr(op, err)
		}
	}
	if err := s.db.Commit(ctx, b); err != nil {
		s.log.Warn("identity write not committed", "op", op, "err", err)
		return storeErr(op, fmt.Errorf("commit: %w", err))
	}
	return nil
}
