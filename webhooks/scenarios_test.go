package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/syncerr"
)

// Scenario 69: sign {"a":1} with secret s at 1700000000.
func TestSign_Scenario69(t *testing.T) {
	m := hmac.New(sha256.New, []byte("s"))
	m.Write([]byte(`1700000000.{"a":1}`))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign("s", 1700000000, []byte(`{"a":1}`)); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if !Verify("s", 1700000000, []byte(`{"a":1}`), want) || Verify("s", 1700000001, []byte(`{"a":1}`), want) {
		t.Fatal("Verify")
	}
}

// Scenario 70: encrypt/decrypt round trip; tampered tag; v2 payload; no key.
func TestSecret_Scenario70(t *testing.T) {
	secret, err := GenerateSecret()
	if err != nil || !ValidSecret(secret) {
		t.Fatalf("%q %v", secret, err)
	}
	enc, err := EncryptSecret("k", secret)
	if err != nil || !strings.HasPrefix(enc, "v1.") {
		t.Fatalf("%q %v", enc, err)
	}
	if got, err := DecryptSecret("k", enc); err != nil || got != secret {
		t.Fatalf("round trip: %q %v", got, err)
	}
	parts := strings.Split(enc, ".")
	tag := []byte(parts[2])
	if tag[0] == 'A' {
		tag[0] = 'B'
	} else {
		tag[0] = 'A'
	}
	tampered := strings.Join([]string{parts[0], parts[1], string(tag), parts[3]}, ".")
	if _, err := DecryptSecret("k", tampered); !errors.Is(err, ErrDecryptSecret) || err.Error() != "Failed to decrypt webhook signing secret" {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := DecryptSecret("other", enc); !errors.Is(err, ErrDecryptSecret) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := DecryptSecret("k", "v2.x.y.z"); !errors.Is(err, ErrBadSecretFormat) || err.Error() != "Invalid webhook secret payload" {
		t.Fatalf("v2: %v", err)
	}
	if _, err := EncryptSecret("", "x"); !errors.Is(err, ErrNoEncryptionKey) {
		t.Fatalf("no key: %v", err)
	}
}

// Scenario 71: enqueue → pending attempt 1 due now; claim → in flight
// with claimed_by/claimed_at; claim again → [].
func TestDelivery_Scenario71_EnqueueAndClaim(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/hook", "admin.user.created")
	f.emit("admin.user.created", "", map[string]any{"id": "u1"})
	d := f.only(w.ID)
	if d.State.Status != StatusPending || d.State.Attempt != 1 || *d.State.NextRetryAtMs != f.clock.Ms() {
		t.Fatalf("enqueued: %+v", d.State)
	}
	got, err := f.s.ClaimPendingDeliveries(f.ctx, "worker-1", 25)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	d = f.only(w.ID)
	if d.State.Status != StatusInFlight || *d.State.ClaimedBy != "worker-1" || *d.State.ClaimedAtMs != f.clock.Ms() {
		t.Fatalf("claimed: %+v", d.State)
	}
	if again, _ := f.s.ClaimPendingDeliveries(f.ctx, "worker-2", 25); len(again) != 0 {
		t.Fatalf("claimed twice: %v", again)
	}
	if none, _ := f.s.ClaimPendingDeliveries(f.ctx, "worker-2", 0); len(none) != 0 {
		t.Fatal("limit 0 claimed")
	}
}

// Scenario 72: 2xx → success, response body cut to 4,096 characters,
// health healthy after three successes.
func TestDelivery_Scenario72_SuccessAndHealth(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/hook", "admin.user.created")
	for i := 0; i < 3; i++ {
		f.emit("admin.user.created", "", nil)
		claims, err := f.s.claim(f.ctx, "w", 1)
		if err != nil || len(claims) != 1 {
			t.Fatal(claims, err)
		}
		long := strings.Repeat("é", 5000)
		if ok, err := f.s.Record(f.ctx, claims[0], Outcome{HTTPStatus: 204, ResponseBody: long}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if want := map[int]string{0: HealthUnknown, 1: HealthUnknown, 2: HealthHealthy}[i]; f.webhook(w.ID).Health != want {
			t.Fatalf("after %d successes health %s", i+1, f.webhook(w.ID).Health)
		}
	}
	d := f.logs(w.ID)[0]
	if d.State.Status != StatusSuccess || d.State.ClaimedBy != nil || len([]rune(*d.State.ResponseBody)) != 4096 || *d.State.HTTPStatus != 204 {
		t.Fatalf("%+v", d.State)
	}
}

// Scenario 73: 500s walk the retry schedule; the sixth failure fails the
// delivery, notifies, and marks the webhook failing.
func TestDelivery_Scenario73_RetryScheduleThenFailed(t *testing.T) {
	var notified []Delivery
	f := newFixture(t, func(c *Config) {
		c.OnFailed = func(w Webhook, d Delivery) { notified = append(notified, d) }
	})
	w, _ := f.create(CreateInput{Scope: ScopeUser, UserID: "user-1", WorkspaceID: "ws-1", URL: "http://127.0.0.1:9/h", Events: []string{"message.created"}})
	f.s.OnSync([]SyncChange{{Workspace: "ws-1", Table: "messages", PK: "m1", UserID: "user-1", Payload: json.RawMessage(`{"id":"m1","content":"hi"}`), AtMs: f.clock.Ms()}})
	if _, err := f.s.DrainSync(f.ctx); err != nil {
		t.Fatal(err)
	}
	wantDelays := []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}
	for attempt := 1; attempt <= 6; attempt++ {
		claims, err := f.s.claim(f.ctx, "w", 25)
		if err != nil || len(claims) != 1 {
			t.Fatalf("attempt %d: claims %v %v", attempt, claims, err)
		}
		if claims[0].Delivery.State.Attempt != int64(attempt) {
			t.Fatalf("attempt %d: log says %d", attempt, claims[0].Delivery.State.Attempt)
		}
		if _, err := f.s.Record(f.ctx, claims[0], Outcome{HTTPStatus: 500, Err: "HTTP 500"}); err != nil {
			t.Fatal(err)
		}
		d := f.only(w.ID)
		if attempt == 6 {
			if d.State.Status != StatusFailed || d.State.NextRetryAtMs != nil {
				t.Fatalf("after 6: %+v", d.State)
			}
			break
		}
		if d.State.Status != StatusPending || d.State.Attempt != int64(attempt+1) || *d.State.NextRetryAtMs != f.clock.Ms()+wantDelays[attempt-1].Milliseconds() {
			t.Fatalf("after attempt %d: %+v", attempt, d.State)
		}
		// Not due a millisecond early.
		f.clock.Advance(wantDelays[attempt-1] - time.Millisecond)
		if early, _ := f.s.claim(f.ctx, "w", 25); len(early) != 0 {
			t.Fatalf("claimed early before attempt %d", attempt+1)
		}
		f.clock.Advance(time.Millisecond)
	}
	if len(notified) != 1 || f.webhook(w.ID).Health != HealthFailing {
		t.Fatalf("notified %d, health %s", len(notified), f.webhook(w.ID).Health)
	}
}

// Scenario 74: a retry past created_at + MaxRetry fails at once.
func TestDelivery_Scenario74_DeadlineFailsNow(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRetry = time.Hour })
	w := f.adminHook("http://127.0.0.1:9/h", "admin.user.created")
	f.emit("admin.user.created", "", nil)
	f.clock.Advance(59*time.Minute + 45*time.Second) // a 30 s retry would land past the hour
	claims, _ := f.s.claim(f.ctx, "w", 1)
	if _, err := f.s.Record(f.ctx, claims[0], Outcome{Err: "connection refused"}); err != nil {
		t.Fatal(err)
	}
	if d := f.only(w.ID); d.State.Status != StatusFailed || d.State.Attempt != 1 {
		t.Fatalf("%+v", d.State)
	}
}

