// Package webhookcrash kills a real syncd process while pushes fire
// webhooks and checks that, after each restart, every applied op has
// exactly one webhook event: none lost in the moments between a push's
// commit and the enqueue of its deliveries, none enqueued twice.
package webhookcrash

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/or3/syncd/internal/crashtest"
	"github.com/or3/syncd/webhooks"
)

func TestMain(m *testing.M) {
	code := m.Run()
	crashtest.RemoveBuild()
	os.Exit(code)
}

const token = "webhookcrash-token-0123456789abcdef"

// receiver is a loopback webhook target: it verifies signatures and
// records which event ids it got for which thread.
type receiver struct {
	mu      sync.Mutex
	secret  string
	byPK    map[string]map[string]int // thread id → event id → requests
	badSigs int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts, _ := strconv.ParseInt(req.Header.Get("X-OR3-Timestamp"), 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !webhooks.Verify(r.secret, ts, body, req.Header.Get("X-OR3-Signature")) {
		r.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var env struct {
		EventID string `json:"event_id"`
		Data    struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	if r.byPK[env.Data.ID] == nil {
		r.byPK[env.Data.ID] = map[string]int{}
	}
	r.byPK[env.Data.ID][env.EventID]++
	w.WriteHeader(http.StatusOK)
}

var caughtUpRE = regexp.MustCompile(`"msg":"webhook events caught up from the change log"[^\n]*"events":(\d+)`)

// TestWebhookCrash_EveryAppliedOpOnce pushes new threads from several
// writers while an admin hook subscribes to thread.created, SIGKILLs syncd
// mid-load, restarts it, and checks after every round:
//   - the delivery logs hold exactly one thread.created per thread in the
//     change log (the oracle: every thread is a new key, so every logged
//     op was applied), including ops whose push was never answered;
//   - every delivery that succeeded reached the loopback receiver signed,
//     and no thread reached it under two event ids (an attempt cut short
//     by the kill may be repeated, under the same event id).
//
// The logs say how many events each restart read back from the change
// log (the ops the kill took from the in-memory queue).
func TestWebhookCrash_EveryAppliedOpOnce(t *testing.T) {
	rounds := 2
	if s := os.Getenv("SYNCD_WEBHOOK_CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	rcv := &receiver{byPK: map[string]map[string]int{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()

	bin := crashtest.Build(t)
	p := crashtest.Start(t, bin, crashtest.Options{DataDir: t.TempDir(), Token: token, Args: []string{"--webhook-allow-private"}})
	ctx := context.Background()
	c := p.Client()
	user, err := c.CreateUser(ctx, "webhookcrash", "u")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	var hook struct {
		ID            string `json:"id"`
		SigningSecret string `json:"signing_secret"`
	}
	if err := c.RPC(ctx, "webhooks.createWebhook", &hook, map[string]any{"scope": "admin", "url": srv.URL, "events": []string{"thread.created"}}); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	rcv.secret = hook.SigningSecret
	rcv.mu.Unlock()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	caught := 0
	for round := 1; round <= rounds; round++ {
		c := p.Client()
		c.HTTP.Timeout = 10 * time.Second
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var acked, sent int64
		var mu sync.Mutex
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 60; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var ops []crashtest.Op
					for n := 1 + i%2; n > 0; n-- {
						pk := uuid.NewString()
						payload, _ := json.Marshal(map[string]any{"id": pk, "title": "t", "created_at": 1, "updated_at": 1, "clock": 1})
						ops = append(ops, crashtest.Op{TableName: "threads", Operation: "put", PK: pk, Payload: payload,
							Stamp: crashtest.Stamp{DeviceID: fmt.Sprintf("r%dw%d", round, w), OpID: uuid.NewString(), HLC: fmt.Sprintf("%013d:0000:w%d", 1, w), Clock: 1}})
					}
					_, err := c.Push(ctx, user, ws, ops)
					mu.Lock()
					sent += int64(len(ops))
					if err == nil {
						acked += int64(len(ops))
					}
					mu.Unlock()
					if err != nil {
						return // killed
					}
				}
			}()
		}
		wait := time.Duration(100+rng.IntN(300)) * time.Millisecond
		time.Sleep(wait)
		p.Kill()
		close(stop)
		wg.Wait()
		before := len(caughtUpRE.FindAllStringSubmatch(p.Logs(), -1))
		p.Restart(t)
		c = p.Client()

		changes, err := c.PullAll(ctx, user, ws)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, ch := range changes {
			if ch.TableName == "threads" {
				want[ch.PK] = true
			}
		}
		if int64(len(want)) < acked {
			t.Fatalf("round %d: %d threads in the log, %d acknowledged", round, len(want), acked)
		}
		// Every thread's event is enqueued once (the catch-up runs as the
		// restarted store starts).
		var logs []struct {
			EventID        string `json:"event_id"`
			EventType      string `json:"event_type"`
			Status         string `json:"status"`
			RequestPayload string `json:"request_payload"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := c.RPC(ctx, "webhooks.getDeliveryLogs", &logs, hook.ID, 0); err != nil {
				t.Fatal(err)
			}
			if len(logs) >= len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		byPK := map[string]string{}
		successes := map[string]string{}
		for _, l := range logs {
			var env struct {
				EventID string `json:"event_id"`
				Data    struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(l.RequestPayload), &env); err != nil || env.EventID != l.EventID || l.EventType != "thread.created" {
				t.Fatalf("round %d: delivery log %+v (%v)", round, l, err)
			}
			if prev, dup := byPK[env.Data.ID]; dup {
				t.Fatalf("round %d: thread %s enqueued twice (events %s and %s)", round, env.Data.ID, prev, l.EventID)
			}
			if !want[env.Data.ID] {
				t.Fatalf("round %d: delivery for thread %s, which is not in the change log", round, env.Data.ID)
			}
			byPK[env.Data.ID] = l.EventID
			if l.Status == "success" {
				successes[env.Data.ID] = l.EventID
			}
		}
		if len(byPK) != len(want) {
			t.Fatalf("round %d: %d threads in the change log, %d with a delivery", round, len(want), len(byPK))
		}
		n := 0
		for _, m := range caughtUpRE.FindAllStringSubmatch(p.Logs(), -1)[before:] {
			k, _ := strconv.Atoi(m[1])
			n += k
		}
		caught += n
		t.Logf("round %d: killed after %s with %d ops sent, %d acknowledged; %d threads, one delivery each; %d read back from the change log by the restart",
			round, wait, sent, acked, len(want), n)
		// What succeeded reached the receiver, signed, under its event id.
		deadline = time.Now().Add(30 * time.Second)
		for {
			missing := 0
			rcv.mu.Lock()
			for pk, id := range successes {
				if rcv.byPK[pk][id] == 0 {
					missing++
				}
			}
			bad := rcv.badSigs
			rcv.mu.Unlock()
			if bad != 0 {
				t.Fatalf("round %d: %d deliveries with a bad signature", round, bad)
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d successful deliveries never received", round, missing)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("%d rounds: %d events read back from the change log after kills", rounds, caught)
	rcv.mu.Lock()
	for pk, ids := range rcv.byPK {
		if len(ids) > 1 {
			t.Errorf("thread %s received under %d event ids: %v", pk, len(ids), ids)
		}
	}
	rcv.mu.Unlock()
	if code := p.Stop(syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; logs:\n%s", code, p.Logs())
	}
}
