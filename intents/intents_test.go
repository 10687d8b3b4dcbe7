package intents

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

type roles map[string]string // user → role in every workspace

func (r roles) Role(_ context.Context, _, user string) (string, error) { return r[user], nil }

type fixture struct {
	t     *testing.T
	db    *synclog.DB
	s     *Store
	eng   *engine.Engine
	nowMs atomic.Int64
}

func newFixture(t *testing.T, quota int64) *fixture {
	t.Helper()
	f := &fixture{t: t}
	f.nowMs.Store(1_750_000_000_000)
	db, err := synclog.Open(synclog.Config{Dir: t.TempDir(), MemTableSize: 8 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := roles{"alice": "owner", "bob": "editor", "victor": "viewer"}
	f.db = db
	if f.s, err = New(Config{DB: db, Roles: r, DefaultQuotaBytes: quota, Now: f.now}); err != nil {
		t.Fatal(err)
	}
	if f.eng, err = engine.New(engine.Config{DB: db, Roles: r, Now: f.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.eng.Close)
	return f
}

func (f *fixture) now() time.Time { return time.UnixMilli(f.nowMs.Load()) }

func (f *fixture) reserve(user, hash string, size int64, opts ...func(*ReserveRequest)) (Intent, error) {
	req := ReserveRequest{WorkspaceID: "ws-1", Hash: hash, MimeType: "image/png", SizeBytes: size}
	for _, o := range opts {
		o(&req)
	}
	return f.s.Reserve(context.Background(), user, req)
}

func (f *fixture) mustReserve(hash string, size int64, opts ...func(*ReserveRequest)) Intent {
	f.t.Helper()
	in, err := f.reserve("alice", hash, size, opts...)
	if err != nil {
		f.t.Fatalf("reserve %s: %v", hash, err)
	}
	return in
}

func quota(q int64) func(*ReserveRequest) {
	return func(r *ReserveRequest) { r.WorkspaceQuotaBytes = &q }
}

func hashN(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// storeFile writes a live file_meta row through the sync engine.
func (f *fixture) storeFile(hash string, size int64) {
	f.t.Helper()
	payload, _ := json.Marshal(map[string]any{"hash": hash, "name": "f", "size_bytes": size, "deleted": false})
	res, err := f.eng.Push(context.Background(), "alice", engine.PushBatch{Scope: engine.Scope{WorkspaceID: "ws-1"}, Ops: []engine.PendingOp{{
		TableName: "file_meta", Operation: "put", PK: hash, Payload: payload,
		Stamp: engine.Stamp{DeviceID: "d", OpID: uuid.NewString(), HLC: "1", Clock: 1}}}})
	if err != nil || !res.Results[0].Success {
		f.t.Fatalf("store file: %v %+v", err, res)
	}
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	se, ok := syncerr.As(err)
	if !ok || se.Status != status {
		t.Fatalf("error %v, want %d", err, status)
	}
}

func TestReserve_QuotaCountsStoredSizesAndLiveReservations(t *testing.T) {
	f := newFixture(t, 0)
	f.storeFile(hashN(1), 40)
	in := f.mustReserve(hashN(2), 30, quota(100))
	if in.ReservedBytes != 30 || in.Status != StatusActive || in.ExpiresAt != f.now().Unix()+900 || in.Hash != fmt.Sprintf("%064x", 2) {
		t.Fatalf("intent %+v", in)
	}
	// 40 stored + 30 reserved + 31 > 100.
	_, err := f.reserve("alice", hashN(3), 31, quota(100))
	wantStatus(t, err, http.StatusRequestEntityTooLarge)
	if se, _ := syncerr.As(err); se.Code != syncerr.CodeOversized || !strings.Contains(se.Message, "101 > 100") {
		t.Fatalf("error %v", se)
	}
	f.mustReserve(hashN(3), 30, quota(100)) // exactly 100
	// No quota at all: unlimited.
	f.mustReserve(hashN(4), MaxFileBytes)
}

func TestReserve_DefaultQuotaFromConfig(t *testing.T) {
	f := newFixture(t, 50)
	f.mustReserve(hashN(1), 50)
	_, err := f.reserve("alice", hashN(2), 1)
	wantStatus(t, err, http.StatusRequestEntityTooLarge)
	// The call's quota wins over the default.
	f.mustReserve(hashN(2), 1, quota(51))
}

func TestReserve_StoredOrReservedHashCostsNothing(t *testing.T) {
	f := newFixture(t, 0)
	f.storeFile("sha256:ABCD", 90)
	if in := f.mustReserve("abcd", 90, quota(100)); in.ReservedBytes != 0 {
		t.Fatalf("stored hash reserved %d", in.ReservedBytes)
	}
	first := f.mustReserve(hashN(7), 10, quota(100))
	if in := f.mustReserve("SHA256:"+strings.ToUpper(first.Hash), 10, quota(100)); in.ReservedBytes != 0 {
		t.Fatalf("reserved hash reserved %d", in.ReservedBytes)
	}
}

func TestReserve_ConcurrentReservationsExactlyOneWins(t *testing.T) {
	for round := range 5 {
		f := newFixture(t, 0)
		const n = 16
		var wins, over atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := f.reserve("alice", hashN(round*100+i), 60, quota(100))
				if err == nil {
					wins.Add(1)
				} else if se, ok := syncerr.As(err); ok && se.Status == http.StatusRequestEntityTooLarge {
					over.Add(1)
				} else {
					t.Errorf("reserve: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || over.Load() != n-1 {
			t.Fatalf("round %d: %d won, %d over quota", round, wins.Load(), over.Load())
		}
	}
}

func TestConsume_OnceOnly(t *testing.T) {
	f := newFixture(t, 0)
	in := f.mustReserve(hashN(1), 10)
	consume := func(user string, mut func(*ConsumeRequest)) (Intent, error) {
		req := ConsumeRequest{IntentID: in.IntentID, WorkspaceID: "ws-1", Hash: hashN(1), MimeType: "image/png; charset=x", SizeBytes: 10, StorageID: "obj"}
		if mut != nil {
			mut(&req)
		}
		return f.s.Consume(context.Background(), user, req)
	}
	_, err := consume("alice", func(r *ConsumeRequest) { r.SizeBytes = 11 })
	wantStatus(t, err, http.StatusConflict)
	_, err = consume("alice", func(r *ConsumeRequest) { r.Hash = hashN(2) })
	wantStatus(t, err, http.StatusConflict)
	_, err = consume("bob", nil)
	wantStatus(t, err, http.StatusNotFound)
	_, err = consume("alice", func(r *ConsumeRequest) { r.IntentID = "nope" })
	wantStatus(t, err, http.StatusNotFound)
	_, err = consume("alice", func(r *ConsumeRequest) { r.WorkspaceID = "ws-2" })
	wantStatus(t, err, http.StatusNotFound)
	got, err := consume("alice", nil)
	if err != nil || got.Status != StatusConsumed || got.StorageID != "obj" {
		t.Fatalf("consume: %+v %v", got, err)
	}
	_, err = consume("alice", nil)
	wantStatus(t, err, http.StatusConflict)
	_, err = f.s.Cancel(context.Background(), "alice", CancelRequest{WorkspaceID: "ws-1", IntentID: in.IntentID})
	wantStatus(t, err, http.StatusConflict)
	if g, _ := f.s.Get(context.Background(), "ws-1", in.IntentID); g.Status != StatusConsumed {
		t.Fatalf("stored %+v", g)
	}
}

func TestCancel_ReleasesTheReservation(t *testing.T) {
	f := newFixture(t, 0)
	in := f.mustReserve(hashN(1), 80, quota(100))
	_, err := f.reserve("alice", hashN(2), 80, quota(100))
	wantStatus(t, err, http.StatusRequestEntityTooLarge)
	_, err = f.s.Cancel(context.Background(), "bob", CancelRequest{WorkspaceID: "ws-1", IntentID: in.IntentID})
	wantStatus(t, err, http.StatusNotFound)
	if got, err := f.s.Cancel(context.Background(), "alice", CancelRequest{WorkspaceID: "ws-1", IntentID: in.IntentID}); err != nil || got.Status != StatusCancelled {
		t.Fatalf("cancel %+v %v", got, err)
	}
	_, err = f.s.Cancel(context.Background(), "alice", CancelRequest{WorkspaceID: "ws-1", IntentID: in.IntentID})
	wantStatus(t, err, http.StatusConflict)
	f.mustReserve(hashN(2), 80, quota(100))
}

func TestReserve_ExpiredIntentsStopCounting(t *testing.T) {
	f := newFixture(t, 0)
	in := f.mustReserve(hashN(1), 80, quota(100))
	f.nowMs.Add(int64(DefaultTTL/time.Millisecond) - 1000)
	_, err := f.reserve("alice", hashN(2), 80, quota(100))
	wantStatus(t, err, http.StatusRequestEntityTooLarge)
	f.nowMs.Add(1000) // now == expiresAt: expired
	f.mustReserve(hashN(2), 80, quota(100))
	_, err = f.s.Consume(context.Background(), "alice", ConsumeRequest{IntentID: in.IntentID, WorkspaceID: "ws-1", Hash: hashN(1), MimeType: "image/png", SizeBytes: 80})
	wantStatus(t, err, http.StatusConflict)
	if g, _ := f.s.Get(context.Background(), "ws-1", in.IntentID); g.Status != StatusExpired {
		t.Fatalf("the next reserve did not retire it: %+v", g)
	}
}

func TestReserve_BadInputChangesNothing(t *testing.T) {
	f := newFixture(t, 0)
	f.mustReserve(hashN(1), 1, func(r *ReserveRequest) { r.IntentID = "taken" })
	past, far := f.now().Unix(), f.now().Add(25*time.Hour).Unix()
	cases := []struct {
		name   string
		user   string
		mut    func(*ReserveRequest)
		status int
	}{
		{"size 0", "alice", func(r *ReserveRequest) { r.SizeBytes = 0 }, 400},
		{"size -1", "alice", func(r *ReserveRequest) { r.SizeBytes = -1 }, 400},
		{"size over 100 MiB", "alice", func(r *ReserveRequest) { r.SizeBytes = MaxFileBytes + 1 }, 400},
		{"quota 0", "alice", quota(0), 400},
		{"quota -5", "alice", quota(-5), 400},
		{"expiry now", "alice", func(r *ReserveRequest) { r.ExpiresAt = &past }, 400},
		{"expiry too far", "alice", func(r *ReserveRequest) { r.ExpiresAt = &far }, 400},
		{"empty hash", "alice", func(r *ReserveRequest) { r.Hash = "sha256:" }, 400},
		{"long hash", "alice", func(r *ReserveRequest) { r.Hash = strings.Repeat("a", 257) }, 400},
		{"empty mime", "alice", func(r *ReserveRequest) { r.MimeType = " ;x" }, 400},
		{"long id", "alice", func(r *ReserveRequest) { r.IntentID = strings.Repeat("i", 257) }, 400},
		{"empty workspace", "alice", func(r *ReserveRequest) { r.WorkspaceID = "" }, 400},
		{"taken id", "alice", func(r *ReserveRequest) { r.IntentID = "taken" }, 409},
		{"viewer", "victor", nil, 403},
		{"non-member", "mallory", nil, 403},
		{"no user", "", nil, 401},
	}
	before := f.countIntents()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := []func(*ReserveRequest){}
			if c.mut != nil {
				opts = append(opts, c.mut)
			}
			_, err := f.reserve(c.user, hashN(9), 5, opts...)
			wantStatus(t, err, c.status)
		})
	}
	if f.countIntents() != before {
		t.Fatal("bad input created intents")
	}
}

func (f *fixture) countIntents() int {
	v := f.db.View()
	defer v.Release()
	it, _ := v.NewIter([]byte{synclog.PrefixIntent}, []byte{synclog.PrefixIntent + 1})
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

// Replaying the intent events rebuilds the intent keyspaces byte for byte.
func TestFold_ReplayEqualsLive(t *testing.T) {
	f := newFixture(t, 0)
	a := f.mustReserve(hashN(1), 10)
	b := f.mustReserve(hashN(2), 10)
	f.mustReserve(hashN(3), 10)
	if _, err := f.s.Consume(context.Background(), "alice", ConsumeRequest{IntentID: a.IntentID, WorkspaceID: "ws-1", Hash: hashN(1), MimeType: "image/png", SizeBytes: 10, StorageID: "o"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Cancel(context.Background(), "alice", CancelRequest{WorkspaceID: "ws-1", IntentID: b.IntentID}); err != nil {
		t.Fatal(err)
	}
	f.nowMs.Add(int64(time.Hour / time.Millisecond))
	f.mustReserve(hashN(4), 10) // retires #3
	src := f.db.View()
	defer src.Release()
	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	mux := &synclog.FolderMux{Change: engine.FoldChange}
	Register(mux)
	if err := synclog.Rebuild(context.Background(), src, dst, mux, 10); err != nil {
		t.Fatal(err)
	}
	got := dst.View()
	defer got.Release()
	for _, p := range []byte{synclog.PrefixIntent, synclog.PrefixIntentByWS} {
		if a, b := dump(t, src, p), dump(t, got, p); a != b {
			t.Fatalf("keyspace %#x:\nlive   %s\nreplay %s", p, a, b)
		}
	}
	if n := len(dump(t, src, synclog.PrefixIntentByWS)); n == 0 {
		t.Fatal("no active intents left to compare")
	}
}

func dump(t *testing.T, v *synclog.View, p byte) string {
	t.Helper()
	it, err := v.NewIter([]byte{p}, []byte{p + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var sb strings.Builder
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Fprintf(&sb, "%x=%x;", it.Key(), it.Value())
	}
	return sb.String()
}
