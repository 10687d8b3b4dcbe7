package replica_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/replica"
)

// TestReplica_ThreeRegionsConverge: three regions over a three-node
// JetStream cluster (R3 stream) accept writes concurrently — conflicting
// edits of the same rows, deletes racing puts, one op_id accepted with the
// same payload in two regions and one with different payloads — and end
// with equal digests and every acknowledged op logged everywhere.
func TestReplica_ThreeRegionsConverge(t *testing.T) {
	regs := newCluster(t, 3)
	wss := []string{"ws-1", "ws-2"}
	pks := []string{"a", "b", "c", "d", "e"}
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			dev := fmt.Sprintf("d%d", i)
			for n := 0; n < 60; n++ {
				ws := wss[rng.IntN(len(wss))]
				pk := pks[rng.IntN(len(pks))]
				clock := int64(rng.IntN(3) + 1)
				op := putOp(pk, clock, dev, opID(), fmt.Sprintf("%s-%d", r.name, n))
				if rng.IntN(4) == 0 {
					op = delOp(pk, clock, dev, opID())
				}
				if err := r.push(ws, op); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// One op_id pushed to two regions (a client retrying after failover):
	// same payload → applied once everywhere; different payloads → both
	// logged, the fingerprint tie-break picks one winner everywhere.
	same := putOp("x", 9, "dX", opID(), "same")
	diffA := putOp("y", 9, "dY", opID(), "first")
	diffB := diffA
	diffB.Payload = []byte(`{"id":"y","title":"second"}`)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, e := range []error{regs[0].push("ws-1", same), regs[1].push("ws-1", same),
			regs[1].push("ws-1", diffA), regs[2].push("ws-1", diffB)} {
			if e != nil {
				t.Error(e)
			}
		}
	}()
	wg.Wait()
	waitConverged(t, regs, wss, 60*time.Second)
	checkAcked(t, regs)
	// The same-payload op is logged once per region: the pushing regions
	// logged it themselves, the third region applied it once.
	for _, r := range regs {
		res, err := r.eng.Pull(context.Background(), "alice", engine.PullRequest{Scope: engine.Scope{WorkspaceID: "ws-1"}, Limit: ptr(1000)})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range res.Changes {
			if c.Stamp.OpID == same.Stamp.OpID {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s logged op %s %d times, want 1", r.name, same.Stamp.OpID, n)
		}
	}
	for _, r := range regs {
		st := r.rep.Status()
		if len(st.Origins) != 2 || st.Rejected != 0 {
			t.Errorf("%s status %+v", r.name, st)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestReplica_RegionRestartCatchesUp: one region is closed under load, the
// others keep accepting writes, and the restarted region resumes exactly
// where it stopped (applied origins in Pebble, durable consumers in
// JetStream) and converges.
func TestReplica_RegionRestartCatchesUp(t *testing.T) {
	regs := newCluster(t, 3)
	ws := []string{"ws-1"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range regs[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("d%d", i)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				pk := fmt.Sprintf("k%d", n%20)
				if err := r.push("ws-1", putOp(pk, int64(n), dev, opID(), fmt.Sprintf("%s-%d", r.name, n))); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	// The third region writes too, then goes away mid-stream.
	for n := 0; n < 50; n++ {
		if err := regs[2].push("ws-1", putOp(fmt.Sprintf("k%d", n%20), int64(n), "d2", opID(), "r2")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	regs[2].close()
	time.Sleep(time.Second) // the others keep writing while it is down
	t0 := time.Now()
	regs[2].open()
	t.Logf("reopened in %v", time.Since(t0))
	if t.Failed() {
		t.FailNow()
	}
	for n := 0; n < 20; n++ {
		if err := regs[2].push("ws-1", putOp(fmt.Sprintf("k%d", n), 1000, "d2", opID(), "after")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t1 := time.Now()
	waitConverged(t, regs, ws, 60*time.Second)
	t.Logf("converged %v after the writers stopped", time.Since(t1))
	checkAcked(t, regs)
}

// TestReplica_BadMessagesRejected: garbage, a header naming another
// region, and a well-formed event with a malformed record are counted and
// never applied; replication goes on.
func TestReplica_BadMessagesRejected(t *testing.T) {
	regs := newCluster(t, 1)
	r := regs[0]
	js, _ := r.rep.Conn().JetStream()
	waitStream(t, js, "SYNCD_"+r.name)
	// Region "evil" has a stream of its own, as every origin does.
	if _, err := js.AddStream(&nats.StreamConfig{Name: "SYNCD_evil", Subjects: []string{"syncd.ev.evil"}}); err != nil {
		t.Fatal(err)
	}
	good := replica.Encode(nil, &replica.Event{Region: "evil", Seq: 1, Key: []byte{0x10, 0, 4, 'w', 's', '-', '1', 0, 0, 0, 0, 0, 0, 0, 1}, Value: []byte{0x91, 0xc0}})
	for _, data := range [][]byte{
		[]byte("not an event"),
		replica.Encode(nil, &replica.Event{Region: "other", Seq: 1, Key: []byte{0x10}, Value: []byte{1}}),
		good, // a bad record at sequence 1: rejected, applied advances
	} {
		if _, err := js.Publish("syncd.ev.evil", data); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.rep.Status().Rejected < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", r.rep.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	d, _ := r.eng.Digest(context.Background(), "ws-1")
	if d.Rows != 0 {
		t.Fatalf("a rejected message was applied: %+v", d)
	}
	applied, _ := r.eng.Applied()
	if applied["evil"] != 1 {
		t.Fatalf("applied %v", applied)
	}
}

func waitStream(t testing.TB, js nats.JetStreamContext, name string) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := js.StreamInfo(name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("stream never created")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplica_PublishesWhenLinkReturns: a region pointed at an external
// NATS keeps accepting writes while the NATS is down and publishes them
// (in order, nothing lost) when it comes back.
func TestReplica_PublishesWhenLinkReturns(t *testing.T) {
	port := freePort(t)
	store := t.TempDir()
	start := func() *server.Server {
		host, p, _ := net.SplitHostPort(port)
		pn, _ := strconv.Atoi(p)
		s, err := server.NewServer(&server.Options{Host: host, Port: pn, JetStream: true, StoreDir: store, NoSigs: true, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats not ready")
		}
		return s
	}
	ns := start()
	r := &region{t: t, name: "solo", dir: t.TempDir(), natsURL: "nats://" + port, acked: map[string]bool{}}
	r.open()
	t.Cleanup(r.close)
	waitPublished := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for r.rep.Status().Published < want {
			if time.Now().After(deadline) {
				t.Fatalf("published %+v, want %d", r.rep.Status(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for n := 0; n < 5; n++ {
		if err := r.push("ws-1", putOp(fmt.Sprint("k", n), 1, "d", opID(), "before")); err != nil {
			t.Fatal(err)
		}
	}
	waitPublished(r.originLen())
	ns.Shutdown()
	ns.WaitForShutdown()
	for n := 0; n < 20; n++ { // writes go on while JetStream is gone
		if err := r.push("ws-1", putOp(fmt.Sprint("k", n), 2, "d", opID(), "during")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if st := r.rep.Status(); st.Published >= r.originLen() {
		t.Fatalf("published while NATS was down: %+v", st)
	}
	ns = start()
	defer ns.Shutdown()
	waitPublished(r.originLen())
	// The stream holds the whole origin sequence, once each.
	js, _ := r.rep.Conn().JetStream()
	info, err := js.StreamInfo("SYNCD_solo")
	if err != nil {
		t.Fatal(err)
	}
	// Runs of consecutive events, in order, without a gap or a repeat.
	next := uint64(1)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := js.GetMsg("SYNCD_solo", seq)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := replica.DecodeRun(m.Data)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if evs[0].Seq != next {
			t.Fatalf("message %d starts at event %d, want %d", seq, evs[0].Seq, next)
		}
		next = evs[len(evs)-1].Seq + 1
	}
	if next-1 != r.originLen() {
		t.Fatalf("stream holds events 1..%d, origin sequence is %d", next-1, r.originLen())
	}
}
