package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/or3/syncd/syncerr"
)

// Call runs a webhooks RPC method (api.md "RPC stores": the WebhookStore
// methods of side-modules §5.4, arguments as in the TypeScript interface;
// registrations and logs with snake_case fields; times in epoch ms), plus
// emitEvent([{event, workspace_id?, user_id?, scope?, data?, custom_hook?}])
// and testWebhook([id]), with which the host has syncd deliver its own
// events. Bad arguments are 400, an unknown method 404.
func (s *Store) Call(ctx context.Context, method string, raw json.RawMessage) (any, error) {
	m, ok := rpcMethods[method]
	if !ok {
		return nil, syncerr.NotFound("unknown method webhooks.%.64q", method)
	}
	a, err := parseArgs(raw, m.min, m.max)
	if err != nil {
		return nil, err
	}
	return m.fn(s, ctx, a)
}

type rpcMethod struct {
	min, max int
	fn       func(s *Store, ctx context.Context, a *args) (any, error)
}

var rpcMethods = map[string]rpcMethod{
	"createWebhook": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		in, err := DecodeCreate(a.list[0])
		if err != nil {
			return nil, err
		}
		w, secret, err := s.CreateWebhook(ctx, in)
		if err != nil {
			return nil, err
		}
		out := w.json()
		out.SigningSecret = secret
		return out, nil
	}},
	"updateWebhook": {2, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "id")
		if err := a.err; err != nil {
			return nil, err
		}
		p, err := DecodePatch(a.list[1])
		if err != nil {
			return nil, err
		}
		w, err := s.UpdateWebhook(ctx, id, p)
		if err != nil {
			return nil, err
		}
		return w.json(), nil
	}},
	"deleteWebhook": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "id")
		if a.err != nil {
			return nil, a.err
		}
		return nil, s.DeleteWebhook(ctx, id)
	}},
	"getWebhook": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "id")
		if a.err != nil {
			return nil, a.err
		}
		w, err := s.GetWebhook(ctx, id)
		if err != nil || w == nil {
			return nil, err
		}
		return w.json(), nil
	}},
	"listWebhooks": {2, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		user, ws := a.str(0, "userId"), a.str(1, "workspaceId")
		if a.err != nil {
			return nil, a.err
		}
		return listJSON(s.ListWebhooks(ctx, user, ws))
	}},
	"listAdminWebhooks": {0, 0, func(s *Store, ctx context.Context, a *args) (any, error) {
		return listJSON(s.ListAdminWebhooks(ctx))
	}},
	"listWebhooksByEvent": {2, 3, func(s *Store, ctx context.Context, a *args) (any, error) {
		ev, scope, ws := a.str(0, "eventType"), a.str(1, "scope"), a.optStr(2, "workspaceId")
		if a.err != nil {
			return nil, a.err
		}
		return listJSON(s.ListWebhooksByEvent(ctx, ev, scope, ws))
	}},
	"listWebhooksByCustomHook": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		name := a.str(0, "name")
		if a.err != nil {
			return nil, a.err
		}
		return listJSON(s.ListWebhooksByCustomHook(ctx, name))
	}},
	"listActiveCustomHookNames": {0, 0, func(s *Store, ctx context.Context, a *args) (any, error) {
		return s.ListActiveCustomHookNames(ctx)
	}},
	"updateWebhookHealth": {2, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, h := a.str(0, "id"), a.str(1, "health")
		if a.err != nil {
			return nil, a.err
		}
		return nil, s.UpdateWebhookHealth(ctx, id, h)
	}},
	"disableAllWebhooks": {2, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		user, ws := a.str(0, "userId"), a.str(1, "workspaceId")
		if a.err != nil {
			return nil, a.err
		}
		return s.DisableAllWebhooks(ctx, user, ws)
	}},
	"createDeliveryLog": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		in, err := DecodeDeliveryInput(a.list[0])
		if err != nil {
			return nil, err
		}
		d, err := s.CreateDeliveryLog(ctx, in)
		if err != nil {
			return nil, err
		}
		return d.json(), nil
	}},
	"updateDeliveryLog": {2, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "id")
		if a.err != nil {
			return nil, a.err
		}
		p, err := DecodeDeliveryPatch(a.list[1])
		if err != nil {
			return nil, err
		}
		d, err := s.UpdateDeliveryLog(ctx, id, p)
		if err != nil {
			return nil, err
		}
		return d.json(), nil
	}},
	"getDeliveryLogs": {1, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, since := a.str(0, "webhookId"), a.optInt(1, "since")
		if a.err != nil {
			return nil, a.err
		}
		ds, err := s.GetDeliveryLogs(ctx, id, since)
		if err != nil {
			return nil, err
		}
		return deliveriesJSON(ds), nil
	}},
	"getRecentTerminalDeliveries": {2, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, limit := a.str(0, "webhookId"), a.num(1, "limit")
		if a.err != nil {
			return nil, a.err
		}
		ds, err := s.GetRecentTerminalDeliveries(ctx, id, clampInt(math.Floor(limit), 1, 1000))
		if err != nil {
			return nil, err
		}
		return deliveriesJSON(ds), nil
	}},
	"claimPendingDeliveries": {2, 2, func(s *Store, ctx context.Context, a *args) (any, error) {
		worker, limit := a.str(0, "workerId"), a.num(1, "limit")
		if a.err != nil {
			return nil, a.err
		}
		ds, err := s.ClaimPendingDeliveries(ctx, worker, clampInt(math.Floor(limit), 0, 1000))
		if err != nil {
			return nil, err
		}
		return deliveriesJSON(ds), nil
	}},
	"resetStaleInFlightDeliveries": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		ms := a.int(0, "olderThanMs")
		if a.err != nil {
			return nil, a.err
		}
		if ms < 0 {
			return nil, syncerr.Validation("olderThanMs must not be negative")
		}
		return s.ResetStaleInFlightDeliveries(ctx, time.Duration(ms)*time.Millisecond)
	}},
	"cancelDeliveriesByWebhook": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "webhookId")
		if a.err != nil {
			return nil, a.err
		}
		return s.CancelDeliveriesByWebhook(ctx, id)
	}},
	"deleteDeliveryLogsByWebhook": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "webhookId")
		if a.err != nil {
			return nil, a.err
		}
		return s.DeleteDeliveryLogsByWebhook(ctx, id)
	}},
	"purgeExpiredLogs": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		before := a.int(0, "beforeTs")
		if a.err != nil {
			return nil, a.err
		}
		return s.PurgeExpiredLogs(ctx, before)
	}},
	"emitEvent": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		in, err := DecodeEvent(a.list[0])
		if err != nil {
			return nil, err
		}
		id, n, err := s.EmitEvent(ctx, in)
		if err != nil {
			return nil, err
		}
		return map[string]any{"event_id": id, "deliveries": n}, nil
	}},
	"testWebhook": {1, 1, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "id")
		if a.err != nil {
			return nil, a.err
		}
		d, err := s.TestWebhook(ctx, id)
		if err != nil || d == nil {
			return nil, err
		}
		return d.json(), nil
	}},
}

