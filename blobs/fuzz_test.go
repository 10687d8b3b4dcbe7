package blobs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/or3/syncd/syncerr"
)

// FuzzCall: any body for any storage operation, against a real daemon,
// answers a JSON value or a 4xx *syncerr.Error: never a panic, never a
// 500.
func FuzzCall(f *testing.F) {
	ops := []string{"presign-upload", "presign-download", "commit", "delete", "gc", "nope"}
	f.Add(uint8(0), []byte(`{"workspaceId":"W","hash":"sha256:`+hashOf([]byte("x"))+`","mimeType":"image/png","sizeBytes":1}`))
	f.Add(uint8(1), []byte(`{"workspaceId":"W","hash":"abc","expiresInMs":-1}`))
	f.Add(uint8(2), []byte(`{"workspace_id":"W","intent_id":"i","hash":"h","size_bytes":1.5,"name":"n","kind":"pdf","width":0}`))
	f.Add(uint8(3), []byte(`{"workspaceId":"W","storageId":"w1/../x"}`))
	f.Add(uint8(4), []byte(`{"workspace_id":"W","retention_seconds":1e300,"limit":null}`))
	f.Add(uint8(5), []byte(`[]`))
	f.Add(uint8(0), []byte(`{"workspaceId":"W","sizeBytes":"1","hash":null}`))
	e := newEnv(f, "fs", nil)
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		if !json.Valid(body) {
			return // the HTTP layer refuses malformed JSON before the gateway
		}
		// Point every call at the real workspace, whatever the fuzzer wrote.
		var m map[string]any
		if json.Unmarshal(body, &m) == nil && m != nil {
			if _, ok := m["workspaceId"]; ok {
				m["workspaceId"] = e.ws
			}
			if _, ok := m["workspace_id"]; ok {
				m["workspace_id"] = e.ws
			}
			body, _ = json.Marshal(m)
		}
		res, err := e.d.Blobs.Call(context.Background(), e.user, ops[int(op)%len(ops)], body)
		if err != nil {
			se, ok := syncerr.As(err)
			if !ok || se.Status >= 500 && se.Status != 503 {
				t.Fatalf("%s %s: %v", ops[int(op)%len(ops)], body, err)
			}
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("answer does not marshal: %v", err)
		}
	})
}
