package watch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
)

// memberRoles is an in-memory engine.Roles: roles[ws][user].
type memberRoles struct {
	mu    sync.Mutex
	roles map[string]map[string]string
}

func (m *memberRoles) Role(_ context.Context, ws, user string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.roles[ws][user], nil
}

func (m *memberRoles) set(ws, user, role string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.roles == nil {
		m.roles = map[string]map[string]string{}
	}
	if m.roles[ws] == nil {
		m.roles[ws] = map[string]string{}
	}
	m.roles[ws][user] = role
}

const testWS = "ws-1"

// env is a real engine on Pebble in a temp dir, a Hub, and an HTTP server
// on 127.0.0.1 routing to ServeSSE and ServeWS as the HTTP layer would.
type env struct {
	t     testing.TB
	db    *synclog.DB
	eng   *engine.Engine
	roles *memberRoles
	hub   *Hub
	srv   *httptest.Server
}

// envOptions are the knobs a test may turn on its environment.
type envOptions struct {
	sendBuffer int                    // > 0: shrink the kernel send buffer of accepted connections
	memFS      bool                   // Pebble on an in-memory FS instead of t.TempDir()
	fanout     *baseline.Histogram    // if set, times every call of the hub's commit callback
	beforeFan  func(engine.Committed) // if set, runs right before the hub's commit callback
	noPark     bool                   // SSE streams stay on their request goroutine
}

// withoutParking keeps every SSE stream on its request's goroutine, as
// when the connection cannot be hijacked (HTTP/2).
func withoutParking() envOption { return func(o *envOptions) { o.noPark = true } }

// withBeforeFanout runs fn on every commit just before the hub sees it
// (engine.Subscribe's own order between subscribers is unspecified).
func withBeforeFanout(fn func(engine.Committed)) envOption {
	return func(o *envOptions) { o.beforeFan = fn }
}

// withFanoutTimes records how long each call of the hub's commit callback
// takes: the whole of what watch adds to a push.
func withFanoutTimes(h *baseline.Histogram) envOption { return func(o *envOptions) { o.fanout = h } }

type envOption func(*envOptions)

// withMemFS keeps Pebble in memory, for a test that times pushes: on a
// shared disk a single fsync can stall past a second on its own, which
// would measure the disk rather than the fan-out.
func withMemFS() envOption { return func(o *envOptions) { o.memFS = true } }

// withSendBuffer shrinks the kernel send buffer of every accepted
// connection, so a client that stops reading stalls the server's writes
// after kilobytes instead of megabytes.
func withSendBuffer(bytes int) envOption {
	return func(o *envOptions) { o.sendBuffer = bytes }
}