func listJSON(ws []*Webhook, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return webhooksJSON(ws), nil
}

func clampInt(f float64, lo, hi int) int {
	if f < float64(lo) {
		return lo
	}
	if f > float64(hi) {
		return hi
	}
	return int(f)
}

// --- argument decoding ---

const maxSafeInt = 1<<53 - 1

type args struct {
	list []json.RawMessage
	err  error
}

func bad(format string, v ...any) error { return syncerr.Validation(format, v...) }

func isNull(r json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(r), []byte("null")) }

func strict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// parseArgs decodes the argument array; trailing nulls (undefined) are
// dropped before counting.
func parseArgs(raw json.RawMessage, min, max int) (*args, error) {
	var list []json.RawMessage
	if err := strict(raw, &list); err != nil || (list == nil && !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("["))) {
		return nil, bad("arguments must be a JSON array")
	}
	for len(list) > min && isNull(list[len(list)-1]) {
		list = list[:len(list)-1]
	}
	if len(list) < min || len(list) > max {
		return nil, bad("want %d to %d arguments, got %d", min, max, len(list))
	}
	return &args{list: list}, nil
}

func (a *args) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (a *args) str(i int, name string) string {
	var s string
	if i >= len(a.list) || strict(a.list[i], &s) != nil || isNull(a.list[i]) {
		a.fail(bad("%s must be a string", name))
	}
	return s
}

