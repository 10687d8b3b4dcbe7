package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
)

// A real receiver on 127.0.0.1 verifies the signature and headers of a
// delivery syncd sends.
func TestDispatch_SignedDeliveryOverHTTP(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, f.clock)
	res, err := f.s.Call(f.ctx, "createWebhook", json.RawMessage(`[{"scope":"admin","url":"`+rcv.srv.URL+`/hook","events":["admin.user.created"],"label":"ops"}]`))
	if err != nil {
		t.Fatal(err)
	}
	rcv.secret = res.(webhookJSON).SigningSecret
	w := res.(webhookJSON)
	if !ValidSecret(rcv.secret) {
		t.Fatalf("secret %q", rcv.secret)
	}
	f.emit("admin.user.created", "", map[string]any{"id": "u1"})
	if n := f.runOnce(); n != 1 {
		t.Fatalf("claimed %d", n)
	}
	got := rcv.requests()
	if len(got) != 1 || rcv.badSigs != 0 {
		t.Fatalf("requests %d, bad signatures %d", len(got), rcv.badSigs)
	}
	h := got[0].Headers
	d := f.only(w.ID)
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": UserAgent, "X-OR3-Event": "admin.user.created",
		"X-OR3-Event-ID": d.EventID, "X-OR3-Timestamp": itoa(f.clock.Now().Unix())} {
		if h.Get(k) != want {
			t.Errorf("%s: %q want %q", k, h.Get(k), want)
		}
	}
	if string(got[0].Body) != d.RequestPayload {
		t.Fatal("body is not the stored request_payload")
	}
	if d.State.Status != StatusSuccess || *d.State.HTTPStatus != 200 || *d.State.ResponseBody != `{"received":true}` {
		t.Fatalf("%+v", d.State)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

// A receiver that fails twice and then succeeds gets exactly one
// successful delivery, at 0 s, 30 s and 2 min 30 s, driven by the test
// clock; nothing is sent again afterwards.
func TestDispatch_FailTwiceThenSucceed(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, f.clock, 500, 503)
	w, secret := f.create(CreateInput{Scope: ScopeAdmin, URL: rcv.srv.URL, Events: []string{"admin.user.created"}})
	rcv.secret = secret
	f.emit("admin.user.created", "", nil)
	start := f.clock.Now()

	f.runOnce() // attempt 1 → 500
	if d := f.only(w.ID); d.State.Attempt != 2 || *d.State.NextRetryAtMs != start.Add(30*time.Second).UnixMilli() {
		t.Fatalf("after 1: %+v", d.State)
	}
	f.clock.Advance(29 * time.Second)
	if n := f.runOnce(); n != 0 {
		t.Fatal("retried early")
	}
	f.clock.Advance(time.Second)
	f.runOnce() // attempt 2 → 503
	if d := f.only(w.ID); d.State.Attempt != 3 || *d.State.NextRetryAtMs != f.clock.Now().Add(2*time.Minute).UnixMilli() {
		t.Fatalf("after 2: %+v", d.State)
	}
	f.clock.Advance(2 * time.Minute)
	f.runOnce() // attempt 3 → 200
	for i := 0; i < 5; i++ {
		f.clock.Advance(time.Hour)
		f.runOnce()
		if _, err := f.s.Reap(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := rcv.requests(); len(got) != 3 || rcv.successes() != 1 || rcv.badSigs != 0 {
		t.Fatalf("requests %d, successes %d, bad signatures %d", len(got), rcv.successes(), rcv.badSigs)
	}
	// Every attempt carried the same event id (receivers dedupe on it).
	ids := map[string]bool{}
	for _, r := range rcv.requests() {
		ids[r.Headers.Get("X-OR3-Event-ID")] = true
	}
	d := f.only(w.ID)
	if len(ids) != 1 || d.State.Status != StatusSuccess || d.State.Attempt != 3 {
		t.Fatalf("ids %v, %+v", ids, d.State)
	}
	if last, _ := f.s.GetRecentTerminalDeliveries(f.ctx, w.ID, 3); len(last) != 1 || f.webhook(w.ID).Health != HealthUnknown {
		t.Fatalf("terminal %d, health %s", len(last), f.webhook(w.ID).Health)
	}
}

// A worker that claimed deliveries and crashed (the process died before
// sending) leaves them in flight; after a restart the reaper returns them
// to pending once the claim is stale, and they are delivered exactly once.
func TestDispatch_CrashedWorkerClaimsReapedAndDeliveredOnce(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, f.clock)
	w, secret := f.create(CreateInput{Scope: ScopeAdmin, URL: rcv.srv.URL, Events: []string{"admin.user.created"}})
	rcv.secret = secret
	for i := 0; i < 3; i++ {
		f.emit("admin.user.created", "", map[string]any{"n": i})
	}
	if claims, err := f.s.claim(f.ctx, "crashed-worker", 25); err != nil || len(claims) != 3 {
		t.Fatal(claims, err)
	}
	f.restart() // the crash: the claims are durable, the worker is gone

	if n := f.runOnce(); n != 0 {
		t.Fatal("claimed deliveries that are in flight")
	}
	f.clock.Advance(time.Minute)
	if n, _ := f.s.Reap(f.ctx); n != 0 {
		t.Fatal("reaped a fresh claim")
	}
	f.clock.Advance(time.Minute + time.Millisecond)
	if n, err := f.s.Reap(f.ctx); err != nil || n != 3 {
		t.Fatalf("reaped %d %v", n, err)
	}
	if n := f.runOnce(); n != 3 {
		t.Fatalf("delivered %d", n)
	}
	for i := 0; i < 3; i++ {
		f.clock.Advance(5 * time.Minute)
		f.s.Reap(f.ctx)
		f.runOnce()
	}
	if got := rcv.requests(); len(got) != 3 || rcv.successes() != 3 {
		t.Fatalf("requests %d", len(got))
	}
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.Headers.Get("X-OR3-Event-ID")]++
	}
	if len(seen) != 3 {
		t.Fatalf("event ids %v", seen)
	}
	for _, d := range f.logs(w.ID) {
		if d.State.Status != StatusSuccess || d.State.Attempt != 1 {
			t.Fatalf("%+v", d.State)
		}
	}
}

