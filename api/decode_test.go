package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/or3/syncd/internal/crashtest"
)

// TestDecode_BadInput sends malformed, mistyped, oversized and incomplete
// requests and checks each answer's status and code, then that nothing was
// written.
func TestDecode_BadInput(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice")
	ws := e.workspace(alice)
	scope := `{"workspaceId":"` + ws + `"}`
	opJSON := func(stamp string) string {
		return `{"tableName":"kv","operation":"put","pk":"k1","payload":{"id":"k1","name":"n","created_at":1,"updated_at":1,"clock":1},"stamp":` + stamp + `}`
	}
	goodStamp := func() string {
		return `{"deviceId":"d1","opId":"` + uuid.NewString() + `","hlc":"h","clock":1}`
	}
	push := func(body string) req {
		return req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: []byte(body)}
	}
	pull := func(body string) req {
		return req{method: http.MethodPost, path: "/v1/sync/pull", user: alice, body: []byte(body)}
	}
	cursor := func(body string) req {
		return req{method: http.MethodPost, path: "/v1/sync/update-cursor", user: alice, body: []byte(body)}
	}
	deep := strings.Repeat("[", 65) + strings.Repeat("]", 65)
	cases := []struct {
		name    string
		r       req
		status  int
		code    string
		message string // a substring of the message, when set
	}{
		// Malformed JSON and bounds of the body.
		{"malformed JSON", push(`{"scope":`), 400, "VALIDATION_ERROR", "malformed JSON"},
		{"trailing garbage", push(`{"scope":` + scope + `,"ops":[]} x`), 400, "VALIDATION_ERROR", "malformed JSON"},
		{"empty body", push(``), 400, "VALIDATION_ERROR", "empty"},
		{"body is an array", push(`[]`), 400, "VALIDATION_ERROR", "must be a JSON object"},
		{"nesting deeper than 64", push(`{"scope":` + scope + `,"ops":[],"x":` + deep + `}`), 400, "VALIDATION_ERROR", "nested deeper"},
		{"number beyond float64", push(`{"scope":` + scope + `,"ops":[],"x":1e400}`), 400, "VALIDATION_ERROR", "64-bit float"},
		{"invalid UTF-8 in a string", push("{\"scope\":" + scope + ",\"ops\":[],\"x\":\"\xff\"}"), 400, "VALIDATION_ERROR", ""},

		// Headers.
		{"no Content-Type", req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: []byte(`{}`), contentType: strp("")}, 415, "VALIDATION_ERROR", "Content-Type"},
		{"text/plain", req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: []byte(`{}`), contentType: strp("text/plain")}, 415, "VALIDATION_ERROR", "Content-Type"},
		{"form", req{method: http.MethodPost, path: "/v1/sync/pull", user: alice, body: []byte(`a=b`), contentType: strp("application/x-www-form-urlencoded")}, 415, "VALIDATION_ERROR", ""},
		{"no X-Syncd-User", req{method: http.MethodPost, path: "/v1/sync/push", body: []byte(`{}`)}, 401, "UNAUTHORIZED", "X-Syncd-User"},

		// Push: wrong JSON types.
		{"scope missing", push(`{"ops":[]}`), 400, "VALIDATION_ERROR", "scope is required"},
		{"scope a string", push(`{"scope":"x","ops":[]}`), 400, "VALIDATION_ERROR", "scope must be a JSON object"},
		{"workspaceId a number", push(`{"scope":{"workspaceId":1},"ops":[]}`), 400, "VALIDATION_ERROR", "scope.workspaceId must be a string"},
		{"ops missing", push(`{"scope":` + scope + `}`), 400, "VALIDATION_ERROR", "ops is required"},
		{"ops null", push(`{"scope":` + scope + `,"ops":null}`), 400, "VALIDATION_ERROR", "ops is required"},
		{"ops an object", push(`{"scope":` + scope + `,"ops":{}}`), 400, "VALIDATION_ERROR", "ops must be an array"},
		{"op a string", push(`{"scope":` + scope + `,"ops":["x"]}`), 400, "VALIDATION_ERROR", "ops[0] must be a JSON object"},
		{"tableName a number", push(`{"scope":` + scope + `,"ops":[{"tableName":1}]}`), 400, "VALIDATION_ERROR", "ops[0].tableName must be a string"},
		{"stamp missing", push(`{"scope":` + scope + `,"ops":[{"tableName":"kv","operation":"put","pk":"k"}]}`), 400, "VALIDATION_ERROR", "ops[0].stamp is required"},
		{"clock a string", push(`{"scope":` + scope + `,"ops":[` + opJSON(`{"deviceId":"d","opId":"x","hlc":"h","clock":"1"}`) + `]}`), 400, "VALIDATION_ERROR", "ops[0].stamp.clock must be an integer"},
		{"clock 1.5", push(`{"scope":` + scope + `,"ops":[` + opJSON(`{"deviceId":"d","opId":"x","hlc":"h","clock":1.5}`) + `]}`), 400, "VALIDATION_ERROR", "ops[0].stamp.clock must be an integer"},
		{"clock missing", push(`{"scope":` + scope + `,"ops":[` + opJSON(`{"deviceId":"d","opId":"x","hlc":"h"}`) + `]}`), 400, "VALIDATION_ERROR", "ops[0].stamp.clock is required"},
		{"clock beyond 2^53", push(`{"scope":` + scope + `,"ops":[` + opJSON(`{"deviceId":"d","opId":"x","hlc":"h","clock":9007199254740993}`) + `]}`), 400, "VALIDATION_ERROR", "safe integer"},
		{"clock negative", push(`{"scope":` + scope + `,"ops":[` + opJSON(`{"deviceId":"d","opId":"x","hlc":"h","clock":-1}`) + `]}`), 400, "VALIDATION_ERROR", "clock"},
		{"second op mistyped", push(`{"scope":` + scope + `,"ops":[` + opJSON(goodStamp()) + `,` + opJSON(`{"deviceId":true,"opId":"x","hlc":"h","clock":1}`) + `]}`), 400, "VALIDATION_ERROR", "ops[1].stamp.deviceId must be a string"},
		{"more than 100 ops", push(`{"scope":` + scope + `,"ops":[` + strings.Repeat(`{},`, 100) + `{}]}`), 400, "VALIDATION_ERROR", "exceeds maximum of 100"},

		// Pull.
		{"pull cursor missing", pull(`{"scope":` + scope + `}`), 400, "VALIDATION_ERROR", "cursor is required"},
		{"pull cursor 1.5", pull(`{"scope":` + scope + `,"cursor":1.5}`), 400, "VALIDATION_ERROR", "cursor must be an integer"},
		{"pull cursor -1", pull(`{"scope":` + scope + `,"cursor":-1}`), 400, "VALIDATION_ERROR", "non-negative"},
		{"pull cursor a string", pull(`{"scope":` + scope + `,"cursor":"0"}`), 400, "VALIDATION_ERROR", "cursor must be an integer, not a string"},
		{"pull cursor beyond 2^53", pull(`{"scope":` + scope + `,"cursor":1e300}`), 400, "VALIDATION_ERROR", "safe integer"},
		{"pull limit 1.5", pull(`{"scope":` + scope + `,"cursor":0,"limit":1.5}`), 400, "VALIDATION_ERROR", "limit must be an integer"},
		{"pull limit 0", pull(`{"scope":` + scope + `,"cursor":0,"limit":0}`), 400, "VALIDATION_ERROR", "limit"},
		{"pull limit 1001", pull(`{"scope":` + scope + `,"cursor":0,"limit":1001}`), 400, "VALIDATION_ERROR", "limit"},
		{"pull tables a string", pull(`{"scope":` + scope + `,"cursor":0,"tables":"kv"}`), 400, "VALIDATION_ERROR", "tables must be an array"},
		{"pull tables of numbers", pull(`{"scope":` + scope + `,"cursor":0,"tables":[1]}`), 400, "VALIDATION_ERROR", "tables[0] must be a string"},

		// Update cursor.
		{"cursor version 1.5", cursor(`{"scope":` + scope + `,"deviceId":"d","version":1.5}`), 400, "VALIDATION_ERROR", "version must be an integer"},
		{"cursor version -1", cursor(`{"scope":` + scope + `,"deviceId":"d","version":-1}`), 400, "VALIDATION_ERROR", "non-negative"},
		{"cursor version missing", cursor(`{"scope":` + scope + `,"deviceId":"d"}`), 400, "VALIDATION_ERROR", "version is required"},
		{"cursor deviceId a number", cursor(`{"scope":` + scope + `,"deviceId":5,"version":0}`), 400, "VALIDATION_ERROR", "deviceId must be a string"},
		{"cursor ahead of the workspace", cursor(`{"scope":` + scope + `,"deviceId":"d","version":5}`), 400, "VALIDATION_ERROR", "exceeds"},

		// Server version and watch query parameters.
		{"server-version without workspaceId", req{method: http.MethodGet, path: "/v1/sync/server-version", user: alice}, 400, "VALIDATION_ERROR", "workspaceId"},
		{"watch cursor 1.5", req{method: http.MethodGet, path: "/v1/sync/watch?workspaceId=" + ws + "&cursor=1.5", user: alice}, 400, "VALIDATION_ERROR", "cursor"},
		{"watch cursor -1", req{method: http.MethodGet, path: "/v1/sync/watch?workspaceId=" + ws + "&cursor=-1", user: alice}, 400, "VALIDATION_ERROR", "cursor"},
		{"watch bad Last-Event-ID", req{method: http.MethodGet, path: "/v1/sync/watch?workspaceId=" + ws + "&cursor=0", user: alice, header: map[string]string{"Last-Event-ID": "abc"}}, 400, "VALIDATION_ERROR", "Last-Event-ID"},

		// Routing.
		{"wrong method", req{method: http.MethodGet, path: "/v1/sync/push", user: alice}, 405, "VALIDATION_ERROR", "not allowed"},
		{"unknown /v1 path", req{method: http.MethodGet, path: "/v1/nope"}, 404, "NOT_FOUND", ""},
		{"unknown /v1 path without token", req{method: http.MethodGet, path: "/v1/nope", token: strp("")}, 401, "UNAUTHORIZED", ""},
		{"unknown path", req{method: http.MethodGet, path: "/nope", token: strp("")}, 404, "NOT_FOUND", ""},
		{"test clock off", req{method: http.MethodPost, path: "/v1/test/clock", body: []byte(`{"offsetSeconds":5}`)}, 404, "NOT_FOUND", ""},
	}
	before := e.serverVersion(alice, ws)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(tc.r)
			expect(t, a, tc.status, tc.code)
			if tc.message != "" && !strings.Contains(string(a.body), tc.message) {
				t.Fatalf("message lacks %q: %s", tc.message, a.body)
			}
		})
	}
	if got := e.serverVersion(alice, ws); got != before {
		t.Fatalf("bad requests wrote: server version %d → %d", before, got)
	}
}

