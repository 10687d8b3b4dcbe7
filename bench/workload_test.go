package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// The load client formats ids and clocks by hand; they must read as the
// fmt verbs they replaced.
func TestWorkload_HandFormatsAsFmt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newWorkload(r)
	for i := range 10000 {
		seq := r.Uint64()
		switch i {
		case 0:
			seq = 0
		case 1:
			seq = 1<<64 - 1
		case 2:
			seq = 1 << 48
		}
		want := fmt.Sprintf("%s-%04x-4%03x-8%03x-%012x", w.prefix, (seq>>48)&0xffff, (seq>>36)&0xfff, (seq>>24)&0xfff, seq&0xffffffffffff)
		if got := w.opID(seq); got != want {
			t.Fatalf("opID(%d) = %s, want %s", seq, got, want)
		}
		n := r.Int64N(1 << 45)
		if got, want := string(appendDec(nil, n, 13)), fmt.Sprintf("%013d", n); got != want {
			t.Fatalf("appendDec(%d, 13) = %s, want %s", n, got, want)
		}
		if got, want := string(appendDec(nil, n%10000, 4)), fmt.Sprintf("%04d", n%10000); got != want {
			t.Fatalf("appendDec(%d, 4) = %s, want %s", n%10000, got, want)
		}
	}
	for _, s := range []string{"m-abc-1-2", "", "quote\"d", "back\\slash", "ctl\x01", "é", "\x7f"} {
		var back string
		if err := json.Unmarshal(appendQuoted(nil, s), &back); err != nil || back != s {
			t.Fatalf("appendQuoted(%q) = %s (%v)", s, appendQuoted(nil, s), err)
		}
	}
}

// Every generated batch is valid JSON that decodes to the ops it counts.
func TestWorkload_BatchesDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	w := newWorkload(r)
	s := &wsState{id: "ws-1", user: "u"}
	for range 50 {
		var bb batchBuilder
		bb.reset(s.id)
		for range 100 {
			w.genOp(r, s, &bb, "dev-1")
		}
		var batch struct {
			Ops []struct {
				PK      string         `json:"pk"`
				Payload map[string]any `json:"payload"`
				Stamp   struct {
					OpID string `json:"opId"`
					HLC  string `json:"hlc"`
				} `json:"stamp"`
			} `json:"ops"`
		}
		if err := json.Unmarshal(bb.finish(), &batch); err != nil {
			t.Fatalf("batch is not JSON: %v", err)
		}
		if len(batch.Ops) != 100 || len(bb.seqs) != 100 {
			t.Fatalf("%d ops, %d seqs", len(batch.Ops), len(bb.seqs))
		}
		for i, op := range batch.Ops {
			if seq, ok := w.seqOf(op.Stamp.OpID); !ok || seq != bb.seqs[i] {
				t.Fatalf("op %d id %s, seq %d", i, op.Stamp.OpID, bb.seqs[i])
			}
			if op.Payload != nil && op.Payload["id"] != op.PK {
				t.Fatalf("op %d payload id %v, pk %s", i, op.Payload["id"], op.PK)
			}
			if len(op.Stamp.HLC) < 19 {
				t.Fatalf("op %d hlc %q", i, op.Stamp.HLC)
			}
		}
	}
}
