package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/or3/syncd/internal/crashtest"
)

func threadOps(n int) []crashtest.Op {
	ops := make([]crashtest.Op, n)
	for i := range ops {
		pk := fmt.Sprintf("t%d", i)
		ops[i] = crashtest.Op{TableName: "threads", Operation: "put", PK: pk,
			Payload: mustJSON(map[string]any{"id": pk, "title": pk}),
			Stamp:   crashtest.Stamp{DeviceID: "d", OpID: uuid.NewString(), HLC: "1", Clock: 1}}
	}
	return ops
}

func scoped(ws string, kv ...any) []byte {
	m := map[string]any{"scope": map[string]string{"workspaceId": ws}}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return mustJSON(m)
}

// rawScoped builds a body with a raw JSON member (fractions, strings).
func rawScoped(ws, key, raw string) []byte {
	return []byte(fmt.Sprintf(`{"scope":{"workspaceId":%q},%q:%s}`, ws, key, raw))
}

type snapPage struct {
	WorkspaceID   string            `json:"workspaceId"`
	SnapshotID    string            `json:"snapshotId"`
	HighWatermark uint64            `json:"highWatermark"`
	Items         []json.RawMessage `json:"items"`
	NextPageToken *string           `json:"nextPageToken"`
}

// The snapshot chain over HTTP: the JSON shape of snapshot-v1, a token
// on every page but the last (null there), expiry through the test clock.
func TestHTTP_SnapshotChain(t *testing.T) {
	e := startEnv(t, envOpts{testHooks: true})
	alice := e.user("alice")
	ws := e.workspace(alice)
	expect(t, e.do(req{method: "POST", path: "/v1/sync/push", user: alice, body: pushBody(ws, threadOps(3)...)}), 200, "")
	var items []json.RawMessage
	token := ""
	var first snapPage
	for i := 0; ; i++ {
		body := scoped(ws, "pageSize", 2)
		if token != "" {
			body = scoped(ws, "pageSize", 2, "pageToken", token)
		}
		a := e.do(req{method: "POST", path: "/v1/sync/snapshot", user: alice, body: body})
		expect(t, a, 200, "")
		var p snapPage
		decode(t, a.body, &p)
		if i == 0 {
			first = p
		}
		if p.SnapshotID != first.SnapshotID || p.HighWatermark != 3 || p.WorkspaceID != ws {
			t.Fatalf("page %s", a.body)
		}
		items = append(items, p.Items...)
		if p.NextPageToken == nil {
			if !strings.Contains(string(a.body), `"nextPageToken":null`) {
				t.Fatalf("last page without a null token: %s", a.body)
			}
			break
		}
		token = *p.NextPageToken
	}
	if len(items) != 3 || !strings.Contains(string(items[0]), `"kind":"row"`) || !strings.Contains(string(items[0]), `"revision":{"clock":1,"hlc":"1","opId":`) {
		t.Fatalf("items %s", items)
	}
	// A token older than an hour is 410 GONE.
	a := e.do(req{method: "POST", path: "/v1/sync/snapshot", user: alice, body: scoped(ws, "pageSize", 1)})
	var p snapPage
	decode(t, a.body, &p)
	expect(t, e.do(req{method: "POST", path: "/v1/test/clock", body: []byte(`{"offsetSeconds":3601}`)}), 200, "")
	expect(t, e.do(req{method: "POST", path: "/v1/sync/snapshot", user: alice, body: scoped(ws, "pageSize", 1, "pageToken", *p.NextPageToken)}), 410, "GONE")
}

