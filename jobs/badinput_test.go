package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/or3/syncd/syncerr"
)

// Bad input answers a clear error and writes nothing.
func TestBadInput_NothingWritten(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxChunkBytes = 16; c.MaxContentBytes = 40; c.MaxChunks = 3 })
	id := h.create("user-1")
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, id, "w", now, now+60000)
	cases := []struct {
		name   string
		call   string
		args   string
		status int
	}{
		{"unknown method", "nope", `[]`, 404},
		{"not an array", "getJob", `{"a":1}`, 400},
		{"too many args", "getJob", `["a","b","c"]`, 400},
		{"missing user", "getJob", `["` + id + `"]`, 400},
		{"number as id", "getJob", `[1,"u"]`, 400},
		{"update unknown job", "updateJob", `["nope",{"contentChunk":"x"}]`, 404},
		{"update not an object", "updateJob", `["` + id + `","x"]`, 400},
		{"oversized chunk", "updateJob", `["` + id + `",{"contentChunk":"0123456789abcdefg","leaseOwner":"w"}]`, 413},
		{"negative chunksReceived", "updateJob", `["` + id + `",{"chunksReceived":-1,"leaseOwner":"w"}]`, 400},
		{"fractional chunksReceived", "updateJob", `["` + id + `",{"chunksReceived":1.5,"leaseOwner":"w"}]`, 400},
		{"bad tool_calls", "updateJob", `["` + id + `",{"tool_calls":"x","leaseOwner":"w"}]`, 200},
		{"wrong owner", "updateJob", `["` + id + `",{"contentChunk":"x","leaseOwner":"w2"}]`, 409},
		{"complete unknown", "completeJob", `["nope","x"]`, 404},
		{"fail unknown", "failJob", `["nope","x"]`, 404},
		{"oversized final", "completeJob", `["` + id + `","` + strings.Repeat("x", 41) + `","w"]`, 413},
		{"claim unknown", "claimJob", `["nope","w",1,2]`, 404},
		{"negative now", "claimJob", `["` + id + `","w",-1,2]`, 400},
		{"negative expiry", "claimJob", `["` + id + `","w",1,-2]`, 400},
		{"absurd lease", "claimJob", `["` + id + `","w",0,9007199254740991]`, 400},
		{"unsafe now", "claimNextJob", `["w",9007199254740993,1]`, 400},
		{"string now", "renewJobLease", `["` + id + `","w","1",2]`, 400},
		{"empty owner", "claimNextJob", `["",1,2]`, 400},
		{"long owner", "claimNextJob", `["` + strings.Repeat("w", 257) + `",1,2]`, 400},
		{"renew unknown", "renewJobLease", `["nope","w",1,2]`, 404},
		{"exec null", "updateJobExecution", `["` + id + `",null,"w"]`, 400},
		{"exec unknown", "updateJobExecution", `["nope",{},"w"]`, 404},
		{"create bad kind", "createJob", `[{"userId":"u","threadId":"t","messageId":"m","model":"x","kind":"other"}]`, 400},
		{"create missing model", "createJob", `[{"userId":"u","threadId":"t","messageId":"m"}]`, 400},
		{"create long id", "createJob", `[{"userId":"` + strings.Repeat("u", 257) + `","threadId":"t","messageId":"m","model":"x"}]`, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seq := h.db.NextSystemSeq()
			_, err := h.s.Call(context.Background(), c.call, json.RawMessage(c.args))
			if c.status == 200 {
				// tool_calls "x" is valid JSON (a string): accepted.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			se, ok := syncerr.As(err)
			if !ok || se.Status != c.status {
				t.Fatalf("err %v, want %d", err, c.status)
			}
			if se.Message == "" {
				t.Fatal("no message")
			}
			if h.db.NextSystemSeq() != seq+1 {
				t.Fatal("an event was logged")
			}
		})
	}
	// Content cap across chunks.
	for i := 0; i < 2; i++ {
		if _, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("0123456789abcdef"), LeaseOwner: str("w")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("0123456789"), LeaseOwner: str("w")})
	wantCode(t, err, 413, syncerr.CodeOversized)
	if j := h.get(id); len(j.Content) != 32 {
		t.Fatalf("content %d", len(j.Content))
	}
	// Chunk count cap.
	if _, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("x"), LeaseOwner: str("w")}); err != nil {
		t.Fatal(err)
	}
	_, err = h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("y"), LeaseOwner: str("w")})
	wantCode(t, err, 413, syncerr.CodeOversized)
	// Non-chunk updates still work at the cap.
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ChunksReceived: i64(3), LeaseOwner: str("w")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
}

// The RPC surface answers the TypeScript shapes.
func TestCall_Shapes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	res, err := h.s.Call(ctx, "createJob", json.RawMessage(`[{"userId":"u","threadId":"t","messageId":"m","model":"x","execution":{"contentBase":""},"idempotencyKey":"k"}]`))
	if err != nil {
		t.Fatal(err)
	}
	id := res.(string)
	if _, err := h.s.Call(ctx, "updateJob", json.RawMessage(`["`+id+`",{"contentChunk":"hi","chunksReceived":1}]`)); err != nil {
		t.Fatal(err)
	}
	res, err = h.s.Call(ctx, "getJob", json.RawMessage(`["`+id+`","u"]`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	for _, want := range []string{`"id":"` + id + `"`, `"userId":"u"`, `"status":"streaming"`, `"content":"hi"`, `"chunksReceived":1`, `"attempts":0`, `"execution":{"contentBase":""}`, `"kind":"chat"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s lacks %s", b, want)
		}
	}
	if res, _ := h.s.Call(ctx, "getJob", json.RawMessage(`["`+id+`","other"]`)); res != nil {
		t.Fatalf("foreign getJob %v", res)
	}
	if res, _ := h.s.Call(ctx, "getActiveJobCount", json.RawMessage(`[]`)); res != 1 {
		t.Fatalf("count %v", res)
	}
	now := h.clk.Ms()
	if res, _ := h.s.Call(ctx, "claimJob", json.RawMessage(fmt.Sprintf(`["%s","w",%d,%d,null]`, id, now, now+2000))); res == nil {
		t.Fatal("claim with a trailing null")
	}
	if res, err := h.s.Call(ctx, "completeJob", json.RawMessage(`["`+id+`","done","w"]`)); res != true || err != nil {
		t.Fatal(res, err)
	}
	if res, _ := h.s.Call(ctx, "cleanupExpired", json.RawMessage(`[]`)); res != 0 {
		t.Fatalf("cleanup %v", res)
	}
}

// FuzzCall: no argument array makes a method panic, answer a status
// outside 400..599 as an error, or write after a refusal.
func FuzzCall(f *testing.F) {
	for _, s := range []string{
		`[{"userId":"u","threadId":"t","messageId":"m","model":"x"}]`, `["j","u"]`, `["j",{"contentChunk":"x"}]`,
		`["w",1,2]`, `["j","w",1e3,2e3]`, `[null,null]`, `[]`, `{}`, `[1.5]`, `["j",{"chunksReceived":"1"}]`,
		`[{"userId":"u","threadId":"t","messageId":"m","model":"x","tool_calls":[{"a":1}],"idempotencyKey":"k"}]`,
	} {
		for _, m := range Methods() {
			f.Add(m, s)
		}
	}
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, method, args string) {
		res, err := h.s.Call(context.Background(), method, json.RawMessage(args))
		if err != nil {
			se, ok := syncerr.As(err)
			if !ok || se.Status < 400 || se.Status > 599 || se.Status == 500 {
				t.Fatalf("%s(%s): %v", method, args, err)
			}
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatal(err)
		}
	})
}
