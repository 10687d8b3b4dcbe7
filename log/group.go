package log

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// groupBuilder assembles one group commit's Pebble batch from the writers'
// batches and the origin index entries the committer numbers for them.
//
// It writes the records in key order when it may. Pebble inserts a batch
// into its memtable skiplist one key after the other, remembering where the
// previous key went; keys in order land beside each other and the search
// for each starts where the last one ended, while keys in the writers'
// order (event, row, counter, origin entry, next writer…) each search the
// whole skiplist from its head. In a busy store that search was most of
// the committer's CPU.
//
// Reordering keeps a batch's meaning only when no record depends on
// another key's position: writes to one key keep their order (the sort
// breaks ties by position), and any record kind other than a point set or
// delete (a range deletion hides the keys written before it, not those
// after) makes the builder keep the writers' order.
type groupBuilder struct {
	recs    []groupRec
	origins []byte // the origin index keys of the group, back to back
}

type groupRec struct {
	kind       pebble.InternalKeyKind
	ord        int // position in the writers' order, to keep writes to one key in order
	key, value []byte
}

// build returns the group batch for group, numbering its origin events
// after origin, and the last origin number it used. The records point into
// the writers' batches, which stay untouched until their writers are
// answered.
func (g *groupBuilder) build(pdb *pebble.DB, group []*request, origin uint64, size int) (*pebble.Batch, uint64, error) {
	nOrigins := 0
	for _, r := range group {
		nOrigins += len(r.b.originKeys)
	}
	const originKeyLen = 9 // prefix | u64
	g.origins = slices.Grow(g.origins[:0], nOrigins*originKeyLen)
	g.recs = g.recs[:0]
	sortable := true
	for _, r := range group {
		rd := r.b.pb.Reader()
		for {
			kind, k, v, ok, err := rd.Next()
			if !ok {
				if err != nil {
					return nil, origin, err
				}
				break
			}
			if kind != pebble.InternalKeyKindSet && kind != pebble.InternalKeyKindDelete {
				sortable = false
			}
			g.recs = append(g.recs, groupRec{kind: kind, ord: len(g.recs), key: k, value: v})
		}
		for _, ek := range r.b.originKeys {
			origin++
			off := len(g.origins)
			g.origins = append(g.origins, PrefixOrigin)
			g.origins = binary.BigEndian.AppendUint64(g.origins, origin)
			g.recs = append(g.recs, groupRec{kind: pebble.InternalKeyKindSet, ord: len(g.recs), key: g.origins[off:len(g.origins):len(g.origins)], value: ek})
		}
	}
	gb := pdb.NewBatchWithSize(size + nOrigins*(originKeyLen+32) + 64)
	if !sortable {
		// The writers' order, as they wrote it.
		n := 0
		for _, r := range group {
			if err := gb.Apply(r.b.pb, nil); err != nil {
				return gb, origin, err
			}
			n += int(r.b.pb.Count())
			for range r.b.originKeys {
				rec := g.recs[n]
				if err := gb.Set(rec.key, rec.value, nil); err != nil {
					return gb, origin, err
				}
				n++
			}
		}
		return gb, origin, nil
	}
	slices.SortFunc(g.recs, func(a, b groupRec) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return a.ord - b.ord
	})
	for _, rec := range g.recs {
		var err error
		if rec.kind == pebble.InternalKeyKindSet {
			err = gb.Set(rec.key, rec.value, nil)
		} else {
			err = gb.Delete(rec.key, nil)
		}
		if err != nil {
			return gb, origin, err
		}
	}
	return gb, origin, nil
}

// release drops the references into the writers' batches.
func (g *groupBuilder) release() {
	clear(g.recs)
	g.recs = g.recs[:0]
}
