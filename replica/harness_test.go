package replica_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/replica"
)

// allRoles makes every user an owner of every workspace.
type allRoles struct{}

func (allRoles) Role(context.Context, string, string) (string, error) { return "owner", nil }

// source and sink adapt the engine as daemon/replica.go does.
type source struct{ e *engine.Engine }

func (s source) ReadOrigin(after uint64, max int) ([]replica.Event, error) {
	evs, err := s.e.ReadOrigin(after, max)
	out := make([]replica.Event, len(evs))
	for i, ev := range evs {
		out[i] = replica.Event{Seq: ev.Seq, AtMs: ev.AtMs, Key: ev.Key, Value: ev.Value}
	}
	return out, err
}

type sink struct{ e *engine.Engine }

func (s sink) Apply(ctx context.Context, region string, evs []replica.Event) (replica.ApplyResult, error) {
	in := make([]engine.RemoteEvent, len(evs))
	for i, ev := range evs {
		in[i] = engine.RemoteEvent{Seq: ev.Seq, Key: ev.Key, Value: ev.Value}
	}
	t0 := time.Now()
	st, err := s.e.ApplyRemote(ctx, region, in)
	applyStats.calls.Add(1)
	applyStats.events.Add(int64(len(evs)))
	applyStats.nanos.Add(int64(time.Since(t0)))
	if errors.Is(err, engine.ErrOriginGap) {
		err = errors.Join(replica.ErrGap, err)
	}
	return replica.ApplyResult{Rejected: st.Rejected, Last: st.Last}, err
}

func (s sink) Applied() (map[string]uint64, error) { return s.e.Applied() }

// applyStats counts the sinks' Apply calls (benchmarks print them).
var applyStats struct{ calls, events, nanos atomic.Int64 }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// region is one region in the test process: Pebble, engine, replicator
// with an embedded nats-server.
type region struct {
	t       testing.TB
	name    string
	dir     string
	listen  string
	routes  []string
	natsURL string
	noRepl  bool
	// replicas of the stream (0: the replicator's default).
	replicas int
	// memTableMB sizes Pebble's memtables (0: 8 MiB, the tests' size).
	memTableMB int

	db  *synclog.DB
	eng *engine.Engine
	rep *replica.Replicator

	mu    sync.Mutex
	acked map[string]bool // op ids this region acknowledged
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newCluster returns n regions whose embedded servers form one cluster.
func newCluster(t testing.TB, n int) []*region {
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freePort(t)
	}
	regs := make([]*region, n)
	for i := range regs {
		var routes []string
		for j, a := range addrs {
			if j != i {
				routes = append(routes, "nats-route://"+a)
			}
		}
		regs[i] = &region{t: t, name: fmt.Sprintf("r%d", i), dir: t.TempDir(), listen: addrs[i], routes: routes, acked: map[string]bool{}}
		if n == 1 {
			regs[i].listen = "" // a single node: no cluster
		}
	}
	var wg sync.WaitGroup
	for _, r := range regs {
		wg.Add(1)
		go func() { defer wg.Done(); r.open() }()
	}
	wg.Wait()
	for _, r := range regs {
		t.Cleanup(r.close)
	}
	return regs
}