// Scenario 75: a webhook disabled before processing → cancelled, no
// next_retry_at.
func TestDelivery_Scenario75_DisabledCancels(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, nil)
	w := f.adminHook(rcv.srv.URL, "admin.user.created")
	f.emit("admin.user.created", "", nil)
	off := false
	if _, err := f.s.UpdateWebhook(f.ctx, w.ID, Patch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	f.runOnce()
	if d := f.only(w.ID); d.State.Status != StatusCancelled || d.State.NextRetryAtMs != nil || d.State.ClaimedBy != nil {
		t.Fatalf("%+v", d.State)
	}
	if len(rcv.requests()) != 0 {
		t.Fatal("delivered to a disabled webhook")
	}
}

// Scenario 76: the reaper resets logs claimed 3 min ago, not 1 min ago.
func TestDelivery_Scenario76_Reaper(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/h", "admin.user.created")
	f.emit("admin.user.created", "", nil)
	if c, _ := f.s.claim(f.ctx, "old", 1); len(c) != 1 {
		t.Fatal("claim")
	}
	f.clock.Advance(2 * time.Minute)
	f.emit("admin.user.created", "", nil)
	if c, _ := f.s.claim(f.ctx, "recent", 1); len(c) != 1 {
		t.Fatal("claim")
	}
	f.clock.Advance(time.Minute)
	if n, err := f.s.Reap(f.ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d %v", n, err)
	}
	for _, d := range f.logs(w.ID) {
		switch {
		case d.State.Status == StatusPending && d.State.ClaimedBy == nil:
		case d.State.Status == StatusInFlight && *d.State.ClaimedBy == "recent":
		default:
			t.Fatalf("%+v", d.State)
		}
	}
}

