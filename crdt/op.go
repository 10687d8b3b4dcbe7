package crdt

import (
	"errors"
	"fmt"
)

// Kind is what an operation does to its entity: replace the row (KindPut) or
// delete it (KindDelete). The zero Kind means "no operation" and is what an
// empty Entity reports.
type Kind uint8

const (
	// KindPut replaces the whole row with the op's payload (sync-contract §4.2:
	// full replacement, not a shallow merge).
	KindPut Kind = 1
	// KindDelete marks the row deleted and records a tombstone (§4.3, §4.4).
	//
	// KindDelete is numerically greater than KindPut on purpose: when a put
	// and a delete carry exactly the same Revision, the delete wins, which is
	// the "tombstone wins on exact tie" rule of sync-contract §3.7 rule 5.
	KindDelete Kind = 2
)

// String returns the wire name of k ("put", "delete"), or "Kind(n)" for any
// other value.
func (k Kind) String() string {
	switch k {
	case KindPut:
		return "put"
	case KindDelete:
		return "delete"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Valid reports whether k is KindPut or KindDelete.
func (k Kind) Valid() bool {
	return k == KindPut || k == KindDelete
}

// ErrUnknownKind is returned by Op.Validate for an op whose Kind is neither
// KindPut nor KindDelete.
var ErrUnknownKind = errors.New("crdt: unknown op kind")

// ErrNegativeClock is returned by Op.Validate for an op whose revision clock
// is below zero.
var ErrNegativeClock = errors.New("crdt: negative revision clock")

// Op is one accepted operation on one entity, reduced to what the merge needs.
type Op struct {
	// Kind is KindPut or KindDelete. Entity.Apply ignores any other value.
	Kind Kind
	// Rev is the op's revision, including its fingerprint.
	Rev Revision
	// Payload holds the JSON object bytes of a put. It is opaque to the merge
	// and never copied: the resulting Entity shares the slice, so callers
	// must not modify it afterwards. Deletes ignore their payload
	// (sync-contract §4.3).
	Payload []byte
	// SoftDeleted marks a put whose payload has "deleted": true (a
	// soft-delete-by-put, sync-contract §4.2). Such a put wins like any put
	// but leaves the entity Deleted, and it creates no tombstone. Ignored on
	// deletes.
	SoftDeleted bool
}

// Validate reports whether op is well formed: a known Kind and a clock >= 0.
// Apply does not require it (it is total over all inputs); callers use it to
// reject bad ops before they are logged.
func (op Op) Validate() error {
	if !op.Kind.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownKind, uint8(op.Kind))
	}
	if op.Rev.Clock < 0 {
		return fmt.Errorf("%w: %d", ErrNegativeClock, op.Rev.Clock)
	}
	return nil
}
