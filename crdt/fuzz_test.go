package crdt

import (
	"slices"
	"testing"
)

// FuzzCanonicalJSON checks that CanonicalJSON never panics, fails exactly
// when the naive reference fails, and otherwise returns the reference's
// output, which must be valid JSON and a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[1.0,1e0,10e-1,-0]}`,
		`{"\u0061":"\ud83d\ude00\u2028\/","a\"":null}`,
		"\"\xff\xc3\"",
		`[[[[{"k":{"k":[]}}]]]]`,
		`{"a":1,"a":2}`,
		`1e400`,
		`123456789012345678901234567890`,
		` true `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCanonicalAgainstReference(t, data)
	})
}

// FuzzEntityApply decodes the fuzz input into a short op stream over three
// keys (two bytes per op, tiny alphabets so revision ties are common) and
// checks the convergence laws: every delivery order, with duplicates, reaches
// the naive reference state; every step obeys the Apply rules; Merge is a
// join; and the register agrees with the literal spec tables.
func FuzzEntityApply(f *testing.F) {
	for _, s := range [][]byte{
		{0x00, 0x01, 0x03, 0x01},
		{0x02, 0x02, 0x01, 0x00, 0x00, 0x05},
		{0x41, 0x08, 0x40, 0x09, 0x81, 0x0a, 0xc0, 0x0b},
		{0x07, 0xe0, 0x06, 0x03, 0x07, 0x04},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ops := decodeOps(data)

		reversed := slices.Clone(ops)
		slices.Reverse(reversed)
		doubled := append(slices.Clone(ops), ops...)
		rotated := append(slices.Clone(ops[len(ops)/2:]), ops[:len(ops)/2]...)
		rotated = append(rotated, reversed...)
		byBytes := slices.Clone(ops)
		slices.SortStableFunc(byBytes, func(a, b keyedOp) int { return int(a.raw) - int(b.raw) })
		checkDeliveries(t, ops, ops, reversed, doubled, rotated, byBytes)

		for key := range 3 {
			keyOps := opsOfKey(ops, key)
			var e Entity
			for _, op := range keyOps {
				e = checkStep(t, e, op)
			}
			third := len(keyOps) / 3
			checkMergeLaws(t, fold(keyOps[:third]...), fold(keyOps[third:2*third]...), fold(keyOps[2*third:]...))
			checkSpecTables(t, distinctRevisions(keyOps))
		}
	})
}

// decodeOps turns fuzz bytes into ops, two bytes each:
//
//	byte 0: bit 0 kind (put/delete), bits 1-2 clock, bits 3-4 hlc,
//	        bit 5 opId, bits 6-7 fingerprint
//	byte 1: bits 0-1 payload, bit 2 soft-deleted, bits 3-4 key (mod 3),
//	        bits 5-7 all set: an invalid kind instead
func decodeOps(data []byte) []keyedOp {
	hlcs := []string{"", "a", "b", "ab"}
	opIDs := []string{"x", "y"}
	fps := []string{"", "f1", "f2", "f3"}
	payloads := [][]byte{nil, []byte("{}"), []byte(`{"v":1}`), []byte(`{"v":2}`)}
	var ops []keyedOp
	for len(data) >= 2 && len(ops) < 48 {
		b0, b1 := data[0], data[1]
		data = data[2:]
		op := Op{
			Kind: KindPut,
			Rev: Revision{
				Clock:       int64(b0 >> 1 & 3),
				HLC:         hlcs[b0>>3&3],
				OpID:        opIDs[b0>>5&1],
				Fingerprint: fps[b0>>6&3],
			},
			Payload:     payloads[b1&3],
			SoftDeleted: b1&4 != 0,
		}
		if b0&1 != 0 {
			op.Kind = KindDelete
		}
		if b1>>5 == 7 {
			op.Kind = Kind(b0 & 1 * 3) // 0 or 3
		}
		ops = append(ops, keyedOp{key: int(b1>>3&3) % 3, op: op, raw: uint16(b0)<<8 | uint16(b1)})
	}
	return ops
}
