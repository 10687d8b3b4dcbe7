package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Roles answers workspace membership. The identity module implements it;
// tests use a map. Role returns "owner", "editor", "viewer", or "" when the
// user is not a member (or unknown).
type Roles interface {
	Role(ctx context.Context, workspaceID, userID string) (string, error)
}

// Config configures an Engine.
type Config struct {
	// DB is the log. Required.
	DB *synclog.DB
	// Roles checks membership on every call. Required.
	Roles Roles
	// Now is the engine's clock (receipt times, TTLs, GC ages). Default
	// time.Now; tests and the test-hook clock offset replace it.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// NewOpID mints op ids for server-authored writes. Default: random UUIDv4.
	NewOpID func() string
	// History configures snapshot sessions, history GC and the maintenance
	// loop (history.go).
	History HistoryConfig
}

func (c *Config) validate() error {
	if c.DB == nil {
		return errors.New("engine: Config.DB is required")
	}
	if c.Roles == nil {
		return errors.New("engine: Config.Roles is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.NewOpID == nil {
		c.NewOpID = newUUIDv4
	}
	return c.History.validate()
}

// Engine is the sync engine of one region.
type Engine struct {
	cfg Config
	db  *synclog.DB
	log *slog.Logger

	locks wsLocks
	// inflight holds opIds claimed by pushes that have not committed yet, so
	// two workspaces racing with one new opId cannot both log it.
	inflightMu sync.Mutex
	inflight   map[string]string // opId → workspace

	subsMu sync.RWMutex
	subs   map[int]func(Committed)
	nextID int

	// snaps are the open snapshot sessions; maint the GC loop's state.
	snaps snapSessions
	maint maintenance
	// reservations answers active_reservations pages (intents module).
	reservations Reservations
	// sysFold folds remote system events (replicate.go).
	sysFold RemoteSystemFold
}

// New returns an engine over cfg.DB.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		db:       cfg.DB,
		log:      cfg.Logger.With("component", "engine"),
		locks:    wsLocks{m: map[string]*wsLock{}},
		inflight: map[string]string{},
		subs:     map[int]func(Committed){},
	}
	e.snaps.init(cfg.History.MaxSnapshotSessions)
	e.maint.init(cfg.History)
	return e, nil
}

// Role sets of sync-contract §3.1.
func canRead(role string) bool  { return role == "owner" || role == "editor" || role == "viewer" }
func canWrite(role string) bool { return role == "owner" || role == "editor" }

// authorize checks that user may act on ws with the given need.
func (e *Engine) authorize(ctx context.Context, ws, user string, write bool) (string, error) {
	if user == "" {
		return "", syncerr.Unauthorized("no acting user")
	}
	role, err := e.cfg.Roles.Role(ctx, ws, user)
	if err != nil {
		return "", err
	}
	if !canRead(role) {
		return "", syncerr.Forbidden("user is not a member of this workspace")
	}
	if write && !canWrite(role) {
		return "", syncerr.Forbidden("role %s may not write", role)
	}
	return role, nil
}

// wsLocks is one mutex per workspace, created on demand and dropped when
// no one holds or waits for it.
type wsLocks struct {
	mu sync.Mutex
	m  map[string]*wsLock
}

type wsLock struct {
	sync.Mutex
	refs int
}

func (l *wsLocks) lock(ws string) func() {
	l.mu.Lock()
	k := l.m[ws]
	if k == nil {
		k = &wsLock{}
		l.m[ws] = k
	}
	k.refs++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		k.refs--
		if k.refs == 0 {
			delete(l.m, ws)
		}
		l.mu.Unlock()
	}
}

// commitErr maps a log failure to the request's answer.
func commitErr(err error) error {
	switch {
	case errors.Is(err, synclog.ErrOverloaded):
		return syncerr.Unavailable(err, "server overloaded, retry later")
	case errors.Is(err, synclog.ErrUnhealthy), errors.Is(err, synclog.ErrClosed):
		return syncerr.Unavailable(err, "storage unavailable, retry later")
	}
	return syncerr.Internal(err, "commit failed")
}

// readErr maps a read failure.
func readErr(err error) error {
	if _, ok := syncerr.As(err); ok {
		return err
	}
	return syncerr.Internal(err, "read failed")
}

// view returns the durable view or a 503 while the store recovers.
func (e *Engine) view() (*synclog.View, error) {
	v := e.db.View()
	if v == nil {
		return nil, syncerr.Unavailable(synclog.ErrUnhealthy, "storage unavailable, retry later")
	}
	return v, nil
}

// ServerVersion returns ws's counter in the durable view (read role).
func (e *Engine) ServerVersion(ctx context.Context, user, ws string) (uint64, error) {
	if _, err := e.authorize(ctx, ws, user, false); err != nil {
		return 0, err
	}
	v, err := e.view()
	if err != nil {
		return 0, err
	}
	defer v.Release()
	ctr, err := readCounter(v, ws)
	return ctr.Counter, err
}

func readCounter(r synclog.Reader, ws string) (synclog.CounterRecord, error) {
	var ctr synclog.CounterRecord
	_, err := synclog.GetRecord(r, synclog.CounterKey(ws), &ctr)
	if err != nil {
		return ctr, readErr(err)
	}
	return ctr, nil
}
