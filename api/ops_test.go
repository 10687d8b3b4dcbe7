package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/internal/crashtest"
)

// TestOps_Endpoints checks /v1/version, /healthz, /readyz and /metrics,
// which need no token.
func TestOps_Endpoints(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice")
	ws := e.workspace(alice)
	if _, err := e.c.Push(context.Background(), alice, ws, []crashtest.Op{crashtest.KVPut("d", "k", 1, "v")}); err != nil {
		t.Fatal(err)
	}
	_ = openSSE(t, e, alice, "workspaceId="+ws, nil)
	// The hub registers the stream just after its first bytes are flushed.
	for deadline := time.Now().Add(5 * time.Second); e.d.Hub.Watchers() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("watchers %d, want 1", e.d.Hub.Watchers())
		}
		time.Sleep(time.Millisecond)
	}

	t.Run("version", func(t *testing.T) {
		a := e.do(req{method: http.MethodGet, path: "/v1/version", token: strp("")})
		expect(t, a, 200, "")
		var v struct {
			Protocol int    `json:"protocol"`
			Version  string `json:"version"`
		}
		decode(t, a.body, &v)
		if v.Protocol != 1 || v.Version != "v-test" {
			t.Fatalf("version %s", a.body)
		}
	})
	for _, p := range []string{"/healthz", "/readyz"} {
		t.Run(p, func(t *testing.T) {
			expect(t, e.do(req{method: http.MethodGet, path: p, token: strp("")}), 200, "")
		})
	}
	t.Run("metrics", func(t *testing.T) {
		a := e.do(req{method: http.MethodGet, path: "/metrics", token: strp("")})
		expect(t, a, 200, "")
		body := string(a.body)
		for _, want := range []string{
			`syncd_http_requests_total{method="POST",route="sync.push",status="200"} 1`,
			`syncd_http_request_duration_seconds_bucket{route="sync.push",status="200",le="+Inf"} 1`,
			`syncd_http_requests_total{method="POST",route="rpc",status="200"}`,
			`syncd_push_ops_total{outcome="applied"} 1`,
			`syncd_log_group_commit_batches_count`,
			`syncd_log_group_commit_bytes_sum`,
			`syncd_log_fsync_seconds_bucket`,
			`syncd_log_commit_errors_total 0`,
			`syncd_watchers 1`,
			`go_goroutines`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

// TestOps_ReadyzWhenLogClosed checks that /readyz reports a log that no
// longer accepts writes, while /healthz still answers.
func TestOps_ReadyzWhenLogClosed(t *testing.T) {
	e := startEnv(t, envOpts{})
	if err := e.d.DB.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, e.do(req{method: http.MethodGet, path: "/readyz", token: strp("")}), 503, "")
	expect(t, e.do(req{method: http.MethodGet, path: "/healthz", token: strp("")}), 200, "")
}

// TestTestHooks_Clock checks POST /v1/test/clock: on, it moves the clock
// identity and the engine read (an invite expires); off, the path is 404.
func TestTestHooks_Clock(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e := startEnv(t, envOpts{})
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/test/clock", body: []byte(`{"offsetSeconds":60}`)}), 404, "NOT_FOUND")
		if off := e.d.Clock.Offset(); off != 0 {
			t.Fatalf("offset %s", off)
		}
	})
	t.Run("on", func(t *testing.T) {
		e := startEnv(t, envOpts{testHooks: true})
		ctx := context.Background()
		alice := e.user("alice")
		ws := e.workspace(alice)
		hash := strings.Repeat("cd", 32)
		if err := e.c.RPC(ctx, "auth.createInvite", nil, map[string]any{
			"workspaceId": ws, "email": "x@example.com", "role": "editor", "invitedByUserId": alice,
			"expiresAt": time.Now().Add(time.Hour).UnixMilli(), "tokenHash": hash,
		}); err != nil {
			t.Fatal(err)
		}
		validate := func() string {
			var c struct {
				OK     bool   `json:"ok"`
				Reason string `json:"reason"`
			}
			if err := e.c.RPC(ctx, "auth.validateInvite", &c, map[string]any{"workspaceId": ws, "email": "x@example.com", "tokenHash": hash}); err != nil {
				t.Fatal(err)
			}
			if c.OK {
				return "ok"
			}
			return c.Reason
		}
		if got := validate(); got != "ok" {
			t.Fatalf("fresh invite: %s", got)
		}
		// Needs the token like every /v1/ path.
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/test/clock", token: strp(""), body: []byte(`{"offsetSeconds":7200}`)}), 401, "UNAUTHORIZED")
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/test/clock", body: []byte(`{"offsetSeconds":1.5}`)}), 400, "VALIDATION_ERROR")
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/test/clock", body: []byte(`{}`)}), 400, "VALIDATION_ERROR")
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/test/clock", body: []byte(`{"offsetSeconds":7200}`)}), 200, "")
		if d := time.Until(e.d.Clock.Now()); d < 7190*time.Second || d > 7210*time.Second {
			t.Fatalf("clock is %s ahead, want 2h", d)
		}
		if got := validate(); got != "expired" {
			t.Fatalf("invite after +2h: %s, want expired", got)
		}
		// The offset is from real time, not cumulative; 0 puts it back.
		expect(t, e.do(req{method: http.MethodPost, path: "/v1/test/clock", body: []byte(`{"offsetSeconds":0}`)}), 200, "")
		if got := validate(); got != "ok" {
			t.Fatalf("invite after reset: %s", got)
		}
	})
}
