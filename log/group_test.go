package log

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"
)

// TestGroupBuilder_SameStateAsBatchesInOrder checks the group batch (keys
// sorted unless a range deletion forbids it, origin entries numbered in
// the writers' order) against the deliberately plain reference: each
// writer's batch and then its origin entries applied one after the other.
func TestGroupBuilder_SameStateAsBatchesInOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		open := func() *pebble.DB {
			pdb, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: pebbleLogger{quietLogger()}})
			if err != nil {
				rt.Fatal(err)
			}
			return pdb
		}
		grouped, reference := open(), open()
		defer grouped.Close()
		defer reference.Close()

		key := rapid.SampledFrom([]string{"a", "b", "c", "d", "e"})
		rangeDeletes := rapid.Bool().Draw(rt, "rangeDeletes")
		var group []*request
		for w := range rapid.IntRange(1, 6).Draw(rt, "writers") {
			b := &Batch{pb: new(pebble.Batch)}
			for i := range rapid.IntRange(0, 6).Draw(rt, "ops") {
				k := testKey(key.Draw(rt, "key"))
				switch op := rapid.IntRange(0, 4).Draw(rt, "op"); {
				case op == 0:
					_ = b.Delete(k)
				case op == 1 && rangeDeletes:
					_ = b.DeleteRange(k, testKey(key.Draw(rt, "end")+"~"))
				case op == 2:
					_ = b.Set(k, fmt.Appendf(nil, "event %d.%d", w, i))
					b.originKeys = append(b.originKeys, k)
				default:
					_ = b.Set(k, fmt.Appendf(nil, "%d.%d", w, i))
				}
			}
			group = append(group, &request{b: b})
		}

		var g groupBuilder
		const firstOrigin = 41
		gb, origin, err := g.build(grouped, group, firstOrigin, 0)
		if err != nil {
			rt.Fatal(err)
		}
		if err := grouped.Apply(gb, pebble.Sync); err != nil {
			rt.Fatal(err)
		}
		g.release()

		want := uint64(firstOrigin)
		for _, r := range group {
			if err := reference.Apply(r.b.pb, pebble.NoSync); err != nil {
				rt.Fatal(err)
			}
			for _, ek := range r.b.originKeys {
				want++
				if err := reference.Set(OriginKey(want), ek, pebble.NoSync); err != nil {
					rt.Fatal(err)
				}
			}
		}
		if origin != want {
			rt.Fatalf("last origin %d, want %d", origin, want)
		}
		if got, want := dumpPebble(rt, grouped), dumpPebble(rt, reference); got != want {
			rt.Fatalf("group batch state:\n%s\nbatches in order:\n%s", got, want)
		}
	})
}

func dumpPebble(t interface{ Fatal(...any) }, pdb *pebble.DB) string {
	it, err := pdb.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out bytes.Buffer
	for it.First(); it.Valid(); it.Next() {
		fmt.Fprintf(&out, "%q=%q\n", it.Key(), it.Value())
	}
	return out.String()
}
