package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/webhooks"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type ownerRoles struct{}

func (ownerRoles) Role(context.Context, string, string) (string, error) { return "owner", nil }

// pushPhase pushes n single-message batches from 8 workspaces at once into
// a fresh log and returns the push latencies. With hook set, every push
// fires a message.created webhook at hook (a user hook of each workspace
// and an admin hook), through the daemon's wiring: engine.Subscribe →
// Store.OnSync.
func pushPhase(b *testing.B, n int, hook string) (*baseline.Histogram, time.Duration, *webhooks.Store) {
	db, err := synclog.Open(synclog.Config{Dir: b.TempDir(), Logger: quiet, MemTableSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	eng, err := engine.New(engine.Config{DB: db, Roles: ownerRoles{}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	const workspaces = 8
	var store *webhooks.Store
	if hook != "" {
		store, err = webhooks.Open(webhooks.Config{DB: db, EncryptionKey: "k", AllowPrivate: true, Logger: quiet,
			PollEvery: time.Second, DeliveryTimeout: 10 * time.Second, RateLimitPerMinute: -1})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for w := 0; w < workspaces; w++ {
			if _, _, err := store.CreateWebhook(ctx, webhooks.CreateInput{Scope: webhooks.ScopeUser, UserID: "alice",
				WorkspaceID: fmt.Sprintf("ws-%d", w), URL: hook, Events: []string{"message.created"}}); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := store.CreateWebhook(ctx, webhooks.CreateInput{Scope: webhooks.ScopeAdmin, URL: hook, Events: []string{"message.*"}}); err != nil {
			b.Fatal(err)
		}
		eng.Subscribe(func(c engine.Committed) {
			out := make([]webhooks.SyncChange, 0, len(c.Changes))
			for _, ch := range c.Changes {
				if ch.Applied {
					out = append(out, webhooks.SyncChange{Workspace: c.Workspace, Table: ch.TableName, PK: ch.PK,
						Existed: ch.WasExisting, UserID: ch.UserID, Payload: ch.RowPayload, AtMs: time.Now().UnixMilli(),
						Version: ch.ServerVersion, OpID: ch.Stamp.OpID})
				}
			}
			store.OnSync(out)
		})
		store.Start()
	}
	lat := baseline.NewHistogram()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workspaces; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := fmt.Sprintf("ws-%d", w)
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				pk := fmt.Sprintf("m-%d", i)
				payload, _ := json.Marshal(map[string]any{"id": pk, "thread_id": "t", "role": "user", "content": "hello webhook",
					"index": i, "created_at": 1, "updated_at": 1, "clock": 1})
				op := engine.PendingOp{TableName: "messages", Operation: "put", PK: pk, Payload: payload,
					Stamp: engine.Stamp{DeviceID: "dev", OpID: uuid.NewString(), HLC: fmt.Sprintf("%013d:0000:dev", i), Clock: 1}}
				t0 := time.Now()
				if _, err := eng.Push(context.Background(), "alice", engine.PushBatch{Scope: engine.Scope{WorkspaceID: ws}, Ops: []engine.PendingOp{op}}); err != nil {
					b.Error(err)
					return
				}
				lat.Record(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start), store
}

// BenchmarkPushLatency_WebhookReceiver5s measures push latency with every
// push firing webhooks at a receiver that takes 5 s to answer, beside the
// same workload without webhooks in the same run, in alternating rounds (so
// noise from the shared machine falls on both): webhook delivery must not
// sit on the push path (the target: p99 within the figure without
// webhooks).
func BenchmarkPushLatency_WebhookReceiver5s(b *testing.B) {
	var received atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	n := max(b.N, 1500)
	const rounds = 3
	base, with := baseline.NewHistogram(), baseline.NewHistogram()
	var baseElapsed, withElapsed time.Duration
	var dropped, queued int64
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		h, el, _ := pushPhase(b, n, "")
		base.Merge(h)
		baseElapsed += el
		h, el, store := pushPhase(b, n, slow.URL)
		with.Merge(h)
		withElapsed += el
		// Let the enqueuer catch up (not timed), then stop this round's
		// worker so it does not load the next round.
		b.StopTimer()
		deadline := time.Now().Add(30 * time.Second)
		for store.Pending() > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		queued += int64(store.Pending())
		dropped += store.Dropped()
		store.Close()
		b.StartTimer()
	}
	b.StopTimer()
	p99a, p99b := base.Percentile(99), with.Percentile(99)
	b.ReportMetric(float64(p99b.Microseconds()), "p99-µs-with-webhooks")
	b.ReportMetric(float64(p99a.Microseconds()), "p99-µs-without")
	b.ReportMetric(float64(p99b)/float64(p99a), "p99-ratio")
	b.Logf("%d rounds × %d pushes from 8 workspaces, 1 message each; with webhooks every push fires 2 at a 5 s receiver", rounds, n)
	b.Logf("  without webhooks: %s (%.0f pushes/s)", base, float64(rounds*n)/baseElapsed.Seconds())
	b.Logf("  with webhooks:    %s (%.0f pushes/s)", with, float64(rounds*n)/withElapsed.Seconds())
	b.Logf("  p99 %v vs %v (ratio %.2f); the receiver got %d requests meanwhile; %d events dropped, %d not yet enqueued",
		p99b, p99a, float64(p99b)/float64(p99a), received.Load(), dropped, queued)
}
