package crdt

import "testing"

// FuzzFingerprinter: a Fingerprinter reused across calls (its buffers
// holding the previous call's bytes) answers exactly as OpFingerprint,
// errors included.
func FuzzFingerprinter(f *testing.F) {
	f.Add([]byte(`{"b":1,"a":{"d":[1,2],"c":"x"}}`), []byte(`{"z":null,"y":"\u00e9","x":1.0}`), int64(1))
	f.Add([]byte(`{"a":1,"a":2}`), []byte(`[1,{"b":2,"a":1}]`), int64(-5))
	f.Add([]byte(``), []byte(`{"k":"v"`), int64(0))
	f.Fuzz(func(t *testing.T, p1, p2 []byte, clock int64) {
		var fp Fingerprinter
		for i, p := range [][]byte{p1, p2, p1, nil, p2} {
			got, gotErr := fp.OpFingerprint("messages", "put", "pk", p, clock, "h", "d")
			want, wantErr := OpFingerprint("messages", "put", "pk", p, clock, "h", "d")
			if got != want || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("call %d on %q: reused %s %v, fresh %s %v", i, p, got, gotErr, want, wantErr)
			}
		}
	})
}
