package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testKey = "test-encryption-key"

// testClock is moved by hand; tests never sleep for retries.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *testClock) Ms() int64               { return c.Now().UnixMilli() }

type fixture struct {
	t     *testing.T
	dir   string
	db    *synclog.DB
	s     *Store
	clock *testClock
	cfg   Config
	ctx   context.Context
}

func newFixture(t *testing.T, tune ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), clock: newTestClock(), ctx: context.Background()}
	f.cfg = Config{EncryptionKey: testKey, AllowPrivate: true, Logger: quiet, DeliveryTimeout: 5 * time.Second}
	for _, fn := range tune {
		fn(&f.cfg)
	}
	f.open()
	t.Cleanup(func() { f.close() })
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	db, err := synclog.Open(synclog.Config{Dir: f.dir, Logger: quiet, MemTableSize: 4 << 20})
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := f.cfg
	cfg.DB, cfg.Now = db, f.clock.Now
	s, err := Open(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.db, f.s = db, s
}

func (f *fixture) close() {
	if f.s != nil {
		f.s.Close()
		f.s = nil
	}
	if f.db != nil {
		_ = f.db.Close()
		f.db = nil
	}
}

func (f *fixture) restart() { f.close(); f.open() }

func (f *fixture) create(in CreateInput) (*Webhook, string) {
	f.t.Helper()
	w, secret, err := f.s.CreateWebhook(f.ctx, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return w, secret
}

func (f *fixture) adminHook(url string, events ...string) *Webhook {
	w, _ := f.create(CreateInput{Scope: ScopeAdmin, URL: url, Events: events})
	return w
}

func (f *fixture) logs(webhookID string) []*Delivery {
	f.t.Helper()
	ds, err := f.s.GetDeliveryLogs(f.ctx, webhookID, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

func (f *fixture) only(webhookID string) *Delivery {
	f.t.Helper()
	ds := f.logs(webhookID)
	if len(ds) != 1 {
		f.t.Fatalf("want 1 delivery log, have %d", len(ds))
	}
	return ds[0]
}

func (f *fixture) emit(event, ws string, data any) {
	f.t.Helper()
	if _, _, err := f.s.EmitEvent(f.ctx, EventInput{Event: event, WorkspaceID: ws, Data: data}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) runOnce() int {
	f.t.Helper()
	n, err := f.s.RunOnce(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) webhook(id string) *Webhook {
	f.t.Helper()
	w, err := f.s.GetWebhook(f.ctx, id)
	if err != nil || w == nil {
		f.t.Fatalf("webhook %s: %v %v", id, w, err)
	}
	return w
}

// receiver is a real HTTP server on 127.0.0.1 that verifies signatures and
// answers from a script of statuses.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	secret  string
	clock   *testClock
	script  []int // statuses to answer in turn; then 200
	got     []receivedReq
	delay   time.Duration
	badSigs int
}

type receivedReq struct {
	Headers http.Header
	Body    []byte
	Status  int
}

func newReceiver(t *testing.T, clock *testClock, script ...int) *receiver {
	r := &receiver{t: t, clock: clock, script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ts, _ := strconv.ParseInt(req.Header.Get("X-OR3-Timestamp"), 10, 64)
	if r.secret != "" && !Verify(r.secret, ts, body, req.Header.Get("X-OR3-Signature")) {
		r.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	// A receiver enforcing a replay window against the sender's clock.
	if r.clock != nil && abs(r.clock.Now().Unix()-ts) > 300 {
		r.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status := 200
	if len(r.script) > 0 {
		status, r.script = r.script[0], r.script[1:]
	}
	r.got = append(r.got, receivedReq{Headers: req.Header.Clone(), Body: body, Status: status})
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"received":true}`))
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func (r *receiver) requests() []receivedReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedReq(nil), r.got...)
}

func (r *receiver) successes() int {
	n := 0
	for _, g := range r.requests() {
		if g.Status >= 200 && g.Status < 300 {
			n++
		}
	}
	return n
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

func methodNames() []string {
	out := make([]string, 0, len(rpcMethods))
	for k := range rpcMethods {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// newFixtureF is newFixture for fuzz targets.
func newFixtureF(f *testing.F) *fixture {
	fx := &fixture{dir: f.TempDir(), clock: newTestClock(), ctx: context.Background()}
	fx.cfg = Config{EncryptionKey: testKey, AllowPrivate: true, Logger: quiet, DeliveryTimeout: time.Second}
	db, err := synclog.Open(synclog.Config{Dir: fx.dir, Logger: quiet, MemTableSize: 4 << 20})
	if err != nil {
		f.Fatal(err)
	}
	cfg := fx.cfg
	cfg.DB, cfg.Now = db, fx.clock.Now
	s, err := Open(cfg)
	if err != nil {
		f.Fatal(err)
	}
	fx.db, fx.s = db, s
	f.Cleanup(func() { s.Close(); db.Close() })
	return fx
}
