package jobs

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// fixedStart is the spec's fixture time, 2026-01-01T00:00:00Z.
var fixedStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
func (c *clock) Ms() int64 { return c.Now().UnixMilli() }

type harness struct {
	t   testing.TB
	dir string
	db  *synclog.DB
	s   *Store
	clk *clock
	cfg Config
	ctx context.Context
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t testing.TB, tune ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clk: &clock{t: fixedStart}, ctx: context.Background()}
	h.cfg = Config{Now: h.clk.Now, Logger: quietLogger()}
	for _, f := range tune {
		f(&h.cfg)
	}
	h.open()
	t.Cleanup(func() { h.db.Close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	db, err := synclog.Open(synclog.Config{Dir: h.dir, Logger: quietLogger(), MemTableSize: 4 << 20, CacheSize: 4 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	h.db = db
	if h.s, err = New(db, h.cfg); err != nil {
		h.t.Fatal(err)
	}
}

// reopen closes the log and opens it again: a restart.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.db.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

var execInput = json.RawMessage(`{"version":1,"body":{},"workspaceId":"ws-1","contentBase":""}`)

func (h *harness) create(user string, mod ...func(*CreateInput)) string {
	h.t.Helper()
	in := CreateInput{UserID: user, ThreadID: "thread-1", MessageID: "msg-1", Model: "m", Kind: "chat", Execution: execInput}
	for _, f := range mod {
		f(&in)
	}
	id, err := h.s.CreateJob(h.ctx, in)
	if err != nil {
		h.t.Fatalf("createJob: %v", err)
	}
	return id
}

func (h *harness) get(id string) *Job {
	h.t.Helper()
	j, err := h.s.GetJobInternal(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

func str(s string) *string { return &s }
func i64(n int64) *int64   { return &n }

func wantCode(t testing.TB, err error, status int, code string) {
	t.Helper()
	se, ok := syncerr.As(err)
	if !ok || se.Status != status || se.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

// stateDigest is the job keyspaces as a comparable snapshot.
func (h *harness) diffAgainstReplay() {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	dst, err := synclog.Open(synclog.Config{Dir: h.t.TempDir(), Logger: quietLogger(), MemTableSize: 4 << 20, CacheSize: 4 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	defer dst.Close()
	mux := &synclog.FolderMux{}
	mux.Handle("job", Fold)
	if err := synclog.Rebuild(h.ctx, v, dst, mux, 7); err != nil {
		h.t.Fatal(err)
	}
	dv := dst.View()
	defer dv.Release()
	diff, err := synclog.DiffState(v, dv, synclog.PrefixJob, synclog.PrefixJobChunk)
	if err != nil {
		h.t.Fatal(err)
	}
	if diff != "" {
		h.t.Fatalf("replay differs from live: %s", diff)
	}
}
