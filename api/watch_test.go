package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/or3/syncd/internal/crashtest"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id, event, data string
}

// sseStream reads events from an open watch response.
type sseStream struct {
	resp *http.Response
	rd   *bufio.Reader
}

func openSSE(t *testing.T, e *env, user, query string, header map[string]string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/v1/sync/watch?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("X-Syncd-User", user)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("watch answer %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseStream{resp: resp, rd: bufio.NewReader(resp.Body)}
}

// next returns the next event (comments skipped), failing after timeout.
func (s *sseStream) next(t *testing.T, timeout time.Duration) sseEvent {
	t.Helper()
	type result struct {
		ev  sseEvent
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var ev sseEvent
		for {
			line, err := s.rd.ReadString('\n')
			if err != nil {
				ch <- result{err: err}
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if ev.data != "" || ev.event != "" {
					ch <- result{ev: ev}
					return
				}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id:"):
				ev.id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
			case strings.HasPrefix(line, "event:"):
				ev.event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("read event: %v", r.err)
		}
		return r.ev
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
	}
	return sseEvent{}
}

// TestWatch_SSEEndToEnd pushes through POST /v1/sync/push and reads the
// change from GET /v1/sync/watch: catch-up first, then live; Last-Event-ID
// takes precedence over cursor.
func TestWatch_SSEEndToEnd(t *testing.T) {
	e := startEnv(t, envOpts{})
	ctx := context.Background()
	alice := e.user("alice")
	ws := e.workspace(alice)

	// Two changes before the stream opens.
	if _, err := e.c.Push(ctx, alice, ws, []crashtest.Op{crashtest.KVPut("d1", "a", 1, "1"), crashtest.KVPut("d1", "b", 1, "2")}); err != nil {
		t.Fatal(err)
	}
	s := openSSE(t, e, alice, "workspaceId="+ws+"&cursor=0", map[string]string{"Last-Event-ID": "1"})
	// Last-Event-ID 1 wins over cursor 0: the replay starts at version 2.
	ev := s.next(t, 5*time.Second)
	if ev.id != "2" {
		t.Fatalf("first event id %q, want 2 (Last-Event-ID over cursor)", ev.id)
	}
	// A live change.
	op := crashtest.KVPut("d2", "c", 1, "live")
	res, err := e.c.Push(ctx, alice, ws, []crashtest.Op{op})
	if err != nil {
		t.Fatal(err)
	}
	ev = s.next(t, 5*time.Second)
	if ev.id != strconv.FormatUint(res.ServerVersion, 10) {
		t.Fatalf("live event id %q, want %d", ev.id, res.ServerVersion)
	}
	var ch crashtest.Change
	if err := json.Unmarshal([]byte(ev.data), &ch); err != nil {
		t.Fatal(err)
	}
	if ch.PK != "c" || ch.Stamp.OpID != op.Stamp.OpID || ch.ServerVersion != 3 {
		t.Fatalf("live change %+v", ch)
	}
	// The stream is counted as a watcher.
	if n := e.d.Hub.Watchers(); n != 1 {
		t.Fatalf("watchers %d, want 1", n)
	}
}

// TestWatch_WebSocket reads a pushed change over GET /v1/sync/ws.
func TestWatch_WebSocket(t *testing.T) {
	e := startEnv(t, envOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alice := e.user("alice")
	ws := e.workspace(alice)
	h := http.Header{}
	h.Set("Authorization", "Bearer "+testToken)
	h.Set("X-Syncd-User", alice)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"/v1/sync/ws?workspaceId="+ws+"&cursor=0", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, err := e.c.Push(ctx, alice, ws, []crashtest.Op{crashtest.KVPut("d1", "a", 1, "1")}); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ch crashtest.Change
	if err := json.Unmarshal(msg, &ch); err != nil || ch.PK != "a" || ch.ServerVersion != 1 {
		t.Fatalf("message %s (%v)", msg, err)
	}
}

// TestWatch_ShutdownEndsStreams checks that shutdown does not wait for an
// open stream: the daemon ends it and stops promptly.
func TestWatch_ShutdownEndsStreams(t *testing.T) {
	d := newDaemon(t, envOpts{})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, d: d, c: crashtest.NewClient(d.URL(), testToken), url: d.URL()}
	alice := e.user("alice")
	ws := e.workspace(alice)
	s := openSSE(t, e, alice, "workspaceId="+ws, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with an open stream", took)
	}
	// The stream ended.
	done := make(chan error, 1)
	go func() {
		_, err := s.rd.ReadString(0)
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after shutdown")
	}
}