// A slow worker whose claim was reaped and re-delivered cannot overwrite
// the log with its late outcome: the claim fences it.
func TestDispatch_LateOutcomeOfReapedClaimIsDropped(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/h", "admin.user.created")
	f.emit("admin.user.created", "", nil)
	slow, _ := f.s.claim(f.ctx, "slow", 1)
	f.clock.Advance(3 * time.Minute)
	f.s.Reap(f.ctx)
	fast, _ := f.s.claim(f.ctx, "fast", 1)
	if ok, _ := f.s.Record(f.ctx, fast[0], Outcome{HTTPStatus: 200}); !ok {
		t.Fatal("fast outcome dropped")
	}
	if ok, _ := f.s.Record(f.ctx, slow[0], Outcome{HTTPStatus: 500}); ok {
		t.Fatal("slow outcome recorded over the fast one")
	}
	if d := f.only(w.ID); d.State.Status != StatusSuccess {
		t.Fatalf("%+v", d.State)
	}
}

// The queue is durable: pending deliveries survive a restart and are sent
// by the new process.
func TestDispatch_QueueSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, f.clock)
	w, secret := f.create(CreateInput{Scope: ScopeAdmin, URL: rcv.srv.URL, Events: []string{"admin.user.created"}})
	rcv.secret = secret
	f.emit("admin.user.created", "", nil)
	f.restart()
	if n := f.runOnce(); n != 1 || rcv.successes() != 1 || f.only(w.ID).State.Status != StatusSuccess {
		t.Fatalf("after restart: %d", n)
	}
}

// A target that is now refused (the store runs without allow-private)
// fails without retry, and nothing connects to it.
func TestDispatch_PrivateTargetRefusedAtSend(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, f.clock)
	w := f.adminHook(rcv.srv.URL, "admin.user.created")
	f.emit("admin.user.created", "", nil)
	f.close()
	f.cfg.AllowPrivate = false
	f.open()
	f.runOnce()
	d := f.only(w.ID)
	if d.State.Status != StatusFailed || !strings.Contains(*d.State.ErrorMessage, "private") || len(rcv.requests()) != 0 {
		t.Fatalf("%+v %v", d.State, *d.State.ErrorMessage)
	}
	// And a name that passes ValidateURL but resolves to loopback is
	// refused by the dialer.
	if err := dialControl(false)("tcp", "127.0.0.1:80", nil); !errors.Is(err, ErrPrivateTarget) {
		t.Fatalf("dial control: %v", err)
	}
	if err := dialControl(true)("tcp", "169.254.169.254:80", nil); !errors.Is(err, ErrPrivateTarget) {
		t.Fatalf("metadata with allow-private: %v", err)
	}
	if err := dialControl(false)("tcp", "93.184.216.34:443", nil); err != nil {
		t.Fatalf("public: %v", err)
	}
}

