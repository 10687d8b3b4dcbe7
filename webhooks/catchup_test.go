package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
)

// The crash tests run the real engine on real Pebble, wired to the store
// the way the daemon wires them (daemon/ratewebhooks.go), and record what
// the live path handed OnSync: that is the oracle every catch-up must
// reproduce exactly once.

type owners struct{}

func (owners) Role(context.Context, string, string) (string, error) { return "owner", nil }

type syncRig struct {
	t     testing.TB
	dir   string
	clock *testClock
	cfg   Config
	db    *synclog.DB
	eng   *engine.Engine
	s     *Store

	unsub func()

	mu   sync.Mutex
	live []SyncChange // applied local changes, as the live path saw them
	seq  uint64       // remote origin sequence
	hlc  int
}

func newSyncRig(t *testing.T, tune ...func(*Config)) *syncRig {
	t.Helper()
	r := &syncRig{t: t, dir: t.TempDir(), clock: newTestClock()}
	r.cfg = Config{EncryptionKey: testKey, AllowPrivate: true, Logger: quiet, DeliveryTimeout: 5 * time.Second, RateLimitPerMinute: -1}
	for _, fn := range tune {
		fn(&r.cfg)
	}
	r.open()
	t.Cleanup(func() {
		if r.s != nil {
			r.s.Close()
		}
		r.closeLog()
	})
	return r
}

