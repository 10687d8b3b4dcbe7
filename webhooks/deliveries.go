package webhooks

import (
	"context"
	"fmt"
	"sort"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// maxResponseBody bounds the response body kept in a delivery log
// (characters, as the spec counts them).
const maxResponseBody = 4096

// purgeBatch bounds the logs one purge event deletes, maxPurge the logs
// one purge call deletes (one batch).
const (
	purgeBatch = 1000
	maxPurge   = 20_000
)

// DeliveryInput is createDeliveryLog's argument. Attempt 0 means 1;
// Status "" means pending; a pending log without NextRetryAtMs is due now.
type DeliveryInput struct {
	WebhookID      string
	EventID        string
	EventType      string
	RequestPayload string
	Attempt        int64
	Status         string
	NextRetryAtMs  *int64
	ErrorMessage   *string
}

// DeliveryPatch is updateDeliveryLog's argument: a nil Set* leaves the
// field alone; Set with a nil value clears it (explicit null).
type DeliveryPatch struct {
	Status                        *string
	Attempt                       *int64
	SetClaimedBy, SetErrorMessage bool
	ClaimedBy, ErrorMessage       *string
	SetResponseBody               bool
	ResponseBody                  *string
	SetClaimedAt, SetHTTPStatus   bool
	ClaimedAtMs, HTTPStatus       *int64
	SetDurationMs, SetNextRetryAt bool
	DurationMs, NextRetryAtMs     *int64
}

func validStatus(s string) bool {
	switch s {
	case StatusPending, StatusInFlight, StatusSuccess, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// CreateDeliveryLog writes a delivery log for an existing webhook.
func (s *Store) CreateDeliveryLog(ctx context.Context, in DeliveryInput) (*Delivery, error) {
	if in.Status == "" {
		in.Status = StatusPending
	}
	if !validStatus(in.Status) {
		return nil, validation("status is invalid")
	}
	if in.Attempt == 0 {
		in.Attempt = 1
	}
	if in.Attempt < 1 || in.Attempt > 1000 {
		return nil, validation("attempt must be a positive integer")
	}
	if err := checkID("event_id", in.EventID, true); err != nil {
		return nil, err
	}
	if len(in.EventType) > maxNameLen || !eventNameRE.MatchString(in.EventType) {
		return nil, validation("event_type is malformed")
	}
	if len(in.RequestPayload) > maxPayloadSize {
		return nil, syncerr.Oversized("request_payload is larger than %d bytes", maxPayloadSize)
	}
	var d *Delivery
	err := s.write(ctx, "", func(t *txn) error {
		if s.hooks[in.WebhookID] == nil {
			return notFound(in.WebhookID)
		}
		next := in.NextRetryAtMs
		if next == nil && in.Status == StatusPending {
			next = i64p(t.atMs)
		}
		d = &Delivery{ID: s.newID(t.atMs), WebhookID: in.WebhookID, EventID: in.EventID, EventType: in.EventType,
			RequestPayload: in.RequestPayload, CreatedAtMs: t.atMs,
			State: DeliveryState{Attempt: in.Attempt, Status: in.Status, NextRetryAtMs: next, ErrorMessage: in.ErrorMessage}}
		return t.emit(evDeliveryPut, d)
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return d, nil
}

// UpdateDeliveryLog patches a delivery log. Any status other than
// in_flight clears the claim.
func (s *Store) UpdateDeliveryLog(ctx context.Context, id string, p DeliveryPatch) (*Delivery, error) {
	if p.Status != nil && !validStatus(*p.Status) {
		return nil, validation("status is invalid")
	}
	var out *Delivery
	err := s.write(ctx, "", func(t *txn) error {
		wid, ok := s.where[id]
		if !ok {
			return syncerr.NotFound("Delivery log not found: %s", id)
		}
		d, err := getDelivery(t.b, wid, id)
		if err != nil || d == nil {
			return internal(fmt.Errorf("delivery %s: %v", id, err), "read")
		}
		st := d.State
		if p.Status != nil {
			st.Status = *p.Status
		}
		if p.Attempt != nil {
			st.Attempt = *p.Attempt
		}
		if p.SetClaimedBy {
			st.ClaimedBy = p.ClaimedBy
		}
		if p.SetClaimedAt {
			st.ClaimedAtMs = p.ClaimedAtMs
		}
		if p.SetHTTPStatus {
			st.HTTPStatus = p.HTTPStatus
		}
		if p.SetErrorMessage {
			st.ErrorMessage = p.ErrorMessage
		}
		if p.SetResponseBody {
			st.ResponseBody = p.ResponseBody
		}
		if p.SetDurationMs {
			st.DurationMs = p.DurationMs
		}
		if p.SetNextRetryAt {
			st.NextRetryAtMs = p.NextRetryAtMs
		}
		if st.Status != StatusInFlight {
			st.ClaimedBy, st.ClaimedAtMs = nil, nil
		}
		d.State = st
		out = d
		if err := loadPayload(t.b, d); err != nil {
			return internal(err, "read payload")
		}
		return t.emit(evDeliveryState, &deliveryStateBody{WebhookID: wid, ID: id, State: st})
	})
	return out, err
}

func newestFirst(ds []*Delivery) {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].CreatedAtMs != ds[j].CreatedAtMs {
			return ds[i].CreatedAtMs > ds[j].CreatedAtMs
		}
		return ds[i].ID > ds[j].ID
	})
}

// GetDeliveryLogs returns a webhook's logs created at or after sinceMs,
// newest first.
func (s *Store) GetDeliveryLogs(_ context.Context, webhookID string, sinceMs int64) ([]*Delivery, error) {
	var out []*Delivery
	err := s.read(func(v *synclog.View) error {
		// Newest first, walking back until the logs are older than since.
		p := deliveryPrefix(webhookID)
		it, err := v.NewIter(p, synclog.PrefixEnd(p))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.Last(); ok; ok = it.Prev() {
			d := new(Delivery)
			if err := synclog.Decode(it.Key(), it.Value(), d); err != nil {
				return err
			}
			if d.CreatedAtMs < sinceMs {
				break
			}
			if err := loadPayload(v, d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return it.Error()
	})
	if err != nil {
		return nil, internal(err, "read")
	}
	newestFirst(out)
	return out, nil
}

// recentTerminal returns the last limit success/failed logs, newest first.
// Delivery ids are UUIDv7 of the store's clock with a counter, so a
// webhook's key range is in creation order: it walks back from the newest
// and stops at the limit (no scan of the history).
func recentTerminal(r synclog.Reader, webhookID string, limit int) ([]*Delivery, error) {
	p := deliveryPrefix(webhookID)
	it, err := r.NewIter(p, synclog.PrefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []*Delivery{}
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		d := new(Delivery)
		if err := synclog.Decode(it.Key(), it.Value(), d); err != nil {
			return nil, err
		}
		if d.State.Status == StatusSuccess || d.State.Status == StatusFailed {
			out = append(out, d)
		}
	}
	return out, it.Error()
}

// GetRecentTerminalDeliveries returns the last max(1, limit) finished
// (success or failed) logs of a webhook, newest first.
func (s *Store) GetRecentTerminalDeliveries(_ context.Context, webhookID string, limit int) ([]*Delivery, error) {
	var out []*Delivery
	err := s.read(func(v *synclog.View) (err error) {
		if out, err = recentTerminal(v, webhookID, max(1, limit)); err != nil {
			return err
		}
		for _, d := range out {
			if err := loadPayload(v, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, internal(err, "read")
	}
	return out, nil
}

// healthOf is §5.5's rule over the last three finished deliveries: none →
// unknown; any failed → failing; three successes → healthy; else unknown.
func healthOf(last []*Delivery) string {
	if len(last) == 0 {
		return HealthUnknown
	}
	for _, d := range last {
		if d.State.Status == StatusFailed {
			return HealthFailing
		}
	}
	if len(last) == 3 {
		return HealthHealthy
	}
	return HealthUnknown
}

// recomputeHealth updates a webhook's health from its finished deliveries
// as the batch has them.
func (t *txn) recomputeHealth(webhookID string) error {
	last, err := recentTerminal(t.b, webhookID, 3)
	if err != nil {
		return err
	}
	w, err := getWebhook(t.b, webhookID)
	if err != nil || w == nil {
		return err
	}
	if h := healthOf(last); h != w.Health {
		w.Health, w.UpdatedAtMs = h, t.atMs
		return t.emit(evPut, w)
	}
	return nil
}

// Claim is one claimed delivery: the fence its outcome must present.
type Claim struct {
	Delivery Delivery
	Worker   string
	AtMs     int64
}

// ClaimPendingDeliveries atomically takes up to limit pending logs due at
// now (next_retry_at null or ≤ now), oldest next_retry_at then created_at
// first, and marks them in flight for workerID.
func (s *Store) ClaimPendingDeliveries(ctx context.Context, workerID string, limit int) ([]*Delivery, error) {
	claims, err := s.claim(ctx, workerID, limit)
	out := make([]*Delivery, len(claims))
	for i := range claims {
		out[i] = &claims[i].Delivery
	}
	return out, err
}

func (s *Store) claim(ctx context.Context, workerID string, limit int) ([]Claim, error) {
	if limit <= 0 {
		return []Claim{}, nil
	}
	if err := checkID("workerId", workerID, true); err != nil {
		return nil, err
	}
	var out []Claim
	err := s.write(ctx, workerID, func(t *txn) error {
		type cand struct {
			id string
			a  *activeRef
		}
		var due []cand
		for id, a := range s.active {
			if a.status == StatusPending && a.nextRetryMs <= t.atMs {
				due = append(due, cand{id, a})
			}
		}
		sort.Slice(due, func(i, j int) bool {
			a, b := due[i].a, due[j].a
			if a.nextRetryMs != b.nextRetryMs {
				return a.nextRetryMs < b.nextRetryMs
			}
			if a.createdMs != b.createdMs {
				return a.createdMs < b.createdMs
			}
			return due[i].id < due[j].id
		})
		if len(due) > limit {
			due = due[:limit]
		}
		for _, c := range due {
			d, err := getDelivery(t.b, c.a.webhookID, c.id)
			if err != nil {
				return internal(err, "read")
			}
			if d == nil {
				continue
			}
			d.State.Status = StatusInFlight
			d.State.ClaimedBy, d.State.ClaimedAtMs = strp(workerID), i64p(t.atMs)
			if err := t.emit(evDeliveryState, &deliveryStateBody{WebhookID: d.WebhookID, ID: d.ID, State: d.State}); err != nil {
				return err
			}
			if err := loadPayload(t.b, d); err != nil {
				return internal(err, "read payload")
			}
			out = append(out, Claim{Delivery: *d, Worker: workerID, AtMs: t.atMs})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Claim{}
	}
	return out, nil
}

// ResetStaleInFlightDeliveries puts logs in flight since before now −
// olderThan back to pending (claim cleared) and returns how many.
func (s *Store) ResetStaleInFlightDeliveries(ctx context.Context, olderThan time.Duration) (int, error) {
	n := 0
	err := s.write(ctx, "", func(t *txn) error {
		cutoff := t.atMs - olderThan.Milliseconds()
		for id, a := range s.active {
			if a.status != StatusInFlight || a.claimedAtMs >= cutoff {
				continue
			}
			d, err := getDelivery(t.b, a.webhookID, id)
			if err != nil {
				return internal(err, "read")
			}
			if d == nil {
				continue
			}
			d.State.Status = StatusPending
			d.State.ClaimedBy, d.State.ClaimedAtMs = nil, nil
			if d.State.NextRetryAtMs == nil {
				d.State.NextRetryAtMs = i64p(t.atMs)
			}
			if err := t.emit(evDeliveryState, &deliveryStateBody{WebhookID: d.WebhookID, ID: d.ID, State: d.State}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.log.Info("stale in-flight deliveries returned to pending", "count", n)
		s.wake()
	}
	return n, nil
}

// CancelDeliveriesByWebhook cancels a webhook's pending and in-flight logs
// (claim and next_retry_at cleared) and returns how many.
func (s *Store) CancelDeliveriesByWebhook(ctx context.Context, webhookID string) (int, error) {
	n := 0
	err := s.write(ctx, "", func(t *txn) error {
		for id, a := range s.active {
			if a.webhookID != webhookID {
				continue
			}
			if err := t.cancel(a.webhookID, id, ""); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// cancel marks one log cancelled.
func (t *txn) cancel(webhookID, id, msg string) error {
	d, err := getDelivery(t.b, webhookID, id)
	if err != nil || d == nil {
		return err
	}
	d.State.Status = StatusCancelled
	d.State.ClaimedBy, d.State.ClaimedAtMs, d.State.NextRetryAtMs = nil, nil, nil
	if msg != "" {
		d.State.ErrorMessage = strp(msg)
	}
	return t.emit(evDeliveryState, &deliveryStateBody{WebhookID: webhookID, ID: id, State: d.State})
}

// DeleteDeliveryLogsByWebhook deletes a webhook's logs and returns how many.
func (s *Store) DeleteDeliveryLogsByWebhook(ctx context.Context, webhookID string) (int, error) {
	n := 0
	err := s.write(ctx, "", func(t *txn) error {
		var refs []deliveryRef
		for id, wid := range s.where {
			if wid == webhookID {
				refs = append(refs, deliveryRef{WebhookID: wid, ID: id})
			}
		}
		n = len(refs)
		return t.deleteRefs(refs)
	})
	return n, err
}

func (t *txn) deleteRefs(refs []deliveryRef) error {
	sort.Slice(refs, func(i, j int) bool { return refs[i].ID < refs[j].ID })
	for len(refs) > 0 {
		k := min(len(refs), purgeBatch)
		if err := t.emit(evDeliveryDelete, &deliveryDeleteBody{Refs: refs[:k]}); err != nil {
			return err
		}
		refs = refs[k:]
	}
	return nil
}

// PurgeExpiredLogs deletes logs created before beforeMs (never one still
// pending or in flight) and returns how many.
func (s *Store) PurgeExpiredLogs(ctx context.Context, beforeMs int64) (int, error) {
	// Which logs are old is read from the durable view (created_at is
	// immutable); the delete is decided under the lock.
	var old []deliveryRef
	err := s.read(func(v *synclog.View) error {
		lo := []byte{synclog.PrefixDelivery}
		it, err := v.NewIter(lo, synclog.PrefixEnd(lo))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			var d Delivery
			if err := synclog.Decode(it.Key(), it.Value(), &d); err != nil {
				return err
			}
			if d.CreatedAtMs < beforeMs {
				old = append(old, deliveryRef{WebhookID: d.WebhookID, ID: d.ID})
				if len(old) == maxPurge {
					break // the rest on the next run
				}
			}
		}
		return it.Error()
	})
	if err != nil {
		return 0, internal(err, "read")
	}
	n := 0
	err = s.write(ctx, "", func(t *txn) error {
		var refs []deliveryRef
		for _, r := range old {
			if _, live := s.where[r.ID]; !live {
				continue
			}
			if _, active := s.active[r.ID]; active {
				continue
			}
			refs = append(refs, r)
		}
		n = len(refs)
		return t.deleteRefs(refs)
	})
	return n, err
}

// rateAllowed is the per-webhook enqueue limit: a fixed 60 s window in
// memory. It returns the window's end when refused. Call under s.mu.
func (s *Store) rateAllowed(webhookID string, nowMs int64) (bool, int64) {
	if s.cfg.RateLimitPerMinute < 0 {
		return true, 0
	}
	w := s.rate[webhookID]
	if w == nil || nowMs >= w.startMs+60_000 {
		s.rate[webhookID] = &rateWindow{startMs: nowMs, count: 1}
		return true, 0
	}
	if w.count >= int64(s.cfg.RateLimitPerMinute) {
		return false, w.startMs + 60_000
	}
	w.count++
	return true, 0
}

// enqueue writes one delivery of body to w: pending and due now, or — past
// the webhook's rate limit — cancelled with "Rate limit exceeded. Retry
// after <ISO>" and next_retry_at at the window's end. Call inside write.
func (t *txn) enqueue(w *Webhook, eventID, eventType string, body []byte) error {
	d := &Delivery{ID: t.s.newID(t.atMs), WebhookID: w.ID, EventID: eventID, EventType: eventType,
		RequestPayload: string(body), CreatedAtMs: t.atMs,
		State: DeliveryState{Attempt: 1, Status: StatusPending, NextRetryAtMs: i64p(t.atMs)}}
	if ok, resetMs := t.s.rateAllowed(w.ID, t.atMs); !ok {
		d.State.Status = StatusCancelled
		d.State.NextRetryAtMs = i64p(resetMs)
		d.State.ErrorMessage = strp("Rate limit exceeded. Retry after " + time.UnixMilli(resetMs).UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return t.emit(evDeliveryPut, d)
}

// Outcome is the result of one delivery attempt.
type Outcome struct {
	HTTPStatus   int64 // 0 when no response
	Err          string
	ResponseBody string
	Duration     time.Duration
	// NoRetry fails the delivery for good (a secret that does not decrypt).
	NoRetry bool
	// Cancel cancels it (webhook missing or disabled).
	Cancel bool
}

// success reports a 2xx answer.
func (o Outcome) success() bool { return !o.Cancel && o.HTTPStatus >= 200 && o.HTTPStatus < 300 }

// Record writes a claimed delivery's outcome (§5.5): success; a retry at
// now + RetryDelays[attempt] while attempts remain and the retry falls
// before created_at + MaxRetry; else failed. Terminal outcomes recompute
// the webhook's health. The write is fenced by the claim: if the log is
// no longer in flight under this claim (the reaper re-queued it, the
// webhook was cancelled), the outcome is dropped and Record returns false.
func (s *Store) Record(ctx context.Context, c Claim, o Outcome) (recorded bool, err error) {
	var failed *Delivery
	var hook Webhook
	err = s.write(ctx, c.Worker, func(t *txn) error {
		d, err := getDelivery(t.b, c.Delivery.WebhookID, c.Delivery.ID)
		if err != nil {
			return internal(err, "read")
		}
		if d == nil || d.State.Status != StatusInFlight || d.State.ClaimedBy == nil || *d.State.ClaimedBy != c.Worker ||
			d.State.ClaimedAtMs == nil || *d.State.ClaimedAtMs != c.AtMs {
			return nil
		}
		recorded = true
		if o.Cancel {
			return t.cancel(d.WebhookID, d.ID, o.Err)
		}
		st := d.State
		st.ClaimedBy, st.ClaimedAtMs = nil, nil
		st.DurationMs = i64p(o.Duration.Milliseconds())
		st.HTTPStatus, st.ResponseBody, st.ErrorMessage = nil, nil, nil
		if o.HTTPStatus != 0 {
			st.HTTPStatus = i64p(o.HTTPStatus)
		}
		if o.ResponseBody != "" {
			st.ResponseBody = strp(truncateChars(o.ResponseBody, maxResponseBody))
		}
		if o.Err != "" {
			st.ErrorMessage = strp(o.Err)
		}
		switch {
		case o.success():
			st.Status, st.NextRetryAtMs = StatusSuccess, nil
		default:
			next := int64(-1)
			if !o.NoRetry && st.Attempt < MaxAttempts {
				next = t.atMs + RetryDelays[st.Attempt].Milliseconds()
				if next > d.CreatedAtMs+s.cfg.MaxRetry.Milliseconds() {
					next = -1
				}
			}
			if next >= 0 {
				st.Status, st.Attempt, st.NextRetryAtMs = StatusPending, st.Attempt+1, i64p(next)
			} else {
				st.Status, st.NextRetryAtMs = StatusFailed, nil
			}
		}
		d.State = st
		if err := t.emit(evDeliveryState, &deliveryStateBody{WebhookID: d.WebhookID, ID: d.ID, State: st}); err != nil {
			return err
		}
		if st.Status == StatusFailed {
			failed = d
			if w := s.hooks[d.WebhookID]; w != nil {
				hook = *w
			}
		}
		if st.Status == StatusSuccess || st.Status == StatusFailed {
			return t.recomputeHealth(d.WebhookID)
		}
		return nil
	})
	if err == nil && failed != nil && s.cfg.OnFailed != nil && hook.ID != "" {
		s.cfg.OnFailed(hook, *failed)
	}
	return recorded, err
}

func truncateChars(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
