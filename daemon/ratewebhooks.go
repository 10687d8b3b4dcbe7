package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/or3/syncd/api"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/limits"
	"github.com/or3/syncd/notifications"
	"github.com/or3/syncd/webhooks"
)

// webhookKeyFile holds the key webhook signing secrets are encrypted
// under (mode 0600), generated on first start like the service token.
const webhookKeyFile = "webhook-key"

// newLimits opens the rate limiter (its windows are loaded from the log)
// and the per-user buckets of the sync endpoints: the defaults, overridden
// by cfg.RateLimits ("BUCKET=N/WINDOW").
func newLimits(cfg Config, d *Daemon) (*limits.Limiter, *limits.Buckets, error) {
	rules := limits.DefaultRules()
	for _, v := range cfg.RateLimits {
		bucket, r, err := limits.ParseRule(v)
		if err != nil {
			return nil, nil, fmt.Errorf("daemon: rate limit %w", err)
		}
		rules[bucket] = r
	}
	l, err := limits.Open(limits.Config{DB: d.DB, Now: d.Clock.Now, Logger: cfg.Logger})
	if err != nil {
		return nil, nil, err
	}
	return l, limits.NewBuckets(l, rules), nil
}

// apiLimiter adapts limits.Buckets to api.Limiter.
type apiLimiter struct{ b *limits.Buckets }

func (a apiLimiter) Check(bucket, subject string) (api.LimitResult, bool) {
	r, ok := a.b.Check(bucket, subject)
	if !ok {
		return api.LimitResult{}, false
	}
	out := api.LimitResult{Allowed: r.Allowed, Limit: r.Limit, Remaining: r.Remaining}
	if r.RetryAfterMs != nil {
		out.RetryAfter = time.Duration(*r.RetryAfterMs) * time.Millisecond
	}
	return out, true
}

func (a apiLimiter) Blocked(bucket, subject string) (bool, time.Duration) {
	return a.b.Blocked(bucket, subject)
}

// newWebhooks opens the webhook store under the key of cfg.WebhookKey or
// <data-dir>/webhook-key, and subscribes it to applied sync ops.
func newWebhooks(cfg Config, d *Daemon) (*webhooks.Store, error) {
	key := cfg.WebhookKey
	if key == "" {
		var err error
		if key, err = loadOrCreateKey(filepath.Join(cfg.DataDir, webhookKeyFile)); err != nil {
			return nil, fmt.Errorf("daemon: webhook key: %w", err)
		}
	}
	s, err := webhooks.Open(webhooks.Config{
		DB: d.DB, EncryptionKey: key, AllowPrivate: cfg.WebhookAllowPrivate,
		Now: d.Clock.Now, Region: cfg.Region, Logger: cfg.Logger,
		OnFailed: webhookFailed(d.Notifications),
	})
	if err != nil {
		return nil, err
	}
	// After each durable commit, hand the applied ops over; OnSync only
	// appends to a queue, so the push never waits for webhook work. What a
	// crash takes from that queue the store reads back from the change log
	// when it starts (webhook marks).
	d.Engine.Subscribe(func(c engine.Committed) {
		if c.OriginRegion != "" {
			return // fired only by the region that accepted the op (model.md §6)
		}
		var out []webhooks.SyncChange
		for i := range c.Changes {
			ch := &c.Changes[i]
			if !ch.Applied {
				continue
			}
			if out == nil {
				out = make([]webhooks.SyncChange, 0, len(c.Changes))
			}
			p := ch.RowPayload
			if p == nil {
				p = ch.Payload
			}
			out = append(out, webhooks.SyncChange{
				Workspace: c.Workspace, Table: ch.TableName, PK: ch.PK, Delete: ch.Op == "delete",
				Existed: ch.WasExisting, UserID: ch.UserID, Owner: ch.Owner, Payload: p,
				AtMs: d.Clock.Now().UnixMilli(), Version: ch.ServerVersion, OpID: ch.Stamp.OpID,
			})
		}
		s.OnSync(out)
	})
	return s, nil
}

// webhookFailed sends the failure notification of side-modules §5.5 to
// the webhook's user, when it has one and a workspace.
func webhookFailed(n *notifications.Store) func(webhooks.Webhook, webhooks.Delivery) {
	return func(w webhooks.Webhook, dl webhooks.Delivery) {
		if n == nil || w.UserID == "" || w.WorkspaceID == "" {
			return
		}
		name := w.Label
		if name == "" {
			name = w.URL
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = n.Create(ctx, notifications.Input{
			WorkspaceID: w.WorkspaceID, UserID: w.UserID, Type: "webhook.delivery.failed",
			Title: "Webhook delivery failed",
			Body:  fmt.Sprintf("Delivery of %s to %s failed after %d attempts.", dl.EventType, name, dl.State.Attempt),
		})
	}
}

// loadOrCreateKey reads a hex key file, or creates one (32 random bytes,
// mode 0600) when it does not exist.
func loadOrCreateKey(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(data))
		if len(k) < 32 {
			return "", fmt.Errorf("%s holds a key shorter than 32 characters", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	k := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateKey(path)
		}
		return "", err
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return k, f.Close()
}
