package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/identity"
)

// fuzzTarget is a real daemon (temporary data dir, not listening) whose
// handler the fuzz targets call through httptest.NewRecorder, with a user
// who owns a workspace so that well-formed bodies reach the modules.
type fuzzTarget struct {
	d    *daemon.Daemon
	user string
	ws   string
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	d := newDaemon(f, envOpts{})
	f.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	ft := &fuzzTarget{d: d}
	var ref struct {
		UserID string `json:"userId"`
	}
	ft.rpcOK(f, "auth.getOrCreateUser", `[{"provider":"fuzz","providerUserId":"alice"}]`, &ref)
	ft.user = ref.UserID
	var ws struct {
		WorkspaceID string `json:"workspaceId"`
	}
	ft.rpcOK(f, "auth.getOrCreateDefaultWorkspace", `["`+ft.user+`"]`, &ws)
	ft.ws = ws.WorkspaceID
	return ft
}

func (ft *fuzzTarget) serve(method, path string, body []byte, user string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	r.URL.Path, r.URL.RawPath = path, ""
	r.RequestURI = path
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("Content-Type", "application/json")
	if user != "" {
		r.Header.Set("X-Syncd-User", user)
	}
	w := httptest.NewRecorder()
	ft.d.API.ServeHTTP(w, r)
	return w
}

func (ft *fuzzTarget) rpcOK(f *testing.F, call, args string, out any) {
	w := ft.serve(http.MethodPost, "/v1/rpc/"+call, []byte(args), "")
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &env) != nil || json.Unmarshal(env.Result, out) != nil {
		f.Fatalf("%s: %d %s", call, w.Code, w.Body)
	}
}

// check is the property of every fuzz target: no panic (the recovery
// middleware would answer 500), no 5xx for any input, and every answer is
// JSON.
func check(t *testing.T, w *httptest.ResponseRecorder, body []byte) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body)
	}
	if w.Code < 300 || w.Code >= 400 {
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("status %d with a non-JSON answer %q for body %q", w.Code, w.Body, body)
		}
	}
}

func FuzzDecodePush(f *testing.F) {
	ft := newFuzzTarget(f)
	op := `{"tableName":"kv","operation":"put","pk":"k1","payload":{"id":"k1","name":"n","created_at":1,"updated_at":1,"clock":1},"stamp":{"deviceId":"d","opId":"` + uuid.NewString() + `","hlc":"h","clock":1}}`
	scope := `{"workspaceId":"` + ft.ws + `"}`
	for _, s := range []string{
		`{"scope":` + scope + `,"ops":[` + op + `]}`,
		`{"scope":` + scope + `,"ops":[` + op + `,` + op + `]}`,
		`{"scope":` + scope + `,"ops":[]}`,
		`{"scope":` + scope + `,"ops":[{"tableName":"kv","operation":"delete","pk":"k1","payload":null,"stamp":{"deviceId":"d","opId":"x","hlc":"h","clock":1.0}}]}`,
		`{"scope":` + scope + `,"ops":[{"tableName":"notifications","operation":"put","pk":"n","payload":{"user_id":5},"stamp":{"deviceId":"d","opId":"` + uuid.NewString() + `","hlc":"h","clock":0}}]}`,
		`{"scope":{"workspaceId":""},"ops":[]}`,
		`{"scope":` + scope + `,"ops":[{"stamp":{"clock":1e308}}]}`,
		`{"scope":` + scope + `,"ops":[[[[[]]]]]}`,
		`{"scope":` + scope + `,"ops":"x"}`,
		`{"scope":1}`, `[]`, `null`, `"x"`, `{`, ``, `{"a":1e999}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check(t, ft.serve(http.MethodPost, "/v1/sync/push", body, ft.user), body)
	})
}

func FuzzDecodePull(f *testing.F) {
	ft := newFuzzTarget(f)
	scope := `{"workspaceId":"` + ft.ws + `"}`
	for _, s := range []string{
		`{"scope":` + scope + `,"cursor":0}`,
		`{"scope":` + scope + `,"cursor":0,"limit":1000,"tables":["kv","threads"]}`,
		`{"scope":` + scope + `,"cursor":9007199254740991,"limit":1}`,
		`{"scope":` + scope + `,"cursor":-0,"limit":null,"tables":null,"fileKindCapability":true}`,
		`{"scope":` + scope + `,"cursor":1.5}`,
		`{"scope":` + scope + `,"cursor":0,"tables":["` + string(bytes.Repeat([]byte("t"), 200)) + `"]}`,
		`{"scope":{"workspaceId":"other"},"cursor":0}`,
		`{"cursor":0}`, `{}`, `[]`, `0`, `{"scope":` + scope + `,"cursor":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check(t, ft.serve(http.MethodPost, "/v1/sync/pull", body, ft.user), body)
	})
}

func FuzzRPC(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, m := range identity.Methods() {
		f.Add(m, []byte(`[]`))
		f.Add(m, []byte(`[{"userId":"`+ft.user+`","workspaceId":"`+ft.ws+`"}]`))
	}
	f.Add("getOrCreateUser", []byte(`[{"provider":"p","providerUserId":"s","email":"a@b.c","displayName":"A"}]`))
	f.Add("getOrCreateDefaultWorkspace", []byte(`["`+ft.user+`"]`))
	f.Add("createWorkspace", []byte(`[{"userId":"`+ft.user+`","name":"W","description":null}]`))
	f.Add("createInvite", []byte(`[{"workspaceId":"`+ft.ws+`","email":"x@y.z","role":"viewer","invitedByUserId":"`+ft.user+`","expiresAt":1e15}]`))
	f.Add("listInvites", []byte(`[{"workspaceId":"`+ft.ws+`","limit":-5}]`))
	f.Add("nope", []byte(`[1,2,3]`))
	f.Add("getUser", []byte(`{}`))
	f.Fuzz(func(t *testing.T, method string, body []byte) {
		check(t, ft.serve(http.MethodPost, "/v1/rpc/auth."+method, body, ""), body)
	})
}