func (r *syncRig) open() {
	r.t.Helper()
	db, err := synclog.Open(synclog.Config{Dir: r.dir, Logger: quiet, MemTableSize: 4 << 20})
	if err != nil {
		r.t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{DB: db, Roles: owners{}, Now: r.clock.Now, Logger: quiet,
		History: engine.HistoryConfig{MaintenanceInterval: -1}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.db, r.eng = db, eng
	r.openStore()
}

func (r *syncRig) openStore() {
	r.t.Helper()
	cfg := r.cfg
	cfg.DB, cfg.Now = r.db, r.clock.Now
	s, err := Open(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	// No mark is written by itself during a test (only with deliveries and
	// at Close), so what a crash forgets does not depend on timing.
	s.markEvery = time.Hour
	r.s = s
	if r.unsub != nil {
		r.unsub()
	}
	r.unsub = r.eng.Subscribe(func(c engine.Committed) {
		if c.OriginRegion != "" {
			return
		}
		var out []SyncChange
		for i := range c.Changes {
			ch := &c.Changes[i]
			if !ch.Applied {
				continue
			}
			p := ch.RowPayload
			if p == nil {
				p = ch.Payload
			}
			out = append(out, SyncChange{Workspace: c.Workspace, Table: ch.TableName, PK: ch.PK, Delete: ch.Op == "delete",
				Existed: ch.WasExisting, UserID: ch.UserID, Owner: ch.Owner, Payload: p,
				AtMs: r.clock.Ms(), Version: ch.ServerVersion, OpID: ch.Stamp.OpID})
		}
		r.mu.Lock()
		r.live = append(r.live, out...)
		r.mu.Unlock()
		s.OnSync(out)
	})
}

func (r *syncRig) closeLog() {
	r.unsub = nil
	if r.eng != nil {
		r.eng.Close()
		r.eng = nil
	}
	if r.db != nil {
		_ = r.db.Close()
		r.db = nil
	}
}

// crash is the process dying right after pushes committed: the queue of
// sync events not yet enqueued and the marks not yet written are gone
// (the store is dropped, never closed); the log keeps every commit.
func (r *syncRig) crash() {
	r.s.dropQueueForTest()
	r.s = nil
	r.closeLog()
}

// restart reopens the log, the engine and the store after crash.
func (r *syncRig) restart() { r.open() }

// graceful closes the store (it drains its queue and writes its marks)
// and the log, and opens them again.
func (r *syncRig) graceful() {
	r.s.Close()
	r.s = nil
	r.closeLog()
	r.open()
}

func (r *syncRig) op(table, pk string, clock int64, payload map[string]any) engine.PendingOp {
	r.hlc++
	op := engine.PendingOp{TableName: table, Operation: "put", PK: pk,
		Stamp: engine.Stamp{DeviceID: "dev", OpID: uuid.NewString(), HLC: fmt.Sprintf("%013d:%04d:dev", 1767225600000, r.hlc), Clock: clock}}
	if payload == nil {
		op.Operation = "delete"
	} else {
		payload["id"] = pk
		op.Payload, _ = json.Marshal(payload)
	}
	return op
}

func (r *syncRig) push(ws, user string, ops ...engine.PendingOp) {
	r.t.Helper()
	res, err := r.eng.Push(context.Background(), user, engine.PushBatch{Scope: engine.Scope{WorkspaceID: ws}, Ops: ops})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, o := range res.Results {
		if !o.Success {
			r.t.Fatalf("op %s refused: %s", o.OpID, o.Error)
		}
	}
}

// remote applies an op as if region "eu" had accepted it.
func (r *syncRig) remote(ws string, op engine.PendingOp) {
	r.t.Helper()
	r.seq++
	kind := synclog.OpPut
	if op.Operation == "delete" {
		kind = synclog.OpDelete
	}
	rec := synclog.ChangeRecord{Table: op.TableName, PK: op.PK, Op: kind, Payload: op.Payload, Clock: op.Stamp.Clock,
		HLC: op.Stamp.HLC, DeviceID: "eu-dev", OpID: op.Stamp.OpID, Fingerprint: "fp-" + op.Stamp.OpID,
		CreatedAtMs: r.clock.Ms(), UserID: "alice"}
	val, err := synclog.Encode(&rec)
	if err != nil {
		r.t.Fatal(err)
	}
	st, err := r.eng.ApplyRemote(context.Background(), "eu", []engine.RemoteEvent{{Seq: r.seq, Key: synclog.ChangeKey(ws, r.seq), Value: val}})
	if err != nil || st.Applied != 1 {
		r.t.Fatalf("remote: %+v %v", st, err)
	}
}

func (r *syncRig) drain() {
	r.t.Helper()
	if _, err := r.s.DrainSync(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// deliverAll runs the dispatcher until nothing is due.
func (r *syncRig) deliverAll() {
	r.t.Helper()
	for {
		n, err := r.s.RunOnce(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

type sentEvent struct {
	Type string
	Data any
}

// expected is, per event id, what the live path would have enqueued to a
// hook w for every recorded change.
func (r *syncRig) expected(w *Webhook) map[string]sentEvent {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]sentEvent{}
	for i := range r.live {
		c := &r.live[i]
		typ := EventType(c)
		if typ == "" || !matchesSync(w, c, typ) {
			continue
		}
		data, err := encodeJSON(projectData(c))
		if err != nil {
			r.t.Fatal(err)
		}
		var v any
		_ = json.Unmarshal(data, &v)
		out[syncEventID(c)] = sentEvent{typ, v}
	}
	return out
}

// logged returns the sync deliveries logged for w by event id, failing on
// a duplicate.
func (r *syncRig) logged(w *Webhook) map[string]sentEvent {
	r.t.Helper()
	ds, err := r.s.GetDeliveryLogs(context.Background(), w.ID, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]sentEvent{}
	for _, d := range ds {
		var env struct {
			Event   string `json:"event"`
			EventID string `json:"event_id"`
			Data    any    `json:"data"`
		}
		if err := json.Unmarshal([]byte(d.RequestPayload), &env); err != nil {
			r.t.Fatal(err)
		}
		if _, dup := out[env.EventID]; dup {
			r.t.Fatalf("event %s (%s) enqueued twice to %s", env.EventID, env.Event, w.ID)
		}
		if env.EventID != d.EventID || env.Event != d.EventType {
			r.t.Fatalf("delivery %+v vs envelope %+v", d, env)
		}
		out[env.EventID] = sentEvent{env.Event, env.Data}
	}
	return out
}

func (r *syncRig) checkExactlyOnce(w *Webhook) {
	r.t.Helper()
	want, got := r.expected(w), r.logged(w)
	if !reflect.DeepEqual(want, got) {
		var missing, extra []string
		for id, e := range want {
			if g, ok := got[id]; !ok || !reflect.DeepEqual(g, e) {
				missing = append(missing, fmt.Sprintf("%s %v (logged: %v)", e.Type, e.Data, got[id]))
			}
		}
		for id, e := range got {
			if _, ok := want[id]; !ok {
				extra = append(extra, fmt.Sprintf("%s %v", e.Type, e.Data))
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		r.t.Fatalf("hook %s: %d events expected, %d logged\nmissing or different: %v\nextra: %v", w.ID, len(want), len(got), missing, extra)
	}
}

func (r *syncRig) hook(in CreateInput) (*Webhook, string) {
	r.t.Helper()
	w, secret, err := r.s.CreateWebhook(context.Background(), in)
	if err != nil {
		r.t.Fatal(err)
	}
	return w, secret
}

func th(title string) map[string]any { return map[string]any{"title": title} }

// A crash between the pushes' commits and their enqueue: after restart the
// store reads the missing ops back from the change log, and every applied
// op reaches a real loopback receiver exactly once — creates, updates,
// deletes, soft deletes and notifications with the event names and data
// the live path gives; ops that lost the merge, ops of other regions and
// tables without events fire nothing; and the ops enqueued before the
// crash are not enqueued again.
func TestCatchUp_CrashBeforeEnqueue(t *testing.T) {
	r := newSyncRig(t)
	rcv := newReceiver(t, nil)
	admin, secret := r.hook(CreateInput{Scope: ScopeAdmin, URL: rcv.srv.URL,
		Events: []string{"thread.*", "message.*", "document.*", "notification.created"}})
	rcv.secret = secret
	rcv2 := newReceiver(t, nil)
	mine, secret2 := r.hook(CreateInput{Scope: ScopeUser, UserID: "alice", WorkspaceID: "ws-1", URL: rcv2.srv.URL, Events: []string{"notification.created", "thread.deleted"}})
	rcv2.secret = secret2

	// Enqueued before the crash.
	r.push("ws-1", "alice", r.op("threads", "t1", 1, th("one")), r.op("messages", "m1", 1, map[string]any{"content": "hi", "thread_id": "t1"}))
	r.push("ws-2", "bob", r.op("threads", "t9", 1, th("nine")))
	r.drain()
	enqueued := len(r.logged(admin))
	if enqueued != 3 {
		t.Fatalf("%d deliveries before the crash", enqueued)
	}

	// Committed, never enqueued.
	r.push("ws-1", "alice",
		r.op("threads", "t1", 2, th("one, renamed")),       // update
		r.op("threads", "t2", 1, th("two")),                // create
		r.op("threads", "t2", 2, th("two, at once again")), // update in the same push
		r.op("kv", "k1", 1, map[string]any{"v": 1}),        // no event
	)
	r.push("ws-1", "alice", r.op("threads", "t1", 1, th("stale"))) // loses: not applied
	r.push("ws-1", "alice", r.op("messages", "m1", 5, nil))        // delete
	r.push("ws-1", "alice", r.op("messages", "m1", 4, map[string]any{"content": "late"}))
	r.push("ws-1", "alice", r.op("posts", "p1", 1, map[string]any{"title": "doc", "content": "body"}))
	r.push("ws-1", "alice", r.op("posts", "p1", 2, map[string]any{"title": "doc", "deleted": true})) // soft delete
	r.push("ws-1", "alice", r.op("notifications", "n1", 1, map[string]any{"title": "ping"}))
	r.push("ws-1", "alice", r.op("notifications", "n1", 2, map[string]any{"title": "ping", "read": true})) // update: no event
	r.remote("ws-1", r.op("threads", "t3", 7, th("from eu")))                                              // other region: no event
	r.push("ws-1", "alice", r.op("threads", "t3", 3, th("loses to eu")))
	r.push("ws-1", "alice", r.op("threads", "t3", 8, th("beats eu")))
	r.push("ws-2", "bob", r.op("threads", "t9", 2, nil))
	r.crash()

	r.restart()
	r.drain()
	r.checkExactlyOnce(admin)
	r.checkExactlyOnce(mine)
	want := map[string]int{"thread.created": 3, "thread.updated": 3, "thread.deleted": 1, "message.created": 1,
		"message.deleted": 1, "document.created": 1, "document.deleted": 1, "notification.created": 1}
	got := map[string]int{}
	for _, e := range r.logged(admin) {
		got[e.Type]++
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("admin hook events %v, want %v", got, want)
	}

	// Delivered over HTTP, signed, each event once.
	r.deliverAll()
	for _, c := range []struct {
		rcv *receiver
		w   *Webhook
	}{{rcv, admin}, {rcv2, mine}} {
		seen := map[string]int{}
		for _, q := range c.rcv.requests() {
			seen[q.Headers.Get("X-OR3-Event-ID")]++
		}
		want := r.logged(c.w)
		if n := len(c.rcv.requests()); n != len(want) || c.rcv.badSigs != 0 {
			t.Fatalf("receiver got %d requests (%d bad signatures) for %d deliveries", n, c.rcv.badSigs, len(want))
		}
		for id := range want {
			if seen[id] != 1 {
				t.Fatalf("event %s received %d times", id, seen[id])
			}
		}
	}
	for _, ws := range []string{"ws-1", "ws-2"} {
		if m, c := r.s.progress(ws), r.counter(ws); m != c {
			t.Fatalf("%s: mark %d, counter %d", ws, m, c)
		}
	}
}

// A crash after the deliveries (and with them the marks) committed: the
// restart enqueues nothing again, even though the progress over ops that
// fired nothing was not written; a graceful restart leaves no catch-up.
func TestCatchUp_CrashAfterEnqueue_NoDuplicates(t *testing.T) {
	r := newSyncRig(t)
	rcv := newReceiver(t, nil)
	admin, secret := r.hook(CreateInput{Scope: ScopeAdmin, URL: rcv.srv.URL, Events: []string{"thread.*"}})
	rcv.secret = secret
	for i := 0; i < 5; i++ {
		r.push("ws", "alice", r.op("threads", fmt.Sprintf("t%d", i), 1, th("x")), r.op("kv", fmt.Sprintf("k%d", i), 1, map[string]any{}))
	}
	r.drain()
	r.push("ws", "alice", r.op("kv", "k9", 1, map[string]any{})) // fires nothing: its mark stays in memory
	r.drain()
	r.deliverAll()
	if m := r.s.MarkOf("ws"); m != 10 {
		t.Fatalf("durable mark %d, want 10 (written with the last deliveries)", m)
	}
	r.crash()

	r.restart()
	r.drain()
	r.checkExactlyOnce(admin)
	r.deliverAll()
	if n := len(rcv.requests()); n != 5 {
		t.Fatalf("receiver got %d requests, want 5", n)
	}
	if m := r.s.progress("ws"); m != 11 {
		t.Fatalf("mark %d after catch-up, want 11", m)
	}

	r.push("ws", "alice", r.op("threads", "t0", 2, th("y")))
	r.graceful()
	if m := r.s.MarkOf("ws"); m != 12 {
		t.Fatalf("durable mark %d after a graceful restart, want 12", m)
	}
	r.drain()
	r.checkExactlyOnce(admin)
	r.deliverAll()
	if n := len(rcv.requests()); n != 6 {
		t.Fatalf("receiver got %d requests, want 6", n)
	}
}

// The live queue overflowing drops events from memory only: the enqueuer
// reads them back from the change log, each once.
func TestCatchUp_QueueOverflow(t *testing.T) {
	r := newSyncRig(t, func(c *Config) { c.QueueSize = 3 })
	admin, _ := r.hook(CreateInput{Scope: ScopeAdmin, URL: "http://127.0.0.1:9/h", Events: []string{"thread.*"}})
	r.drain() // the opening catch-up
	for i := 0; i < 10; i++ {
		r.push("ws", "alice", r.op("threads", fmt.Sprintf("t%d", i), 1, th("x")))
	}
	if r.s.Dropped() != 7 {
		t.Fatalf("dropped %d", r.s.Dropped())
	}
	r.drain()
	r.checkExactlyOnce(admin)
	if n := len(r.logged(admin)); n != 10 {
		t.Fatalf("%d deliveries", n)
	}
}

// A log that predates the marks (or state rebuilt by replay) starts every
// mark at its workspace's counter: history never fires. A hook registered
// after an op never gets it from catch-up either.
func TestCatchUp_NoHistory(t *testing.T) {
	r := newSyncRig(t)
	r.push("ws", "alice", r.op("threads", "t0", 1, th("x")))
	// Forget the marks, as a log written before them would be.
	r.s.Close()
	b := r.db.NewBatch()
	_ = b.DeleteRange([]byte{synclog.PrefixWebhookMark}, []byte{synclog.PrefixWebhookMark + 1})
	if err := r.db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	r.openStore()
	if m := r.s.MarkOf("ws"); m != 1 {
		t.Fatalf("initial mark %d", m)
	}
	r.push("ws", "alice", r.op("threads", "t1", 1, th("x"))) // no hook yet
	r.clock.Advance(time.Second)
	admin, _ := r.hook(CreateInput{Scope: ScopeAdmin, URL: "http://127.0.0.1:9/h", Events: []string{"thread.*"}})
	r.push("ws", "alice", r.op("threads", "t2", 1, th("x")))
	r.crash()
	r.restart()
	r.drain()
	got := r.logged(admin)
	if len(got) != 1 {
		t.Fatalf("deliveries %v", got)
	}
	for _, e := range got {
		if e.Data.(map[string]any)["id"] != "t2" {
			t.Fatalf("delivered %v", e)
		}
	}
}

// History GC collected a row's earlier ops: an op on it in the window is
// still an update, not a create.
func TestCatchUp_CollectedHistory(t *testing.T) {
	r := newSyncRig(t)
	admin, _ := r.hook(CreateInput{Scope: ScopeAdmin, URL: "http://127.0.0.1:9/h", Events: []string{"thread.*"}})
	r.push("ws", "alice", r.op("threads", "t0", 1, th("old")), r.op("threads", "t1", 1, th("old")))
	r.drain()
	r.clock.Advance(3 * time.Hour)
	if _, _, err := r.eng.CollectHistory(context.Background(), "ws", time.Hour); err != nil {
		t.Fatal(err)
	}
	if v := r.db.View(); v != nil {
		cs, _ := readCounterRecords(v)
		v.Release()
		if len(cs) != 1 || cs[0].ctr.Floor != 2 {
			t.Fatalf("history not collected: %+v", cs)
		}
	}
	r.push("ws", "alice", r.op("threads", "t0", 2, th("new")))
	r.push("ws", "alice", r.op("threads", "t1", 2, th("new")), r.op("threads", "t1", 3, th("newer")))
	r.crash()
	r.restart()
	r.drain()
	r.checkExactlyOnce(admin)
	n := 0
	for _, e := range r.logged(admin) {
		if e.Type == "thread.updated" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d updates: %v", n, r.logged(admin))
	}
}

// Random histories of creates, updates, deletes, soft deletes, stale ops
// and other regions' ops on a few keys, with crashes and enqueues at
// random points: the deliveries always equal what the live path would
// have enqueued, each once.
func TestCatchUp_MatchesLive(t *testing.T) {
	seeds := 10 // SYNCD_WEBHOOK_SEEDS=N for a longer run
	if n, err := strconv.Atoi(os.Getenv("SYNCD_WEBHOOK_SEEDS")); err == nil {
		seeds = n
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			r := newSyncRig(t)
			admin, _ := r.hook(CreateInput{Scope: ScopeAdmin, URL: "http://127.0.0.1:9/h",
				Events: []string{"thread.*", "message.*", "document.*", "notification.created"}})
			user, _ := r.hook(CreateInput{Scope: ScopeUser, UserID: "alice", WorkspaceID: "ws-0", URL: "http://127.0.0.1:9/h",
				Events: []string{"notification.created", "message.*"}})
			tables := []string{"threads", "messages", "posts", "notifications", "kv"}
			for step := 0; step < 60; step++ {
				ws := fmt.Sprintf("ws-%d", rng.IntN(2))
				switch x := rng.IntN(20); {
				case x == 0:
					r.drain()
				case x == 1:
					r.crash()
					r.restart()
				case x == 2:
					r.graceful()
				default:
					var ops []engine.PendingOp
					for n := 1 + rng.IntN(3); n > 0; n-- {
						table := tables[rng.IntN(len(tables))]
						pk := fmt.Sprintf("%s-%d", table[:1], rng.IntN(3))
						clock := int64(rng.IntN(6))
						var p map[string]any
						switch rng.IntN(5) {
						case 0:
						case 1:
							p = map[string]any{"title": "gone", "deleted": true}
						default:
							p = map[string]any{"title": fmt.Sprint("v", step), "content": "c"}
						}
						if table == "notifications" && p == nil {
							p = map[string]any{"title": "n"}
						}
						ops = append(ops, r.op(table, pk, clock, p))
					}
					if x < 5 {
						for _, op := range ops {
							r.remote(ws, op)
						}
					} else {
						r.push(ws, "alice", ops...)
					}
				}
			}
			r.crash()
			r.restart()
			r.drain()
			r.checkExactlyOnce(admin)
			r.checkExactlyOnce(user)
		})
	}
}

func (s *Store) dropQueueForTest() {
	s.qmu.Lock()
	s.queue, s.skipped = nil, nil
	s.qmu.Unlock()
}

// progress is the mark of ws, durable or not.
func (s *Store) progress(ws string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.markOf(ws)
}

func (r *syncRig) counter(ws string) uint64 {
	r.t.Helper()
	v := r.db.View()
	defer v.Release()
	cs, err := readCounters(v)
	if err != nil {
		r.t.Fatal(err)
	}
	return cs[ws]
}

// BenchmarkCatchUp_NewKeysAfterLongHistory measures the worst common
// case of a catch-up: ops that created keys in the window, in a
// workspace with a long retained history, so proving that nothing came
// before them reads the whole retained log below the mark once. It
// reports the cost per retained entry read.
func BenchmarkCatchUp_NewKeysAfterLongHistory(b *testing.B) {
	history := 100_000
	if n, err := strconv.Atoi(os.Getenv("SYNCD_WEBHOOK_HISTORY")); err == nil {
		history = n
	}
	const window = 50
	r := &syncRig{t: b, dir: b.TempDir(), clock: newTestClock()}
	r.cfg = Config{EncryptionKey: testKey, AllowPrivate: true, Logger: quiet, RateLimitPerMinute: -1}
	r.open()
	defer func() { r.s.Close(); r.closeLog() }()
	push := func(from, n int) {
		var ops []engine.PendingOp
		for i := from; i < from+n; i++ {
			ops = append(ops, r.op("messages", fmt.Sprintf("k%d", i), 1, map[string]any{"v": i}))
			if len(ops) == engine.MaxPushOps || i == from+n-1 {
				if _, err := r.eng.Push(context.Background(), "alice", engine.PushBatch{Scope: engine.Scope{WorkspaceID: "ws"}, Ops: ops}); err != nil {
					b.Fatal(err)
				}
				ops = nil
			}
		}
	}
	push(0, history) // no hook yet: nothing is enqueued, the mark moves
	r.drain()
	if _, _, err := r.s.CreateWebhook(context.Background(), CreateInput{Scope: ScopeAdmin, URL: "http://127.0.0.1:9/h", Events: []string{"message.*"}}); err != nil {
		b.Fatal(err)
	}
	push(history, window)
	v := r.db.View()
	defer v.Release()
	cs, err := readCounterRecords(v)
	if err != nil || len(cs) != 1 {
		b.Fatal(cs, err)
	}
	mark := r.s.progress("ws")
	if mark != uint64(history) {
		b.Fatalf("mark %d", mark)
	}
	for b.Loop() {
		out, err := appliedSince(v, "ws", mark, cs[0].ctr, r.s)
		if err != nil || len(out) != window {
			b.Fatal(len(out), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(history), "ns/retained-entry")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/catch-up")
}
