package engine

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/or3/syncd/crdt"
)

// FuzzScanPayload: whenever the single pass accepts a payload, the general
// path (json.Compact, UTF-8, topLevelFields) accepts it too and agrees on
// every byte and member; and it accepts the common payloads (compact or
// indented objects of plain members).
func FuzzScanPayload(f *testing.F) {
	for _, seed := range []string{
		`{"id":"t1","deleted":false,"nested":{"id":"x","deleted":"no"},"s":"a\"b}","arr":[1,{"_id":2}]}`,
		`{"user_id":"u\u0041","workspace_id":null,"hash":"sha256:ab","_id":1}`,
		"{ \"id\" : \"m1\" ,\n\t\"data\" : { \"content\" : \"héllo \\n wörld\" } , \"n\": [ 1.5e3 , -0 , 2 ] }",
		`{}`, `{"a":1e400}`, `{"\u0069d":"x"}`, `[1]`, `{"a":"\xff"}`, `{"a":1,}`, `{"a":01}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		end, compact, scan, ok := ScanPayload(data, 0, crdt.MaxJSONDepth)
		if !ok {
			return
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, data[:end]); err != nil {
			t.Fatalf("scan accepted %q, json.Compact: %v", data[:end], err)
		}
		if !bytes.Equal(buf.Bytes(), compact) {
			t.Fatalf("compact %q, json.Compact %q", compact, buf.Bytes())
		}
		if !utf8.Valid(compact) || compact[0] != '{' {
			t.Fatalf("accepted %q", compact)
		}
		if _, err := crdt.CanonicalJSON(compact); err != nil && !bytes.Contains([]byte(err.Error()), []byte("duplicate")) {
			t.Fatalf("accepted %q, canonical: %v", compact, err)
		}
		full, err := topLevelFields(compact)
		if err != nil {
			t.Fatalf("topLevelFields(%q): %v", compact, err)
		}
		for slot, name := range fieldNames {
			want := full[name]
			got := scan.field(compact, slot)
			if (want == nil) != (got == nil) || (bytes.Count(compact, []byte(strconv.Quote(name))) == 1 && !bytes.Equal(want, got)) {
				t.Fatalf("member %s: scan %q, general %q in %q", name, got, want, compact)
			}
		}
		if e2, n, ok2 := SkipJSON(data, 0, crdt.MaxJSONDepth); !ok2 || e2 != end || n != len(compact) {
			t.Fatalf("SkipJSON(%q) = %d %d %v, want %d %d", data, e2, n, ok2, end, len(compact))
		}
	})
}

// TestScanPayload_MatchesGeneralPath: accepted, refused and boundary
// payloads give the push rules' answers whichever path validated them.
func TestScanPayload_MatchesGeneralPath(t *testing.T) {
	big := `{"id":"k","v":"` + string(bytes.Repeat([]byte("a"), MaxPayloadBytes-len(`{"id":"k","v":""}`))) + `"}`
	for _, tc := range []struct {
		payload string
		scanned bool
	}{
		{`{"id":"k","deleted":true}`, true},
		{" {\"id\" : \"k\",\n \"deleted\": false } ", true},
		{big, true},
		{big[:len(big)-2] + `a"}`, true}, // 262,145 bytes
		{strconvSpaced(big), true},       // whitespace does not count
		{`{"id":"k","deleted":"yes"}`, true},
		{`{"id":"j"}`, true},
		{`{"_id":1}`, true},
		{`{"workspace_id":"other"}`, true},
		{`{"\u0069d":"j"}`, false},
		{`{"a":1e400}`, false},
		{`{"a":"\xff"}`, false},
		{"\u00a0{}", false},
		{`[]`, false},
		{`{"a":1,}`, false},
	} {
		op := PendingOp{TableName: "kv", Operation: "put", PK: "k", Payload: []byte(tc.payload),
			Stamp: Stamp{DeviceID: "d", OpID: "3f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21", HLC: "h", Clock: 1}}
		p := preparePayload(&op)
		if p.scan.ok != tc.scanned {
			t.Errorf("%.40q: scanned %v, want %v", tc.payload, p.scan.ok, tc.scanned)
		}
		var fast, general payloadInfo
		errFast := validatePrepared("ws", &op, &p, &fast)
		errGeneral := validateGeneral("ws", &op, &general)
		if (errFast == nil) != (errGeneral == nil) || (errFast != nil && *errFast != *errGeneral) {
			t.Errorf("%.40q: fast %v, general %v", tc.payload, errFast, errGeneral)
			continue
		}
		if errFast == nil && (!bytes.Equal(fast.compact, general.compact) || !sameFields(&fast, &general) || fast.softDeleted != general.softDeleted) {
			t.Errorf("%.40q: fast %+v, general %+v", tc.payload, fast, general)
		}
		var fpr crdt.Fingerprinter
		fp1, err1 := opFingerprint(&fpr, &op, &p)
		fp2, err2 := crdtFingerprint(&op)
		if fp1 != fp2 || (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Errorf("%.40q: fingerprint %s %v, general %s %v", tc.payload, fp1, err1, fp2, err2)
		}
	}
}

// strconvSpaced puts a space after the first '{' and before the last '}'.
func strconvSpaced(s string) string { return "{ " + s[1:len(s)-1] + " }" }

func sameFields(a, b *payloadInfo) bool {
	for i := range a.fields {
		if (a.fields[i] == nil) != (b.fields[i] == nil) || !bytes.Equal(a.fields[i], b.fields[i]) {
			return false
		}
	}
	return true
}
