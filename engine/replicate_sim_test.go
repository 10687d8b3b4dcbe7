package engine

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
)

var simSeeds = flag.Int("sim.seeds", 4, "seeds the replication simulation runs")

// simReplica is one region of the simulation: an engine on its own Pebble.
type simReplica struct {
	name string
	h    *harness
}

// TestReplicationSim_Converges is a deterministic simulation (seeded, no
// sleeps, no NATS) of N regions accepting writes independently and
// exchanging their origin-indexed events through ApplyRemote over a network
// that drops, duplicates, reorders, and partitions. After the network heals
// and drains, every region's digest of every workspace is equal and every
// acknowledged op is logged in every region.
func TestReplicationSim_Converges(t *testing.T) {
	base := uint64(time.Now().UnixNano())
	for i := 0; i < *simSeeds; i++ {
		seed := base + uint64(i)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if !runSim(t, seed, 3+int(seed%2), 120) {
				t.Fatalf("simulation failed; reproduce with seed %d", seed)
			}
		})
	}
}

func runSim(t *testing.T, seed uint64, n, steps int) bool {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ctx := context.Background()
	regs := make([]*simReplica, n)
	for i := range regs {
		regs[i] = &simReplica{name: fmt.Sprintf("r%d", i), h: newHarness(t)}
	}
	wss := []string{"ws-1", "ws-A"}
	pks := []string{"a", "b", "c", "d"}
	acked := map[string]bool{} // op ids acknowledged by some region
	sharedOps := []PendingOp{} // ops re-pushed to another region (client retry after failover)
	partitioned := map[[2]int]bool{}
	clock := int64(0)

	mkOp := func(r int) PendingOp {
		clock++
		pk := pks[rng.IntN(len(pks))]
		c := int64(rng.IntN(4)) + 1 // small clocks: many ties broken by hlc/opId/fingerprint
		hlc := fmt.Sprintf("%013d:%04d:d%d", 1_750_000_000_000+int64(rng.IntN(3)), rng.IntN(3), r)
		if rng.IntN(4) == 0 {
			return del("threads", pk, c, hlc, newSimOpID(rng))
		}
		return put("threads", pk, c, hlc, newSimOpID(rng), thread(pk, fmt.Sprintf("t%d-%d", r, clock)))
	}
	push := func(r int, ws string, ops ...PendingOp) {
		res := regs[r].h.push(ws, "alice", ops...)
		for i, x := range res.Results {
			if x.Success {
				acked[ops[i].Stamp.OpID] = true
			}
		}
	}
	deliver := func(from, to int, evs []OriginEvent) {
		in := make([]RemoteEvent, len(evs))
		for i, ev := range evs {
			in[i] = RemoteEvent{Seq: ev.Seq, Key: ev.Key, Value: ev.Value}
		}
		if _, err := regs[to].h.eng.ApplyRemote(ctx, regs[from].name, in); err != nil && !isGap(err) {
			t.Errorf("seed %d: apply %s→%s: %v", seed, regs[from].name, regs[to].name, err)
		}
	}
	for step := 0; step < steps; step++ {
		switch a := rng.IntN(10); {
		case a < 4: // local writes
			r := rng.IntN(n)
			ops := []PendingOp{mkOp(r)}
			if rng.IntN(3) == 0 {
				ops = append(ops, mkOp(r))
			}
			ws := wss[rng.IntN(len(wss))]
			push(r, ws, ops...)
			if rng.IntN(4) == 0 {
				sharedOps = append(sharedOps, ops[0])
			}
		case a == 4 && len(sharedOps) > 0: // the same op_id in another region
			op := sharedOps[rng.IntN(len(sharedOps))]
			if rng.IntN(2) == 0 { // a different payload under the same op_id
				op.Payload = []byte(fmt.Sprintf(`{"id":%q,"title":"other-%d"}`, op.PK, step))
				op.Operation = "put"
			}
			push(rng.IntN(n), wss[0], op)
			push(rng.IntN(n), wss[1], op)
		case a == 5: // partition or heal a link
			k := [2]int{rng.IntN(n), rng.IntN(n)}
			partitioned[k] = !partitioned[k]
		default: // the network delivers something, badly
			from, to := rng.IntN(n), rng.IntN(n)
			if from == to || partitioned[[2]int{from, to}] {
				continue
			}
			all, err := regs[from].h.eng.ReadOrigin(0, 1<<20)
			if err != nil || len(all) == 0 {
				continue
			}
			lo := rng.IntN(len(all))
			hi := lo + rng.IntN(len(all)-lo) + 1
			batch := append([]OriginEvent(nil), all[lo:hi]...)
			switch rng.IntN(4) {
			case 0: // reorder
				rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			case 1: // duplicate
				batch = append(batch, batch[:rng.IntN(len(batch))+1]...)
			case 2: // drop one
				if len(batch) > 1 {
					i := rng.IntN(len(batch))
					batch = append(batch[:i], batch[i+1:]...)
				}
			}
			deliver(from, to, batch)
		}
	}
	// Heal and drain: every link delivers everything, in order (as a
	// durable consumer redelivers what was not acknowledged).
	for from := range regs {
		all, err := regs[from].h.eng.ReadOrigin(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for to := range regs {
			if to != from {
				deliver(from, to, all)
			}
		}
	}
	ok := true
	for _, ws := range wss {
		d0, err := regs[0].h.eng.Digest(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range regs[1:] {
			d, err := r.h.eng.Digest(ctx, ws)
			if err != nil {
				t.Fatal(err)
			}
			if d != d0 {
				t.Errorf("seed %d: %s: %s digest %s (%d rows) != %s digest %s (%d rows)", seed, ws, r.name, d.Digest[:12], d.Rows, regs[0].name, d0.Digest[:12], d0.Rows)
				ok = false
			}
		}
	}
	for _, r := range regs {
		applied, _ := r.h.eng.Applied()
		for _, o := range regs {
			if o == r {
				continue
			}
			all, _ := o.h.eng.ReadOrigin(0, 1<<20)
			if want := uint64(len(all)); applied[o.name] != want {
				t.Errorf("seed %d: %s applied %s to %d, want %d", seed, r.name, o.name, applied[o.name], want)
				ok = false
			}
		}
		v := r.h.db.View()
		for id := range acked {
			var idx synclog.OpIndexRecord
			found, err := synclog.GetRecord(v, synclog.OpIndexKey(id), &idx)
			if err != nil || !found {
				t.Errorf("seed %d: acknowledged op %s missing in %s", seed, id, r.name)
				ok = false
			}
		}
		v.Release()
	}
	return ok && !t.Failed()
}

func isGap(err error) bool { return err != nil && errorsIs(err, ErrOriginGap) }

func newSimOpID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var errorsIs = errors.Is
