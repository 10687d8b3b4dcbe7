package log

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// counterFolder is a small fold for tests: system events "add" add their
// body (a u64) to the test key named by Actor; sync entries keep a
// per-workspace count and the last pk per table in PrefixTest keys.
type counterFolder struct{}

func (counterFolder) FoldSystem(b *Batch, seq uint64, ev *SystemEvent) error {
	if ev.Type != "add" {
		return fmt.Errorf("unknown event %q", ev.Type)
	}
	k := testKey("sum/" + ev.Actor)
	cur, err := b.Get(k)
	if err != nil {
		return err
	}
	var n uint64
	if cur != nil {
		n = binary.BigEndian.Uint64(cur)
	}
	n += binary.BigEndian.Uint64(ev.Body)
	return b.Set(k, binary.BigEndian.AppendUint64(nil, n))
}

func (counterFolder) FoldChange(b *Batch, ws string, v uint64, rec *ChangeRecord) error {
	if err := b.Set(CounterKey(ws), MustEncode(&CounterRecord{Counter: v})); err != nil {
		return err
	}
	return b.Set(testKey("last/"+ws+"/"+rec.Table), []byte(rec.PK))
}

func TestReplay_RebuildEqualsLive(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	live := mustOpen(t, Config{})
	f := counterFolder{}
	ctx := context.Background()
	versions := map[string]uint64{}
	for i := 0; i < 300; i++ {
		b := live.NewBatch()
		for j := 0; j < 1+rng.IntN(5); j++ {
			if rng.IntN(2) == 0 {
				ev := &SystemEvent{Type: "add", Actor: fmt.Sprint(rng.IntN(4)), Body: binary.BigEndian.AppendUint64(nil, uint64(rng.IntN(100)))}
				seq := live.NextSystemSeq()
				if err := b.AppendEvent(SystemKey(seq), ev); err != nil {
					t.Fatal(err)
				}
				if err := f.FoldSystem(b, seq, ev); err != nil {
					t.Fatal(err)
				}
			} else {
				ws := fmt.Sprint("ws", rng.IntN(3))
				versions[ws]++
				rec := &ChangeRecord{Table: "threads", PK: fmt.Sprint(rng.IntN(10)), Op: OpPut, OpID: fmt.Sprint(i, j)}
				if err := b.AppendEvent(ChangeKey(ws, versions[ws]), rec); err != nil {
					t.Fatal(err)
				}
				if err := f.FoldChange(b, ws, versions[ws], rec); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := live.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	rebuilt := mustOpen(t, Config{})
	src := live.View()
	defer src.Release()
	if err := Rebuild(ctx, src, rebuilt, f, 7); err != nil {
		t.Fatal(err)
	}
	dst := rebuilt.View()
	defer dst.Release()
	diff, err := DiffState(src, dst, append(StateKeyspaces(), PrefixTest, PrefixChange, PrefixSystem, PrefixOrigin)...)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("replay differs from live: %s", diff)
	}
	// DiffState notices a difference.
	b := rebuilt.NewBatch()
	b.Set(testKey("sum/0"), []byte("tampered"))
	rebuilt.Commit(ctx, b)
	b.Close()
	dst2 := rebuilt.View()
	defer dst2.Release()
	if diff, _ := DiffState(src, dst2, PrefixTest); diff == "" {
		t.Fatal("DiffState missed a tampered value")
	}
}
