package crdt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestOpFingerprint_Golden pins the exact document that is hashed, so that a
// change to the fingerprint format (which would turn every stored op's replay
// into a conflict) cannot happen silently.
func TestOpFingerprint_Golden(t *testing.T) {
	tests := []struct {
		name     string
		table    string
		op       string
		pk       string
		payload  string
		clock    int64
		hlc, dev string
		doc      string
	}{
		{
			name: "put", table: "threads", op: "put", pk: "t1",
			payload: `{ "title": "Hi \u00e9", "id": "t1", "deleted": false, "clock": 1.0 }`,
			clock:   1, hlc: "1736648823456:0003:abc12345", dev: "dA",
			doc: `{"clock":1,"device_id":"dA","hlc":"1736648823456:0003:abc12345","operation":"put",` +
				`"payload":{"clock":1,"deleted":false,"id":"t1","title":"Hi é"},"pk":"t1","table_name":"threads"}`,
		},
		{
			name: "delete without payload", table: "messages", op: "delete", pk: "m\"1",
			clock: 3, hlc: "3:0:dev", dev: "dB",
			doc: `{"clock":3,"device_id":"dB","hlc":"3:0:dev","operation":"delete","payload":null,"pk":"m\"1","table_name":"messages"}`,
		},
		{
			name: "clock beyond 2^53 kept exact", table: "kv", op: "put", pk: "k",
			payload: `{}`, clock: 9007199254740993, hlc: "h", dev: "d",
			doc: `{"clock":9007199254740993,"device_id":"d","hlc":"h","operation":"put","payload":{},"pk":"k","table_name":"kv"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var payload []byte
			if tt.payload != "" {
				payload = []byte(tt.payload)
			}
			got, err := OpFingerprint(tt.table, tt.op, tt.pk, payload, tt.clock, tt.hlc, tt.dev)
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256Hex(tt.doc); got != want {
				t.Fatalf("OpFingerprint = %s, want sha256(%s) = %s", got, tt.doc, want)
			}
			// The hashed document is itself canonical (for clocks up to 2^53).
			if tt.clock <= 1<<53 {
				c, err := CanonicalJSON([]byte(tt.doc))
				if err != nil || string(c) != tt.doc {
					t.Fatalf("golden document is not canonical: %s, %v", c, err)
				}
			}
		})
	}
}

// TestOpFingerprint_NullAndAbsentPayloadAreEqual is the SQLite quirk that
// sync-contract §3.3 makes canonical.
func TestOpFingerprint_NullAndAbsentPayloadAreEqual(t *testing.T) {
	fp := func(payload []byte) string {
		t.Helper()
		s, err := OpFingerprint("threads", "delete", "t1", payload, 2, "2:0:d", "dA")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	absent := fp(nil)
	for _, p := range []string{"", "null", " null\n"} {
		if got := fp([]byte(p)); got != absent {
			t.Errorf("payload %q: fingerprint %s, want the absent-payload one %s", p, got, absent)
		}
	}
	for _, p := range []string{"{}", `"null"`, "0", "[]", "false"} {
		if got := fp([]byte(p)); got == absent {
			t.Errorf("payload %q fingerprints like an absent payload", p)
		}
	}
}

// TestOpFingerprint_KeyOrderDoesNotMatter is sync-contract §5 scenario 5 at
// the fingerprint level: the same payload with keys in another order (and
// other number spellings and whitespace) is a replay, not a conflict.
func TestOpFingerprint_KeyOrderDoesNotMatter(t *testing.T) {
	a, err := OpFingerprint("posts", "put", "p1", []byte(`{"id":"p1","title":"T","meta":{"x":1,"y":[1,2]},"clock":2}`), 2, "h", "d")
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpFingerprint("posts", "put", "p1", []byte(`{ "clock": 2.0, "meta": {"y": [1e0, 20e-1], "x": 1}, "title": "T", "id": "p1" }`), 2, "h", "d")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("fingerprints differ: %s vs %s", a, b)
	}
}

// TestOpFingerprint_EveryFieldCounts is §5 scenarios 6 and 7: changing any
// field of an op under the same opId must change its fingerprint, or a
// conflicting reuse would pass as a replay.
func TestOpFingerprint_EveryFieldCounts(t *testing.T) {
	type args struct {
		table, op, pk, payload string
		clock                  int64
		hlc, dev               string
	}
	base := args{"threads", "put", "t-a", `{"id":"t-a"}`, 6, "6:0:d", "dA"}
	fp := func(a args) string {
		t.Helper()
		var p []byte
		if a.payload != "" {
			p = []byte(a.payload)
		}
		s, err := OpFingerprint(a.table, a.op, a.pk, p, a.clock, a.hlc, a.dev)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := fp(base)
	if len(want) != 64 {
		t.Fatalf("fingerprint %q is not 64 hex digits", want)
	}
	variants := map[string]args{}
	v := base
	v.table = "posts"
	variants["table"] = v
	v = base
	v.op, v.payload = "delete", ""
	variants["operation"] = v
	v = base
	v.pk = "t-b"
	variants["pk"] = v
	v = base
	v.payload = `{"id":"t-a","x":1}`
	variants["payload"] = v
	v = base
	v.clock = 7
	variants["clock"] = v
	v = base
	v.hlc = "6:0:e"
	variants["hlc"] = v
	v = base
	v.dev = "dB"
	variants["device"] = v
	// Fields must not bleed into each other through concatenation.
	v = base
	v.table, v.pk = "threadst", "-a"
	variants["boundary"] = v
	for name, a := range variants {
		if fp(a) == want {
			t.Errorf("changing %s did not change the fingerprint", name)
		}
	}
}

func TestOpFingerprint_InvalidPayload(t *testing.T) {
	for _, p := range []string{"{", `{"a":1,"a":2}`, "1e999", "  "} {
		if _, err := OpFingerprint("threads", "put", "t", []byte(p), 1, "h", "d"); err == nil {
			t.Errorf("payload %q: no error", p)
		} else if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrNumberRange) {
			t.Errorf("payload %q: unexpected error %v", p, err)
		}
	}
}

func TestOpFingerprint_StringsEncodedCanonically(t *testing.T) {
	got, err := OpFingerprint("t", "put", "a\u2028<\x01\xff", nil, 0, "", "")
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"clock":0,"device_id":"","hlc":"","operation":"put","payload":null,"pk":"a\u2028<\u0001` + "\ufffd" + `","table_name":"t"}`
	if want := sha256Hex(doc); got != want {
		t.Fatalf("got %s, want sha256(%s)", got, doc)
	}
}