// Scenario 77: past the per-webhook rate limit the log is created
// cancelled with "Rate limit exceeded. Retry after <ISO>".
func TestDelivery_Scenario77_RateLimitAtEnqueue(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimitPerMinute = 2 })
	w := f.adminHook("http://127.0.0.1:9/h", "admin.user.created")
	for i := 0; i < 3; i++ {
		f.emit("admin.user.created", "", nil)
	}
	ds := f.logs(w.ID)
	d := ds[0] // newest
	reset := f.clock.Now().Add(time.Minute)
	if d.State.Status != StatusCancelled || *d.State.ErrorMessage != "Rate limit exceeded. Retry after "+reset.Format("2006-01-02T15:04:05.000Z") ||
		*d.State.NextRetryAtMs != reset.UnixMilli() {
		t.Fatalf("%+v %s", d.State, *d.State.ErrorMessage)
	}
	if ds[1].State.Status != StatusPending || ds[2].State.Status != StatusPending {
		t.Fatal("first two not pending")
	}
}

// Scenario 78: listWebhooksByEvent scoping.
func TestRegistry_Scenario78_ListByEvent(t *testing.T) {
	f := newFixture(t)
	global := f.adminHook("http://127.0.0.1:9/a", "admin.job.completed")
	bound, _ := f.create(CreateInput{Scope: ScopeAdmin, WorkspaceID: "ws-1", URL: "http://127.0.0.1:9/b", Events: []string{"admin.job.completed"}})
	f.create(CreateInput{Scope: ScopeAdmin, WorkspaceID: "ws-2", URL: "http://127.0.0.1:9/c", Events: []string{"admin.job.completed"}})
	user, _ := f.create(CreateInput{Scope: ScopeUser, UserID: "user-1", WorkspaceID: "ws-1", URL: "http://127.0.0.1:9/d", Events: []string{"admin.job.completed"}})
	ids := func(ws []*Webhook, err error) []string {
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range ws {
			out = append(out, w.ID)
		}
		return out
	}
	if got := ids(f.s.ListWebhooksByEvent(f.ctx, "admin.job.completed", ScopeAdmin, "")); len(got) != 1 || got[0] != global.ID {
		t.Fatalf("admin, no workspace: %v", got)
	}
	if got := ids(f.s.ListWebhooksByEvent(f.ctx, "admin.job.completed", ScopeAdmin, "ws-1")); len(got) != 2 || got[0] != bound.ID || got[1] != global.ID {
		t.Fatalf("admin, ws-1: %v", got)
	}
	if got := ids(f.s.ListWebhooksByEvent(f.ctx, "admin.job.completed", ScopeUser, "")); len(got) != 0 {
		t.Fatalf("user, no workspace: %v", got)
	}
	if got := ids(f.s.ListWebhooksByEvent(f.ctx, "admin.job.completed", ScopeUser, "ws-1")); len(got) != 1 || got[0] != user.ID {
		t.Fatalf("user, ws-1: %v", got)
	}
	if got := ids(f.s.ListWebhooksByEvent(f.ctx, "admin.job.failed", ScopeAdmin, "ws-1")); len(got) != 0 {
		t.Fatalf("other event: %v", got)
	}
}

