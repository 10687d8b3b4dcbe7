package log

import (
	"errors"
	"runtime"
	"strings"
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

// The hand-written codecs must read what the reflective codec writes and
// vice versa (the as_array layout).
func TestCodec_HandWrittenMatchesReflective(t *testing.T) {
	type reflChange struct {
		_msgpack                         struct{} `msgpack:",as_array"`
		Table, PK                        string
		Op                               uint8
		Payload                          []byte
		Clock                            int64
		HLC, DeviceID, OpID, Fingerprint string
		CreatedAtMs                      int64
		UserID, Owner, OriginRegion      string
		OriginSeq                        uint64
	}
	in := reflChange{Table: "t", PK: "p", Op: 2, Payload: []byte("{}"), Clock: -5, HLC: "h", DeviceID: "d", OpID: "o", Fingerprint: "f", CreatedAtMs: 99, UserID: "u", Owner: "w", OriginRegion: "r", OriginSeq: 7}
	var out ChangeRecord
	if err := Decode([]byte("k"), MustEncode(&in), &out); err != nil {
		t.Fatal(err)
	}
	if out.Table != "t" || out.Op != 2 || out.Clock != -5 || out.CreatedAtMs != 99 || out.OriginSeq != 7 || out.Owner != "w" {
		t.Fatalf("decoded %+v", out)
	}
	var back reflChange
	if err := Decode([]byte("k"), MustEncode(&out), &back); err != nil {
		t.Fatal(err)
	}
	if back.Fingerprint != "f" || back.OriginRegion != "r" {
		t.Fatalf("reflective decode of hand-written: %+v", back)
	}
	// A shorter (older) record decodes with zero trailing fields.
	short := []byte{0x92, 0xa1, 'x', 0xa1, 'y'}
	if err := Decode([]byte("k"), short, &out); err != nil || out.PK != "y" || out.OpID != "" {
		t.Fatalf("short record: %+v %v", out, err)
	}
	row := RowRecord{Winner: Revision{Clock: 3, HLC: "h", OpID: "o"}, WinnerKind: 1, HasPut: true, Payload: []byte(`{"a":1}`), HasTomb: true, Tomb: Revision{Clock: 2}, ServerVersion: 9, Owner: "u", DeletedAtMs: 4}
	var row2 RowRecord
	if err := Decode([]byte("k"), MustEncode(&row), &row2); err != nil {
		t.Fatal(err)
	}
	if row2.Winner.Clock != 3 || row2.Tomb.Clock != 2 || row2.ServerVersion != 9 || row2.Owner != "u" || string(row2.Payload) != `{"a":1}` || row2.DeletedAtMs != 4 {
		t.Fatalf("row round trip: %+v", row2)
	}
}

// The direct ChangeRecord reader agrees with the general decoder on every
// encoding the general decoder accepts.
func FuzzDecodeChangeFast(f *testing.F) {
	f.Add(MustEncode(&ChangeRecord{Table: "threads", PK: "t", Op: OpPut, Payload: []byte(`{"a":1}`), Clock: 1 << 40, CreatedAtMs: -3, OriginSeq: 9}))
	f.Add(MustEncode(&ChangeRecord{Table: string(make([]byte, 300)), Payload: make([]byte, 70000)}))
	f.Add([]byte{0x92, 0xa1, 'x', 0xa1, 'y'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast ChangeRecord
		okFast := decodeChangeFast(data, &fast)
		if !okFast {
			return
		}
		d := decPool.Get().(*decoder)
		d.r.Reset(data)
		d.dec.Reset(&d.r)
		var slow ChangeRecord
		err := d.dec.Decode(&slow)
		if err != nil {
			return // the fast reader is more lenient about trailing data only if lengths agree; fine
		}
		if fast.Table != slow.Table || fast.PK != slow.PK || fast.Op != slow.Op || string(fast.Payload) != string(slow.Payload) ||
			fast.Clock != slow.Clock || fast.HLC != slow.HLC || fast.OpID != slow.OpID || fast.CreatedAtMs != slow.CreatedAtMs ||
			fast.Owner != slow.Owner || fast.OriginSeq != slow.OriginSeq {
			t.Fatalf("fast %+v != slow %+v", fast, slow)
		}
	})
}

// A record whose length prefix claims gigabytes must not leave memory
// behind: decoding it again and again keeps the heap flat (a pooled
// msgpack decoder used to keep the buffer it grew for each attempt).
func TestCodec_CorruptLengthKeepsHeapFlat(t *testing.T) {
	type body struct {
		_msgpack struct{} `msgpack:",as_array"`
		A, B     string
	}
	corrupt := []byte("\x85\xc6\xc6\xc6est ") // a map whose first key is a bin32 of ~3.3 GB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 300; i++ {
		var out body
		if err := Decode([]byte("k"), corrupt, &out); err == nil {
			t.Fatal("a truncated bin32 decoded")
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 64<<20 {
		t.Fatalf("heap grew %d MiB over 300 corrupt decodes", grew>>20)
	}
}

// A length prefix longer than the record is a corruption error before
// msgpack sees it: msgpack would allocate a []byte field's declared length
// (1.5 GB here, for 30 bytes) before finding the data short.
func TestCodec_DeclaredLengthBeyondDataAllocatesNothing(t *testing.T) {
	type rec struct {
		_msgpack struct{} `msgpack:",as_array"`
		A, B, C  string
		D        []byte
	}
	inputs := [][]byte{
		[]byte("\x96\xab0000000\x99\x7f{00\xa0\xdb]\x9c@\x9fG\x8e\xa90"), // FuzzDecodeRemote's
		[]byte("\x94\xa1a\xa1b\xa1c\xc6\x7f\xff\xff\xff"),                // bin32 of 2 GiB
		[]byte("\x94\xa1a\xa1b\xa1c\xdd\xff\xff\xff\xff"),                // array32 of 4G elements
		[]byte("\x94\xa1a\xa1b\xa1c\xc9\x7f\xff\xff\xff\x01"),            // ext32
	}
	for _, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var out rec
		err := Decode([]byte("k"), in, &out)
		runtime.ReadMemStats(&after)
		var ce *CorruptionError
		if !errors.As(err, &ce) {
			t.Fatalf("%q: got %v, want a corruption error", in, err)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
			t.Fatalf("%q: allocated %d bytes", in, a)
		}
	}
	// Well-formed records still decode: the walk accepts what Encode writes.
	good, err := Encode(&rec{A: "a", B: strings.Repeat("b", 70000), C: "", D: make([]byte, 300)})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkLengths(good); err != nil {
		t.Fatalf("a well-formed record refused: %v", err)
	}
	var out rec
	if err := Decode([]byte("k"), good, &out); err != nil || len(out.B) != 70000 || len(out.D) != 300 {
		t.Fatalf("round trip: %v %d %d", err, len(out.B), len(out.D))
	}
}

// TestDecode_TrailingBytesRefused: a record is exactly one msgpack value.
// Bytes after it are corruption for every type, the change record (whose
// fast decoder refuses them) and the rest alike (found by FuzzDecodeRemote:
// a remote change record with a byte after it was accepted by the general
// decoder, and the origin spliced at its end landed in that byte).
func TestDecode_TrailingBytesRefused(t *testing.T) {
	ch, err := Encode(&ChangeRecord{Table: "threads", PK: "a", Op: OpPut, Payload: []byte(`{"id":"a"}`), OpID: "x", Fingerprint: "f"})
	if err != nil {
		t.Fatal(err)
	}
	sys, err := Encode(&SystemEvent{Type: "user.create"})
	if err != nil {
		t.Fatal(err)
	}
	var c ChangeRecord
	if err := Decode([]byte("k"), ch, &c); err != nil {
		t.Fatalf("well-formed change record: %v", err)
	}
	var s SystemEvent
	if err := Decode([]byte("k"), sys, &s); err != nil {
		t.Fatalf("well-formed system event: %v", err)
	}
	for _, extra := range [][]byte{{0x00}, {0xa0, 0x00}, {0xc0}} {
		var ce *CorruptionError
		if err := Decode([]byte("k"), append(append([]byte(nil), ch...), extra...), &c); !errors.As(err, &ce) {
			t.Fatalf("change record + % x: got %v, want a corruption error", extra, err)
		}
		if err := Decode([]byte("k"), append(append([]byte(nil), sys...), extra...), &s); !errors.As(err, &ce) {
			t.Fatalf("system event + % x: got %v, want a corruption error", extra, err)
		}
	}
}
