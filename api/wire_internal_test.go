package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/or3/syncd/engine"
)

var pushFastSeeds = []string{
	`{"scope":{"workspaceId":"w1"},"ops":[{"id":"o1","tableName":"messages","operation":"put","pk":"m1","payload":{"id":"m1","thread_id":"t1","role":"user","index":1,"order_key":"k","deleted":false,"created_at":1,"updated_at":1,"clock":1,"data":{"content":"héllo \"x\" \u2028"}},"stamp":{"deviceId":"d","opId":"3f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"1736648823456:0003:abc12345","clock":1},"createdAt":1736648823456,"attempts":0,"status":"pending","nextAttemptAt":null,"lastError":null}]}`,
	"{ \"ops\" : [ { \"stamp\" : { \"clock\" : -3 , \"opId\" : \"x\\u0041\" } , \"payload\" : { \"a\" : [ 1 , 2.5e3 , { } ] , \"deleted\" : true } , \"tableName\" : null } ] , \"scope\" : { \"workspaceId\" : \" w \" , \"projectId\" : \"p\" , \"extra\" : [ ] } , \"x\" : 1 }\n",
	`{"scope":{"workspaceId":"w"},"ops":[]}`,
	`{"scope":{"workspaceId":"w"},"ops":[{"tableName":"kv","operation":"delete","pk":"k","payload":null,"stamp":{"deviceId":"d","opId":"o","hlc":"h","clock":0}}]}`,
	`{"scope":{"workspaceId":"w"},"ops":[{"tableName":"kv","operation":"put","pk":"k","payload":[1,2],"stamp":{"deviceId":"d","opId":"o","hlc":"h","clock":0}},{"payload":"s","stamp":{"clock":9007199254740991}},{"payload":{"\u0069d":1},"stamp":{"clock":1}}]}`,
	`{"scope":{"workspaceId":"w"},"ops":[{"stamp":{"clock":1.0}}]}`,
	`{"scope":{"workspaceId":"w"},"ops":[{"stamp":{"clock":9007199254740992}}]}`,
	`{"scope":{"workspaceId":"w"},"ops":[{"stamp":{"clock":1}, "stamp":{"clock":2}}]}`,
	`{"scope":{"workspaceId":"w"},"ops":[{"payload":{"a":1e999},"stamp":{"clock":1}}]}`,
	`{"scope":{"workspaceId":"w"},"ops":[{"tableName":5,"stamp":{"clock":1}}]}`,
	`{"scope":null,"ops":[]}`, `{"ops":[]}`, `[]`, ``, `{"scope":{"workspaceId":"w"},"ops":[]} x`,
	"{\"scope\":{\"workspaceId\":\"\xff\"},\"ops\":[]}",
}

// FuzzDecodePushFast: whenever the one-pass decoder accepts a body,
// checkJSON and decodePush accept it too and decode the same batch (the
// payloads compacted), with the same compacted size.
func FuzzDecodePushFast(f *testing.F) {
	for _, s := range pushFastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodePushFast(body)
		if !ok {
			return
		}
		if err := checkJSON(body); err != nil {
			t.Fatalf("fast path accepted %q, checkJSON: %v", body, err)
		}
		slow, err := decodePush(body)
		if err != nil {
			t.Fatalf("fast path accepted %q, decodePush: %v", body, err)
		}
		comparePushBatches(t, body, fast, slow)
	})
}

func comparePushBatches(t *testing.T, body []byte, fast, slow engine.PushBatch) {
	t.Helper()
	if fast.Scope != slow.Scope || fast.OpsBytes != slow.OpsBytes || len(fast.Ops) != len(slow.Ops) || (fast.Ops == nil) != (slow.Ops == nil) {
		t.Fatalf("%q: fast %+v (%d bytes), slow %+v (%d bytes)", body, fast.Scope, fast.OpsBytes, slow.Scope, slow.OpsBytes)
	}
	for i := range fast.Ops {
		f, s := fast.Ops[i], slow.Ops[i]
		if f.TableName != s.TableName || f.Operation != s.Operation || f.PK != s.PK || f.Stamp != s.Stamp {
			t.Fatalf("%q: op %d: fast %+v, slow %+v", body, i, f, s)
		}
		want := []byte(s.Payload)
		if f.Scan != (engine.PayloadScan{}) {
			var buf bytes.Buffer
			if err := json.Compact(&buf, s.Payload); err != nil {
				t.Fatal(err)
			}
			want = buf.Bytes()
		}
		if !bytes.Equal(f.Payload, want) || (f.Payload == nil) != (s.Payload == nil) {
			t.Fatalf("%q: op %d payload: fast %q, slow %q", body, i, f.Payload, s.Payload)
		}
	}
}

// TestDecodePushFast_TakesOR3Bodies: the bodies OR3 clients send take the
// one-pass path (compact or indented, with the outbox fields), and decode
// as decodePush does; unusual ones are left to it.
func TestDecodePushFast_TakesOR3Bodies(t *testing.T) {
	for i, s := range pushFastSeeds {
		fast, ok := decodePushFast([]byte(s))
		want := i < 5
		if ok != want {
			t.Errorf("seed %d: fast path %v, want %v: %s", i, ok, want, s)
			continue
		}
		if !ok {
			continue
		}
		slow, err := decodePush([]byte(s))
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		comparePushBatches(t, []byte(s), fast, slow)
		if i == 0 && fast.Ops[0].Scan == (engine.PayloadScan{}) {
			t.Errorf("seed 0: payload not pre-scanned")
		}
	}
}
