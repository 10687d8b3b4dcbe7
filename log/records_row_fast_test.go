package log

import (
	"reflect"
	"testing"
)

// The direct RowRecord reader agrees with the general decoder on every
// encoding both accept.
func FuzzDecodeRowFast(f *testing.F) {
	f.Add(MustEncode(&RowRecord{Winner: Revision{Clock: 3, HLC: "h", OpID: "o", Fingerprint: "f"}, WinnerKind: OpPut, HasPut: true,
		Put: Revision{Clock: 3, HLC: "h", OpID: "o"}, Payload: []byte(`{"id":"x"}`), HasTomb: true, Tomb: Revision{Clock: -2},
		ServerVersion: 1 << 40, DeviceID: "d", CreatedAtMs: -1, UpdatedAtMs: 5, DeletedAtMs: 6, Owner: "u"}))
	f.Add(MustEncode(&RowRecord{Payload: make([]byte, 70000), SoftDel: true}))
	f.Add([]byte{0x92, 0x94, 0x01, 0xa1, 'h', 0xa1, 'o', 0xa0, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast RowRecord
		buf := append([]byte(nil), data...)
		if !decodeRowAliased(buf, &fast) {
			return
		}
		var slow RowRecord
		if err := Decode([]byte("k"), data, &slow); err != nil {
			return
		}
		if len(fast.Payload) == 0 && len(slow.Payload) == 0 {
			fast.Payload, slow.Payload = nil, nil
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v != slow %+v", fast, slow)
		}
	})
}

func TestDecodeRow_RoundTrip(t *testing.T) {
	in := RowRecord{Winner: Revision{Clock: 7, HLC: "7:0:d", OpID: "op"}, WinnerKind: OpDelete, HasTomb: true, Tomb: Revision{Clock: 7, HLC: "7:0:d", OpID: "op"},
		ServerVersion: 9, DeviceID: "d", CreatedAtMs: 1, UpdatedAtMs: 2, DeletedAtMs: 3, Owner: "u"}
	var out RowRecord
	if err := DecodeRow([]byte("k"), MustEncode(&in), &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("%+v %v", out, err)
	}
}
