package crdt

import "bytes"

// PutState is the greatest put an Entity has merged: its revision and its
// payload. It survives a winning delete so that a soft-deleted row keeps its
// payload (and with it, for notifications, its owner).
type PutState struct {
	// Rev is the put's revision.
	Rev Revision
	// Payload is the put's JSON object, shared with the Op it came from.
	Payload []byte
	// SoftDeleted is true when the payload carried "deleted": true.
	SoftDeleted bool
}

// Entity is the state of one synced key (workspace, table, pk): a
// last-writer-wins register over the whole row plus its deleted flag
// (model.md §5).
//
// The state proper is the pair (Put, Tomb): the greatest put and the greatest
// delete ever merged. Winner and WinnerKind are derived from that pair (the
// greater of the two, the delete winning an exact tie) and are stored only so
// that readers need not recompute them. Apply, Merge and NewEntity always
// return an Entity whose derived fields agree with (Put, Tomb); an Entity
// assembled by hand should go through NewEntity.
//
// Because each half of the pair only ever moves up a total order, the set of
// Entities is a join-semilattice: any two replicas that merged the same ops,
// in any order and with any duplicates, hold Equal Entities. See the package
// documentation for why this matches sync-contract §4.2–4.4.
//
// The zero Entity is the empty register: no op merged yet.
type Entity struct {
	// Winner is the greatest revision of every op (put or delete) merged so
	// far. It is the zero Revision when the entity is Empty.
	Winner Revision
	// WinnerKind is the kind of the op holding Winner: KindDelete when the
	// tombstone is at least as great as the greatest put, KindPut otherwise,
	// and 0 when the entity is Empty.
	WinnerKind Kind
	// Put is the put with the greatest revision ever merged, kept even when a
	// delete wins. Nil if no put was merged. It may hold a put that never
	// won (a stale put that arrived after a newer delete): Put != nil does
	// not mean a live row was ever visible; use Live for that.
	Put *PutState
	// Tomb is the greatest delete revision ever merged: the tombstone. Nil if
	// no delete was merged. It stays in place when a newer put resurrects the
	// row (sync-contract §4.2).
	Tomb *Revision
}

// Outcome says what Entity.Apply did with one op.
type Outcome struct {
	// Applied is true when the op now holds the winner and did not before:
	// the push result's "applied" (sync-contract §3.2 step 7d). For a delete
	// on a key with no visible row this is "the tombstone was installed or
	// advanced", the canonical rule of §4.3.
	Applied bool
	// TombChanged is true when a delete installed or advanced the tombstone
	// (§4.4), whether or not it was Applied.
	TombChanged bool
	// PutChanged is true when a put became the new greatest put, whether or
	// not it was Applied.
	PutChanged bool
}

// NewEntity returns the Entity whose greatest put is put and whose tombstone
// is tomb, with Winner and WinnerKind derived from them. Either may be nil.
// Use it to rebuild an Entity from stored state.
func NewEntity(put *PutState, tomb *Revision) Entity {
	e := Entity{Put: put, Tomb: tomb}
	switch {
	case tomb != nil && (put == nil || Compare(*tomb, put.Rev) >= 0):
		// A tombstone at least as great as the greatest put wins: an exact
		// tie goes to the tombstone (sync-contract §3.7 rule 5).
		e.Winner, e.WinnerKind = *tomb, KindDelete
	case put != nil:
		e.Winner, e.WinnerKind = put.Rev, KindPut
	}
	return e
}

