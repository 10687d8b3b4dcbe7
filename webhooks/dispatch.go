package webhooks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// UserAgent is sent with every delivery.
const UserAgent = "OR3-Webhooks/1.0"

// RunOnce is one dispatcher pass: it claims up to Config.BatchSize due
// deliveries for this worker, sends them (Config.Concurrency at a time)
// and records each outcome. It returns how many it claimed.
func (s *Store) RunOnce(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err // shutting down: claim nothing more
	}
	claims, err := s.claim(ctx, s.workerID, s.cfg.BatchSize)
	if err != nil || len(claims) == 0 {
		return 0, err
	}
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, c := range claims {
		sem <- struct{}{}
		wg.Add(1)
		go func(c Claim) {
			defer func() { <-sem; wg.Done() }()
			o := s.Deliver(ctx, &c.Delivery)
			if ctx.Err() != nil && !o.success() {
				// Shutdown cut the attempt short: leave the claim for the
				// reaper rather than spend an attempt on it.
				return
			}
			// The outcome is recorded even when ctx ends (shutdown): the
			// request already went out.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := s.Record(rctx, c, o); err != nil {
				s.log.Warn("delivery outcome not recorded; the reaper will retry it", "delivery", c.Delivery.ID, "err", err)
			}
		}(c)
	}
	wg.Wait()
	return len(claims), nil
}

// Deliver sends one delivery attempt and reports its outcome; it does not
// write. A missing or disabled webhook cancels; a secret that does not
// decrypt fails without retry.
func (s *Store) Deliver(ctx context.Context, d *Delivery) Outcome {
	s.mu.Lock()
	w := s.hooks[d.WebhookID]
	var hook Webhook
	if w != nil {
		hook = *w
	}
	s.mu.Unlock()
	if w == nil || !hook.Enabled {
		return Outcome{Cancel: true, Err: "Webhook missing or disabled"}
	}
	secret, err := DecryptSecret(s.cfg.EncryptionKey, hook.SecretEnc)
	if err != nil {
		return Outcome{NoRetry: true, Err: err.Error()}
	}
	if err := ValidateURL(hook.URL, s.cfg.AllowPrivate); err != nil {
		return Outcome{NoRetry: true, Err: "Invalid webhook url: " + err.Error()}
	}
	if d.RequestPayload == "" && d.PayloadSeq != 0 {
		return Outcome{NoRetry: true, Err: "request payload no longer in the log"}
	}
	body := []byte(d.RequestPayload)
	ts := s.cfg.Now().Unix()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return Outcome{NoRetry: true, Err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("X-OR3-Event", d.EventType)
	req.Header.Set("X-OR3-Event-ID", d.EventID)
	req.Header.Set("X-OR3-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-OR3-Signature", Sign(secret, ts, body))
	req.Header.Set("X-OR3-Delivery-ID", d.ID)
	req.Header.Set("X-OR3-Attempt", strconv.FormatInt(d.State.Attempt, 10))
	start := time.Now()
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return Outcome{Err: deliveryErr(err), Duration: time.Since(start)}
	}
	defer resp.Body.Close()
	// Read a little more than is kept, so truncation cuts on characters.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody*4))
	o := Outcome{HTTPStatus: int64(resp.StatusCode), ResponseBody: string(raw), Duration: time.Since(start)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		o.Err = "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	return o
}

func deliveryErr(err error) string {
	switch {
	case errors.Is(err, ErrPrivateTarget):
		return ErrPrivateTarget.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "delivery timed out"
	}
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return msg
}

// Reap returns deliveries in flight for longer than Config.StaleAfter to
// pending (a worker that crashed or hung after claiming them).
func (s *Store) Reap(ctx context.Context) (int, error) {
	return s.ResetStaleInFlightDeliveries(ctx, s.cfg.StaleAfter)
}

// Purge deletes delivery logs older than Config.LogRetention.
func (s *Store) Purge(ctx context.Context) (int, error) {
	return s.PurgeExpiredLogs(ctx, s.cfg.Now().Add(-s.cfg.LogRetention).UnixMilli())
}

// wake tells the dispatcher there may be work now.
func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Start runs the background loops: the enqueuer (sync events →
// deliveries), the dispatcher (woken by new deliveries and every
// Config.PollEvery), the reaper and the log purge.
func (s *Store) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-s.stop; cancel() }()
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		// Catch up from the change log at once (ops a crash left without
		// deliveries), then every second write progress marks and retry a
		// failed catch-up.
		tick := time.NewTicker(markFlushEvery)
		defer tick.Stop()
		_, _ = s.DrainSync(ctx)
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				_, _ = s.DrainSync(ctx)
				continue
			case <-s.qsig:
			}
			// Linger briefly so one commit carries many events' deliveries:
			// fewer, larger batches cost the committer (and the pushes
			// sharing it) less than one small batch per push.
			select {
			case <-s.stop:
			case <-time.After(enqueueLinger):
			}
			_, _ = s.DrainSync(ctx)
		}
	}()
	go func() {
		defer s.wg.Done()
		poll := time.NewTicker(s.cfg.PollEvery)
		defer poll.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-s.kick:
			case <-poll.C:
			}
			for {
				n, err := s.RunOnce(ctx)
				if err != nil {
					if ctx.Err() == nil {
						s.log.Warn("webhook dispatch failed", "err", err)
					}
					break
				}
				if n < s.cfg.BatchSize || ctx.Err() != nil {
					break
				}
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		reap := time.NewTicker(s.cfg.ReapEvery)
		defer reap.Stop()
		purge := time.NewTicker(s.cfg.PurgeEvery)
		defer purge.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-reap.C:
				if _, err := s.Reap(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("webhook reaper failed", "err", err)
				}
			case <-purge.C:
				if n, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("webhook log purge failed", "err", err)
				} else if n > 0 {
					s.log.Info("webhook delivery logs purged", "count", n)
				}
			}
		}
	}()
}

// Close stops the loops — deliveries in progress are cut short and left
// in flight for the reaper (they were not recorded, so no attempt is
// spent) — and then enqueues the sync events still queued and writes the
// marks, so a graceful shutdown loses no webhook and leaves no catch-up.
// The log must still be open.
func (s *Store) Close() {
	s.closed.Do(func() {
		close(s.stop)
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.drain(ctx, true); err != nil {
			s.log.Warn("queued sync events not enqueued at shutdown", "pending", s.Pending(), "err", err)
		}
	})
}
