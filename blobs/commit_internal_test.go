package blobs

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestFileMeta_SameAsMap: a new file_meta payload encodes to the bytes
// json.Marshal gives the same row written as a map (keys sorted, optional
// dimensions absent when not sent, strings escaped alike).
func TestFileMeta_SameAsMap(t *testing.T) {
	in := Intent{MimeType: "image/png", SizeBytes: 4096}
	for _, c := range []struct {
		name string
		req  CommitRequest
	}{
		{"photo.png", CommitRequest{Kind: "image", Width: optInt{true, 10}, Height: optInt{true, 20}}},
		{"doc <&> \"q\" \u2028 é.pdf", CommitRequest{Kind: "pdf", PageCount: optInt{true, 3}}},
		{"bare", CommitRequest{Kind: "image"}},
	} {
		m := map[string]any{"name": c.name, "mime_type": in.MimeType, "kind": c.req.Kind, "size_bytes": in.SizeBytes, "created_at": int64(1700000000)}
		if c.req.Width.Set {
			m["width"] = c.req.Width.V
		}
		if c.req.Height.Set {
			m["height"] = c.req.Height.V
		}
		if c.req.PageCount.Set {
			m["page_count"] = c.req.PageCount.V
		}
		m["hash"], m["storage_id"], m["storage_provider_id"], m["deleted"], m["updated_at"] = "sha256:ab", "w1/ab/ab", "syncd", false, int64(1700000000)
		want, _ := json.Marshal(m)
		got, err := json.Marshal(newFileMeta("sha256:ab", c.name, c.req, in, "w1/ab/ab", "syncd", 1700000000))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s (%v)\nwant %s", c.name, got, err, want)
		}
	}
}

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
