package replica

import (
	"bytes"
	"testing"
)

func TestWire_RoundTrip(t *testing.T) {
	for _, ev := range []Event{
		{Region: "eu-1", Seq: 1, AtMs: 1750000000000, Key: []byte{0x10, 1, 2}, Value: []byte("record")},
		{Region: "us.east", Seq: 1 << 40, AtMs: -1},
		{Region: "r", Seq: 7, Key: []byte{0x20}, Value: nil},
	} {
		got, err := Decode(Encode(nil, &ev))
		if err != nil {
			t.Fatalf("%+v: %v", ev, err)
		}
		if got.Region != ev.Region || got.Seq != ev.Seq || got.AtMs != ev.AtMs || !bytes.Equal(got.Key, ev.Key) || !bytes.Equal(got.Value, ev.Value) {
			t.Fatalf("round trip %+v → %+v", ev, got)
		}
	}
}

func TestWire_RejectsMalformed(t *testing.T) {
	ok := Encode(nil, &Event{Region: "eu", Seq: 3, Key: []byte{0x10}, Value: []byte("v")})
	for name, data := range map[string][]byte{
		"empty":        nil,
		"magic":        append([]byte{'X'}, ok[1:]...),
		"version":      append([]byte{'S', 9}, ok[2:]...),
		"truncated":    ok[:10],
		"zero seq":     Encode(nil, &Event{Region: "eu", Seq: 0}),
		"bad region":   Encode(nil, &Event{Region: "e u", Seq: 1}),
		"no region":    Encode(nil, &Event{Region: "", Seq: 1}),
		"value no key": append(Encode(nil, &Event{Region: "eu", Seq: 1}), 'x'),
		"key too long": func() []byte {
			b := Encode(nil, &Event{Region: "eu", Seq: 1, Key: []byte{1}})
			b[len(b)-2] = 9
			return b
		}(),
	} {
		if _, err := Decode(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, &Event{Region: "eu-1", Seq: 1, AtMs: 5, Key: []byte{0x10, 0, 1, 'w'}, Value: []byte{0x9f}}))
	f.Add(Encode(nil, &Event{Region: "r", Seq: 2}))
	f.Add([]byte("S\x01\x00\x01r"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			return
		}
		if !ValidRegion(ev.Region) || ev.Seq == 0 {
			t.Fatalf("accepted %+v", ev)
		}
		if again := Encode(nil, &ev); !bytes.Equal(again, data) {
			t.Fatalf("re-encode differs: %x vs %x", again, data)
		}
	})
}