type sndbufListener struct {
	net.Listener
	size int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t testing.TB, cfg Config, opts ...envOption) *env {
	t.Helper()
	var o envOptions
	for _, opt := range opts {
		opt(&o)
	}
	lc := synclog.Config{Dir: t.TempDir(), Logger: quietLogger(), MemTableSize: 8 << 20}
	if o.memFS {
		lc.FS = vfs.NewMem()
	}
	db, err := synclog.Open(lc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, roles: &memberRoles{}}
	for _, u := range []struct{ user, role string }{{"alice", "owner"}, {"bob", "editor"}, {"victor", "viewer"}} {
		e.roles.set(testWS, u.user, u.role)
	}
	e.eng, err = engine.New(engine.Config{DB: db, Roles: e.roles, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	subscribe := e.eng.Subscribe
	if o.fanout != nil || o.beforeFan != nil {
		subscribe = func(fn func(engine.Committed)) func() {
			return e.eng.Subscribe(func(c engine.Committed) {
				if o.beforeFan != nil {
					o.beforeFan(c)
				}
				start := time.Now()
				fn(c)
				if o.fanout != nil {
					o.fanout.Record(time.Since(start))
				}
			})
		}
	}
	e.hub = newHub(e.eng, cfg, subscribe)
	e.hub.noPark = o.noPark
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(e.route))
	if o.sendBuffer > 0 {
		e.srv.Listener = sndbufListener{e.srv.Listener, o.sendBuffer}
	}
	e.srv.Start()
	t.Cleanup(func() {
		e.hub.Close()
		e.srv.CloseClientConnections()
		e.srv.Close()
		db.Close()
	})
	return e
}

// route is the HTTP layer's part, reduced: the acting user from
// X-Syncd-User, the workspace from the query, and the cursor from
// Last-Event-ID over ?cursor=.
func (e *env) route(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cur := q.Get("cursor")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		cur = id
	}
	var cursor uint64
	if cur != "" {
		var err error
		if cursor, err = strconv.ParseUint(cur, 10, 64); err != nil {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
	}
	user, ws := r.Header.Get("X-Syncd-User"), q.Get("workspaceId")
	switch r.URL.Path {
	case "/v1/sync/watch":
		e.hub.ServeSSE(w, r, user, ws, cursor)
	case "/v1/sync/ws":
		e.hub.ServeWS(w, r, user, ws, cursor)
	default:
		http.NotFound(w, r)
	}
}

func (e *env) url(path, ws string, cursor uint64) string {
	return fmt.Sprintf("%s%s?workspaceId=%s&cursor=%d", e.srv.URL, path, url.QueryEscape(ws), cursor)
}

// --- pushes -----------------------------------------------------------

func threadOp(pk string, clock int64, pad int) engine.PendingOp {
	payload := map[string]any{"id": pk, "title": "t " + pk, "status": "ready", "deleted": false,
		"pinned": false, "created_at": 1, "updated_at": 1, "clock": clock}
	if pad > 0 {
		payload["body"] = strings.Repeat("x", pad)
	}
	raw, _ := json.Marshal(payload)
	return engine.PendingOp{TableName: "threads", Operation: "put", PK: pk, Payload: raw,
		Stamp: engine.Stamp{DeviceID: "dev-1", OpID: uuid.NewString(), HLC: fmt.Sprintf("h%08d", clock), Clock: clock}}
}

func notificationOp(pk, owner string) engine.PendingOp {
	raw, _ := json.Marshal(map[string]any{"id": pk, "user_id": owner, "title": "n " + pk, "read": false})
	return engine.PendingOp{TableName: "notifications", Operation: "put", PK: pk, Payload: raw,
		Stamp: engine.Stamp{DeviceID: "dev-1", OpID: uuid.NewString(), HLC: "h1", Clock: 1}}
}

func deleteOp(table, pk string, clock int64) engine.PendingOp {
	return engine.PendingOp{TableName: table, Operation: "delete", PK: pk,
		Stamp: engine.Stamp{DeviceID: "dev-1", OpID: uuid.NewString(), HLC: fmt.Sprintf("h%08d", clock), Clock: clock}}
}

// push commits ops as user and fails the test unless each op got a version.
func (e *env) push(user string, ops ...engine.PendingOp) engine.PushResult {
	res, err := e.eng.Push(context.Background(), user, engine.PushBatch{Scope: engine.Scope{WorkspaceID: testWS}, Ops: ops})
	if err != nil {
		e.t.Errorf("push: %v", err)
		return res
	}
	for _, r := range res.Results {
		if !r.Success || r.ServerVersion == 0 {
			e.t.Errorf("push: op %s failed: %s %s", r.OpID, r.ErrorCode, r.Error)
		}
	}
	return res
}

// pushThreads pushes n single-op pushes of fresh threads.
func (e *env) pushThreads(user string, n int) {
	for i := 0; i < n; i++ {
		e.push(user, threadOp(uuid.NewString(), 1, 0))
	}
}

// setFloor simulates change-log GC: the counter record's Floor moves, so
// the oldest retained version becomes floor+1.
func (e *env) setFloor(ws string, floor uint64) {
	e.t.Helper()
	v := e.db.View()
	var ctr synclog.CounterRecord
	_, err := synclog.GetRecord(v, synclog.CounterKey(ws), &ctr)
	v.Release()
	if err != nil {
		e.t.Fatal(err)
	}
	ctr.Floor = floor
	b := e.db.NewBatch()
	defer b.Close()
	if err := b.SetRecord(synclog.CounterKey(ws), &ctr); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.Commit(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
}

// appendUnnotified logs a thread put at the next version of ws directly
// through a log batch, as recovery would replay a commit whose caller saw
// an error: durable, but never announced to the engine's subscribers.
func (e *env) appendUnnotified(ws, pk string) {
	e.t.Helper()
	v := e.db.View()
	var ctr synclog.CounterRecord
	_, err := synclog.GetRecord(v, synclog.CounterKey(ws), &ctr)
	v.Release()
	if err != nil {
		e.t.Fatal(err)
	}
	ctr.Counter++
	op := threadOp(pk, 1, 0)
	rec := &synclog.ChangeRecord{Table: op.TableName, PK: op.PK, Op: synclog.OpPut, Payload: op.Payload,
		Clock: op.Stamp.Clock, HLC: op.Stamp.HLC, DeviceID: op.Stamp.DeviceID, OpID: op.Stamp.OpID, UserID: "alice"}
	b := e.db.NewBatch()
	defer b.Close()
	if err := b.SetRecord(synclog.ChangeKey(ws, ctr.Counter), rec); err != nil {
		e.t.Fatal(err)
	}
	if err := b.SetRecord(synclog.CounterKey(ws), &ctr); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.Commit(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- SSE client -------------------------------------------------------

// sseEvent is one parsed SSE block, or a comment line (comment != "").
type sseEvent struct {
	id, event, data string
	comment         string
}

type sseClient struct {
	t      testing.TB
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent // closed when the stream ends
}

// openSSE opens the watch stream; it returns the response for a non-200
// answer (body unread) and a client otherwise.
func (e *env) openSSE(user, ws string, cursor uint64, lastEventID string) (*sseClient, *http.Response) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/v1/sync/watch", ws, cursor), nil)
	if user != "" {
		req.Header.Set("X-Syncd-User", user)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("open sse: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		return nil, resp
	}
	c := &sseClient{t: e.t, resp: resp, cancel: cancel, events: make(chan sseEvent, 1<<14)}
	go c.read()
	e.t.Cleanup(c.close)
	return c, resp
}

func (c *sseClient) read() {
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.id != "" || ev.event != "" || data != nil {
				ev.data = strings.Join(data, "\n")
				c.events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
			c.events <- sseEvent{comment: strings.TrimSpace(line[1:])}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.id = value
			case "event":
				ev.event = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event that is not a comment.
func (c *sseClient) next(d time.Duration) (sseEvent, bool) {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return sseEvent{}, false
			}
			if ev.comment != "" {
				continue
			}
			return ev, true
		case <-timer.C:
			c.t.Fatalf("no SSE event within %s", d)
		}
	}
}

// change decodes the next event as a change.
func (c *sseClient) change(d time.Duration) engine.SyncChange {
	c.t.Helper()
	ev, ok := c.next(d)
	if !ok {
		c.t.Fatal("stream ended, want a change")
	}
	return decodeChange(c.t, ev)
}

func decodeChange(t testing.TB, ev sseEvent) engine.SyncChange {
	t.Helper()
	if ev.event != "" {
		t.Fatalf("event %q, want a default event", ev.event)
	}
	var ch engine.SyncChange
	if err := json.Unmarshal([]byte(ev.data), &ch); err != nil {
		t.Fatalf("data %q: %v", ev.data, err)
	}
	if id := strconv.FormatUint(ch.ServerVersion, 10); id != ev.id {
		t.Fatalf("id %q, serverVersion %d", ev.id, ch.ServerVersion)
	}
	return ch
}

// ended waits for the stream's end.
func (c *sseClient) ended(d time.Duration) {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return
			}
			if ev.comment == "" {
				c.t.Fatalf("got %+v, want the stream to end", ev)
			}
		case <-timer.C:
			c.t.Fatalf("stream still open after %s", d)
		}
	}
}

