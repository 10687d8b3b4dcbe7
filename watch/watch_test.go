package watch

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/engine"
)

const wait = 5 * time.Second

func TestServeSSE_CatchUpThenLive(t *testing.T) {
	e := newEnv(t, Config{})
	e.push("alice", threadOp("t1", 1, 0), threadOp("t2", 1, 0))

	c, resp := e.openSSE("alice", testWS, 0, "")
	if c == nil {
		t.Fatalf("status %s", resp.Status)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	first := <-c.events
	if first.comment == "" {
		t.Fatalf("first item %+v, want a comment", first)
	}
	for i, pk := range []string{"t1", "t2"} {
		if ch := c.change(wait); ch.ServerVersion != uint64(i+1) || ch.PK != pk || ch.Op != "put" || ch.TableName != "threads" {
			t.Fatalf("catch-up change %d: %+v", i, ch)
		}
	}

	pulls := e.hub.pulls.Load()
	e.push("bob", threadOp("t3", 1, 0))
	ch := c.change(wait)
	if ch.ServerVersion != 3 || ch.PK != "t3" || ch.Stamp.DeviceID != "dev-1" || len(ch.Payload) == 0 {
		t.Fatalf("live change: %+v", ch)
	}
	var payload map[string]any
	if err := json.Unmarshal(ch.Payload, &payload); err != nil || payload["id"] != "t3" {
		t.Fatalf("payload %s: %v", ch.Payload, err)
	}
	// Live changes come from memory: no log read per watcher.
	for i := 0; i < 10; i++ {
		e.push("bob", threadOp(uuid.NewString(), 1, 0))
		if v := c.change(wait).ServerVersion; v != uint64(4+i) {
			t.Fatalf("live version %d, want %d", v, 4+i)
		}
	}
	if n := e.hub.pulls.Load() - pulls; n != 0 {
		t.Errorf("%d log reads for 11 live changes, want 0", n)
	}
}

func TestServeWS_CatchUpThenLive(t *testing.T) {
	e := newEnv(t, Config{})
	e.push("alice", threadOp("t1", 1, 0), threadOp("t2", 1, 0))

	c, resp, err := e.openWS("alice", testWS, 1)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	if ch := c.change(wait); ch.ServerVersion != 2 || ch.PK != "t2" {
		t.Fatalf("catch-up change: %+v", ch)
	}
	e.push("bob", threadOp("t3", 1, 0))
	if ch := c.change(wait); ch.ServerVersion != 3 || ch.PK != "t3" {
		t.Fatalf("live change: %+v", ch)
	}
}

// TestWatch_ReconnectResumesWithoutGapOrDuplicate: a watcher that drops
// and reconnects with the last id it saw, again and again while pushes
// run, receives every version exactly once and in order.
func TestWatch_ReconnectResumesWithoutGapOrDuplicate(t *testing.T) {
	for _, transport := range []string{"sse", "ws"} {
		t.Run(transport, func(t *testing.T) {
			e := newEnv(t, Config{})
			const pushes, opsPerPush = 150, 2
			const total = pushes * opsPerPush
			var wg sync.WaitGroup
			var pushing atomic.Bool
			pushing.Store(true)
			wg.Go(func() {
				defer pushing.Store(false)
				for i := 0; i < pushes; i++ {
					e.push("bob", threadOp(uuid.NewString(), 1, 0), threadOp(uuid.NewString(), 1, 0))
					if i%10 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			})

			var got []uint64
			last := uint64(0)
			rng := rand.New(rand.NewPCG(1, 2))
			duringPushes := 0
			for conns := 0; last < total; conns++ {
				if pushing.Load() {
					duringPushes++
				}
				if conns > 200 {
					t.Fatalf("no progress: %d connections, last %d", conns, last)
				}
				n := 10 + rng.IntN(40)
				switch transport {
				case "sse":
					// The cursor query is stale on purpose: Last-Event-ID wins.
					c, resp := e.openSSE("alice", testWS, 0, strconv.FormatUint(last, 10))
					if c == nil {
						t.Fatalf("status %s", resp.Status)
					}
					for i := 0; i < n && last < total; i++ {
						v := c.change(wait).ServerVersion
						got = append(got, v)
						last = v
					}
					c.close()
				case "ws":
					c, _, err := e.openWS("alice", testWS, last)
					if err != nil {
						t.Fatal(err)
					}
					for i := 0; i < n && last < total; i++ {
						v := c.change(wait).ServerVersion
						got = append(got, v)
						last = v
					}
					_ = c.c.CloseNow()
				}
			}
			wg.Wait()
			for i, v := range got {
				if v != uint64(i+1) {
					t.Fatalf("delivery %d is version %d, want %d (gap or duplicate); got %v", i, v, i+1, got)
				}
			}
			if len(got) != total {
				t.Fatalf("%d deliveries, want %d", len(got), total)
			}
			if g := e.hub.gaps.Load(); g != 0 {
				t.Errorf("%d live gaps filled from the log, want 0", g)
			}
			if duringPushes < 3 {
				t.Errorf("only %d connections opened while pushes ran; the test did not overlap them", duringPushes)
			}
		})
	}
}

// TestWatch_UnnotifiedCommitIsReadFromLog: a version that reached the log
// without a post-commit notification (a commit that failed after its batch
// hit the WAL, replayed by recovery) shows up as a gap in a live stream,
// which reads it from the log instead of skipping it.
func TestWatch_UnnotifiedCommitIsReadFromLog(t *testing.T) {
	e := newEnv(t, Config{})
	e.pushThreads("alice", 1) // v1
	c, _ := e.openSSE("alice", testWS, 0, "")
	if v := c.change(wait).ServerVersion; v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	e.appendUnnotified(testWS, "ghost") // v2, behind the engine's back
	e.pushThreads("bob", 1)             // v3, notified
	for want := uint64(2); want <= 3; want++ {
		if ch := c.change(wait); ch.ServerVersion != want || (want == 2 && ch.PK != "ghost") {
			t.Fatalf("got %+v, want version %d", ch, want)
		}
	}
	if g := e.hub.gaps.Load(); g != 1 {
		t.Errorf("%d gaps filled, want 1", g)
	}
}

// TestWatch_NotificationsOnlyToOwner: sync-contract §3.8 for watch, in the
// catch-up and live parts of the stream and over both transports.
func TestWatch_NotificationsOnlyToOwner(t *testing.T) {
	e := newEnv(t, Config{})
	e.push("alice", notificationOp("n-alice", "alice")) // v1
	e.push("alice", threadOp("t1", 1, 0))               // v2

	alice, _ := e.openSSE("alice", testWS, 0, "")
	bob, _ := e.openSSE("bob", testWS, 0, "")
	victor, _, err := e.openWS("victor", testWS, 0)
	if err != nil {
		t.Fatal(err)
	}
	bobWS, _, err := e.openWS("bob", testWS, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "4 watchers", func() bool { return e.hub.Watchers() == 4 })

	e.push("bob", notificationOp("n-bob", "bob"))            // v3
	e.push("alice", deleteOp("notifications", "n-alice", 2)) // v4
	e.push("bob", threadOp("t2", 1, 0))                      // v5

	sseVersions := func(c *sseClient) []uint64 {
		var vs []uint64
		for len(vs) == 0 || vs[len(vs)-1] != 5 {
			vs = append(vs, c.change(wait).ServerVersion)
		}
		return vs
	}
	wsVersions := func(c *wsClient) []uint64 {
		var vs []uint64
		for len(vs) == 0 || vs[len(vs)-1] != 5 {
			vs = append(vs, c.change(wait).ServerVersion)
		}
		return vs
	}
	for _, tc := range []struct {
		who  string
		got  []uint64
		want []uint64
	}{
		{"alice (sse)", sseVersions(alice), []uint64{1, 2, 4, 5}},
		{"bob (sse)", sseVersions(bob), []uint64{2, 3, 5}},
		{"bob (ws)", wsVersions(bobWS), []uint64{2, 3, 5}},
		{"victor (ws)", wsVersions(victor), []uint64{2, 5}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s received %v, want %v", tc.who, tc.got, tc.want)
		}
	}
	if g := e.hub.gaps.Load(); g != 0 {
		t.Errorf("%d gaps: invisible changes must still advance a watcher", g)
	}
}

// TestWatch_StalledWatcherIsCutOff: a client that never reads costs its
// buffer and then, after WriteTimeout, its connection, while pushes keep
// their latency and a healthy watcher keeps receiving everything.
//
// What watch adds to a push is the engine's call of the hub's callback, so
// that is what is bounded tightly: a callback that waited on the stalled
// client would take about WriteTimeout (2s). Push latency is bounded too,
// loosely, on an in-memory Pebble: on this shared machine a push alone
// has been seen to take 1.5s under load, which says nothing about watch.
func TestWatch_StalledWatcherIsCutOff(t *testing.T) {
	const writeTimeout = 2 * time.Second
	fanout := baseline.NewHistogram()
	e := newEnv(t, Config{BufferPerWatcher: 16, WriteTimeout: writeTimeout, Heartbeat: time.Minute},
		withSendBuffer(4096), withMemFS(), withFanoutTimes(fanout))
	stalled := rawSSE(t, e.srv.Listener.Addr().String(), "alice", 0, 4096)
	defer stalled.Close()
	healthy, _ := e.openSSE("bob", testWS, 0, "")
	waitFor(t, wait, "2 watchers", func() bool { return e.hub.Watchers() == 2 })

	const pushes, ops = 80, 5 // 400 changes of ~2 KiB: far more than the stalled path buffers
	received := make(chan []uint64, 1)
	go func() {
		var vs []uint64
		for len(vs) < pushes*ops {
			ev, ok := healthy.next(30 * time.Second)
			if !ok {
				break
			}
			vs = append(vs, decodeChange(t, ev).ServerVersion)
		}
		received <- vs
	}()

	pushLat := baseline.NewHistogram()
	stallStart := time.Now()
	for i := 0; i < pushes; i++ {
		batch := make([]engine.PendingOp, ops)
		for j := range batch {
			batch[j] = threadOp(uuid.NewString(), 1, 2048)
		}
		start := time.Now()
		e.push("bob", batch...)
		pushLat.Record(time.Since(start))
	}
	t.Logf("push latency with a stalled watcher: %s", pushLat)
	t.Logf("hub callback per commit: %s", fanout)
	if m := fanout.Max(); m >= 250*time.Millisecond {
		t.Errorf("the hub's callback took %s under the commit lock, want < 250ms", m)
	}
	if m := pushLat.Max(); m >= writeTimeout {
		t.Errorf("a push took %s while a watcher stalled, want < %s", m, writeTimeout)
	}

	vs := <-received
	for i, v := range vs {
		if v != uint64(i+1) {
			t.Fatalf("healthy watcher: delivery %d is version %d", i, v)
		}
	}
	if len(vs) != pushes*ops {
		t.Fatalf("healthy watcher got %d changes, want %d", len(vs), pushes*ops)
	}
	if e.hub.Resyncs() == 0 {
		t.Error("the stalled watcher's buffer never overflowed")
	}
	// Cut off by the write deadline: its stream ends, the healthy one stays.
	waitFor(t, writeTimeout+5*time.Second, "the stalled watcher to be cut off", func() bool { return e.hub.Watchers() == 1 })
	t.Logf("stalled watcher cut off %s after the pushes began", time.Since(stallStart).Round(time.Millisecond))
}

// TestWatch_OverflowCatchesUpFromLog: a watcher whose buffer overflows on
// every commit still receives every change once, read from the log.
func TestWatch_OverflowCatchesUpFromLog(t *testing.T) {
	e := newEnv(t, Config{BufferPerWatcher: 1})
	c, _ := e.openSSE("alice", testWS, 0, "")
	waitFor(t, wait, "a watcher", func() bool { return e.hub.Watchers() == 1 })
	const pushes = 40
	go func() {
		for i := 0; i < pushes; i++ {
			e.push("bob", threadOp(uuid.NewString(), 1, 0), threadOp(uuid.NewString(), 1, 0), threadOp(uuid.NewString(), 1, 0))
		}
	}()
	for want := uint64(1); want <= pushes*3; want++ {
		if v := c.change(wait).ServerVersion; v != want {
			t.Fatalf("got version %d, want %d", v, want)
		}
	}
	if e.hub.Resyncs() == 0 {
		t.Error("no overflow with a one-change buffer and three-op pushes")
	}
}

func TestWatch_RequiresSnapshotBehindFloor(t *testing.T) {
	e := newEnv(t, Config{})
	e.pushThreads("alice", 5)
	e.setFloor(testWS, 3) // versions 1..3 collected; the oldest retained is 4

	t.Run("sse behind", func(t *testing.T) {
		c, _ := e.openSSE("alice", testWS, 2, "")
		ev, ok := c.next(wait)
		if !ok || ev.event != "requiresSnapshot" || ev.data != `{"oldestRetainedVersion":4}` {
			t.Fatalf("got %+v, want event requiresSnapshot", ev)
		}
		c.ended(wait)
	})
	t.Run("sse at the floor", func(t *testing.T) {
		c, _ := e.openSSE("alice", testWS, 3, "")
		for want := uint64(4); want <= 5; want++ {
			if v := c.change(wait).ServerVersion; v != want {
				t.Fatalf("version %d, want %d", v, want)
			}
		}
	})
	t.Run("ws behind", func(t *testing.T) {
		c, _, err := e.openWS("alice", testWS, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := c.next(wait)
		if !ok || string(m) != `{"type":"requiresSnapshot","oldestRetainedVersion":4}` {
			t.Fatalf("got %s, want the requiresSnapshot message", m)
		}
		if st := c.closed(wait); st != websocket.StatusNormalClosure {
			t.Fatalf("close status %v, want normal closure", st)
		}
	})
}

func TestWatch_Heartbeat(t *testing.T) {
	e := newEnv(t, Config{Heartbeat: 40 * time.Millisecond})
	t.Run("sse comment", func(t *testing.T) {
		c, _ := e.openSSE("alice", testWS, 0, "")
		beats := 0
		deadline := time.After(wait)
		for beats < 2 {
			select {
			case ev := <-c.events:
				if ev.comment == "heartbeat" {
					beats++
				}
			case <-deadline:
				t.Fatalf("%d heartbeats within %s", beats, wait)
			}
		}
	})
	t.Run("ws ping", func(t *testing.T) {
		c, _, err := e.openWS("alice", testWS, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			select {
			case <-c.pings:
			case <-time.After(wait):
				t.Fatalf("%d pings within %s", i, wait)
			}
		}
	})
}

// TestWatch_RefusedBeforeStream: authorization failures and bad input are
// plain HTTP errors with api.md's body, never a stream.
func TestWatch_RefusedBeforeStream(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct {
		name, user, ws string
		cursor         uint64
		status         int
		code           string
	}{
		{"non-member", "mallory", testWS, 0, http.StatusForbidden, "FORBIDDEN"},
		{"other workspace", "alice", "ws-other", 0, http.StatusForbidden, "FORBIDDEN"},
		{"no user", "", testWS, 0, http.StatusUnauthorized, "UNAUTHORIZED"},
		{"unsafe cursor", "alice", testWS, 1 << 53, http.StatusBadRequest, "VALIDATION_ERROR"},
	} {
		t.Run("sse "+tc.name, func(t *testing.T) {
			c, resp := e.openSSE(tc.user, tc.ws, tc.cursor, "")
			if c != nil {
				t.Fatal("stream opened")
			}
			defer resp.Body.Close()
			checkErrorAnswer(t, resp, tc.status, tc.code)
		})
		t.Run("ws "+tc.name, func(t *testing.T) {
			_, resp, err := e.openWS(tc.user, tc.ws, tc.cursor)
			if err == nil {
				t.Fatal("upgraded")
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			defer resp.Body.Close()
			checkErrorAnswer(t, resp, tc.status, tc.code)
		})
	}
	if n := e.hub.Watchers(); n != 0 {
		t.Errorf("%d watchers registered by refused requests", n)
	}
}

func checkErrorAnswer(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	body, _ := io.ReadAll(resp.Body)
	var got struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Error.Code != code || got.Error.Message == "" {
		t.Errorf("body %s, want code %s", body, code)
	}
}

// TestWatch_RevokedMemberIsCutOff: membership is re-checked at every
// heartbeat.
func TestWatch_RevokedMemberIsCutOff(t *testing.T) {
	e := newEnv(t, Config{Heartbeat: 40 * time.Millisecond})
	sse, _ := e.openSSE("bob", testWS, 0, "")
	ws, _, err := e.openWS("bob", testWS, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "2 watchers", func() bool { return e.hub.Watchers() == 2 })
	e.roles.set(testWS, "bob", "")
	sse.ended(wait)
	if st := ws.closed(wait); st != websocket.StatusPolicyViolation {
		t.Errorf("close status %v, want policy violation", st)
	}
}

func TestHub_CloseEndsStreams(t *testing.T) {
	e := newEnv(t, Config{})
	sse, _ := e.openSSE("alice", testWS, 0, "")
	ws, _, err := e.openWS("alice", testWS, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "2 watchers", func() bool { return e.hub.Watchers() == 2 })
	e.hub.Close()
	e.hub.Close() // idempotent
	sse.ended(wait)
	if st := ws.closed(wait); st != websocket.StatusGoingAway {
		t.Errorf("close status %v, want going away", st)
	}
	waitFor(t, wait, "no watchers", func() bool { return e.hub.Watchers() == 0 })
	c, resp := e.openSSE("alice", testWS, 0, "")
	if c != nil {
		t.Fatal("stream opened on a closed hub")
	}
	defer resp.Body.Close()
	checkErrorAnswer(t, resp, http.StatusServiceUnavailable, "UNAVAILABLE")
	e.push("alice", threadOp("after-close", 1, 0)) // the engine no longer calls the hub
}

func TestWatcher_OverflowFlagsMissed(t *testing.T) {
	w := &watcher{wake: make(chan struct{}, 1)}
	b := func(n int) *batch { return &batch{events: make([]event, n)} }
	if w.offer(b(2), 3) {
		t.Fatal("2 of 3 overflowed")
	}
	if !w.offer(b(2), 3) {
		t.Fatal("4 of 3 did not overflow")
	}
	if w.offer(b(1), 3) {
		t.Fatal("an offer to a missed watcher counted a second overflow")
	}
	q, missed := w.take(nil)
	if !missed || len(q) != 0 {
		t.Fatalf("take: %d batches, missed %v; want the queue dropped", len(q), missed)
	}
	w.offer(b(3), 3)
	if q, missed = w.take(nil); missed || len(q) != 1 {
		t.Fatalf("after take: %d batches, missed %v", len(q), missed)
	}
	select {
	case <-w.wake:
	default:
		t.Fatal("offer left no wake token")
	}
}
