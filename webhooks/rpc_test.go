package webhooks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/syncerr"
)

func (f *fixture) call(method, args string) (string, error) {
	res, err := f.s.Call(f.ctx, method, json.RawMessage(args))
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(res)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b), nil
}

func wantStatus(t *testing.T, err error, status int, what string) {
	t.Helper()
	se, ok := syncerr.As(err)
	if !ok || se.Status != status {
		t.Errorf("%s: want %d, got %v", what, status, err)
	}
}

// The secret comes back once, from createWebhook, and never again.
func TestRPC_SecretReturnedOnlyOnCreate(t *testing.T) {
	f := newFixture(t)
	given := "whs_" + strings.Repeat("ab", 32)
	out, err := f.call("createWebhook", `[{"scope":"user","user_id":"u","workspace_id":"ws","url":"https://example.com/h","events":["thread.created"],"signing_secret":"`+given+`"}]`)
	if err != nil || !strings.Contains(out, given) {
		t.Fatalf("%s %v", out, err)
	}
	var w webhookJSON
	_ = json.Unmarshal([]byte(out), &w)
	for _, c := range [][2]string{
		{"getWebhook", `["` + w.ID + `"]`},
		{"listWebhooks", `["u","ws"]`},
		{"listWebhooksByEvent", `["thread.created","user","ws"]`},
		{"updateWebhook", `["` + w.ID + `",{"label":"x"}]`},
	} {
		got, err := f.call(c[0], c[1])
		if err != nil || strings.Contains(got, "secret") || strings.Contains(got, given) || !strings.Contains(got, w.ID) {
			t.Errorf("%s: %s %v", c[0], got, err)
		}
	}
	// The stored record holds only ciphertext.
	v := f.db.View()
	raw, _ := v.Get(webhookKey(w.ID))
	v.Release()
	if strings.Contains(string(raw), given) || strings.Contains(string(raw), strings.Repeat("ab", 32)) {
		t.Fatal("plaintext secret at rest")
	}
}

// Bad input: URLs, events, secrets, scopes and argument shapes are 400;
// unknown methods 404; unknown webhooks 404.
func TestRPC_BadInput(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AllowPrivate = false })
	base := `"scope":"admin","events":["thread.created"]`
	for _, u := range []string{
		"ftp://example.com/h", "javascript:alert(1)", "http://", "http://user:pw@example.com/", "http://127.0.0.1/h",
		"http://10.0.0.1/h", "http://192.168.1.1/h", "http://169.254.169.254/latest/meta-data", "http://[::1]/h",
		"http://[fe80::1]/h", "http://localhost:8080/h", "http://metadata.google.internal/", "http://100.64.0.1/",
		"http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "https://example.com/" + strings.Repeat("a", MaxURLLen),
		"http://example.com:99999/",
	} {
		b, _ := json.Marshal(u)
		_, err := f.call("createWebhook", `[{`+base+`,"url":`+string(b)+`}]`)
		wantStatus(t, err, 400, u)
	}
	for _, args := range []string{
		`[{"scope":"admin","url":"https://example.com/h","events":["Thread Created"]}]`,
		`[{"scope":"admin","url":"https://example.com/h","events":["thread"]}]`,
		`[{"scope":"admin","url":"https://example.com/h","events":"thread.created"}]`,
		`[{"scope":"admin","url":"https://example.com/h"}]`,
		`[{"scope":"root","url":"https://example.com/h","events":["thread.created"]}]`,
		`[{"scope":"user","url":"https://example.com/h","events":["thread.created"]}]`,
		`[{"scope":"admin","url":"https://example.com/h","events":["thread.created"],"signing_secret":"short"}]`,
		`[{"scope":"user","user_id":"u","workspace_id":"w","url":"https://example.com/h","events":["thread.created"],"custom_hooks":["x"]}]`,
		`[{"scope":"admin","url":"https://example.com/h","events":["thread.created"],"enabled":"yes"}]`,
		`[]`, `{}`, `[1]`, `null`, `[{"scope":"admin"},{}]`,
	} {
		_, err := f.call("createWebhook", args)
		wantStatus(t, err, 400, args)
	}
	_, err := f.call("nope", `[]`)
	wantStatus(t, err, 404, "unknown method")
	_, err = f.call("updateWebhook", `["missing",{"label":"x"}]`)
	wantStatus(t, err, 404, "unknown webhook")
	_, err = f.call("createDeliveryLog", `[{"webhook_id":"missing","event_id":"e","event_type":"thread.created"}]`)
	wantStatus(t, err, 404, "delivery for unknown webhook")
	_, err = f.call("updateWebhookHealth", `["x","great"]`)
	wantStatus(t, err, 400, "bad health")
	_, err = f.call("getDeliveryLogs", `["x","yesterday"]`)
	wantStatus(t, err, 400, "string since")
	_, err = f.call("emitEvent", `[{"event":"not an event"}]`)
	wantStatus(t, err, 400, "malformed event")
	if out, err := f.call("claimPendingDeliveries", `["w",-3]`); err != nil || out != "[]" {
		t.Errorf("claim -3: %s %v", out, err)
	}
	if out, err := f.call("getWebhook", `["missing"]`); err != nil || out != "null" {
		t.Errorf("getWebhook missing: %s %v", out, err)
	}
}

