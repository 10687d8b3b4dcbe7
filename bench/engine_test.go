package bench

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
)

// The in-process engine figure must write what the HTTP cells write: each
// reuse of a pooled batch creates new rows, not re-puts of the first
// use's.
func TestEngineFigure_EachRoundWritesNewRows(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := synclog.Open(synclog.Config{Dir: filepath.Join(t.TempDir(), "log"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(engine.Config{DB: db, Roles: ownerRoles{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 9))
	wl := newWorkload(r)
	wl.pkSuffix = roundMark
	s := &wsState{id: "engine-ws-0", user: "bench"}
	var bb batchBuilder
	bb.reset(s.id)
	for range 100 {
		wl.genOp(r, s, &bb, "dev-0")
	}
	var pb engine.PushBatch
	if err := json.Unmarshal(bb.finish(), &pb); err != nil {
		t.Fatal(err)
	}
	marks, err := prepareRounds(&pb)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		nextRound(&pb, marks, round)
		for j := range pb.Ops {
			op := &pb.Ops[j]
			seq := wl.seq.Add(1)
			op.Stamp.OpID = wl.opID(seq)
			op.Stamp.Clock = wl.clock.Add(1)
			if want := "-r00000" + string(rune('0'+round)); !strings.HasSuffix(op.PK, want) {
				t.Fatalf("round %d: pk %s", round, op.PK)
			}
			if op.Payload != nil {
				var p map[string]any
				if err := json.Unmarshal(op.Payload, &p); err != nil || p["id"] != op.PK {
					t.Fatalf("round %d: payload %s for pk %s (%v)", round, op.Payload, op.PK, err)
				}
				if th, ok := p["thread_id"].(string); ok && !strings.HasSuffix(th, op.PK[len(op.PK)-len(roundMark):]) {
					t.Fatalf("round %d: thread %s of %s", round, th, op.PK)
				}
			}
		}
		res, err := eng.Push(context.Background(), "bench", pb)
		if err != nil {
			t.Fatal(err)
		}
		fresh := 0
		for j, or := range res.Results {
			if !or.Success {
				t.Fatalf("round %d op %d: %s %s", round, j, or.ErrorCode, or.Error)
			}
			if or.WasExisting != nil && !*or.WasExisting {
				fresh++
			}
		}
		// Most ops open a thread or post a message: new rows in every round.
		if fresh < 60 {
			t.Fatalf("round %d: %d of 100 ops wrote a new row", round, fresh)
		}
	}
}