// TestDecode_RPCErrors checks RPC routing failures and their envelope.
func TestDecode_RPCErrors(t *testing.T) {
	e := startEnv(t, envOpts{})
	rpc := func(path, body string) answer {
		return e.do(req{method: http.MethodPost, path: "/v1/rpc/" + path, body: []byte(body)})
	}
	cases := []struct {
		name   string
		a      answer
		status int
		code   string
	}{
		{"unknown store", rpc("nope.getUser", `[]`), 404, "NOT_FOUND"},
		{"unknown method", rpc("auth.nope", `[]`), 404, "NOT_FOUND"},
		{"no method", rpc("auth", `[]`), 404, "NOT_FOUND"},
		{"empty method", rpc("auth.", `[]`), 404, "NOT_FOUND"},
		{"body not an array", rpc("auth.getUser", `{"provider":"x"}`), 400, "VALIDATION_ERROR"},
		{"malformed body", rpc("auth.getUser", `[`), 400, "VALIDATION_ERROR"},
		{"wrong argument type", rpc("auth.getOrCreateUser", `[{"provider":1,"providerUserId":"s"}]`), 400, "VALIDATION_ERROR"},
		{"missing argument", rpc("auth.getOrCreateDefaultWorkspace", `[]`), 400, "VALIDATION_ERROR"},
		{"no token", e.do(req{method: http.MethodPost, path: "/v1/rpc/auth.getUser", body: []byte(`[]`), token: strp("")}), 401, "UNAUTHORIZED"},
		{"wrong method", e.do(req{method: http.MethodGet, path: "/v1/rpc/auth.getUser"}), 405, "VALIDATION_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, tc.a, tc.status, tc.code)
			var env struct {
				OK    *bool `json:"ok"`
				Error struct {
					Status int    `json:"status"`
					Code   string `json:"code"`
				} `json:"error"`
			}
			decode(t, tc.a.body, &env)
			if env.OK == nil || *env.OK || env.Error.Status != tc.status {
				t.Fatalf("not the RPC failure envelope: %s", tc.a.body)
			}
		})
	}
	t.Run("success envelope", func(t *testing.T) {
		a := rpc("auth.getOrCreateUser", `[{"provider":"p","providerUserId":"s"}]`)
		expect(t, a, 200, "")
		var env struct {
			OK     bool `json:"ok"`
			Result struct {
				UserID string `json:"userId"`
			} `json:"result"`
		}
		decode(t, a.body, &env)
		if !env.OK || env.Result.UserID == "" {
			t.Fatalf("answer %s", a.body)
		}
		// A method with no result answers "result": null.
		a = rpc("auth.getUser", `[{"provider":"p","providerUserId":"unknown"}]`)
		expect(t, a, 200, "")
		if strings.TrimSpace(string(a.body)) != `{"ok":true,"result":null}` {
			t.Fatalf("answer %s", a.body)
		}
	})
}

