package intents

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// TestUsage_CacheEqualsScan: after any mix of file_meta puts, soft
// deletes, deletes and re-puts (pushed, as clients do, under pk spellings
// that normalize to the same hash, several ops per push), the cached
// usage equals a full scan of the rows, hash by hash — including a
// reservation's dedupe of a stored hash, and a cache dropped midway.
func TestUsage_CacheEqualsScan(t *testing.T) {
	f := newFixture(t, 0)
	rng := rand.New(rand.NewPCG(7, 7))
	spell := func(n int) string {
		h := fmt.Sprintf("%064x", n)
		switch rng.IntN(4) {
		case 0:
			return "sha256:" + h
		case 1:
			return h
		case 2:
			return "SHA256:" + strings.ToUpper(h)
		}
		return " sha256:" + h + " "
	}
	clock := int64(0)
	check := func(step int) {
		t.Helper()
		b := f.db.NewBatch()
		defer b.Close()
		for n := 0; n < 12; n++ {
			hash := fmt.Sprintf("%064x", n)
			c, err := current(b, "ws-1", f.s.cache.take("ws-1"))
			if err != nil {
				t.Fatal(err)
			}
			got := c.usage(hash, f.now().Unix())
			f.s.cache.put("ws-1", c)
			want, err := scanUsage(b, "ws-1", hash, f.now().Unix())
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("step %d hash %d: cached usage %+v, scan %+v", step, n, got, want)
			}
		}
	}
	for step := 0; step < 160; step++ {
		var ops []engine.PendingOp
		for k := 1 + rng.IntN(3); k > 0; k-- {
			clock++
			op := engine.PendingOp{TableName: "file_meta", Operation: "put", PK: spell(rng.IntN(12)),
				Stamp: engine.Stamp{DeviceID: "d", OpID: uuid.NewString(), HLC: fmt.Sprint(clock), Clock: clock}}
			switch rng.IntN(5) {
			case 0:
				op.Operation = "delete"
			case 1:
				op.Payload, _ = json.Marshal(map[string]any{"name": "f", "size_bytes": rng.IntN(1000), "deleted": true})
			case 2:
				op.Payload, _ = json.Marshal(map[string]any{"name": "f", "size_bytes": "bad"})
			default:
				op.Payload, _ = json.Marshal(map[string]any{"name": "f", "size_bytes": rng.IntN(1000), "deleted": false})
			}
			ops = append(ops, op)
		}
		if rng.IntN(4) == 0 { // other tables move the counter too
			clock++
			ops = append(ops, engine.PendingOp{TableName: "messages", Operation: "put", PK: uuid.NewString(),
				Payload: json.RawMessage(`{"thread_id":"t","role":"user","data":"file_meta"}`),
				Stamp:   engine.Stamp{DeviceID: "d", OpID: uuid.NewString(), HLC: fmt.Sprint(clock), Clock: clock}})
		}
		res, err := f.eng.Push(context.Background(), "alice", engine.PushBatch{Scope: engine.Scope{WorkspaceID: "ws-1"}, Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res.Results {
			if !r.Success {
				t.Fatalf("op %+v: %+v", ops[i], r)
			}
		}
		if step%3 == 0 {
			check(step)
		}
		if step == 80 {
			f.s.cache.forget()
		}
	}
	check(160)
	b := f.db.NewBatch()
	defer b.Close()
	if u, err := scanUsage(b, "ws-1", "", f.now().Unix()); err != nil || u.stored == 0 {
		t.Fatalf("the mix left nothing stored (%+v, %v): the test tests nothing", u, err)
	}
}

// TestUsage_ReserveSeesFilesCommittedSinceLastReserve: the quota counts a
// file committed between two reservations (the cache folds the change in),
// and stops counting it once it is deleted.
func TestUsage_ReserveSeesFilesCommittedSinceLastReserve(t *testing.T) {
	f := newFixture(t, 0)
	f.mustReserve(hashN(1), 10, quota(100))
	f.storeFile(hashN(2), 80)
	_, err := f.reserve("alice", hashN(3), 11, quota(100)) // 80 + 10 + 11
	wantStatus(t, err, 413)
	if in := f.mustReserve(hashN(2), 80, quota(100)); in.ReservedBytes != 0 {
		t.Fatalf("a stored hash reserves nothing: %+v", in)
	}
	res, err := f.eng.Push(context.Background(), "alice", engine.PushBatch{Scope: engine.Scope{WorkspaceID: "ws-1"}, Ops: []engine.PendingOp{{
		TableName: "file_meta", Operation: "delete", PK: hashN(2),
		Stamp: engine.Stamp{DeviceID: "d", OpID: uuid.NewString(), HLC: "2", Clock: 2}}}})
	if err != nil || !res.Results[0].Success {
		t.Fatalf("delete: %v %+v", err, res)
	}
	f.mustReserve(hashN(3), 90, quota(100)) // 10 + 90
}

// TestReserve_AlsoCommitsInTheSameBatch: a caller's events commit with the
// reservation or consumption; a refused reservation never calls Also, and
// an Also that fails commits nothing.
func TestReserve_AlsoCommitsInTheSameBatch(t *testing.T) {
	f := newFixture(t, 0)
	mark := func(k string) func(*synclog.Batch) error {
		return func(b *synclog.Batch) error { return b.Set(synclog.NewKey(synclog.PrefixTest).Raw(k), []byte{1}) }
	}
	has := func(k string) bool {
		v := f.db.View()
		defer v.Release()
		raw, err := v.Get(synclog.NewKey(synclog.PrefixTest).Raw(k))
		if err != nil {
			t.Fatal(err)
		}
		return raw != nil
	}
	in := f.mustReserve(hashN(1), 60, quota(100), func(r *ReserveRequest) { r.Also = mark("a") })
	if !has("a") {
		t.Fatal("Also's write did not commit with the reservation")
	}
	called := false
	_, err := f.reserve("alice", hashN(2), 60, quota(100), func(r *ReserveRequest) {
		r.Also = func(*synclog.Batch) error { called = true; return nil }
	})
	wantStatus(t, err, 413)
	if called {
		t.Fatal("Also called for a refused reservation")
	}
	_, err = f.reserve("alice", hashN(3), 10, func(r *ReserveRequest) {
		r.Also = func(b *synclog.Batch) error { _ = mark("b")(b); return syncerr.Unavailable(nil, "no") }
	})
	wantStatus(t, err, 503)
	if has("b") {
		t.Fatal("a failed Also committed")
	}
	if _, err := f.s.Get(context.Background(), "ws-1", ""); err == nil {
		t.Fatal("want 404")
	}
	if _, err := f.s.Consume(context.Background(), "alice", ConsumeRequest{IntentID: in.IntentID, WorkspaceID: "ws-1", Hash: hashN(1),
		MimeType: "image/png", SizeBytes: 60, StorageID: "s", Also: mark("c")}); err != nil || !has("c") {
		t.Fatalf("consume: %v, Also committed %v", err, has("c"))
	}
}

// TestUsage_IntentsCacheEqualsScanAndReplay: a random mix of
// reservations (some expiring soon), consumptions, cancellations and
// clock moves keeps the cached active intents equal to a read of the
// index, and the folds handed the expired ids write what replay (which
// scans for them) writes.
func TestUsage_IntentsCacheEqualsScanAndReplay(t *testing.T) {
	f := newFixture(t, 0)
	rng := rand.New(rand.NewPCG(11, 3))
	var live []Intent
	ctx := context.Background()
	for step := 0; step < 250; step++ {
		switch k := rng.IntN(10); {
		case k < 5:
			exp := f.now().Unix() + 1 + rng.Int64N(120)
			in, err := f.reserve("alice", hashN(rng.IntN(20)), 1+rng.Int64N(100), func(r *ReserveRequest) { r.ExpiresAt = &exp })
			if err != nil {
				t.Fatal(err)
			}
			live = append(live, in)
		case k < 7 && len(live) > 0:
			i := rng.IntN(len(live))
			in := live[i]
			live = append(live[:i], live[i+1:]...)
			_, err := f.s.Consume(ctx, "alice", ConsumeRequest{IntentID: in.IntentID, WorkspaceID: "ws-1", Hash: in.Hash, MimeType: in.MimeType, SizeBytes: in.SizeBytes, StorageID: "s"})
			if err != nil && in.ExpiresAt > f.now().Unix() {
				t.Fatal(err)
			}
		case k < 8 && len(live) > 0:
			i := rng.IntN(len(live))
			in := live[i]
			live = append(live[:i], live[i+1:]...)
			_, _ = f.s.Cancel(ctx, "alice", CancelRequest{WorkspaceID: "ws-1", IntentID: in.IntentID})
		default:
			f.nowMs.Add(rng.Int64N(40_000))
		}
		if step == 120 {
			f.s.cache.forget()
		}
		b := f.db.NewBatch()
		c, err := current(b, "ws-1", f.s.cache.take("ws-1"))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 20; n += 3 {
			hash := fmt.Sprintf("%064x", n)
			want, err := scanUsage(b, "ws-1", hash, f.now().Unix())
			if err != nil {
				t.Fatal(err)
			}
			if got := c.usage(hash, f.now().Unix()); got != want {
				t.Fatalf("step %d: cached %+v, scan %+v", step, got, want)
			}
		}
		f.s.cache.put("ws-1", c)
		b.Close()
	}
	src := f.db.View()
	defer src.Release()
	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	mux := &synclog.FolderMux{Change: engine.FoldChange}
	Register(mux)
	if err := synclog.Rebuild(ctx, src, dst, mux, 10); err != nil {
		t.Fatal(err)
	}
	got := dst.View()
	defer got.Release()
	for _, p := range []byte{synclog.PrefixIntent, synclog.PrefixIntentByWS} {
		if a, b := dump(t, src, p), dump(t, got, p); a != b {
			t.Fatalf("keyspace %#x differs after replay:\nlive   %s\nreplay %s", p, a, b)
		}
	}
	if !strings.Contains(dump(t, src, synclog.PrefixIntent), fmt.Sprintf("%x", StatusExpired)) {
		t.Fatal("no intent was retired as expired: the test tests nothing")
	}
}

// TestUsageCache_EvictsLeastRecentlyUsed: past its bound the cache drops
// the least recently used workspaces (never the one just put) down to
// three quarters of the bound.
func TestUsageCache_EvictsLeastRecentlyUsed(t *testing.T) {
	var c usageCache
	entry := func(n int) *wsStored {
		e := &wsStored{sizes: map[string]int64{}, hashes: map[string]int{}, active: map[string]activeIntent{}}
		for i := 0; i < n; i++ {
			e.sizes[fmt.Sprint(i)] = 1
		}
		return e
	}
	per := maxCachedRows / 8
	for i := 0; i < 8; i++ {
		c.put(fmt.Sprint("ws", i), entry(per-1)) // per units each with its own
	}
	if c.rows != maxCachedRows || len(c.wss) != 8 {
		t.Fatalf("rows %d of %d in %d workspaces", c.rows, maxCachedRows, len(c.wss))
	}
	c.put("ws0", c.take("ws0")) // ws0 is now the most recently used
	c.put("new", entry(per-1))
	if c.rows > maxCachedRows/4*3 || c.wss["new"] == nil || c.wss["ws0"] == nil || c.wss["ws1"] != nil {
		t.Fatalf("after eviction: rows %d, workspaces %d (new %v, ws0 %v, ws1 %v)", c.rows, len(c.wss), c.wss["new"] != nil, c.wss["ws0"] != nil, c.wss["ws1"] != nil)
	}
	c.put("huge", entry(maxCachedRows/2+1))
	if c.wss["huge"] != nil {
		t.Fatal("a workspace above half the bound was cached")
	}
}