// The store methods through RPC, end to end.
func TestRPC_StoreMethods(t *testing.T) {
	f := newFixture(t)
	out, err := f.call("createWebhook", `[{"scope":"admin","url":"http://127.0.0.1:9/h","events":["admin.job.completed"],"custom_hooks":["notify:action:push","a:b"]}]`)
	if err != nil {
		t.Fatal(err)
	}
	var w webhookJSON
	_ = json.Unmarshal([]byte(out), &w)
	if w.Health != "unknown" || !w.Enabled || w.CreatedAt != f.clock.Ms() || w.UserID != nil {
		t.Fatalf("%s", out)
	}
	if got, _ := f.call("listActiveCustomHookNames", `[]`); got != `["a:b","notify:action:push"]` {
		t.Fatalf("names %s", got)
	}
	if got, _ := f.call("listWebhooksByCustomHook", `["a:b"]`); !strings.Contains(got, w.ID) {
		t.Fatalf("by hook %s", got)
	}
	if got, err := f.call("emitEvent", `[{"custom_hook":"a:b","args":[1,"x"]}]`); err != nil || !strings.Contains(got, `"deliveries":1`) {
		t.Fatalf("emit custom hook %s %v", got, err)
	}
	logs, _ := f.call("getDeliveryLogs", `["`+w.ID+`",0]`)
	if !strings.Contains(logs, `{\"args\":[1,\"x\"]}`) {
		t.Fatalf("logs %s", logs)
	}
	if got, err := f.call("createDeliveryLog", `[{"webhook_id":"`+w.ID+`","event_id":"e1","event_type":"admin.job.completed","request_payload":"{}"}]`); err != nil || !strings.Contains(got, `"status":"pending"`) {
		t.Fatalf("createDeliveryLog %s %v", got, err)
	}
	if got, _ := f.call("claimPendingDeliveries", `["w1",25.9]`); strings.Count(got, `"in_flight"`) != 2 {
		t.Fatalf("claim %s", got)
	}
	if got, _ := f.call("resetStaleInFlightDeliveries", `[0]`); got != "0" {
		t.Fatalf("reset fresh %s", got)
	}
	f.clock.Advance(time.Millisecond)
	if got, _ := f.call("resetStaleInFlightDeliveries", `[0]`); got != "2" {
		t.Fatalf("reset %s", got)
	}
	if got, _ := f.call("cancelDeliveriesByWebhook", `["`+w.ID+`"]`); got != "2" {
		t.Fatalf("cancel %s", got)
	}
	if got, _ := f.call("getRecentTerminalDeliveries", `["`+w.ID+`",0]`); got != "[]" {
		t.Fatalf("terminal %s", got)
	}
	if got, _ := f.call("testWebhook", `["`+w.ID+`"]`); !strings.Contains(got, `webhook.test`) || !strings.Contains(got, `{\"ok\":true,\"test\":true}`) {
		t.Fatalf("test %s", got)
	}
	if got, _ := f.call("purgeExpiredLogs", `[`+itoa(f.clock.Ms()+1)+`]`); got != "2" {
		t.Fatalf("purge %s (pending ones are kept)", got)
	}
	if got, _ := f.call("deleteDeliveryLogsByWebhook", `["`+w.ID+`"]`); got != "1" {
		t.Fatalf("delete logs %s", got)
	}
	if got, _ := f.call("listAdminWebhooks", `[]`); !strings.Contains(got, w.ID) {
		t.Fatalf("admin list %s", got)
	}
	if _, err := f.call("deleteWebhook", `["`+w.ID+`"]`); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.call("listAdminWebhooks", `[]`); got != "[]" {
		t.Fatalf("after delete %s", got)
	}
}