// Apply merges op into e and returns the new state and what changed. It is
// pure: e and the values its pointers reach are never modified, and the
// returned Entity shares unchanged parts with e.
//
// A put replaces Put when it orders after it; a delete replaces Tomb when its
// revision beats it (or there is none), whether or not it wins the entity
// (§4.4). The op is Applied when it then holds the winner: for every op whose
// revision differs from e.Winner that is exactly op.Rev.Beats(e.Winner) (or
// e is Empty), so an older op never overwrites a newer one and a put at or
// below the tombstone never resurrects the row. Replaying an op changes
// nothing.
//
// Exact revision ties between different ops cannot happen for ops that carry
// fingerprints (the fingerprint covers kind and payload), but legacy data may
// lack them; they are settled deterministically so that Apply still commutes:
// a delete beats a put with the same revision, and between two puts with the
// same revision the soft-deleted one, then the one with the greater payload
// bytes, wins.
//
// An op with an unknown Kind is ignored: e is returned unchanged with a zero
// Outcome.
func (e Entity) Apply(op Op) (Entity, Outcome) {
	put, tomb := e.Put, e.Tomb
	var out Outcome
	switch op.Kind {
	case KindPut:
		cand := &PutState{Rev: op.Rev, Payload: op.Payload, SoftDeleted: op.SoftDeleted}
		if put == nil || comparePuts(cand, put) > 0 {
			put, out.PutChanged = cand, true
		}
	case KindDelete:
		if tomb == nil || op.Rev.Beats(*tomb) {
			rev := op.Rev
			tomb, out.TombChanged = &rev, true
		}
	default:
		return e, Outcome{}
	}
	next := NewEntity(put, tomb)
	// The op holds the winner iff it became its half's maximum and that half
	// now wins.
	out.Applied = (out.PutChanged && next.WinnerKind == KindPut) ||
		(out.TombChanged && next.WinnerKind == KindDelete)
	return next, out
}

// Merge returns the join of a and b: the greater of the two puts and the
// greater of the two tombstones, with the winner derived from them. It is
// commutative, associative and idempotent (up to Equal), so replicas can
// exchange whole states in any order. Folding Apply over a set of ops gives
// the same state as merging the singleton states of those ops.
func Merge(a, b Entity) Entity {
	put := a.Put
	if b.Put != nil && (put == nil || comparePuts(b.Put, put) > 0) {
		put = b.Put
	}
	tomb := a.Tomb
	if b.Tomb != nil && (tomb == nil || b.Tomb.Beats(*tomb)) {
		tomb = b.Tomb
	}
	return NewEntity(put, tomb)
}

// Empty reports whether no op has been merged into e.
func (e Entity) Empty() bool {
	return e.Put == nil && e.Tomb == nil
}

// Deleted reports whether the winning state is deleted: a delete holds the
// winner, or the winning put is a soft-delete-by-put.
func (e Entity) Deleted() bool {
	switch e.WinnerKind {
	case KindDelete:
		return true
	case KindPut:
		return e.Put != nil && e.Put.SoftDeleted
	}
	return false
}

// Live reports whether e has a visible, non-deleted row.
func (e Entity) Live() bool {
	return !e.Empty() && !e.Deleted()
}

// SnapshotKind is how a snapshot emits e (sync-contract §3.7 rule 5):
// KindDelete (a tombstone item) when e is Deleted, KindPut (a row item) when
// e is Live, and 0 when e is Empty. A row and a tombstone with exactly the
// same revision resolve to the tombstone. The item's revision is e.Winner.
func (e Entity) SnapshotKind() Kind {
	switch {
	case e.Empty():
		return 0
	case e.Deleted():
		return KindDelete
	}
	return KindPut
}

// Equal reports whether e and o hold the same state. Payloads compare by
// bytes; pointer identity does not matter.
func (e Entity) Equal(o Entity) bool {
	if e.Winner != o.Winner || e.WinnerKind != o.WinnerKind {
		return false
	}
	if (e.Put == nil) != (o.Put == nil) || (e.Tomb == nil) != (o.Tomb == nil) {
		return false
	}
	if e.Put != nil && comparePuts(e.Put, o.Put) != 0 {
		return false
	}
	return e.Tomb == nil || *e.Tomb == *o.Tomb
}

// comparePuts orders two puts: by revision, then a soft-deleted put after a
// live one, then by payload bytes. The last two keys only matter for
// fingerprint-less legacy puts that share a revision; they keep the order
// total so that merging stays order-independent.
func comparePuts(a, b *PutState) int {
	if c := Compare(a.Rev, b.Rev); c != 0 {
		return c
	}
	if a.SoftDeleted != b.SoftDeleted {
		if a.SoftDeleted {
			return +1
		}
		return -1
	}
	return bytes.Compare(a.Payload, b.Payload)
}
