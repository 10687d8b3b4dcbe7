package engine

import (
	"bytes"
	"encoding/json"
	"testing"
)

func encodingJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestPushResultAppendJSON_MatchesEncodingJSON: the push answer's encoder
// writes encoding/json's bytes for every field combination.
func TestPushResultAppendJSON_MatchesEncodingJSON(t *testing.T) {
	at := int64(1736648823)
	for _, r := range []PushResult{
		{},
		{Results: []OpResult{}},
		{Results: []OpResult{
			{OpID: "a", Success: true, ServerVersion: 7, Applied: boolp(true), WasExisting: boolp(false), TableName: "messages", Operation: "put", Payload: []byte(`{"id":"m1","x":"<&>\u2028"}`)},
			{OpID: "b\u2028<\x01\xff\"\\", Success: true, ServerVersion: 3, Applied: boolp(false), WasExisting: boolp(true), Replayed: true, TableName: "kv", Operation: "delete",
				Winner: &Winner{Kind: "delete", Revision: Revision{Clock: -1, HLC: "h\n", OpID: "o"}, ServerDeletedAt: &at}},
			{OpID: "c", Success: true, ServerVersion: 4, Applied: boolp(false), TableName: "threads", Operation: "put", Payload: []byte(`{"a":[1,2]}`),
				Winner: &Winner{Kind: "put", Payload: []byte(`{"a":[1,2]}`), Revision: Revision{Clock: 9, HLC: "1:0:d", OpID: "p"}}},
			{OpID: "d", Success: false, Error: "Conflicting operations reuse op_id d\t", ErrorCode: "CONFLICT"},
		}, ServerVersion: 1 << 60},
	} {
		want := encodingJSON(t, &r)
		got := r.AppendJSON(nil)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzPushResultJSON: for any strings and numbers, AppendJSON writes
// encoding/json's bytes.
func FuzzPushResultJSON(f *testing.F) {
	f.Add("op", "messages", "put", "hlc", "msg", "CODE", int64(3), uint64(5), true, false)
	f.Add("\xff\u2028", "", "", "", "<&>", "", int64(-1), uint64(0), false, true)
	f.Fuzz(func(t *testing.T, opID, table, op, hlc, msg, code string, clock int64, v uint64, applied, withWinner bool) {
		res := OpResult{OpID: opID, Success: v%2 == 0, ServerVersion: v, Applied: boolp(applied), Replayed: applied,
			TableName: table, Operation: op, Payload: []byte(`{"k":1}`), Error: msg, ErrorCode: code}
		if withWinner {
			at := clock
			res.Winner = &Winner{Kind: op, Revision: Revision{Clock: clock, HLC: hlc, OpID: opID}, ServerDeletedAt: &at}
		}
		r := PushResult{Results: []OpResult{res, {OpID: hlc}}, ServerVersion: v}
		if got, want := r.AppendJSON(nil), encodingJSON(t, &r); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
		}
	})
}
