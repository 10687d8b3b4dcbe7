package identity

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

var testSecret = []byte("test-cluster-secret-0123456789ab")

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_760_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by ms milliseconds.
func (c *clock) Advance(ms int64) {
	c.mu.Lock()
	c.t = c.t.Add(time.Duration(ms) * time.Millisecond)
	c.mu.Unlock()
}

func (c *clock) Ms() int64 { return c.Now().UnixMilli() }

func openLog(tb testing.TB, dir string) *synclog.DB {
	tb.Helper()
	db, err := synclog.Open(synclog.Config{Dir: dir, Logger: quietLogger(), MemTableSize: 4 << 20, CacheSize: 8 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

type fixture struct {
	s     *Store
	db    *synclog.DB
	clock *clock
	ctx   context.Context
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	db := openLog(tb, tb.TempDir())
	c := newClock()
	s, err := New(db, Config{Secret: testSecret, Now: c.Now, Logger: quietLogger(), Region: "eu"})
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{s: s, db: db, clock: c, ctx: context.Background()}
}

// user creates (or finds) the user of subject under provider "test".
func (f *fixture) user(tb testing.TB, sub, email string) string {
	tb.Helper()
	ref, err := f.s.GetOrCreateUser(f.ctx, UserInput{Provider: "test", ProviderUserID: sub, Email: email})
	if err != nil {
		tb.Fatal(err)
	}
	return ref.UserID
}

// workspace creates a workspace owned by userID.
func (f *fixture) workspace(tb testing.TB, userID, name string) string {
	tb.Helper()
	id, err := f.s.CreateWorkspace(f.ctx, userID, name, "")
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func (f *fixture) role(tb testing.TB, ws, userID string) Role {
	tb.Helper()
	r, err := f.s.Role(f.ctx, ws, userID)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func (f *fixture) userRec(tb testing.TB, userID string) *User {
	tb.Helper()
	u, err := f.s.GetUserByID(f.ctx, userID)
	if err != nil {
		tb.Fatal(err)
	}
	if u == nil {
		tb.Fatalf("user %s missing", userID)
	}
	return u
}

// invite creates an invite with token hash hash, expiring in a day.
func (f *fixture) invite(tb testing.TB, ws, by, email string, role Role, hash string) string {
	tb.Helper()
	c, err := f.s.CreateInvite(f.ctx, InviteInput{
		WorkspaceID: ws, Email: email, Role: role, InvitedByUserID: by,
		ExpiresAtMs: f.clock.Ms() + 24*3600*1000, TokenHash: hash,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c.InviteID
}

// countKeys counts the keys with prefix p in the durable view.
func (f *fixture) countKeys(tb testing.TB, p byte) int {
	tb.Helper()
	v := f.db.View()
	defer v.Release()
	it, err := v.NewIter([]byte{p}, []byte{p + 1})
	if err != nil {
		tb.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

// wantErr checks that err carries sentinel and the HTTP status.
func wantErr(tb testing.TB, err error, sentinel error, status int) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("want %v (%d), got nil", sentinel, status)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		tb.Fatalf("want %v, got %v", sentinel, err)
	}
	se, ok := syncerr.As(err)
	if !ok {
		tb.Fatalf("want a *syncerr.Error, got %T %v", err, err)
	}
	if se.Status != status {
		tb.Fatalf("want status %d, got %d (%v)", status, se.Status, err)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