// Scenario 79: a URL change resets health; an unknown id is 404 with the
// spec's message.
func TestRegistry_Scenario79_Update(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/a", "admin.user.created")
	if err := f.s.UpdateWebhookHealth(f.ctx, w.ID, HealthHealthy); err != nil {
		t.Fatal(err)
	}
	label := "renamed"
	if _, err := f.s.UpdateWebhook(f.ctx, w.ID, Patch{Label: &label}); err != nil || f.webhook(w.ID).Health != HealthHealthy {
		t.Fatalf("label change touched health: %v", err)
	}
	f.clock.Advance(time.Second)
	u := "http://127.0.0.1:9/b"
	got, err := f.s.UpdateWebhook(f.ctx, w.ID, Patch{URL: &u})
	if err != nil || got.Health != HealthUnknown || got.UpdatedAtMs != f.clock.Ms() || f.webhook(w.ID).URL != u {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = f.s.UpdateWebhook(f.ctx, "nope", Patch{URL: &u})
	if se, ok := syncerr.As(err); !ok || se.Status != 404 || se.Message != "Webhook not found: nope" {
		t.Fatalf("%v", err)
	}
}

// Scenario 80: deleteWebhook removes the registration and its logs;
// disableAllWebhooks counts the user's enabled hooks.
func TestRegistry_Scenario80_DeleteAndDisableAll(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/a", "admin.user.created")
	f.emit("admin.user.created", "", nil)
	f.emit("admin.user.created", "", nil)
	if err := f.s.DeleteWebhook(f.ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.GetWebhook(f.ctx, w.ID); got != nil || len(f.logs(w.ID)) != 0 {
		t.Fatal("not deleted")
	}
	if err := f.s.DeleteWebhook(f.ctx, w.ID); err != nil {
		t.Fatal("second delete:", err)
	}
	off := false
	for i := 0; i < 3; i++ {
		in := CreateInput{Scope: ScopeUser, UserID: "user-1", WorkspaceID: "ws-1", URL: "http://127.0.0.1:9/u", Events: []string{"thread.created"}}
		if i == 2 {
			in.Enabled = &off
		}
		f.create(in)
	}
	f.create(CreateInput{Scope: ScopeUser, UserID: "user-2", WorkspaceID: "ws-1", URL: "http://127.0.0.1:9/u", Events: []string{"thread.created"}})
	if n, err := f.s.DisableAllWebhooks(f.ctx, "user-1", "ws-1"); n != 2 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	if n, _ := f.s.DisableAllWebhooks(f.ctx, "user-1", "ws-1"); n != 0 {
		t.Fatalf("second run %d", n)
	}
}

// Scenario 81: updateDeliveryLog: success clears the claim; explicit null
// clears error_message; an omitted field is kept.
func TestDelivery_Scenario81_UpdatePatch(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/a", "admin.user.created")
	f.emit("admin.user.created", "", nil)
	f.s.claim(f.ctx, "w", 1)
	id := f.only(w.ID).ID
	call := func(args string) map[string]any {
		res, err := f.s.Call(f.ctx, "updateDeliveryLog", json.RawMessage(args))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res)
		return decodeJSON(t, b)
	}
	got := call(`["` + id + `",{"error_message":"boom","http_status":500}]`)
	if got["status"] != StatusInFlight || got["claimed_by"] != "w" || got["error_message"] != "boom" {
		t.Fatalf("%v", got)
	}
	got = call(`["` + id + `",{"status":"success"}]`)
	if got["claimed_by"] != nil || got["claimed_at"] != nil || got["error_message"] != "boom" || got["http_status"] != 500.0 {
		t.Fatalf("%v", got)
	}
	got = call(`["` + id + `",{"error_message":null}]`)
	if got["error_message"] != nil || got["http_status"] != 500.0 {
		t.Fatalf("%v", got)
	}
}

// Scenario 82: data is stripped of secrets at any depth; admin envelopes
// omit user_id, user envelopes carry it.
func TestPayload_Scenario82_StripAndScope(t *testing.T) {
	f := newFixture(t)
	admin := f.adminHook("http://127.0.0.1:9/a", "admin.user.created")
	user, _ := f.create(CreateInput{Scope: ScopeUser, UserID: "user-1", WorkspaceID: "ws-1", URL: "http://127.0.0.1:9/u", Events: []string{"admin.user.created"}})
	data := map[string]any{"name": "n", "api_key": "x", "nested": map[string]any{"Authorization": "Bearer y", "list": []any{map[string]any{"signing-secret": "z", "ok": 1}}}}
	if _, _, err := f.s.EmitEvent(f.ctx, EventInput{Event: "admin.user.created", WorkspaceID: "ws-1", UserID: "user-1", Data: data}); err != nil {
		t.Fatal(err)
	}
	a := decodeJSON(t, []byte(f.only(admin.ID).RequestPayload))
	u := decodeJSON(t, []byte(f.only(user.ID).RequestPayload))
	if _, has := a["user_id"]; has || a["scope"] != ScopeAdmin {
		t.Fatalf("admin envelope %v", a)
	}
	if u["user_id"] != "user-1" || u["scope"] != ScopeUser || u["event_id"] != a["event_id"] || u["workspace_id"] != "ws-1" {
		t.Fatalf("user envelope %v", u)
	}
	body := f.only(admin.ID).RequestPayload
	for _, leaked := range []string{"api_key", "Authorization", "signing-secret", "Bearer y"} {
		if strings.Contains(body, leaked) {
			t.Fatalf("%s leaked: %s", leaked, body)
		}
	}
	if !strings.Contains(body, `"ok":1`) || !strings.Contains(body, `"name":"n"`) {
		t.Fatalf("kept keys lost: %s", body)
	}
}