// TestDecode_PushAccepts checks what push decoding lets through: the
// PendingOp outbox fields, unknown keys, integral numbers written as
// floats, and a null payload on delete.
func TestDecode_PushAccepts(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice")
	ws := e.workspace(alice)
	op := `{"id":"outbox-1","tableName":"kv","operation":"put","pk":"k1",
		"payload":{"id":"k1","name":"n","created_at":1,"updated_at":1,"clock":2},
		"stamp":{"deviceId":"d1","opId":"` + uuid.NewString() + `","hlc":"h","clock":2.0,"extra":true},
		"createdAt":1750000000000,"attempts":3,"nextAttemptAt":0,"status":"pending","lastError":null,
		"lastErrorCode":"NETWORK_ERROR","failureKind":"retryable","failedAt":1,"discardedAt":null,"discardReason":null,
		"unknownField":{"deep":[1,2,3]}}`
	del := `{"tableName":"kv","operation":"delete","pk":"k2","payload":null,
		"stamp":{"deviceId":"d1","opId":"` + uuid.NewString() + `","hlc":"h","clock":1e0}}`
	body := `{"scope":{"workspaceId":"` + ws + `","projectId":"p"},"ops":[` + op + `,` + del + `],"extraTop":1}`
	a := e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: []byte(body)})
	expect(t, a, 200, "")
	var res crashtest.PushResult
	decode(t, a.body, &res)
	if len(res.Results) != 2 || !res.Results[0].Success || !res.Results[1].Success {
		t.Fatalf("push: %s", a.body)
	}
	// Per-op failures stay inside results (api.md Decisions 2).
	bad := `{"tableName":"kv","operation":"put","pk":"k3","payload":{"id":"k3"},"stamp":{"deviceId":"d1","opId":"not-a-uuid","hlc":"h","clock":1}}`
	a = e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: []byte(`{"scope":{"workspaceId":"` + ws + `"},"ops":[` + bad + `]}`)})
	expect(t, a, 200, "")
	decode(t, a.body, &res)
	if len(res.Results) != 1 || res.Results[0].Success || res.Results[0].ErrorCode != "VALIDATION_ERROR" {
		t.Fatalf("push: %s", a.body)
	}
}