func (a *args) optStr(i int, name string) string {
	if i >= len(a.list) || isNull(a.list[i]) {
		return ""
	}
	return a.str(i, name)
}

func decodeNum(r json.RawMessage) (float64, bool) {
	if t := bytes.TrimSpace(r); len(t) == 0 || t[0] == '"' {
		return 0, false
	}
	var n json.Number
	if strict(r, &n) != nil {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

func (a *args) num(i int, name string) float64 {
	if i >= len(a.list) {
		a.fail(bad("%s must be a number", name))
		return 0
	}
	f, ok := decodeNum(a.list[i])
	if !ok {
		a.fail(bad("%s must be a number", name))
	}
	return f
}

func (a *args) int(i int, name string) int64 {
	f := a.num(i, name)
	if f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
		a.fail(bad("%s must be an integer", name))
		return 0
	}
	return int64(f)
}

func (a *args) optInt(i int, name string) int64 {
	if i >= len(a.list) || isNull(a.list[i]) {
		return 0
	}
	return a.int(i, name)
}

// obj is a decoded JSON object whose fields are read one by one.
type obj struct {
	m   map[string]json.RawMessage
	err error
}

func decodeObj(r json.RawMessage, what string) (*obj, error) {
	var m map[string]json.RawMessage
	if err := strict(r, &m); err != nil || m == nil {
		return nil, bad("%s must be an object", what)
	}
	return &obj{m: m}, nil
}

func (o *obj) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// has reports whether key is present (null included).
func (o *obj) has(k string) bool { _, ok := o.m[k]; return ok }

// null reports whether key is present and null.
func (o *obj) null(k string) bool { r, ok := o.m[k]; return ok && isNull(r) }

func (o *obj) str(k string, required bool) string {
	r, ok := o.m[k]
	if !ok || isNull(r) {
		if required {
			o.fail(bad("%s is required", k))
		}
		return ""
	}
	var s string
	if strict(r, &s) != nil {
		o.fail(bad("%s must be a string", k))
	}
	return s
}

func (o *obj) strp(k string) *string {
	if !o.has(k) || o.null(k) {
		return nil
	}
	s := o.str(k, false)
	return &s
}

func (o *obj) strs(k string) *[]string {
	r, ok := o.m[k]
	if !ok || isNull(r) {
		return nil
	}
	var out []string
	if strict(r, &out) != nil {
		o.fail(bad("%s must be an array of strings", k))
		return nil
	}
	if out == nil {
		out = []string{}
	}
	return &out
}

func (o *obj) boolp(k string) *bool {
	r, ok := o.m[k]
	if !ok || isNull(r) {
		return nil
	}
	var b bool
	if strict(r, &b) != nil {
		o.fail(bad("%s must be a boolean", k))
	}
	return &b
}

func (o *obj) intp(k string) *int64 {
	r, ok := o.m[k]
	if !ok || isNull(r) {
		return nil
	}
	f, okNum := decodeNum(r)
	if !okNum || f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
		o.fail(bad("%s must be an integer", k))
		return nil
	}
	v := int64(f)
	return &v
}

// DecodeCreate decodes createWebhook's fields object.
func DecodeCreate(r json.RawMessage) (CreateInput, error) {
	o, err := decodeObj(r, "fields")
	if err != nil {
		return CreateInput{}, err
	}
	in := CreateInput{
		Scope: o.str("scope", true), UserID: o.str("user_id", false), WorkspaceID: o.str("workspace_id", false),
		URL: o.str("url", true), Label: o.str("label", false), Enabled: o.boolp("enabled"),
		SigningSecret: o.str("signing_secret", false),
	}
	if ev := o.strs("events"); ev != nil {
		in.Events = *ev
	} else {
		o.fail(bad("events is required"))
	}
	if ch := o.strs("custom_hooks"); ch != nil {
		in.CustomHooks = *ch
	}
	return in, o.err
}

