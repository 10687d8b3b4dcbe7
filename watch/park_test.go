package watch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/engine"
)

// TestServeSSE_Unparked: a stream whose connection cannot be hijacked
// (HTTP/2, a wrapper without Hijack) is served on its request's goroutine
// with the same stream: catch-up, live changes, the notification rule,
// heartbeats, the end at Close.
func TestServeSSE_Unparked(t *testing.T) {
	e := newEnv(t, Config{Heartbeat: 40 * time.Millisecond}, withoutParking())
	e.push("alice", notificationOp("n-alice", "alice")) // v1
	e.push("alice", threadOp("t1", 1, 0))               // v2
	alice, _ := e.openSSE("alice", testWS, 0, "")
	bob, _ := e.openSSE("bob", testWS, 0, "")
	waitFor(t, wait, "2 watchers", func() bool { return e.hub.Watchers() == 2 })
	e.push("bob", notificationOp("n-bob", "bob")) // v3
	e.push("bob", threadOp("t2", 1, 0))           // v4
	versions := func(c *sseClient) []uint64 {
		var vs []uint64
		for len(vs) == 0 || vs[len(vs)-1] != 4 {
			vs = append(vs, c.change(wait).ServerVersion)
		}
		return vs
	}
	if got := versions(alice); !slices.Equal(got, []uint64{1, 2, 4}) {
		t.Errorf("alice received %v", got)
	}
	if got := versions(bob); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Errorf("bob received %v", got)
	}
	deadline := time.After(wait)
	for beats := 0; beats < 2; {
		select {
		case ev := <-alice.events:
			if ev.comment == "heartbeat" {
				beats++
			}
		case <-deadline:
			t.Fatal("no heartbeats")
		}
	}
	e.hub.Close()
	alice.ended(wait)
	bob.ended(wait)
	waitFor(t, wait, "no watchers", func() bool { return e.hub.Watchers() == 0 })
}

// TestParked_HungUpClientLeaves: a parked stream has no reader; a client
// that hangs up is noticed through the hub's epoll set at once on Linux
// (the heartbeat is a minute here), at its next heartbeat elsewhere.
func TestParked_HungUpClientLeaves(t *testing.T) {
	beat := time.Minute
	if runtime.GOOS != "linux" {
		beat = 40 * time.Millisecond
	}
	e := newEnv(t, Config{Heartbeat: beat})
	conns := []net.Conn{
		rawSSE(t, e.srv.Listener.Addr().String(), "alice", 0, 0),
		rawSSE(t, e.srv.Listener.Addr().String(), "bob", 0, 0),
	}
	waitFor(t, wait, "2 watchers", func() bool { return e.hub.Watchers() == 2 })
	conns[0].Close()
	waitFor(t, wait, "the closed stream to leave", func() bool { return e.hub.Watchers() == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := e.hub.Watchers(); n != 1 {
		t.Fatalf("%d watchers, want the open one", n)
	}
	e.pushThreads("alice", 1) // the open one still gets changes
	_ = conns[1].SetReadDeadline(time.Now().Add(wait))
	if _, err := bufio.NewReader(conns[1]).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	conns[1].Close()
	waitFor(t, wait, "no watchers", func() bool { return e.hub.Watchers() == 0 })
}

// TestRawSink_PeerClosed: the heartbeat's check for a hung-up client.
func TestRawSink_PeerClosed(t *testing.T) {
	if !nonBlockingWrites {
		// Only builds without rawconn_unix.go; CI (Linux) must run it.
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: this build has no non-blocking socket access, so the hung-up-client check is untested")
		}
		t.Skip("no non-blocking socket access here")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	o := &rawSink{conn: server, raw: raw}
	if o.peerClosed() {
		t.Fatal("open connection reported closed")
	}
	fmt.Fprint(client, "stray bytes")
	time.Sleep(20 * time.Millisecond)
	if o.peerClosed() {
		t.Fatal("a client that sent bytes reported closed")
	}
	client.Close()
	waitFor(t, wait, "the hang-up", o.peerClosed)
}

// rawStream opens a watch stream over a bare connection with the given
// protocol version and returns the response (head read) and its reader.
func rawStream(t *testing.T, e *env, proto string, cursor uint64) (net.Conn, *http.Response) {
	t.Helper()
	addr := e.srv.Listener.Addr().String()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/sync/watch?workspaceId=%s&cursor=%d %s\r\nHost: %s\r\nX-Syncd-User: alice\r\n\r\n", testWS, cursor, proto, addr)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	return conn, resp
}

// readFrames reads SSE frames from rd until it holds n "id:" lines.
func readFrames(t *testing.T, rd *bufio.Reader, n int) []uint64 {
	t.Helper()
	var ids []uint64
	for len(ids) < n {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("after ids %v: %v", ids, err)
		}
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// TestParked_Framing: a parked stream writes HTTP/1.1 chunks itself
// (catch-up, live changes) and ends the chunked body cleanly at Close; an
// HTTP/1.0 client gets the frames unchunked until the connection closes.
func TestParked_Framing(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.pushThreads("alice", 2)
			_, resp := rawStream(t, e, proto, 0)
			chunked := slices.Equal(resp.TransferEncoding, []string{"chunked"})
			if chunked != (proto == "HTTP/1.1") {
				t.Fatalf("Transfer-Encoding %v for %s", resp.TransferEncoding, proto)
			}
			rd := bufio.NewReader(resp.Body)
			if got := readFrames(t, rd, 2); !slices.Equal(got, []uint64{1, 2}) {
				t.Fatalf("catch-up ids %v", got)
			}
			waitFor(t, wait, "a watcher", func() bool { return e.hub.Watchers() == 1 })
			e.pushThreads("bob", 2)
			if got := readFrames(t, rd, 2); !slices.Equal(got, []uint64{3, 4}) {
				t.Fatalf("live ids %v", got)
			}
			e.hub.Close()
			rest, err := io.ReadAll(rd)
			if err != nil {
				t.Fatalf("body ended with %v, want a clean end (rest %q)", err, rest)
			}
			if strings.Contains(string(rest), "id:") {
				t.Fatalf("frames after the last change: %q", rest)
			}
		})
	}
}

