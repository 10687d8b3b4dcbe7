package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
)

const testToken = "test-token-0123456789abcdef"

// env is a real syncd (daemon) listening on 127.0.0.1:0 over a temporary
// data directory, with a client holding the service token.
type env struct {
	t   testing.TB
	d   *daemon.Daemon
	c   *crashtest.Client
	url string
}

type envOpts struct {
	testHooks bool
}

func testLogger() *slog.Logger {
	if os.Getenv("SYNCD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newDaemon(t testing.TB, o envOpts) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(daemon.Config{
		DataDir:   t.TempDir(),
		Listen:    "127.0.0.1:0",
		Token:     testToken,
		Secret:    []byte("0123456789abcdef0123456789abcdef"),
		TestHooks: o.testHooks,
		Version:   "v-test",
		Logger:    testLogger(),
		TuneLog:   func(c *synclog.Config) { c.MemTableSize = 4 << 20; c.CacheSize = 4 << 20 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func startEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	d := newDaemon(t, o)
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
	return &env{t: t, d: d, c: crashtest.NewClient(d.URL(), testToken), url: d.URL()}
}

// user creates a user for subject and returns its id.
func (e *env) user(subject string) string {
	e.t.Helper()
	id, err := e.c.CreateUser(context.Background(), "test", subject)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// workspace returns user's default workspace.
func (e *env) workspace(user string) string {
	e.t.Helper()
	ws, err := e.c.DefaultWorkspace(context.Background(), user)
	if err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// addMember makes a new user a member of ws with role through an invite
// that owner creates, and returns the new user's id.
func (e *env) addMember(owner, ws, subject, role string) string {
	e.t.Helper()
	ctx := context.Background()
	email := subject + "@example.com"
	var inv struct {
		InviteID  string `json:"inviteId"`
		TokenHash string `json:"tokenHash"`
	}
	tokenHash := strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
	if err := e.c.RPC(ctx, "auth.createInvite", &inv, map[string]any{
		"workspaceId": ws, "email": email, "role": role, "invitedByUserId": owner,
		"expiresAt": time.Now().Add(time.Hour).UnixMilli(), "tokenHash": tokenHash,
	}); err != nil {
		e.t.Fatal(err)
	}
	var acc struct {
		OK     bool   `json:"ok"`
		UserID string `json:"userId"`
		Reason string `json:"reason"`
	}
	if err := e.c.RPC(ctx, "auth.acceptInviteAndProvisionUser", &acc, map[string]any{
		"provider": "test", "providerUserId": subject, "email": email, "workspaceId": ws, "tokenHash": tokenHash,
	}); err != nil {
		e.t.Fatal(err)
	}
	if !acc.OK || acc.UserID == "" {
		e.t.Fatalf("accept invite: %+v", acc)
	}
	return acc.UserID
}

// answer is a raw HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the error code of an error body (either envelope).
func (a answer) errorCode() string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &b)
	return b.Error.Code
}

// req describes a raw request.
type req struct {
	method, path string
	body         []byte
	token        *string // nil: the right token; "": no Authorization header
	user         string
	contentType  *string // nil: application/json when there is a body
	header       map[string]string
}

func strp(s string) *string { return &s }

// do sends a raw request.
func (e *env) do(r req) answer {
	e.t.Helper()
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.url+r.path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	tok := testToken
	if r.token != nil {
		tok = *r.token
	}
	if tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	if r.contentType != nil {
		if *r.contentType != "" {
			hr.Header.Set("Content-Type", *r.contentType)
		}
	} else if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.user != "" {
		hr.Header.Set("X-Syncd-User", r.user)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func pushBody(ws string, ops ...crashtest.Op) []byte {
	if ops == nil {
		ops = []crashtest.Op{}
	}
	return mustJSON(map[string]any{"scope": map[string]string{"workspaceId": ws}, "ops": ops})
}

func pullBody(ws string, cursor uint64) []byte {
	return mustJSON(map[string]any{"scope": map[string]string{"workspaceId": ws}, "cursor": cursor})
}

// serverVersion reads ws's counter as owner.
func (e *env) serverVersion(owner, ws string) uint64 {
	e.t.Helper()
	v, err := e.c.ServerVersion(context.Background(), owner, ws)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func expect(t testing.TB, a answer, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	if code != "" && a.errorCode() != code {
		t.Fatalf("code %q, want %q; body %s", a.errorCode(), code, a.body)
	}
}

func decode(t testing.TB, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
