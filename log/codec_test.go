package log

import (
	"errors"
	"testing"
)

func TestCodec_RoundTrip(t *testing.T) {
	in := &ChangeRecord{Table: "messages", PK: "m1", Op: OpPut, Payload: []byte(`{"id":"m1"}`), Clock: 3, HLC: "h", DeviceID: "d", OpID: "o", Fingerprint: "f", CreatedAtMs: 17, UserID: "u"}
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	var out ChangeRecord
	if err := Decode([]byte("k"), data, &out); err != nil {
		t.Fatal(err)
	}
	if out.PK != "m1" || string(out.Payload) != `{"id":"m1"}` || out.Clock != 3 || out.CreatedAtMs != 17 {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestCodec_CorruptRecordNamesKey(t *testing.T) {
	var out RowRecord
	err := Decode([]byte("the-key"), []byte{0xc1, 0xff, 0x00}, &out)
	var ce *CorruptionError
	if !errors.As(err, &ce) || string(ce.Key) != "the-key" || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
}

func TestKeys_RoundTrip(t *testing.T) {
	k := ChangeKey("ws\x00odd", 42)
	r := ReadKey(k)
	if ws, v := r.Str(), r.U64(); ws != "ws\x00odd" || v != 42 || r.Err() != nil {
		t.Fatalf("got %q %d %v", ws, v, r.Err())
	}
	if r := ReadKey([]byte{PrefixChange, 0, 9, 'x'}); r.Str() != "" || r.Err() == nil {
		t.Fatal("short key parsed")
	}
	// Rows sort by (table, pk) as plain strings.
	a, b := RowKey("w", "messages", "a"), RowKey("w", "messages", "a\x00b")
	if string(a) >= string(b) {
		t.Fatal("row keys out of order")
	}
	if string(RowKey("w", "kv", "zzz")) >= string(RowKey("w", "messages", "a")) {
		t.Fatal("tables out of order")
	}
	if PrefixEnd([]byte{1, 0xff}) == nil || string(PrefixEnd([]byte{1, 0xff})) != "\x02" {
		t.Fatal("PrefixEnd")
	}
}

// FuzzDecodeRecords feeds arbitrary bytes to the decoder of every record
// type: it must return an error or a value, never panic.
func FuzzDecodeRecords(f *testing.F) {
	for _, v := range []any{
		&ChangeRecord{Table: "threads", PK: "t", Op: OpPut, Payload: []byte(`{}`)},
		&RowRecord{HasPut: true, Payload: []byte(`{"a":1}`)},
		&TombRecord{ServerVersion: 3}, &CounterRecord{Counter: 9, Floor: 2},
		&CursorRecord{Owner: "u", LastSeen: 4}, &SystemEvent{Type: "x", Body: []byte{1, 2}},
		&OpIndexRecord{Workspace: "w", Version: 1},
	} {
		f.Add(MustEncode(v))
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := []any{&ChangeRecord{}, &RowRecord{}, &TombRecord{}, &CounterRecord{}, &CursorRecord{}, &SystemEvent{}, &OpIndexRecord{}}
		for _, v := range targets {
			if err := Decode([]byte("k"), data, v); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not a corruption error: %v", err)
			}
		}
	})
}