// Bad input over HTTP: wrong JSON types, fractions and negatives are 400
// before anything runs; the store is unchanged.
func TestHTTP_HistoryBadInput(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice")
	ws := e.workspace(alice)
	expect(t, e.do(req{method: "POST", path: "/v1/sync/push", user: alice, body: pushBody(ws, threadOps(2)...)}), 200, "")
	cases := []struct {
		path string
		body []byte
	}{
		{"/v1/sync/snapshot", rawScoped(ws, "pageSize", "1.5")},
		{"/v1/sync/snapshot", rawScoped(ws, "pageSize", `"10"`)},
		{"/v1/sync/snapshot", rawScoped(ws, "pageSize", "0")},
		{"/v1/sync/snapshot", rawScoped(ws, "pageSize", "1001")},
		{"/v1/sync/snapshot", scoped(ws)},
		{"/v1/sync/snapshot", scoped(ws, "pageSize", 1, "pageToken", "!!")},
		{"/v1/sync/snapshot", scoped(ws, "pageSize", 1, "pageToken", strings.Repeat("A", 4097))},
		{"/v1/sync/snapshot", scoped(ws, "pageSize", 1, "tables", []string{"nope"})},
		{"/v1/sync/gc-change-log", rawScoped(ws, "retentionSeconds", "3600.5")},
		{"/v1/sync/gc-change-log", rawScoped(ws, "retentionSeconds", "3599")},
		{"/v1/sync/gc-tombstones", rawScoped(ws, "retentionSeconds", "31536001")},
		{"/v1/sync/gc-tombstones", rawScoped(ws, "retentionSeconds", "-1")},
		{"/v1/sync/gc-tombstones", scoped(ws)},
		{"/v1/sync/canonical-storage", []byte(fmt.Sprintf(`{"scope":{"workspaceId":%q},"kind":"live_metadata","limit":1.5}`, ws))},
		{"/v1/sync/canonical-storage", []byte(fmt.Sprintf(`{"scope":{"workspaceId":%q},"kind":"live_metadata","limit":501}`, ws))},
		{"/v1/sync/canonical-storage", []byte(fmt.Sprintf(`{"scope":{"workspaceId":%q},"kind":"active_reservations","now":-1}`, ws))},
		{"/v1/sync/canonical-storage", []byte(fmt.Sprintf(`{"scope":{"workspaceId":%q},"kind":"active_reservations","now":1.5}`, ws))},
		{"/v1/sync/canonical-storage", []byte(fmt.Sprintf(`{"scope":{"workspaceId":%q},"kind":"live_metadata","cursor":"eyJ2IjoxfQ"}`, ws))},
		{"/v1/sync/canonical-storage", []byte(fmt.Sprintf(`{"scope":{"workspaceId":%q},"kind":"live_metadata","hash":""}`, ws))},
		{"/v1/sync/upload-intents/reserve", []byte(fmt.Sprintf(`{"workspaceId":%q,"hash":"ab","mimeType":"image/png","sizeBytes":1.5}`, ws))},
		{"/v1/sync/upload-intents/reserve", []byte(fmt.Sprintf(`{"workspaceId":%q,"hash":"ab","mimeType":"image/png","sizeBytes":10,"expiresAt":-1}`, ws))},
	}
	for _, c := range cases {
		a := e.do(req{method: "POST", path: c.path, user: alice, body: c.body})
		if a.status != 400 || a.errorCode() != "VALIDATION_ERROR" {
			t.Fatalf("%s %s: %d %s", c.path, c.body, a.status, a.body)
		}
	}
	if e.serverVersion(alice, ws) != 2 {
		t.Fatal("bad input changed the workspace")
	}
	a := e.do(req{method: "POST", path: "/v1/sync/pull", user: alice, body: pullBody(ws, 0)})
	if !strings.Contains(string(a.body), `"requiresSnapshot":false`) || strings.Count(string(a.body), `"serverVersion"`) != 2 {
		t.Fatalf("pull %s", a.body)
	}
}

