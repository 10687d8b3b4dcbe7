package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeSnapToken: any string either decodes to a token that encodes
// back to the same string, or is refused with a 400; never a panic.
func FuzzDecodeSnapToken(f *testing.F) {
	f.Add(encodeSnapToken(snapToken{table: 2, pk: "message-1"}))
	f.Add(encodeSnapToken(snapToken{id: [16]byte{1, 2, 3}, table: 6, pk: "\x00\xff"}))
	f.Add("")
	f.Add("AAAA")
	f.Add("!!!!")
	f.Add(strings.Repeat("A", MaxSnapshotToken+1))
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decodeSnapToken(s)
		if err != nil {
			wantStatus(t, err, 400)
			return
		}
		if tok.table < 0 || tok.table >= len(allTables) || len(tok.pk) > maxPKLen {
			t.Fatalf("accepted %+v", tok)
		}
		if again := encodeSnapToken(tok); again != s {
			t.Fatalf("round trip %q -> %q", s, again)
		}
	})
}

// FuzzDecodeCanonCursor: any string either decodes to a cursor bound to
// the asked kind and hash that re-encodes to an equal cursor, or is a 400.
func FuzzDecodeCanonCursor(f *testing.F) {
	f.Add(encodeCanonCursor(canonCursor{Kind: KindLiveMetadata, After: "sha256:ab"}), KindLiveMetadata, "")
	f.Add(encodeCanonCursor(canonCursor{Kind: KindReferenceEdges, Table: "posts", After: "p", Edge: "ab", InRow: true}), KindReferenceEdges, "")
	f.Add(encodeCanonCursor(canonCursor{Kind: KindActiveReservations, Hash: "ab", After: "i-1"}), KindActiveReservations, "ab")
	f.Add("eyJ2IjoxfQ", KindLiveMetadata, "")
	f.Add("%%%", KindLiveMetadata, "x")
	f.Fuzz(func(t *testing.T, s, kind, hash string) {
		c, err := decodeCanonCursor(s, kind, hash)
		if err != nil {
			wantStatus(t, err, 400)
			return
		}
		if c.Kind != kind || c.Hash != hash || len(s) > MaxCanonicalCursor {
			t.Fatalf("accepted %+v for %q/%q", c, kind, hash)
		}
		if !utf8.ValidString(c.After) {
			return // JSON replaced invalid bytes; nothing to compare
		}
		again, err := decodeCanonCursor(encodeCanonCursor(c), kind, hash)
		if err != nil || again != c {
			t.Fatalf("round trip %+v -> %+v %v", c, again, err)
		}
	})
}

// FuzzSnapshotPayload: for any object the rewritten payload is valid JSON
// holding the pk field, clock and hlc exactly once.
func FuzzSnapshotPayload(f *testing.F) {
	f.Add([]byte(`{"id":"x","clock":3,"hlc":"h"}`), "x", int64(3), "h")
	f.Add([]byte(`{"a":{"b":[1,"}"]},"id":"y"}`), "x", int64(1), "h")
	f.Add([]byte(` { "id" : "x" , "c\"lock" : 1 } `), "x", int64(1), "h")
	f.Fuzz(func(t *testing.T, payload []byte, pk string, clock int64, hlc string) {
		if !jsonValidObject(payload) || !utf8.ValidString(pk) || !utf8.ValidString(hlc) {
			return
		}
		out := snapshotPayload(payload, "id", pk, clock, hlc)
		members, ok := topMembers(out)
		if !ok {
			t.Fatalf("output not an object: %s", out)
		}
		seen := map[string]int{}
		for _, m := range members {
			seen[m.key]++
		}
		if seen["id"] < 1 || seen["clock"] < 1 || seen["hlc"] < 1 {
			t.Fatalf("missing fields in %s", out)
		}
		if !jsonValid(out) {
			t.Fatalf("invalid JSON %s from %s", out, payload)
		}
		// The other members are the payload's; the three are the revision's.
		var in, got map[string]any
		_ = json.Unmarshal(payload, &in)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if got["id"] != pk || got["clock"] != float64(clock) && clock < 1<<53 && clock > -(1<<53) || got["hlc"] != hlc {
			t.Fatalf("fields of %s: %v %v %v", out, got["id"], got["clock"], got["hlc"])
		}
		for _, k := range []string{"id", "clock", "hlc"} {
			delete(in, k)
			delete(got, k)
		}
		if a, b := mustJSON(t, in), mustJSON(t, got); a != b {
			t.Fatalf("members changed:\n%s\n%s", a, b)
		}
	})
}

func jsonValid(b []byte) bool { return json.Valid(b) }

func jsonValidObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// FuzzAppendSnapshotPayload: the JSON path's in-place rewrite appends
// exactly the bytes snapshotPayload returns (the Go path's), whatever the
// buffer already holds; and the quote-jumping scanners agree with the
// byte-by-byte ones.
func FuzzAppendSnapshotPayload(f *testing.F) {
	f.Add([]byte(`{"id":"x","clock":3,"hlc":"h"}`), "x", int64(3), "h")
	f.Add([]byte(`{"a":{"b":[1,"}"]},"id":"y","s":"q\\\"\\\\"}`), "x", int64(1), "h")
	f.Add([]byte(` { "id" : "x" , "c\"lock" : 1 , "hlc":"h","clock":1} `), "x", int64(1), "h")
	f.Fuzz(func(t *testing.T, payload []byte, pk string, clock int64, hlc string) {
		if !jsonValidObject(payload) || !utf8.ValidString(pk) || !utf8.ValidString(hlc) {
			return
		}
		want := string(snapshotPayload(payload, "id", pk, clock, hlc))
		prefix := []byte("prefix,")
		if got := string(appendSnapshotPayload(prefix, payload, "id", pk, clock, hlc)); got != "prefix,"+want {
			t.Fatalf("append path %s\nGo path %s", got, want)
		}
		for i := range payload {
			if payload[i] != '"' {
				continue
			}
			a, aok := skipStringBytewise(payload, i)
			b, bok := skipString(payload, i)
			if aok != bok || a != b {
				t.Fatalf("string at %d of %s: %d %v vs %d %v", i, payload, a, aok, b, bok)
			}
		}
	})
}

// skipStringBytewise is the byte-by-byte reference skipString's quote to
// quote search must agree with.
func skipStringBytewise(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}
