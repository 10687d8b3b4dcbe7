package crdt

// Revision is the total order that decides every conflict on a synced entity
// (sync-contract §4.1, model.md §5).
//
// Two revisions compare field by field: Clock as an integer, then HLC, OpID
// and Fingerprint as byte strings. Go's string comparison is byte order, which
// equals code-point order for valid UTF-8 and code-unit order for the ASCII
// HLCs and UUIDs OR3 clients send.
type Revision struct {
	// Clock is the per-record revision counter a client bumps on every local
	// write to the record. It is not wall time. Valid clocks are >= 0; the
	// order is defined for negative values too, so a bad input cannot break
	// convergence.
	Clock int64
	// HLC is the client's hybrid logical clock. It is opaque: compared
	// byte-wise and never parsed.
	HLC string
	// OpID is the operation id (a UUID for new ops, any string for legacy
	// revisions). It breaks ties between equal (Clock, HLC) pairs.
	OpID string
	// Fingerprint is the canonical fingerprint of the operation (see
	// OpFingerprint). It is the final tie-break and only matters when two
	// regions accepted different ops under one OpID (model.md §5). It may be
	// empty, for example on legacy revisions.
	Fingerprint string
}

// Compare returns -1 if a orders before b, +1 if a orders after b, and 0 only
// when all four fields are equal.
func Compare(a, b Revision) int {
	switch {
	case a.Clock < b.Clock:
		return -1
	case a.Clock > b.Clock:
		return +1
	}
	if c := compareStrings(a.HLC, b.HLC); c != 0 {
		return c
	}
	if c := compareStrings(a.OpID, b.OpID); c != 0 {
		return c
	}
	return compareStrings(a.Fingerprint, b.Fingerprint)
}

// Beats reports whether r wins against stored: Compare(r, stored) > 0.
// Incoming wins only when strictly greater, so replaying a revision is a no-op.
func (r Revision) Beats(stored Revision) bool {
	return Compare(r, stored) > 0
}

// IsZero reports whether r is the zero Revision (clock 0, all strings empty).
func (r Revision) IsZero() bool {
	return r == Revision{}
}

// compareStrings is strings.Compare, spelled out so that the ordering rule
// (plain byte order) is visible where it is used.
func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return +1
	}
	return 0
}
