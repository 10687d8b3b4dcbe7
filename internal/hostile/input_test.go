package hostile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostile_JSONBombs sends pathological JSON to a child syncd: nesting
// a million levels deep, numbers beyond float64 (1e400, a million-digit
// integer): each is refused with 400 VALIDATION_ERROR quickly, nothing is
// written, and the server stays healthy. (api.TestDecode_BadInput checks
// the exact bound, 64 levels, per endpoint.)
func TestHostile_JSONBombs(t *testing.T) {
	t.Parallel()
	p := start(t)
	ctx := context.Background()
	c := p.Client()
	user, err := c.CreateUser(ctx, "hostile", "json")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	scope := `{"scope":{"workspaceId":"` + ws + `"},"ops":[],"x":`
	deep := strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000)
	cases := []struct{ name, path, body string }{
		{"push nested 1,000,000 deep", "/v1/sync/push", scope + deep + "}"},
		{"push nested 65 deep", "/v1/sync/push", scope + strings.Repeat("[", 65) + strings.Repeat("]", 65) + "}"},
		{"push nested objects 100,000 deep", "/v1/sync/push", scope + strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000) + "}"},
		{"push 1e400", "/v1/sync/push", scope + "1e400}"},
		{"push -1e400", "/v1/sync/push", scope + "-1e400}"},
		{"push a million-digit integer", "/v1/sync/push", scope + strings.Repeat("9", 1_000_000) + "}"},
		{"pull nested 1,000,000 deep", "/v1/sync/pull", `{"scope":{"workspaceId":"` + ws + `"},"cursor":` + deep + "}"},
		{"rpc nested 1,000,000 deep", "/v1/rpc/auth.getUser", deep},
		{"rpc 1e400", "/v1/rpc/auth.getUser", `[{"provider":"x","providerUserId":1e400}]`},
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodPost, p.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Syncd-User", user)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(t0)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "VALIDATION_ERROR") {
			t.Errorf("%s: %d %.200s", tc.name, resp.StatusCode, body)
		}
		t.Logf("%s (%d bytes): %d in %v: %.120s", tc.name, len(tc.body), resp.StatusCode, took.Round(time.Millisecond), strings.TrimSpace(string(body)))
	}
	if v, err := c.ServerVersion(ctx, user, ws); err != nil || v != 0 {
		t.Fatalf("after refused pushes: server version %d, %v", v, err)
	}
	healthy(t, p)
}

// TestHostile_TokenGuessing guesses the service token from one address:
// after 30 failures in a minute every request from it is 429 with
// Retry-After, even one with the right token, so a guess cannot be told
// right from wrong; other callers are unaffected once the window passes.
// (api.TestRateLimit_FailedAuthPerIP checks the window's reopening with the
// test clock.)
func TestHostile_TokenGuessing(t *testing.T) {
	t.Parallel()
	p := start(t)
	hc := &http.Client{Timeout: 20 * time.Second}
	try := func(tok string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/v1/admin/status", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	limited := 0
	for i := 0; i < 200; i++ {
		resp := try(fmt.Sprintf("guess-%032d", i))
		switch {
		case i < 30 && resp.StatusCode != 401:
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		case i >= 30 && resp.StatusCode != 429:
			t.Fatalf("guess %d: %d, want 429", i, resp.StatusCode)
		case i >= 30:
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > 60 {
				t.Fatalf("guess %d: Retry-After %q", i, resp.Header.Get("Retry-After"))
			}
			limited++
		}
	}
	if resp := try(token); resp.StatusCode != 429 {
		t.Fatalf("the right token while blocked: %d, want 429", resp.StatusCode)
	}
	t.Logf("200 guesses from one address: 30 answered 401, then %d answered 429; the right token is 429 too while blocked", limited)
}