// DecodePatch decodes updateWebhook's patch object.
func DecodePatch(r json.RawMessage) (Patch, error) {
	o, err := decodeObj(r, "patch")
	if err != nil {
		return Patch{}, err
	}
	p := Patch{URL: o.strp("url"), Label: o.strp("label"), Events: o.strs("events"),
		CustomHooks: o.strs("custom_hooks"), Enabled: o.boolp("enabled")}
	if o.has("workspace_id") {
		ws := o.str("workspace_id", false) // null clears it
		p.WorkspaceID = &ws
	}
	return p, o.err
}

// DecodeDeliveryInput decodes createDeliveryLog's log object.
func DecodeDeliveryInput(r json.RawMessage) (DeliveryInput, error) {
	o, err := decodeObj(r, "log")
	if err != nil {
		return DeliveryInput{}, err
	}
	in := DeliveryInput{WebhookID: o.str("webhook_id", true), EventID: o.str("event_id", true),
		EventType: o.str("event_type", true), RequestPayload: o.str("request_payload", false),
		Status: o.str("status", false), NextRetryAtMs: o.intp("next_retry_at"), ErrorMessage: o.strp("error_message")}
	if a := o.intp("attempt"); a != nil {
		in.Attempt = *a
	}
	return in, o.err
}

// DecodeDeliveryPatch decodes updateDeliveryLog's patch: absent keys are
// kept, explicit nulls clear.
func DecodeDeliveryPatch(r json.RawMessage) (DeliveryPatch, error) {
	o, err := decodeObj(r, "patch")
	if err != nil {
		return DeliveryPatch{}, err
	}
	var p DeliveryPatch
	if o.has("status") {
		st := o.str("status", true)
		p.Status = &st
	}
	p.Attempt = o.intp("attempt")
	p.SetClaimedBy, p.ClaimedBy = o.has("claimed_by"), o.strp("claimed_by")
	p.SetErrorMessage, p.ErrorMessage = o.has("error_message"), o.strp("error_message")
	p.SetResponseBody, p.ResponseBody = o.has("response_body"), o.strp("response_body")
	p.SetClaimedAt, p.ClaimedAtMs = o.has("claimed_at"), o.intp("claimed_at")
	p.SetHTTPStatus, p.HTTPStatus = o.has("http_status"), o.intp("http_status")
	p.SetDurationMs, p.DurationMs = o.has("duration_ms"), o.intp("duration_ms")
	p.SetNextRetryAt, p.NextRetryAtMs = o.has("next_retry_at"), o.intp("next_retry_at")
	if p.ResponseBody != nil {
		*p.ResponseBody = truncateChars(*p.ResponseBody, maxResponseBody)
	}
	if p.ErrorMessage != nil && len(*p.ErrorMessage) > 4096 {
		*p.ErrorMessage = truncateChars(*p.ErrorMessage, 4096)
	}
	return p, o.err
}

// DecodeEvent decodes emitEvent's object.
func DecodeEvent(r json.RawMessage) (EventInput, error) {
	o, err := decodeObj(r, "event")
	if err != nil {
		return EventInput{}, err
	}
	in := EventInput{Event: o.str("event", false), WorkspaceID: o.str("workspace_id", false),
		UserID: o.str("user_id", false), Scope: o.str("scope", false), CustomHook: o.str("custom_hook", false)}
	if in.Event == "" && in.CustomHook == "" {
		o.fail(bad("event or custom_hook is required"))
	}
	if raw, ok := o.m["data"]; ok && !isNull(raw) {
		var v any
		if strict(raw, &v) != nil {
			o.fail(bad("data must be JSON"))
		}
		in.Data = v
	}
	if raw, ok := o.m["args"]; ok && in.CustomHook != "" {
		var v []any
		if strict(raw, &v) != nil {
			o.fail(bad("args must be an array"))
		}
		in.Data = map[string]any{"args": v}
	}
	return in, o.err
}