// TestParked_EndsCleanlyOnRequiresSnapshot: the requiresSnapshot event is
// the last thing in a chunked body that ends properly.
func TestParked_EndsCleanlyOnRequiresSnapshot(t *testing.T) {
	e := newEnv(t, Config{})
	e.pushThreads("alice", 3)
	e.setFloor(testWS, 2)
	_, resp := rawStream(t, e, "HTTP/1.1", 1)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body %q ended with %v", body, err)
	}
	if !strings.HasSuffix(string(body), "event: requiresSnapshot\ndata: {\"oldestRetainedVersion\":3}\n\n") {
		t.Fatalf("body %q", body)
	}
	waitFor(t, wait, "no watchers", func() bool { return e.hub.Watchers() == 0 })
}

// TestEvent_Encoding: the shared encodings of a change are one buffer: the
// JSON is the engine's, the frame wraps it, the chunk wraps the frame.
func TestEvent_Encoding(t *testing.T) {
	for _, pad := range []int{0, 100, 5000} {
		op := threadOp("t1", 1, pad)
		e := &event{change: engine.Change{SyncChange: engine.SyncChange{ServerVersion: 123456789, TableName: op.TableName,
			PK: op.PK, Op: op.Operation, Payload: op.Payload, Stamp: op.Stamp}}}
		want := engine.AppendChangeJSON(nil, &e.change.SyncChange)
		if string(e.json()) != string(want) {
			t.Fatalf("json %s, want %s", e.json(), want)
		}
		frame := "id: 123456789\ndata: " + string(want) + "\n\n"
		if string(e.sse()) != frame {
			t.Fatalf("frame %q", e.sse())
		}
		chunk := strconv.FormatInt(int64(len(frame)), 16) + "\r\n" + frame + "\r\n"
		if string(e.sseChunk()) != chunk {
			t.Fatalf("chunk %q, want %q", e.sseChunk(), chunk)
		}
		// The chunk decodes to the frame.
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+string(e.sseChunk())+"0\r\n\r\n")), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil && !errors.Is(err, io.EOF) || string(body) != frame {
			t.Fatalf("decoded %q, %v", body, err)
		}
	}
}
