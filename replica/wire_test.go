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

func TestWire_RunRoundTrip(t *testing.T) {
	evs := []Event{
		{Region: "eu-1", Seq: 7, AtMs: 1, Key: []byte{0x10, 1}, Value: []byte("a")},
		{Region: "eu-1", Seq: 8, AtMs: 2},
		{Region: "eu-1", Seq: 9, AtMs: 3, Key: []byte{0x20}, Value: []byte("ccc")},
	}
	data := EncodeRun(nil, evs)
	if len(data) != RunSize(evs) {
		t.Fatalf("EncodeRun wrote %d bytes, RunSize says %d", len(data), RunSize(evs))
	}
	got, err := DecodeRun(data)
	if err != nil || len(got) != len(evs) {
		t.Fatalf("%v %+v", err, got)
	}
	for i := range evs {
		if got[i].Region != evs[i].Region || got[i].Seq != evs[i].Seq || got[i].AtMs != evs[i].AtMs ||
			!bytes.Equal(got[i].Key, evs[i].Key) || !bytes.Equal(got[i].Value, evs[i].Value) {
			t.Fatalf("event %d: %+v → %+v", i, evs[i], got[i])
		}
	}
	one, err := DecodeRun(Encode(nil, &evs[0])) // a single-event message
	if err != nil || len(one) != 1 || one[0].Seq != 7 {
		t.Fatalf("%v %+v", err, one)
	}
}

func TestWire_RunRejectsMalformed(t *testing.T) {
	a := Event{Region: "eu", Seq: 3, Key: []byte{0x10}, Value: []byte("v")}
	b := Event{Region: "eu", Seq: 4}
	ok := EncodeRun(nil, []Event{a, b})
	for name, data := range map[string][]byte{
		"empty run":       {'S', 2, 0, 0},
		"truncated":       ok[:len(ok)-1],
		"trailing":        append(append([]byte(nil), ok...), 0),
		"count too high":  append([]byte{'S', 2, 0, 3}, ok[4:]...),
		"not consecutive": EncodeRun(nil, []Event{a, {Region: "eu", Seq: 5}}),
		"two regions":     EncodeRun(nil, []Event{a, {Region: "us", Seq: 4}}),
		"bad event":       EncodeRun(nil, []Event{a, {Region: "eu", Seq: 0}}),
	} {
		if _, err := DecodeRun(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzDecodeRun: DecodeRun never panics, and whatever it accepts as a run
// re-encodes to the same bytes.
func FuzzDecodeRun(f *testing.F) {
	f.Add(EncodeRun(nil, []Event{{Region: "eu", Seq: 1, Key: []byte{0x10}, Value: []byte{1}}, {Region: "eu", Seq: 2}}))
	f.Add(Encode(nil, &Event{Region: "r", Seq: 2}))
	f.Add([]byte{'S', 2, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := DecodeRun(data)
		if err != nil {
			return
		}
		if len(evs) == 0 {
			t.Fatal("accepted an empty run")
		}
		for i := range evs {
			if !ValidRegion(evs[i].Region) || evs[i].Seq == 0 || (i > 0 && (evs[i].Region != evs[0].Region || evs[i].Seq != evs[i-1].Seq+1)) {
				t.Fatalf("accepted %+v", evs)
			}
		}
		if data[1] == wireRunVersion && (!bytes.Equal(EncodeRun(nil, evs), data) || RunSize(evs) != len(data)) {
			t.Fatalf("re-encode differs")
		}
	})
}
