package crdt

import (
	"bytes"
	"cmp"
	"slices"
)

// This file holds two deliberately dumb models that the register is checked
// against (the etcd quorum/quick_test.go pattern).

// refOpLess is the total order on ops written out longhand: revision field
// by field, then delete over put, then soft-deleted over live, then payload
// bytes. Deletes carry no payload in the state, so their payload is ignored.
func refOpLess(a, b Op) bool {
	if c := cmp.Or(
		cmp.Compare(a.Rev.Clock, b.Rev.Clock),
		cmp.Compare(a.Rev.HLC, b.Rev.HLC),
		cmp.Compare(a.Rev.OpID, b.Rev.OpID),
		cmp.Compare(a.Rev.Fingerprint, b.Rev.Fingerprint),
		cmp.Compare(a.Kind, b.Kind),
	); c != 0 {
		return c < 0
	}
	if a.Kind != KindPut {
		return false
	}
	if a.SoftDeleted != b.SoftDeleted {
		return b.SoftDeleted
	}
	return bytes.Compare(a.Payload, b.Payload) < 0
}

// refEntity computes the state of a set of ops without any merging: sort all
// ops; the winner is the last, Put the last put, Tomb the last delete.
func refEntity(ops []Op) Entity {
	var all, puts, dels []Op
	for _, op := range ops {
		switch op.Kind {
		case KindPut:
			puts = append(puts, op)
		case KindDelete:
			dels = append(dels, op)
		default:
			continue
		}
		all = append(all, op)
	}
	if len(all) == 0 {
		return Entity{}
	}
	less := func(a, b Op) int {
		switch {
		case refOpLess(a, b):
			return -1
		case refOpLess(b, a):
			return +1
		}
		return 0
	}
	slices.SortFunc(all, less)
	slices.SortFunc(puts, less)
	slices.SortFunc(dels, less)
	w := all[len(all)-1]
	e := Entity{Winner: w.Rev, WinnerKind: w.Kind}
	if len(puts) > 0 {
		p := puts[len(puts)-1]
		e.Put = &PutState{Rev: p.Rev, Payload: p.Payload, SoftDeleted: p.SoftDeleted}
	}
	if len(dels) > 0 {
		r := dels[len(dels)-1].Rev
		e.Tomb = &r
	}
	return e
}

// specState is a literal transcription of the sync-contract §4.2–4.4
// tables: a materialized row and a tombstone, updated in arrival order.
type specState struct {
	row  *specRow
	tomb *Revision
}

type specRow struct {
	rev     Revision
	payload []byte
	deleted bool
}

// apply runs one op through the tables and reports the push result's
// "applied".
func (s *specState) apply(op Op) (applied bool) {
	switch op.Kind {
	case KindPut:
		insert := false
		switch {
		case s.row != nil: // row exists (live or soft-deleted)
			insert = op.Rev.Beats(s.row.rev)
		case s.tomb != nil: // no row, tombstone exists
			insert = op.Rev.Beats(*s.tomb)
		default: // no row, no tombstone
			insert = true
		}
		if insert {
			s.row = &specRow{rev: op.Rev, payload: op.Payload, deleted: op.SoftDeleted}
		}
		return insert
	case KindDelete:
		if s.row != nil {
			if op.Rev.Beats(s.row.rev) {
				s.row = &specRow{rev: op.Rev, payload: s.row.payload, deleted: true}
				applied = true
			}
		} else {
			// Canonical: no placeholder row; applied iff the tombstone
			// is installed or advanced.
			applied = s.tomb == nil || op.Rev.Beats(*s.tomb)
		}
		// §4.4: every delete upserts the tombstone under LWW.
		if s.tomb == nil || op.Rev.Beats(*s.tomb) {
			r := op.Rev
			s.tomb = &r
		}
		return applied
	}
	return false
}
