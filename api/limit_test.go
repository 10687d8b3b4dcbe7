package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/webhooks"
)

// startLimited starts a daemon with the given sync rate limits, webhook
// targets on loopback allowed and the test clock hook on.
func startLimited(t *testing.T, limits ...string) (*daemon.Daemon, *crashtest.Client) {
	t.Helper()
	d, err := daemon.New(daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: testToken,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Version: "v-test", Logger: testLogger(),
		TestHooks: true, RateLimits: limits, WebhookAllowPrivate: true,
		TuneLog: func(c *synclog.Config) { c.MemTableSize = 4 << 20; c.CacheSize = 4 << 20 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return d, crashtest.NewClient(d.URL(), testToken)
}

func limitPushBody(ws string) []byte { return pushBody(ws, crashtest.KVPut("dev", "k", 1, "v")) }

func rawPost(t *testing.T, url, path, user string, body []byte, token string) *http.Response {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	if user != "" {
		r.Header.Set("X-Syncd-User", user)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// Per-user push limit over real HTTP: the third push in the window is 429
// RATE_LIMITED with Retry-After and X-RateLimit-*; allowed answers carry
// the headers too; another user is not affected; the window reopens after
// the test clock moves past it.
func TestRateLimit_SyncPush429OverHTTP(t *testing.T) {
	d, c := startLimited(t, "sync:push=2/60s")
	ctx := context.Background()
	alice, _ := c.CreateUser(ctx, "test", "alice")
	ws, _ := c.DefaultWorkspace(ctx, alice)
	bob, _ := c.CreateUser(ctx, "test", "bob")
	bws, _ := c.DefaultWorkspace(ctx, bob)
	for i, wantRemaining := range []string{"1", "0"} {
		resp := rawPost(t, d.URL(), "/v1/sync/push", alice, limitPushBody(ws), testToken)
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != wantRemaining {
			t.Fatalf("push %d: %d %v", i+1, resp.StatusCode, resp.Header)
		}
	}
	r, _ := http.NewRequest(http.MethodPost, d.URL()+"/v1/sync/push", strings.NewReader(string(limitPushBody(ws))))
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("X-Syncd-User", alice)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "60" || resp.Header.Get("X-RateLimit-Limit") != "2" ||
		resp.Header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(string(body), `"code":"RATE_LIMITED"`) {
		t.Fatalf("third push: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp := rawPost(t, d.URL(), "/v1/sync/push", bob, limitPushBody(bws), testToken); resp.StatusCode != 200 {
		t.Fatalf("bob: %d", resp.StatusCode)
	}
	// Pull has its own (default) bucket.
	pull, _ := json.Marshal(map[string]any{"scope": map[string]any{"workspaceId": ws}, "cursor": 0, "limit": 10})
	if resp := rawPost(t, d.URL(), "/v1/sync/pull", alice, pull, testToken); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") == "" {
		t.Fatalf("pull: %d %v", resp.StatusCode, resp.Header)
	}
	// Move the clock past the window.
	if err := c.Do(ctx, http.MethodPost, "/v1/test/clock", "", map[string]any{"offsetSeconds": 61}, nil); err != nil {
		t.Fatal(err)
	}
	if resp := rawPost(t, d.URL(), "/v1/sync/push", alice, limitPushBody(ws), testToken); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("after the window: %d %v", resp.StatusCode, resp.Header)
	}
}

// Failed authentication is limited per IP: past the limit every request
// from the address — even one with the right token — is 429 until the
// window ends, so guessing gains nothing.
func TestRateLimit_FailedAuthPerIP(t *testing.T) {
	d, c := startLimited(t)
	ctx := context.Background()
	saw429 := 0
	for i := 0; i < 40; i++ {
		resp := rawPost(t, d.URL(), "/v1/rpc/auth.getUser", "", []byte(`[{"provider":"x","providerUserId":"y"}]`), fmt.Sprintf("guess-%d", i))
		switch {
		case i < 30 && resp.StatusCode != 401:
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		case i >= 30 && resp.StatusCode == 429:
			saw429++
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > 60 {
				t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		}
	}
	if saw429 != 10 {
		t.Fatalf("429s: %d", saw429)
	}
	if resp := rawPost(t, d.URL(), "/v1/rpc/auth.getUser", "", []byte(`[{"provider":"x","providerUserId":"y"}]`), testToken); resp.StatusCode != 429 {
		t.Fatalf("right token while blocked: %d", resp.StatusCode)
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/test/clock", "", map[string]any{"offsetSeconds": 61}, nil); err == nil {
		t.Fatal("clock hook reachable while blocked")
	}
	d.Clock.SetOffset(61 * time.Second)
	if resp := rawPost(t, d.URL(), "/v1/rpc/auth.getUser", "", []byte(`[{"provider":"x","providerUserId":"y"}]`), testToken); resp.StatusCode != 200 {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
}

// The rateLimit RPC store: checkAndRecord and getStats, and counts that
// survive a restart of the daemon on the same data dir.
func TestRateLimit_RPCStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *daemon.Daemon {
		d, err := daemon.New(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", Token: testToken,
			Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	ctx := context.Background()
	d := open()
	c := crashtest.NewClient(d.URL(), testToken)
	var res map[string]any
	for i := 0; i < 2; i++ {
		if err := c.RPC(ctx, "rateLimit.checkAndRecord", &res, "daily:user:u1", map[string]any{"windowMs": 3600000, "maxRequests": 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	d = open()
	defer d.Shutdown(ctx)
	c = crashtest.NewClient(d.URL(), testToken)
	if err := c.RPC(ctx, "rateLimit.checkAndRecord", &res, "daily:user:u1", map[string]any{"windowMs": 3600000, "maxRequests": 2}); err != nil {
		t.Fatal(err)
	}
	if res["allowed"] != false || res["retryAfterMs"] == nil {
		t.Fatalf("after restart: %v", res)
	}
	if err := c.RPC(ctx, "rateLimit.getStats", &res, "daily:user:u1", map[string]any{"windowMs": 3600000, "maxRequests": 2}); err != nil || res["remaining"] != 0.0 {
		t.Fatalf("stats %v %v", res, err)
	}
}

// End to end: a user's webhook on a real receiver gets message.created for
// a push, signed with the secret createWebhook returned.
func TestWebhooks_PushFiresSignedDelivery(t *testing.T) {
	type got struct {
		body []byte
		h    http.Header
	}
	ch := make(chan got, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{b, r.Header.Clone()}
	}))
	defer rcv.Close()
	d, c := startLimited(t)
	ctx := context.Background()
	alice, _ := c.CreateUser(ctx, "test", "alice")
	ws, _ := c.DefaultWorkspace(ctx, alice)
	var hook struct {
		ID            string `json:"id"`
		SigningSecret string `json:"signing_secret"`
	}
	if err := c.RPC(ctx, "webhooks.createWebhook", &hook, map[string]any{"scope": "user", "user_id": alice, "workspace_id": ws,
		"url": rcv.URL, "events": []string{"message.created"}}); err != nil {
		t.Fatal(err)
	}
	op := crashtest.KVPut("dev", "m1", 1, "")
	op.TableName = "messages"
	op.Payload, _ = json.Marshal(map[string]any{"id": "m1", "thread_id": "t1", "role": "user", "content": "hello", "index": 0,
		"created_at": 1, "updated_at": 1, "clock": 1})
	body := pushBody(ws, op)
	if resp := rawPost(t, d.URL(), "/v1/sync/push", alice, body, testToken); resp.StatusCode != 200 {
		t.Fatalf("push %d", resp.StatusCode)
	}
	select {
	case g := <-ch:
		ts, _ := strconv.ParseInt(g.h.Get("X-OR3-Timestamp"), 10, 64)
		if !webhooks.Verify(hook.SigningSecret, ts, g.body, g.h.Get("X-OR3-Signature")) || g.h.Get("X-OR3-Event") != "message.created" {
			t.Fatalf("bad delivery %v %s", g.h, g.body)
		}
		var env map[string]any
		_ = json.Unmarshal(g.body, &env)
		if env["user_id"] != alice || env["workspace_id"] != ws {
			t.Fatalf("envelope %s", g.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
}
