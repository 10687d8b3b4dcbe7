package crdt

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// The alphabets are tiny on purpose, so that equal clocks, equal HLCs, equal
// opIds with different fingerprints, and exact revision ties all happen.
var (
	genClock       = rapid.Int64Range(0, 2)
	genHLC         = rapid.SampledFrom([]string{"", "a", "b"})
	genOpID        = rapid.SampledFrom([]string{"x", "y"})
	genFingerprint = rapid.SampledFrom([]string{"", "f1", "f2"})
	genPayload     = rapid.SampledFrom([]string{"", "{}", `{"v":1}`, `{"v":2}`})

	genRevision = rapid.Custom(func(t *rapid.T) Revision {
		return Revision{
			Clock:       genClock.Draw(t, "clock"),
			HLC:         genHLC.Draw(t, "hlc"),
			OpID:        genOpID.Draw(t, "opID"),
			Fingerprint: genFingerprint.Draw(t, "fingerprint"),
		}
	})

	genOp = rapid.Custom(func(t *rapid.T) Op {
		op := Op{
			Kind: rapid.SampledFrom([]Kind{KindPut, KindDelete}).Draw(t, "kind"),
			Rev:  genRevision.Draw(t, "rev"),
		}
		// Deletes sometimes carry a payload and a soft flag too; both must
		// be ignored.
		if p := genPayload.Draw(t, "payload"); p != "" {
			op.Payload = []byte(p)
		}
		op.SoftDeleted = rapid.Bool().Draw(t, "soft")
		return op
	})

	genKeyedOp = rapid.Custom(func(t *rapid.T) keyedOp {
		return keyedOp{key: rapid.IntRange(0, 2).Draw(t, "key"), op: genOp.Draw(t, "op")}
	})
)

// keyedOp is an op on one of a few keys.
type keyedOp struct {
	key int
	op  Op
	raw uint16 // the fuzz bytes it was decoded from, if any
}

// foldKeys applies ops in order to a map of entities.
func foldKeys(ops []keyedOp) map[int]Entity {
	state := map[int]Entity{}
	for _, k := range ops {
		state[k.key], _ = state[k.key].Apply(k.op)
	}
	return state
}

func opsOfKey(ops []keyedOp, key int) []Op {
	var out []Op
	for _, k := range ops {
		if k.key == key {
			out = append(out, k.op)
		}
	}
	return out
}

