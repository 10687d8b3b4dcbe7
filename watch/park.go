package watch

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/or3/syncd/engine"
)

// Parked SSE streams.
//
// Once its headers and first comment are flushed, an SSE stream's
// connection is hijacked from net/http (ServeSSE), so an idle stream costs
// neither net/http's two goroutines nor its buffers: only the connection,
// the watcher and a timer. Nothing runs for it until something happens:
//
//   - A commit (Hub.onCommit) queues the change as before and takes the
//     watchers it finds parked; they are served in groups of sweepGroup by
//     short-lived goroutines, which write each watcher's visible frames,
//     encoded once for all of them, with one non-blocking write.
//   - Its heartbeat timer fires (time.AfterFunc: a goroutine only while it
//     runs): the membership is re-checked, a closed peer is noticed by a
//     non-blocking read, and the keep-alive comment is written.
//   - Its socket becomes readable (the client hung up: hangup_linux.go):
//     the same non-blocking read ends the stream.
//   - Anything that may block (a catch-up from the log, bytes the socket
//     did not take, a heartbeat) is done by an owner goroutine (own), with
//     blocking writes bounded by Config.WriteTimeout, which parks the
//     stream again once it has caught up.
//
// watcher.state hands the stream from one goroutine to the next, so the
// rules of stream (no gap, no duplicate, overflow and gaps read from the
// log, a stalled client cut off after WriteTimeout) hold unchanged.

// sweepGroup is how many parked watchers one fan-out goroutine serves in
// turn after a commit: large enough that goroutines are few, small enough
// that both cores write to a large workspace's watchers at once.
const sweepGroup = 64

// parked is what a hijacked stream keeps beside its stream state.
type parked struct {
	out       *rawSink
	timer     *time.Timer // the next heartbeat
	beatDue   atomic.Bool
	checkPeer atomic.Bool // the socket was readable: the client may have hung up
	fd        int32       // the socket in the hub's hang-up set, or -1
}

// hijack takes the connection of an SSE response whose headers and first
// comment are flushed, or returns nil when the ResponseWriter cannot (an
// HTTP/2 stream, a wrapper without Hijack): the stream then stays on the
// request's goroutine.
func (h *Hub) hijack(rc *http.ResponseController) net.Conn {
	if h.noPark {
		return nil
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		return nil
	}
	return conn
}

// serveParked runs a hijacked stream: registered, caught up from the log
// on the request's goroutine, then parked. It returns when the stream is
// parked or ended; net/http's goroutine for the connection then exits.
func (h *Hub) serveParked(conn net.Conn, r *http.Request, ws, user string, cursor uint64) {
	out := &rawSink{conn: conn, chunked: r.ProtoAtLeast(1, 1), timeout: h.cfg.WriteTimeout}
	if sc, ok := conn.(syscall.Conn); ok && nonBlockingWrites {
		out.raw, _ = sc.SyscallConn()
	}
	w := &watcher{ws: ws, user: user}
	s := &stream{h: h, w: w, sink: out, pos: cursor, behind: true, p: &parked{out: out, fd: -1}}
	w.s = s
	w.state.Store(stOwned) // by this goroutine, from before it is visible to commits
	s.p.timer = time.AfterFunc(h.beatInterval(), s.beatFired)
	h.hangups.watch(h, s)
	h.add(w)
	s.own()
}

// beatFired is the heartbeat timer's function.
func (s *stream) beatFired() {
	s.p.beatDue.Store(true)
	if s.w.poke() {
		s.own()
	}
}

// own serves the stream while this goroutine owns it, until it has caught
// up and nothing is queued (then it parks) or it ends.
func (s *stream) own() {
	for {
		idle, end, err := s.ownTurn()
		if err != nil || end != endNone {
			if end == endClientGone && s.h.closed() {
				end = endHubClosed // the hub's context ended a read
			}
			s.finish(end, err)
			return
		}
		if idle && s.w.park() {
			return
		}
	}
}

func (s *stream) ownTurn() (idle bool, end ending, err error) {
	if s.h.closed() {
		return false, endHubClosed, nil
	}
	if err := s.p.out.flush(); err != nil { // what a sweep left unwritten
		return false, endWriteFailed, err
	}
	if s.p.checkPeer.Swap(false) && s.p.out.peerClosed() {
		return false, endClientGone, nil
	}
	if s.p.beatDue.Swap(false) {
		if s.p.out.peerClosed() {
			return false, endClientGone, nil
		}
		if end, err := s.beat(s.h.ctx); err != nil {
			return false, end, err
		}
		s.p.timer.Reset(s.h.beatInterval())
	}
	return s.turn(s.h.ctx)
}

// sweep serves the parked streams a commit took ownership of.
func sweep(ss []*stream) {
	bp := scratch.Get().(*[]byte)
	buf := *bp
	for _, s := range ss {
		buf = s.sweep(buf[:0])
	}
	if cap(buf) <= 64<<10 {
		*bp = buf[:0]
		scratch.Put(bp)
	}
}