func (r *region) open() {
	mt := uint64(8 << 20) // tests: small memtables
	if mb := max(r.memTableMB, *benchMemTable); mb > 0 {
		mt = uint64(mb) << 20
	}
	db, err := synclog.Open(synclog.Config{Dir: filepath.Join(r.dir, "log"), Logger: quiet, MemTableSize: mt})
	if err != nil {
		r.t.Error(err)
		return
	}
	eng, err := engine.New(engine.Config{DB: db, Roles: allRoles{}, Logger: quiet})
	if err != nil {
		r.t.Error(err)
		return
	}
	r.db, r.eng = db, eng
	if r.noRepl {
		return
	}
	rep, err := replica.New(replica.Config{
		Region: r.name, StoreDir: filepath.Join(r.dir, "jetstream"), NATSURL: r.natsURL,
		Listen: r.listen, Routes: r.routes, Replicas: r.replicas, Source: source{eng}, Sink: sink{eng},
		PollEvery: 20 * time.Millisecond, DiscoverEvery: 200 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		r.t.Error(err)
		return
	}
	r.rep = rep
	// Publish after every durable commit (the daemon wakes it from the
	// log's OnCommit; the engine's subscription does here).
	eng.Subscribe(func(engine.Committed) { rep.Notify() })
	rep.Start()
}

func (r *region) close() {
	if r.rep != nil {
		r.rep.Close()
		r.rep = nil
	}
	if r.eng != nil {
		r.eng.Close()
		r.db.Close()
		r.eng, r.db = nil, nil
	}
}

func opID() string { return uuid.NewString() }

var hlcSeq struct {
	sync.Mutex
	n int
}

func hlc(dev string) string {
	hlcSeq.Lock()
	defer hlcSeq.Unlock()
	hlcSeq.n++
	return fmt.Sprintf("%013d:%04d:%s", 1_750_000_000_000+hlcSeq.n/10, hlcSeq.n%10, dev)
}

func putOp(pk string, clock int64, dev, id, title string) engine.PendingOp {
	raw, _ := json.Marshal(map[string]any{"id": pk, "title": title, "status": "ready", "deleted": false, "pinned": false, "created_at": 1, "updated_at": 1, "clock": clock})
	return engine.PendingOp{TableName: "threads", Operation: "put", PK: pk, Payload: raw,
		Stamp: engine.Stamp{DeviceID: dev, OpID: id, HLC: hlc(dev), Clock: clock}}
}

func delOp(pk string, clock int64, dev, id string) engine.PendingOp {
	return engine.PendingOp{TableName: "threads", Operation: "delete", PK: pk,
		Stamp: engine.Stamp{DeviceID: dev, OpID: id, HLC: hlc(dev), Clock: clock}}
}

// push pushes ops and records the acknowledged ones; an unavailable
// answer (the region closing) is not an acknowledgement.
func (r *region) push(ws string, ops ...engine.PendingOp) error {
	res, err := r.eng.Push(context.Background(), "alice", engine.PushBatch{Scope: engine.Scope{WorkspaceID: ws}, Ops: ops})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range res.Results {
		if x.Success {
			r.acked[ops[i].Stamp.OpID] = true
		} else {
			r.t.Errorf("%s: op %s refused: %s %s", r.name, ops[i].Stamp.OpID, x.ErrorCode, x.Error)
		}
	}
	return nil
}

func (r *region) originLen() uint64 {
	evs, err := r.eng.ReadOrigin(0, 1<<30)
	if err != nil {
		r.t.Fatal(err)
	}
	return uint64(len(evs))
}

// waitConverged waits until every region has applied every other region's
// whole origin sequence and the digests of wss are equal.
func waitConverged(t testing.TB, regs []*region, wss []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := converged(regs, wss)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			for _, r := range regs {
				if r.rep != nil {
					t.Logf("%s: %+v", r.name, r.rep.Status())
				}
			}
			t.Fatalf("not converged after %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func converged(regs []*region, wss []string) string {
	lens := map[string]uint64{}
	for _, r := range regs {
		lens[r.name] = r.originLen()
	}
	for _, r := range regs {
		applied, err := r.eng.Applied()
		if err != nil {
			return err.Error()
		}
		for _, o := range regs {
			if o != r && applied[o.name] != lens[o.name] {
				return fmt.Sprintf("%s applied %s to %d of %d", r.name, o.name, applied[o.name], lens[o.name])
			}
		}
	}
	for _, ws := range wss {
		d0, _ := regs[0].eng.Digest(context.Background(), ws)
		for _, r := range regs[1:] {
			if d, _ := r.eng.Digest(context.Background(), ws); d != d0 {
				return fmt.Sprintf("%s digest of %s differs from %s", r.name, ws, regs[0].name)
			}
		}
	}
	return ""
}

// checkAcked checks that every op acknowledged anywhere is logged in every
// region (as winner or as a logged loser).
func checkAcked(t testing.TB, regs []*region) {
	t.Helper()
	for _, r := range regs {
		v := r.db.View()
		for _, o := range regs {
			o.mu.Lock()
			for id := range o.acked {
				var idx synclog.OpIndexRecord
				found, err := synclog.GetRecord(v, synclog.OpIndexKey(id), &idx)
				if err != nil || !found {
					t.Errorf("op %s acknowledged by %s is missing in %s", id, o.name, r.name)
				}
			}
			o.mu.Unlock()
		}
		v.Release()
	}
}