// TestDecode_BatchBytes checks that the 2 MiB rule counts the compacted
// ops array as received: nine payloads of 240 KB (each under the 256 KiB
// op limit, 2.16 MB together) are refused whole.
func TestDecode_BatchBytes(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice")
	ws := e.workspace(alice)
	var ops []crashtest.Op
	for i := 0; i < 9; i++ {
		op := crashtest.KVPut("d1", fmt.Sprintf("k%d", i), 1, strings.Repeat("x", 240_000))
		ops = append(ops, op)
	}
	a := e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: pushBody(ws, ops...)})
	expect(t, a, 400, "VALIDATION_ERROR")
	a = e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: pushBody(ws, ops[:8]...)})
	expect(t, a, 200, "")
}

// TestDecode_Oversized checks api.md Decisions 2: a body over 3 MiB is 413
// before the rest is read.
func TestDecode_Oversized(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice")
	ws := e.workspace(alice)
	addr := strings.TrimPrefix(e.url, "http://")
	head := func(extra string) string {
		return "POST /v1/sync/push HTTP/1.1\r\nHost: syncd\r\nAuthorization: Bearer " + testToken +
			"\r\nX-Syncd-User: " + alice + "\r\nContent-Type: application/json\r\n" + extra + "\r\n"
	}
	readStatus := func(t *testing.T, c net.Conn) (int, string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("declared length: answered without reading the body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Only the headers and one byte of the 3 MiB + 1 body are sent: an
		// answer proves the server did not wait for the rest.
		if _, err := io.WriteString(c, head(fmt.Sprintf("Content-Length: %d\r\n", 3<<20+1))+"{"); err != nil {
			t.Fatal(err)
		}
		st, body := readStatus(t, c)
		if st != 413 || !strings.Contains(body, `"OVERSIZED"`) {
			t.Fatalf("answer %d %s", st, body)
		}
	})
	t.Run("chunked: cut at the limit", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			w := bufio.NewWriter(c)
			_, _ = w.WriteString(head("Transfer-Encoding: chunked\r\n"))
			chunk := strings.Repeat(" ", 64<<10)
			for sent := 0; sent <= 3<<20; sent += len(chunk) {
				if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					return
				}
			}
			_, _ = w.WriteString("0\r\n\r\n")
			_ = w.Flush()
		}()
		st, body := readStatus(t, c)
		if st != 413 || !strings.Contains(body, `"OVERSIZED"`) {
			t.Fatalf("answer %d %s", st, body)
		}
	})
	t.Run("exactly 3 MiB is read", func(t *testing.T) {
		prefix := `{"scope":{"workspaceId":"` + ws + `"},"ops":[],"pad":"`
		body := prefix + strings.Repeat("x", 3<<20-len(prefix)-2) + `"}`
		if len(body) != 3<<20 {
			t.Fatalf("body of %d bytes", len(body))
		}
		a := e.do(req{method: http.MethodPost, path: "/v1/sync/push", user: alice, body: []byte(body)})
		expect(t, a, 200, "")
	})
	if v := e.serverVersion(alice, ws); v != 0 {
		t.Fatalf("server version %d after refused pushes", v)
	}
}
