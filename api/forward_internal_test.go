package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recordingStore is an RPC store that records the methods called here.
type recordingStore struct {
	mu    sync.Mutex
	calls []string
}

func (s *recordingStore) Call(_ context.Context, method string, _ json.RawMessage) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, method)
	return "local", nil
}

func (s *recordingStore) called() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// forwardServer is a Server in region "here" whose workspace "remote" is
// homed in region "home" (at homeURL) and "gone" in region "nowhere",
// which is not a peer; every other workspace is homed here.
func forwardServer(t *testing.T, homeURL string) (*Server, *recordingStore) {
	t.Helper()
	st := &recordingStore{}
	srv, err := NewServer(Config{
		Token: "tok-0123456789abcdef", Sync: &fakeSync{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stores: map[string]RPCStore{"auth": st, "workspaceSettings": st},
		Forward: &Forward{
			Region: "here",
			Peers:  map[string]string{"home": homeURL},
			Home: func(_ context.Context, ws string) (string, error) {
				switch ws {
				case "remote":
					return "home", nil
				case "gone":
					return "nowhere", nil
				}
				return "here", nil
			},
			RetryAfter: 7,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, st
}

// TestForward_HomeDecisionGoesHome: a home-region decision for a
// workspace homed elsewhere reaches the home with the service token, the
// body and the acting user, and its answer comes back verbatim; reads,
// local workspaces and calls a peer forwarded are answered here.
func TestForward_HomeDecisionGoesHome(t *testing.T) {
	var got struct {
		sync.Mutex
		auth, from, user, path, body string
	}
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Lock()
		got.auth, got.from, got.user, got.path, got.body = r.Header.Get("Authorization"), r.Header.Get(ForwardedHeader), r.Header.Get("X-Syncd-User"), r.URL.Path, string(b)
		got.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `{"ok":false,"error":{"status":409,"code":"CONFLICT","message":"from home"}}`)
	}))
	defer home.Close()
	srv, st := forwardServer(t, home.URL)

	body := `[{"workspaceId":"remote","email":"a@b.c","role":"editor","invitedByUserId":"u1","expiresAt":1}]`
	w := serve(srv, http.MethodPost, "/v1/rpc/auth.createInvite", body)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "from home") || w.Header().Get("X-Syncd-Home-Region") != "home" {
		t.Fatalf("forwarded createInvite: %d %s", w.Code, w.Body)
	}
	got.Lock()
	if got.auth != "Bearer tok-0123456789abcdef" || got.from != "here" || got.user != "u" || got.path != "/v1/rpc/auth.createInvite" || got.body != body {
		t.Errorf("home saw auth %q from %q user %q path %q body %q", got.auth, got.from, got.user, got.path, got.body)
	}
	got.Unlock()
	w = serve(srv, http.MethodPost, "/v1/rpc/workspaceSettings.get", `["remote","k"]`)
	if w.Code != http.StatusConflict {
		t.Fatalf("workspaceSettings.get (settings do not replicate: home) %d %s", w.Code, w.Body)
	}
	w = serve(srv, http.MethodPost, "/v1/sync/upload-intents/reserve", `{"scope":{"workspaceId":"remote"},"hash":"h","mimeType":"image/png","sizeBytes":1}`)
	if w.Code != http.StatusConflict {
		t.Fatalf("reserve: %d %s", w.Code, w.Body)
	}
	if c := st.called(); len(c) != 0 {
		t.Fatalf("forwarded calls also ran here: %v", c)
	}

	// Answered here: a read, a workspace homed here, a call a peer sent.
	for _, c := range []struct{ path, body string }{
		{"/v1/rpc/auth.listInvites", `[{"workspaceId":"remote"}]`},
		{"/v1/rpc/auth.createInvite", `[{"workspaceId":"mine"}]`},
		{"/v1/rpc/auth.createInvite", `"not an array"`},
	} {
		if w := serve(srv, http.MethodPost, c.path, c.body); w.Code == http.StatusConflict {
			t.Errorf("%s %s was forwarded", c.path, c.body)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/rpc/auth.createInvite", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer tok-0123456789abcdef")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(ForwardedHeader, "elsewhere")
	w = httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("a call a peer forwarded was not decided here: %d %s", w.Code, w.Body)
	}
	if c := st.called(); strings.Join(c, ",") != "listInvites,createInvite,createInvite" {
		t.Fatalf("local calls: %v", c)
	}
	if m := serve(srv, http.MethodGet, "/metrics", "").Body.String(); !strings.Contains(m, `syncd_forwarded_requests_total{home="home",outcome="409"} 3`) {
		t.Errorf("metrics lack the three forwarded calls:\n%s", m)
	}
}

// TestForward_HomeUnreachable: a home that cannot be reached, or is no
// configured peer, is 503 UNAVAILABLE with Retry-After, and nothing runs
// here.
func TestForward_HomeUnreachable(t *testing.T) {
	home := httptest.NewServer(http.NotFoundHandler())
	url := home.URL
	home.Close() // connection refused from now on
	srv, st := forwardServer(t, url)
	for _, c := range []struct{ path, body string }{
		{"/v1/rpc/auth.revokeInvite", `[{"workspaceId":"remote","inviteId":"i","revokedByUserId":"u1"}]`},
		{"/v1/rpc/auth.revokeInvite", `[{"workspaceId":"gone","inviteId":"i","revokedByUserId":"u1"}]`},
		{"/v1/sync/upload-intents/cancel", `{"workspaceId":"remote","intentId":"i"}`},
	} {
		w := serve(srv, http.MethodPost, c.path, c.body)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "7" || !strings.Contains(w.Body.String(), `"code":"UNAVAILABLE"`) {
			t.Errorf("%s %s: %d %q %s", c.path, c.body, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if c := st.called(); len(c) != 0 {
		t.Fatalf("refused calls ran here: %v", c)
	}
	if m := serve(srv, http.MethodGet, "/metrics", "").Body.String(); !strings.Contains(m, `syncd_forwarded_requests_total{home="home",outcome="unreachable"} 2`) {
		t.Errorf("metrics lack the two unreachable calls:\n%s", m)
	}
}

// FuzzHomeOf: the workspace of any body is found or not, never a panic.
func FuzzHomeOf(f *testing.F) {
	f.Add("auth.createInvite", `[{"workspaceId":"w"}]`)
	f.Add("workspaceSettings.set", `["w","k","v"]`)
	f.Add("workspaceSettings.set", `[1]`)
	f.Add("auth.revokeInvite", `[null]`)
	f.Add("auth.listInvites", `[]`)
	f.Add("", `{"scope":{"workspaceId":"w"}}`)
	f.Add("", `{"workspaceId":7}`)
	f.Add("jobs.getJob", `["j","u"]`)
	f.Add("jobs.updateJob", `[{"id":"j"}]`)
	f.Fuzz(func(t *testing.T, call, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.SetPathValue("call", call)
		_ = homeOfRPC(r, []byte(body))
		_ = homeOfObject(r, []byte(body))
		_ = jobOfRPC(r, []byte(body))
	})
}