// GC needs the owner; maintenance and workspaces need only the token.
func TestHTTP_GCAndMaintenance(t *testing.T) {
	e := startEnv(t, envOpts{testHooks: true})
	alice := e.user("alice")
	ws := e.workspace(alice)
	bob := e.addMember(alice, ws, "bob", "editor")
	expect(t, e.do(req{method: "POST", path: "/v1/sync/push", user: alice, body: pushBody(ws, threadOps(4)...)}), 200, "")
	expect(t, e.do(req{method: "POST", path: "/v1/sync/gc-change-log", user: bob, body: scoped(ws, "retentionSeconds", 3600)}), 403, "FORBIDDEN")
	expect(t, e.do(req{method: "POST", path: "/v1/sync/gc-change-log", body: scoped(ws, "retentionSeconds", 3600)}), 401, "UNAUTHORIZED")
	expect(t, e.do(req{method: "POST", path: "/v1/test/clock", body: []byte(`{"offsetSeconds":3700}`)}), 200, "")
	a := e.do(req{method: "POST", path: "/v1/sync/gc-change-log", user: alice, body: scoped(ws, "retentionSeconds", 3600)})
	expect(t, a, 200, "")
	if strings.TrimSpace(string(a.body)) != `{"purged":4,"hasMore":false}` {
		t.Fatalf("gc answer %s", a.body)
	}
	a = e.do(req{method: "POST", path: "/v1/sync/gc-tombstones", user: alice, body: scoped(ws, "retentionSeconds", 3600)})
	expect(t, a, 200, "")
	a = e.do(req{method: "POST", path: "/v1/sync/pull", user: alice, body: pullBody(ws, 0)})
	if !strings.Contains(string(a.body), `"requiresSnapshot":true`) || !strings.Contains(string(a.body), `"oldestRetainedVersion":5`) {
		t.Fatalf("pull after gc %s", a.body)
	}
	a = e.do(req{method: "GET", path: "/v1/sync/workspaces"})
	expect(t, a, 200, "")
	if !strings.Contains(string(a.body), ws) {
		t.Fatalf("workspaces %s", a.body)
	}
	a = e.do(req{method: "GET", path: "/v1/sync/maintenance"})
	expect(t, a, 200, "")
	var st struct {
		Enabled bool   `json:"enabled"`
		State   string `json:"state"`
		Backlog *int64 `json:"backlog"`
	}
	decode(t, a.body, &st)
	if !st.Enabled || st.State != "idle" || st.Backlog == nil {
		t.Fatalf("maintenance %s", a.body)
	}
	expect(t, e.do(req{method: "GET", path: "/v1/sync/maintenance", token: strp("")}), 401, "UNAUTHORIZED")
	expect(t, e.do(req{method: "GET", path: "/v1/sync/workspaces", token: strp("wrong")}), 401, "UNAUTHORIZED")
}

// Upload intents over HTTP: reserve, consume once, quota, unknown.
func TestHTTP_UploadIntents(t *testing.T) {
	e := startEnv(t, envOpts{})
	alice := e.user("alice")
	ws := e.workspace(alice)
	hash := "sha256:" + strings.Repeat("ab", 32)
	a := e.do(req{method: "POST", path: "/v1/sync/upload-intents/reserve", user: alice,
		body: mustJSON(map[string]any{"workspaceId": ws, "hash": hash, "mimeType": "image/png", "sizeBytes": 60, "workspaceQuotaBytes": 100})})
	expect(t, a, 200, "")
	var in struct {
		IntentID      string `json:"intentId"`
		ExpiresAt     int64  `json:"expiresAt"`
		ReservedBytes int64  `json:"reservedBytes"`
	}
	decode(t, a.body, &in)
	if in.IntentID == "" || in.ExpiresAt > 1e11 || in.ReservedBytes != 60 {
		t.Fatalf("reserve %s (expiresAt must be epoch seconds)", a.body)
	}
	expect(t, e.do(req{method: "POST", path: "/v1/sync/upload-intents/reserve", user: alice,
		body: mustJSON(map[string]any{"workspaceId": ws, "hash": "cd", "mimeType": "image/png", "sizeBytes": 41, "workspaceQuotaBytes": 100})}), 413, "OVERSIZED")
	consume := mustJSON(map[string]any{"workspaceId": ws, "intentId": in.IntentID, "hash": hash, "mimeType": "image/png", "sizeBytes": 60, "storageId": "obj"})
	expect(t, e.do(req{method: "POST", path: "/v1/sync/upload-intents/consume", user: alice, body: consume}), 200, "")
	expect(t, e.do(req{method: "POST", path: "/v1/sync/upload-intents/consume", user: alice, body: consume}), 409, "CONFLICT")
	expect(t, e.do(req{method: "POST", path: "/v1/sync/upload-intents/cancel", user: alice,
		body: mustJSON(map[string]any{"workspaceId": ws, "intentId": "nope"})}), 404, "NOT_FOUND")
	// The consumed intent no longer reserves anything.
	a = e.do(req{method: "POST", path: "/v1/sync/canonical-storage", user: alice,
		body: mustJSON(map[string]any{"scope": map[string]string{"workspaceId": ws}, "kind": "active_reservations"})})
	expect(t, a, 200, "")
	if strings.TrimSpace(string(a.body)) != `{"items":[],"hasMore":false}` {
		t.Fatalf("reservations %s", a.body)
	}
	expect(t, e.do(req{method: "POST", path: "/v1/sync/upload-intents/reserve", user: alice,
		body: mustJSON(map[string]any{"workspaceId": ws, "hash": "cd", "mimeType": "image/png", "sizeBytes": 100, "workspaceQuotaBytes": 100})}), 200, "")
	_ = http.StatusOK
}