// lawT is what the shared checks need from *testing.T and *rapid.T.
type lawT interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkDeliveries asserts that every delivery (a permutation of ops,
// possibly with duplicates) converges to the reference state of ops.
func checkDeliveries(t lawT, ops []keyedOp, deliveries ...[]keyedOp) {
	t.Helper()
	for key := range 3 {
		want := refEntity(opsOfKey(ops, key))
		for i, d := range deliveries {
			got := foldKeys(d)[key]
			if !same(t, got, want) {
				t.Fatalf("key %d, delivery %d: got %s, reference says %s", key, i, describe(got), describe(want))
			}
		}
	}
}

// checkMergeLaws asserts that Merge is a join on a, b, c.
func checkMergeLaws(t lawT, a, b, c Entity) {
	t.Helper()
	if !same(t, Merge(a, b), Merge(b, a)) {
		t.Fatalf("Merge not commutative:\n a=%s\n b=%s", describe(a), describe(b))
	}
	if !same(t, Merge(Merge(a, b), c), Merge(a, Merge(b, c))) {
		t.Fatalf("Merge not associative:\n a=%s\n b=%s\n c=%s", describe(a), describe(b), describe(c))
	}
	if !same(t, Merge(a, a), a) {
		t.Fatalf("Merge not idempotent: %s", describe(a))
	}
	if !same(t, Merge(a, Merge(a, b)), Merge(a, b)) {
		t.Fatalf("Merge not absorbing")
	}
	if !same(t, Merge(Entity{}, a), a) {
		t.Fatalf("empty is not Merge's identity")
	}
}

// checkStep asserts the single-step rules for e.Apply(op).
func checkStep(t lawT, e Entity, op Op) Entity {
	t.Helper()
	before := clone(e)
	next, out := e.Apply(op)
	if !same(t, e, before) || !samePointees(e, before) {
		t.Fatalf("Apply mutated its receiver")
	}
	if !same(t, next, NewEntity(next.Put, next.Tomb)) {
		t.Fatalf("Winner/WinnerKind not derived from (Put, Tomb): %s", describe(next))
	}
	if !op.Kind.Valid() {
		if out != (Outcome{}) || !same(t, next, e) {
			t.Fatalf("op of unknown kind changed something")
		}
		return next
	}
	// Applied is op.Rev.Beats(e.Winner) except on an exact revision tie.
	if e.Empty() {
		if !out.Applied {
			t.Fatalf("first op not applied")
		}
	} else if Compare(op.Rev, e.Winner) != 0 && out.Applied != op.Rev.Beats(e.Winner) {
		t.Fatalf("applied=%v but Beats(winner)=%v for %+v on %s", out.Applied, op.Rev.Beats(e.Winner), op, describe(e))
	}
	if out.Applied && (next.Winner != op.Rev || next.WinnerKind != op.Kind) {
		t.Fatalf("applied op does not hold the winner")
	}
	if !out.Applied && !e.Empty() && (next.Winner != e.Winner || next.WinnerKind != e.WinnerKind) {
		t.Fatalf("op not applied yet the winner moved: %s -> %s", describe(e), describe(next))
	}
	if Compare(next.Winner, e.Winner) < 0 {
		t.Fatalf("winner went backwards")
	}
	if out.PutChanged != (op.Kind == KindPut && (e.Put == nil || !samePut(next.Put, e.Put))) {
		t.Fatalf("PutChanged=%v inconsistent", out.PutChanged)
	}
	if out.TombChanged != (op.Kind == KindDelete && (e.Tomb == nil || *next.Tomb != *e.Tomb)) {
		t.Fatalf("TombChanged=%v inconsistent", out.TombChanged)
	}
	if e.Tomb != nil && Compare(*next.Tomb, *e.Tomb) < 0 {
		t.Fatalf("tombstone went backwards")
	}
	// No resurrection: a greatest put at or below the tombstone is never
	// the winner.
	if next.Tomb != nil && next.Put != nil && Compare(next.Put.Rev, *next.Tomb) <= 0 && !next.Deleted() {
		t.Fatalf("put at or below the tombstone is live: %s", describe(next))
	}
	// Replaying the op changes nothing.
	if again, out2 := next.Apply(op); !same(t, again, next) || out2 != (Outcome{}) {
		t.Fatalf("replay changed the state or reported %+v", out2)
	}
	return next
}

// checkSpecTables runs ops through the register and through the literal
// §4.2–4.4 tables side by side. Distinct ops must have distinct revisions
// (true of fingerprinted ops); exact copies (replays) are fine.
func checkSpecTables(t lawT, ops []Op) {
	t.Helper()
	var e Entity
	var s specState
	for i, op := range ops {
		var out Outcome
		e, out = e.Apply(op)
		applied := s.apply(op)
		if out.Applied != applied {
			t.Fatalf("op %d %v %+v: register applied=%v, spec tables applied=%v", i, op.Kind, op.Rev, out.Applied, applied)
		}
		// The invariant behind the proof: T <= R.rev whenever both exist.
		if s.row != nil && s.tomb != nil && Compare(*s.tomb, s.row.rev) > 0 {
			t.Fatalf("spec invariant broken: tombstone above row")
		}
		// Winner = max(row rev, tombstone rev).
		var m *Revision
		if s.row != nil {
			m = &s.row.rev
		}
		if s.tomb != nil && (m == nil || Compare(*s.tomb, *m) > 0) {
			m = s.tomb
		}
		if (m == nil) != e.Empty() || (m != nil && *m != e.Winner) {
			t.Fatalf("op %d: Winner %+v, spec max(row, tombstone) %v", i, e.Winner, m)
		}
		specDeleted := s.tomb != nil
		if s.row != nil {
			specDeleted = s.row.deleted
		}
		if e.Deleted() != specDeleted {
			t.Fatalf("op %d: Deleted=%v, spec deleted=%v", i, e.Deleted(), specDeleted)
		}
		if (e.Tomb == nil) != (s.tomb == nil) || (e.Tomb != nil && *e.Tomb != *s.tomb) {
			t.Fatalf("op %d: Tomb %v, spec tombstone %v", i, e.Tomb, s.tomb)
		}
		// A row whose revision is a put's shows exactly that put's payload.
		if s.row != nil && e.WinnerKind == KindPut && !bytes.Equal(e.Put.Payload, s.row.payload) {
			t.Fatalf("op %d: payload %q, spec row %q", i, e.Put.Payload, s.row.payload)
		}
	}
}

// distinctRevisions keeps the first op for each revision, so no two
// different ops share one.
func distinctRevisions(ops []Op) []Op {
	seen := map[Revision]bool{}
	var out []Op
	for _, op := range ops {
		if !seen[op.Rev] {
			seen[op.Rev] = true
			out = append(out, op)
		}
	}
	return out
}

// TestEntity_ConvergesUnderAnyDelivery: any set of ops over a few keys,
// delivered in any order with any duplicates, converges to one state, and
// that state is the naive reference's.
func TestEntity_ConvergesUnderAnyDelivery(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(genKeyedOp, 0, 24).Draw(t, "ops")
		delivery := func(label string) []keyedOp {
			d := append([]keyedOp(nil), ops...)
			if len(ops) > 0 {
				for _, i := range rapid.SliceOfN(rapid.IntRange(0, len(ops)-1), 0, 8).Draw(t, label+"-dups") {
					d = append(d, ops[i])
				}
			}
			return rapid.Permutation(d).Draw(t, label)
		}
		checkDeliveries(t, ops, ops, delivery("first"), delivery("second"))
	})
}