// The background loops deliver without RunOnce calls (real time, one
// delivery).
func TestDispatch_BackgroundLoopDelivers(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, nil)
	w, secret := f.create(CreateInput{Scope: ScopeAdmin, URL: rcv.srv.URL, Events: []string{"thread.created"}})
	rcv.secret = secret
	f.s.Start()
	f.s.OnSync([]SyncChange{{Workspace: "ws-1", Table: "threads", PK: "t1", Payload: json.RawMessage(`{"id":"t1","title":"x"}`), AtMs: f.clock.Ms()}})
	deadline := time.Now().Add(5 * time.Second)
	for rcv.successes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not delivered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.s.Close()
	if d := f.only(w.ID); d.EventType != "thread.created" {
		t.Fatalf("%+v", d)
	}
}

// Purge deletes old finished logs only.
func TestDelivery_PurgeOldLogs(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/h", "admin.user.created")
	f.emit("admin.user.created", "", nil)
	c, _ := f.s.claim(f.ctx, "w", 1)
	f.s.Record(f.ctx, c[0], Outcome{HTTPStatus: 200})
	f.emit("admin.user.created", "", nil) // stays pending
	f.clock.Advance(31 * 24 * time.Hour)
	f.emit("admin.user.created", "", nil) // recent
	if n, err := f.s.Purge(f.ctx); err != nil || n != 1 {
		t.Fatalf("purged %d %v", n, err)
	}
	if len(f.logs(w.ID)) != 2 {
		t.Fatal("wrong logs purged")
	}
}

// Replaying every event into an empty log rebuilds the webhook keyspaces
// byte for byte.
func TestReplay_RebuildEqualsLive(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimitPerMinute = 3 })
	rcv := newReceiver(t, nil, 500)
	w := f.adminHook(rcv.srv.URL, "admin.user.created", "thread.created")
	u, _ := f.create(CreateInput{Scope: ScopeUser, UserID: "u", WorkspaceID: "ws", URL: rcv.srv.URL, Events: []string{"thread.*"}})
	for i := 0; i < 5; i++ {
		f.emit("admin.user.created", "", nil)
		f.s.OnSync([]SyncChange{{Workspace: "ws", Table: "threads", PK: itoa(int64(i)), UserID: "u", AtMs: f.clock.Ms()}})
		f.s.DrainSync(f.ctx)
		f.runOnce()
		f.clock.Advance(time.Minute)
	}
	f.s.claim(f.ctx, "x", 1)
	label := "l"
	f.s.UpdateWebhook(f.ctx, u.ID, Patch{Label: &label})
	f.s.CancelDeliveriesByWebhook(f.ctx, u.ID)
	f.clock.Advance(40 * 24 * time.Hour)
	f.s.Purge(f.ctx)
	other := f.adminHook(rcv.srv.URL, "admin.user.created")
	f.emit("admin.user.created", "", nil)
	f.s.DeleteWebhook(f.ctx, other.ID)
	_ = w

	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	mux := &synclog.FolderMux{}
	Register(mux)
	v := f.db.View()
	defer v.Release()
	if err := synclog.Rebuild(context.Background(), v, dst, mux, 7); err != nil {
		t.Fatal(err)
	}
	dv := dst.View()
	defer dv.Release()
	if diff, err := synclog.DiffState(v, dv, synclog.PrefixWebhook, synclog.PrefixDelivery); err != nil || diff != "" {
		t.Fatalf("diff %q %v", diff, err)
	}
}

// The payload is stored once, in the creating event: the state record
// (rewritten by every claim and outcome) only points at it.
func TestDelivery_PayloadStoredOnce(t *testing.T) {
	f := newFixture(t)
	w := f.adminHook("http://127.0.0.1:9/h", "admin.user.created")
	f.emit("admin.user.created", "", map[string]any{"marker": "payload-marker-123"})
	f.s.claim(f.ctx, "w", 1)
	d := f.only(w.ID)
	if !strings.Contains(d.RequestPayload, "payload-marker-123") {
		t.Fatalf("payload not loaded: %q", d.RequestPayload)
	}
	v := f.db.View()
	defer v.Release()
	raw, err := v.Get(deliveryKey(w.ID, d.ID))
	if err != nil || raw == nil || strings.Contains(string(raw), "payload-marker-123") {
		t.Fatalf("state record carries the payload: %q %v", raw, err)
	}
}
