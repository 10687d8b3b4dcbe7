package engine

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzTopLevelFields: the scanner finds exactly the interesting top-level
// members a full decode finds, with the same values.
func FuzzTopLevelFields(f *testing.F) {
	f.Add([]byte(`{"id":"t1","deleted":false,"nested":{"id":"x","deleted":"no"},"s":"a\"b}","arr":[1,{"_id":2}]}`))
	f.Add([]byte(`{"user_id":"u\u0041","workspace_id":null,"hash":"sha256:ab","_id":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf bytes.Buffer
		if json.Compact(&buf, data) != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
			return
		}
		var full map[string]json.RawMessage
		if json.Unmarshal(buf.Bytes(), &full) != nil {
			return
		}
		got, err := topLevelFields(buf.Bytes())
		if err != nil {
			t.Fatalf("scanner refused %s: %v", buf.Bytes(), err)
		}
		for k := range interestingFields {
			want, inFull := full[k]
			have, inGot := got[k]
			if inFull != inGot {
				// Duplicate keys: the full decode keeps the last; push refuses
				// duplicate keys before validation (canonical JSON), so only
				// presence must agree.
				t.Fatalf("key %q: full %v scanner %v in %s", k, inFull, inGot, buf.Bytes())
			}
			if inFull && !bytes.Equal(want, have) && bytes.Count(buf.Bytes(), []byte(`"`+k+`"`)) == 1 {
				t.Fatalf("key %q: full %s scanner %s", k, want, have)
			}
		}
	})
}