// scratch holds the fan-out goroutines' write buffers.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// sweep is the fast path of a parked stream that a commit took: its
// queued changes, the visible ones, in one non-blocking write of the
// frames every watcher shares, then parked again. Whatever could block is
// handed to an owner goroutine. It returns buf for reuse.
func (s *stream) sweep(buf []byte) []byte {
	for {
		if s.behind || s.p.beatDue.Load() || s.p.checkPeer.Load() || len(s.p.out.buf) > 0 || s.h.closed() {
			go s.own()
			return buf
		}
		q, missed := s.w.take(s.recycled)
		s.recycled = nil
		if missed {
			s.behind = true
			continue
		}
		if len(q) == 0 {
			if s.w.park() {
				return buf
			}
			continue
		}
		var gap bool
		buf, gap = s.frames(q, buf[:0])
		s.recycle(q)
		if len(buf) > 0 {
			n, err := s.p.out.tryWrite(buf)
			if err != nil {
				s.finish(endWriteFailed, err)
				return buf
			}
			if n < len(buf) {
				s.p.out.buf = append([]byte(nil), buf[n:]...)
			}
		}
		if gap {
			s.h.gaps.Add(1)
			s.behind = true
		}
	}
}

// frames appends the frames of the queued changes after pos that the user
// may see, advancing pos as deliver does; gap reports a version that
// skipped ahead (read from the log instead).
func (s *stream) frames(q []*batch, buf []byte) (_ []byte, gap bool) {
	chunked := s.p.out.chunked
	for _, b := range q {
		for i := range b.events {
			e := &b.events[i]
			v := e.change.ServerVersion
			if v <= s.pos {
				continue
			}
			if v != s.pos+1 {
				return buf, true
			}
			s.pos = v
			if !engine.Visible(&e.change, s.w.user) {
				continue
			}
			if chunked {
				buf = append(buf, e.sseChunk()...)
			} else {
				buf = append(buf, e.sse()...)
			}
		}
	}
	return buf, false
}

// finish ends a parked stream, by its owner: the body's last chunk when
// the stream ends cleanly, the connection closed, the watcher removed.
func (s *stream) finish(end ending, err error) {
	s.w.state.Store(stDead)
	s.p.timer.Stop()
	switch end {
	case endClientGone, endWriteFailed:
	default:
		s.p.out.end()
	}
	s.h.hangups.forget(s)
	_ = s.p.out.conn.Close()
	s.h.unregister(s.w)
	s.h.logEnd("sse", s.w.ws, s.w.user, s.pos, end, err)
}

// rawSink writes SSE frames to a hijacked connection, as HTTP/1.1 chunks
// (net/http chose chunked encoding when it wrote the headers) or, for an
// HTTP/1.0 client, as they are until the connection closes.
type rawSink struct {
	conn    net.Conn
	raw     syscall.RawConn // nil: every write goes through conn, by an owner
	chunked bool
	timeout time.Duration
	buf     []byte // built and not yet written; owner only; nil when idle
}

// flushAt bounds the bytes a catch-up builds before writing them.
const flushAt = 64 << 10

func (o *rawSink) frame(parts ...[]byte) {
	if o.chunked {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		o.buf = strconv.AppendUint(o.buf, uint64(n), 16)
		o.buf = append(o.buf, "\r\n"...)
	}
	for _, p := range parts {
		o.buf = append(o.buf, p...)
	}
	if o.chunked {
		o.buf = append(o.buf, "\r\n"...)
	}
}

func (o *rawSink) change(version uint64, data []byte) error {
	var h [40]byte
	head := append(h[:0], "id: "...)
	head = strconv.AppendUint(head, version, 10)
	head = append(head, "\ndata: "...)
	o.frame(head, data, eventEnd)
	if len(o.buf) >= flushAt {
		return o.flush()
	}
	return nil
}

func (o *rawSink) live(e *event) error {
	if o.chunked {
		o.buf = append(o.buf, e.sseChunk()...)
	} else {
		o.buf = append(o.buf, e.sse()...)
	}
	if len(o.buf) >= flushAt {
		return o.flush()
	}
	return nil
}

func (o *rawSink) heartbeat() error {
	o.frame(heartbeatFrame)
	return o.flush()
}

func (o *rawSink) requiresSnapshot(oldest uint64) error {
	var h [96]byte
	b := append(h[:0], "event: requiresSnapshot\ndata: {\"oldestRetainedVersion\":"...)
	b = strconv.AppendUint(b, oldest, 10)
	b = append(b, "}\n\n"...)
	o.frame(b)
	return o.flush()
}

// flush writes what is built, blocking up to the write timeout: a client
// that does not read for that long fails the write and is cut off.
func (o *rawSink) flush() error {
	if len(o.buf) == 0 {
		return nil
	}
	_ = o.conn.SetWriteDeadline(time.Now().Add(o.timeout))
	_, err := o.conn.Write(o.buf)
	// Cleared, or the expired deadline would fail the next non-blocking write.
	_ = o.conn.SetWriteDeadline(time.Time{})
	o.buf = nil
	return err
}

// tryWrite writes what the socket takes now, without waiting.
func (o *rawSink) tryWrite(p []byte) (int, error) {
	if o.raw == nil {
		return 0, nil
	}
	return tryWrite(o.raw, p)
}

// peerClosed reports a client that has closed its end (or reset it), by
// a non-blocking read; a stream's client sends nothing, and anything it
// does send is dropped.
func (o *rawSink) peerClosed() bool {
	return o.raw != nil && peerClosed(o.raw)
}

// end writes the chunked body's last chunk if the socket takes it now.
func (o *rawSink) end() {
	if o.chunked {
		_, _ = o.tryWrite(lastChunk)
	}
}

var lastChunk = []byte("0\r\n\r\n")