func fuzzDecoder(f *testing.F, seeds []string, fn func([]byte) error) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := fn(data)
		if err == nil {
			return
		}
		if se, ok := syncerr.As(err); !ok || se.Status != 400 {
			t.Fatalf("decoder error is not a 400: %v", err)
		}
	})
}

func FuzzDecodeCreate(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"scope":"admin","url":"https://example.com","events":["thread.created"]}`,
		`{"scope":"user","user_id":"u","workspace_id":"w","url":"http://x","events":[],"custom_hooks":["a"],"enabled":false,"signing_secret":"whs_00"}`,
		`{"events":null}`, `[]`, `null`, `{"url":1}`,
	}, func(b []byte) error { _, err := DecodeCreate(b); return err })
}

func FuzzDecodePatch(f *testing.F) {
	fuzzDecoder(f, []string{`{"url":"https://x","label":null,"events":["a.b"],"workspace_id":null,"enabled":true}`, `{}`, `{"custom_hooks":[1]}`},
		func(b []byte) error { _, err := DecodePatch(b); return err })
}

func FuzzDecodeDeliveryPatch(f *testing.F) {
	fuzzDecoder(f, []string{`{"status":"success","error_message":null,"http_status":500,"next_retry_at":1e3}`, `{"attempt":1.5}`, `{"claimed_at":"x"}`},
		func(b []byte) error { _, err := DecodeDeliveryPatch(b); return err })
}

func FuzzDecodeDeliveryInput(f *testing.F) {
	fuzzDecoder(f, []string{`{"webhook_id":"w","event_id":"e","event_type":"a.b","request_payload":"{}","attempt":2,"next_retry_at":null}`, `{}`},
		func(b []byte) error { _, err := DecodeDeliveryInput(b); return err })
}

func FuzzDecodeEvent(f *testing.F) {
	fuzzDecoder(f, []string{`{"event":"admin.user.created","data":{"a":[1,{"token":"x"}]}}`, `{"custom_hook":"h","args":[1]}`, `{"data":1e400}`},
		func(b []byte) error { _, err := DecodeEvent(b); return err })
}

// FuzzCall drives every method's argument decoding against a real store:
// no panic, and every refusal is a 4xx.
func FuzzCall(f *testing.F) {
	for _, s := range []string{`["x"]`, `[]`, `["x",{"label":"y"}]`, `["w",25]`, `[null,null,null]`, `[{"scope":"admin","url":"http://127.0.0.1:1","events":["a.b"]}]`} {
		for i := range methodNames() {
			f.Add(uint8(i), []byte(s))
		}
	}
	fx := newFixtureF(f)
	names := methodNames()
	f.Fuzz(func(t *testing.T, m uint8, data []byte) {
		_, err := fx.s.Call(fx.ctx, names[int(m)%len(names)], data)
		if err == nil {
			return
		}
		if se, ok := syncerr.As(err); !ok || se.Status >= 500 {
			t.Fatalf("%s %s: %v", names[int(m)%len(names)], data, err)
		}
	})
}
