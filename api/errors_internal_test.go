package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/syncerr"
)

// fakeSync answers every call with err, or panics when panicWith is set.
type fakeSync struct {
	err       error
	panicWith any
}

func (f *fakeSync) do() error {
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	return f.err
}

func (f *fakeSync) Push(context.Context, string, engine.PushBatch) (engine.PushResult, error) {
	return engine.PushResult{Results: []engine.OpResult{}}, f.do()
}
func (f *fakeSync) Pull(context.Context, string, engine.PullRequest) (engine.PullResponse, error) {
	return engine.PullResponse{}, f.do()
}
func (f *fakeSync) UpdateCursor(context.Context, string, engine.CursorRequest) error { return f.do() }
func (f *fakeSync) ServerVersion(context.Context, string, string) (uint64, error)    { return 0, f.do() }
func (f *fakeSync) Authorize(context.Context, string, string, bool) error            { return f.do() }

func newTestServer(t *testing.T, s Sync) *Server {
	t.Helper()
	srv, err := NewServer(Config{Token: "tok-0123456789abcdef", Sync: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func serve(srv *Server, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer tok-0123456789abcdef")
	r.Header.Set("X-Syncd-User", "u")
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

const pullJSON = `{"scope":{"workspaceId":"w"},"cursor":0}`

// TestErrors_StatusAndCode checks api.md Decisions 1: each module error's
// status comes with its code, whatever code the module put in it.
func TestErrors_StatusAndCode(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{syncerr.Validation("v"), 400, "VALIDATION_ERROR"},
		{syncerr.Unauthorized("u"), 401, "UNAUTHORIZED"},
		{syncerr.Forbidden("f"), 403, "FORBIDDEN"},
		{syncerr.NotFound("n"), 404, "NOT_FOUND"},
		{syncerr.Conflict("c"), 409, "CONFLICT"},
		{syncerr.Gone("g"), 410, "GONE"},
		{syncerr.Oversized("o"), 413, "OVERSIZED"},
		{syncerr.UnsupportedMedia("m"), 415, "VALIDATION_ERROR"},
		{syncerr.RateLimited(7, "r"), 429, "RATE_LIMITED"},
		{syncerr.Internal(errors.New("secret cause"), "i"), 500, "SERVER_ERROR"},
		{syncerr.Unavailable(nil, "x"), 503, "UNAVAILABLE"},
		{&syncerr.Error{Status: 409, Code: "BOGUS", Message: "m"}, 409, "CONFLICT"},
		{&syncerr.Error{Status: 200, Code: "OK", Message: "m"}, 500, "SERVER_ERROR"},
		{errors.New("plain error"), 500, "SERVER_ERROR"},
		{context.Canceled, 503, "UNAVAILABLE"},
	}
	for _, tc := range cases {
		t.Run(tc.err.Error(), func(t *testing.T) {
			w := serve(newTestServer(t, &fakeSync{err: tc.err}), http.MethodPost, "/v1/sync/pull", pullJSON)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			var b errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Code != tc.code || b.Error.Status != tc.status {
				t.Fatalf("body %s, want code %s", w.Body, tc.code)
			}
			if strings.Contains(w.Body.String(), "secret cause") || strings.Contains(w.Body.String(), "plain error") {
				t.Fatalf("a server error's cause leaked: %s", w.Body)
			}
			if tc.status == 429 && w.Header().Get("Retry-After") != "7" {
				t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
			}
		})
	}
}

// TestErrors_PanicIsServerError checks that a panic below the handler is
// a 500 SERVER_ERROR and the server keeps serving.
func TestErrors_PanicIsServerError(t *testing.T) {
	f := &fakeSync{panicWith: "boom"}
	srv := newTestServer(t, f)
	w := serve(srv, http.MethodPost, "/v1/sync/pull", pullJSON)
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"SERVER_ERROR"`) {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	f.panicWith = nil
	if w := serve(srv, http.MethodPost, "/v1/sync/pull", pullJSON); w.Code != 200 {
		t.Fatalf("after a panic: %d %s", w.Code, w.Body)
	}
}

// TestAuth_TokenCompare checks the bearer parsing edge cases.
func TestAuth_TokenCompare(t *testing.T) {
	srv := newTestServer(t, &fakeSync{})
	for h, ok := range map[string]bool{
		"Bearer tok-0123456789abcdef":   true,
		"bearer tok-0123456789abcdef":   true,
		"Bearer tok-0123456789abcdeg":   false,
		"Bearer tok-0123456789abcdef ":  true,
		"Bearer tok-0123456789abcdefx":  false,
		"tok-0123456789abcdef":          false,
		"Basic tok-0123456789abcdef":    false,
		"Bearer":                        false,
		"":                              false,
		"Bearer tok-0123456789abcde":    false,
		"Bearer  tok-0123456789abcdef":  true,
		"Bearer\ttok-0123456789abcdef":  false,
		"Bearer tok-0123456789abcdef\n": true, // surrounding space is trimmed
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/nope", nil)
		if h != "" {
			r.Header["Authorization"] = []string{h}
		}
		if got := srv.authorized(r); got != ok {
			t.Errorf("%q: authorized=%v, want %v", h, got, ok)
		}
	}
}

func TestCountElements(t *testing.T) {
	for in, want := range map[string]int{
		`[]`: 0, `[ ]`: 0, `[1]`: 1, `[1,2]`: 2, `[{"a":[1,2]},"x,y",[3]]`: 3, `["\"",1]`: 2, `[ {} , {} ]`: 2,
	} {
		if got := countElements([]byte(in)); got != want {
			t.Errorf("%s: %d, want %d", in, got, want)
		}
	}
}
