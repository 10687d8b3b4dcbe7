package webhooks

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	synclog "github.com/or3/syncd/log"
)

// Scopes of a registration.
const (
	ScopeUser  = "user"
	ScopeAdmin = "admin"
)

// Health values.
const (
	HealthUnknown = "unknown"
	HealthHealthy = "healthy"
	HealthFailing = "failing"
)

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusInFlight  = "in_flight"
	StatusSuccess   = "success"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Webhook is a registration (value of log.PrefixWebhook | id). Empty
// UserID/WorkspaceID stand for null.
type Webhook struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID          string
	Scope       string
	UserID      string
	WorkspaceID string
	URL         string
	Label       string
	Events      []string
	CustomHooks []string
	SecretEnc   string // EncryptSecret of the signing secret
	Enabled     bool
	Health      string
	CreatedAtMs int64
	UpdatedAtMs int64
}

// DeliveryState is the mutable part of a delivery log. Nil pointers are
// null.
type DeliveryState struct {
	_msgpack struct{} `msgpack:",as_array"`

	Attempt       int64
	Status        string
	ClaimedBy     *string
	ClaimedAtMs   *int64
	HTTPStatus    *int64
	ErrorMessage  *string
	ResponseBody  *string
	DurationMs    *int64
	NextRetryAtMs *int64
}

// Delivery is one delivery log: the durable queue entry and its history
// (value of log.PrefixDelivery | webhookId | id). RequestPayload is the
// exact signed body. It is kept once, in the webhook.delivery event that
// created the log: the state record leaves it empty and names that event
// in PayloadSeq, so claims and outcomes, which rewrite the record, do not
// copy the payload again and again.
type Delivery struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID             string
	WebhookID      string
	EventID        string
	EventType      string
	RequestPayload string
	CreatedAtMs    int64
	State          DeliveryState
	PayloadSeq     uint64 // the system seq of the creating event (state records only)
}

// stateRecord is d as its state record stores it: without the payload,
// pointing at the event seq that holds it.
func (d *Delivery) stateRecord(seq uint64) *Delivery {
	cp := *d
	cp.RequestPayload, cp.PayloadSeq = "", seq
	return &cp
}

// loadPayload fills d.RequestPayload from the event that created it.
func loadPayload(r synclog.Reader, d *Delivery) error {
	if d.RequestPayload != "" || d.PayloadSeq == 0 {
		return nil
	}
	key := synclog.SystemKey(d.PayloadSeq)
	var ev synclog.SystemEvent
	found, err := synclog.GetRecord(r, key, &ev)
	if err != nil || !found {
		return err // collected: the payload is gone with it
	}
	var orig Delivery
	if err := synclog.Decode(key, ev.Body, &orig); err != nil {
		return err
	}
	d.RequestPayload = orig.RequestPayload
	return nil
}

func webhookKey(id string) []byte { return synclog.NewKey(synclog.PrefixWebhook).Raw(id) }

// deliveryKey: a webhook's deliveries are one key range, in id order
// (time-ordered UUIDv7), so per-webhook reads and deletes are range
// operations.
func deliveryKey(webhookID, id string) []byte {
	return synclog.NewKey(synclog.PrefixDelivery).Str(webhookID).Raw(id)
}

func deliveryPrefix(webhookID string) []byte {
	return synclog.NewKey(synclog.PrefixDelivery).Str(webhookID)
}

func strp(s string) *string { return &s }
func i64p(v int64) *int64   { return &v }

// webhookJSON is a registration as RPC answers show it (api.md Decisions
// 9: snake_case field names of side-modules §5.1). The secret is never in
// it.
type webhookJSON struct {
	ID          string   `json:"id"`
	Scope       string   `json:"scope"`
	UserID      *string  `json:"user_id"`
	WorkspaceID *string  `json:"workspace_id"`
	URL         string   `json:"url"`
	Label       string   `json:"label"`
	Events      []string `json:"events"`
	CustomHooks []string `json:"custom_hooks"`
	Enabled     bool     `json:"enabled"`
	Health      string   `json:"health"`
	CreatedAt   int64    `json:"created_at"`
	UpdatedAt   int64    `json:"updated_at"`
	// SigningSecret is set only in createWebhook's answer.
	SigningSecret string `json:"signing_secret,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (w *Webhook) json() webhookJSON {
	ev, ch := w.Events, w.CustomHooks
	if ev == nil {
		ev = []string{}
	}
	if ch == nil {
		ch = []string{}
	}
	return webhookJSON{ID: w.ID, Scope: w.Scope, UserID: nullable(w.UserID), WorkspaceID: nullable(w.WorkspaceID),
		URL: w.URL, Label: w.Label, Events: ev, CustomHooks: ch, Enabled: w.Enabled, Health: w.Health,
		CreatedAt: w.CreatedAtMs, UpdatedAt: w.UpdatedAtMs}
}

// deliveryJSON is a delivery log as RPC answers show it.
type deliveryJSON struct {
	ID             string  `json:"id"`
	WebhookID      string  `json:"webhook_id"`
	EventID        string  `json:"event_id"`
	EventType      string  `json:"event_type"`
	Attempt        int64   `json:"attempt"`
	Status         string  `json:"status"`
	ClaimedBy      *string `json:"claimed_by"`
	ClaimedAt      *int64  `json:"claimed_at"`
	HTTPStatus     *int64  `json:"http_status"`
	ErrorMessage   *string `json:"error_message"`
	RequestPayload string  `json:"request_payload"`
	ResponseBody   *string `json:"response_body"`
	DurationMs     *int64  `json:"duration_ms"`
	NextRetryAt    *int64  `json:"next_retry_at"`
	CreatedAt      int64   `json:"created_at"`
}

func (d *Delivery) json() deliveryJSON {
	s := d.State
	return deliveryJSON{ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType,
		Attempt: s.Attempt, Status: s.Status, ClaimedBy: s.ClaimedBy, ClaimedAt: s.ClaimedAtMs,
		HTTPStatus: s.HTTPStatus, ErrorMessage: s.ErrorMessage, RequestPayload: d.RequestPayload,
		ResponseBody: s.ResponseBody, DurationMs: s.DurationMs, NextRetryAt: s.NextRetryAtMs, CreatedAt: d.CreatedAtMs}
}

func deliveriesJSON(ds []*Delivery) []deliveryJSON {
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = d.json()
	}
	return out
}

func webhooksJSON(ws []*Webhook) []webhookJSON {
	out := make([]webhookJSON, len(ws))
	for i, w := range ws {
		out[i] = w.json()
	}
	return out
}