// TestEntity_ApplyStep checks every single step of random folds: Applied
// agrees with the revision order, nothing moves backwards, no resurrection,
// replays are no-ops, and Apply is pure.
func TestEntity_ApplyStep(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var e Entity
		for _, op := range rapid.SliceOfN(genOp, 1, 24).Draw(t, "ops") {
			e = checkStep(t, e, op)
		}
	})
}

// TestMerge_Laws: Merge is commutative, associative, idempotent, with the
// empty entity as identity, on states reached by folding random ops.
func TestMerge_Laws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.SliceOfN(genOp, 0, 8)
		a := fold(gen.Draw(t, "a")...)
		b := fold(gen.Draw(t, "b")...)
		c := fold(gen.Draw(t, "c")...)
		checkMergeLaws(t, a, b, c)
	})
}

// TestMerge_EqualsApplyFold: merging the singleton states of some ops, in
// any grouping and order, equals applying the ops one by one; and merging
// two folded states equals folding the concatenation.
func TestMerge_EqualsApplyFold(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(genOp, 1, 16).Draw(t, "ops")
		want := fold(ops...)
		states := make([]Entity, len(ops))
		for i, op := range ops {
			states[i] = fold(op)
		}
		for len(states) > 1 {
			i := rapid.IntRange(0, len(states)-1).Draw(t, "i")
			j := rapid.IntRange(0, len(states)-2).Draw(t, "j")
			if j >= i {
				j++
			}
			merged := Merge(states[i], states[j])
			states[i] = merged
			states = append(states[:j], states[j+1:]...)
		}
		if !same(t, states[0], want) {
			t.Fatalf("merge of singletons %s, fold %s", describe(states[0]), describe(want))
		}
		split := rapid.IntRange(0, len(ops)).Draw(t, "split")
		if got := Merge(fold(ops[:split]...), fold(ops[split:]...)); !same(t, got, want) {
			t.Fatalf("merge of folded halves %s, fold %s", describe(got), describe(want))
		}
	})
}

// TestEntity_MatchesSpecTables is the executable half of the proof in the
// package documentation: on streams where different ops have different
// revisions, the register reports the same "applied" as the literal
// sync-contract §4.2–4.4 tables after every op, its Winner is
// max(row rev, tombstone rev), and it agrees on deleted, tombstone and live
// payload.
func TestEntity_MatchesSpecTables(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := distinctRevisions(rapid.SliceOfN(genOp, 0, 16).Draw(t, "ops"))
		if len(ops) > 0 {
			for _, i := range rapid.SliceOfN(rapid.IntRange(0, len(ops)-1), 0, 6).Draw(t, "replays") {
				ops = append(ops, ops[i])
			}
		}
		checkSpecTables(t, rapid.Permutation(ops).Draw(t, "delivery"))
	})
}

func clone(e Entity) Entity {
	c := e
	if e.Put != nil {
		p := *e.Put
		p.Payload = bytes.Clone(e.Put.Payload)
		c.Put = &p
	}
	if e.Tomb != nil {
		r := *e.Tomb
		c.Tomb = &r
	}
	return c
}

// samePointees reports whether the values e's pointers reach still equal
// those of its earlier clone.
func samePointees(e, before Entity) bool {
	return (e.Put == nil || samePut(e.Put, before.Put)) && (e.Tomb == nil || *e.Tomb == *before.Tomb)
}

// same compares two entities field by field, independently of Entity.Equal,
// and fails the test if Equal disagrees.
func same(t lawT, a, b Entity) bool {
	t.Helper()
	eq := a.Winner == b.Winner && a.WinnerKind == b.WinnerKind &&
		(a.Put == nil) == (b.Put == nil) && (a.Put == nil || samePut(a.Put, b.Put)) &&
		(a.Tomb == nil) == (b.Tomb == nil) && (a.Tomb == nil || *a.Tomb == *b.Tomb)
	if a.Equal(b) != eq {
		t.Fatalf("Equal(%s, %s) = %v, field by field %v", describe(a), describe(b), a.Equal(b), eq)
	}
	return eq
}

func samePut(a, b *PutState) bool {
	return a.Rev == b.Rev && a.SoftDeleted == b.SoftDeleted && bytes.Equal(a.Payload, b.Payload)
}

func describe(e Entity) string {
	s := "{winner " + e.WinnerKind.String() + " " + revString(e.Winner)
	if e.Put != nil {
		s += ", put " + revString(e.Put.Rev) + " " + string(e.Put.Payload)
		if e.Put.SoftDeleted {
			s += " soft"
		}
	}
	if e.Tomb != nil {
		s += ", tomb " + revString(*e.Tomb)
	}
	return s + "}"
}

func revString(r Revision) string {
	return "(" + string(rune('0'+r.Clock%10)) + "," + r.HLC + "," + r.OpID + "," + r.Fingerprint + ")"
}