// --- WebSocket client -------------------------------------------------

type wsClient struct {
	t     testing.TB
	c     *websocket.Conn
	msgs  chan []byte // closed when the connection ends
	pings chan struct{}
	mu    sync.Mutex
	err   error // the read error that ended it
}

func (e *env) openWS(user, ws string, cursor uint64) (*wsClient, *http.Response, error) {
	e.t.Helper()
	c := &wsClient{t: e.t, msgs: make(chan []byte, 1<<14), pings: make(chan struct{}, 1<<10)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hdr := http.Header{}
	if user != "" {
		hdr.Set("X-Syncd-User", user)
	}
	u := strings.Replace(e.url("/v1/sync/ws", ws, cursor), "http://", "ws://", 1)
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader: hdr,
		OnPingReceived: func(context.Context, []byte) bool {
			select {
			case c.pings <- struct{}{}:
			default:
			}
			return true
		},
	})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(1 << 20)
	c.c = conn
	go c.read()
	e.t.Cleanup(func() { _ = conn.CloseNow() })
	return c, resp, nil
}

func (c *wsClient) read() {
	defer close(c.msgs)
	for {
		_, data, err := c.c.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.msgs <- data
	}
}

func (c *wsClient) next(d time.Duration) ([]byte, bool) {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		return m, ok
	case <-time.After(d):
		c.t.Fatalf("no WebSocket message within %s", d)
		return nil, false
	}
}

func (c *wsClient) change(d time.Duration) engine.SyncChange {
	c.t.Helper()
	m, ok := c.next(d)
	if !ok {
		c.t.Fatalf("connection ended (%v), want a change", c.closeErr())
	}
	var ch engine.SyncChange
	if err := json.Unmarshal(m, &ch); err != nil || ch.ServerVersion == 0 {
		c.t.Fatalf("message %s: %v", m, err)
	}
	return ch
}

func (c *wsClient) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// closed waits for the connection to end and returns its close status.
func (c *wsClient) closed(d time.Duration) websocket.StatusCode {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return websocket.CloseStatus(c.closeErr())
			}
			c.t.Fatalf("got %s, want the connection to close", m)
		case <-timer.C:
			c.t.Fatalf("connection still open after %s", d)
		}
	}
}

// --- raw SSE connections (no goroutine per client) --------------------

// rawSSE opens an SSE stream on a bare TCP connection, reads the response
// head and the first comment, and returns the connection without a
// reader. rcvbuf > 0 shrinks the kernel receive buffer first.
func rawSSE(t testing.TB, addr, user string, cursor uint64, rcvbuf int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if rcvbuf > 0 {
		_ = conn.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	fmt.Fprintf(conn, "GET /v1/sync/watch?workspaceId=%s&cursor=%d HTTP/1.1\r\nHost: %s\r\nX-Syncd-User: %s\r\nAccept: text/event-stream\r\n\r\n",
		testWS, cursor, addr, user)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	line, err := bufio.NewReaderSize(resp.Body, 64).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, ":") {
		t.Fatalf("first line %q, %v", line, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn
}
