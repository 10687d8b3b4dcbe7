package blobs

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// refOptInt is optInt's decoding through encoding/json (the reference).
func refOptInt(b []byte) (optInt, error) {
	if bytes.Equal(b, []byte("null")) {
		return optInt{}, nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return optInt{}, errNotInt
	}
	if f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
		return optInt{}, errNotInt
	}
	return optInt{Set: true, V: int64(f)}, nil
}

// FuzzOptInt: on every JSON value optInt decodes as through
// encoding/json's float64.
func FuzzOptInt(f *testing.F) {
	for _, s := range []string{"0", "-0", "12", "1e3", "1.5", "-7", "9007199254740991", "9007199254740992", "1e400", `"5"`, "true", "null", "[1]", `{"a":1}`, "0.0", "2E+2", "-1e-9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		b = bytes.TrimSpace(b) // the decoder hands over the bare value
		want, werr := refOptInt(b)
		var got optInt
		gerr := got.UnmarshalJSON(b)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: got %+v %v, want %+v %v", b, got, gerr, want, werr)
		}
	})
}
