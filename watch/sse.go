package watch

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ServeSSE streams the changes of workspace after cursor to user as
// Server-Sent Events (api.md GET /v1/sync/watch, Decisions 6). The caller
// has authenticated the request and resolved the cursor (Last-Event-ID
// over ?cursor=); ServeSSE checks the workspace id, the cursor and the
// user's read role itself and answers a refusal through Config.WriteError
// before any stream byte.
//
// The stream: the headers and a first comment, flushed at once; then each
// change visible to user (pull's rules: notifications only to their owner)
// as a default event "id: <serverVersion>\ndata: <SyncChange JSON>\n\n",
// the log after the cursor first, live changes after, with no gap and no
// duplicate; a comment every Config.Heartbeat. A cursor behind the
// retained history gets one "event: requiresSnapshot" with data
// {"oldestRetainedVersion":N}, and the stream ends. The stream also ends
// when the client goes away, stops reading for Config.WriteTimeout, loses
// its membership, or the hub closes; a client resumes with Last-Event-ID.
//
// The ResponseWriter must support flushing and deadlines through
// http.ResponseController (wrappers must implement Unwrap). When it also
// supports hijacking (HTTP/1.x), ServeSSE takes the connection after the
// first comment, writes the chunked body itself, and returns once the
// stream has caught up: the stream lives on, parked, until it ends (see
// the package doc); r's context no longer bounds it. Otherwise it serves
// the stream on the calling goroutine until it ends.
func (h *Hub) ServeSSE(w http.ResponseWriter, r *http.Request, user, workspace string, cursor uint64) {
	ctx := r.Context()
	ws, err := h.admit(ctx, user, workspace, cursor)
	if err != nil {
		h.cfg.WriteError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	// A server ReadTimeout would end the stream through net/http's
	// background read; the stream only reads to notice a hang-up.
	_ = rc.SetReadDeadline(time.Time{}) // ErrNotSupported: nothing to clear

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseSink{w: w, rc: rc, timeout: h.cfg.WriteTimeout}
	err = out.comment("syncd watch")
	if err == nil {
		err = out.flush()
	}
	if err != nil {
		h.log.Debug("watch: sse open failed", "workspace", ws, "err", err)
		out.abandon()
		return
	}

	if conn := h.hijack(rc); conn != nil {
		h.serveParked(conn, r, ws, user, cursor)
		return
	}
	wt := h.register(ws, user)
	defer h.unregister(wt)
	s := &stream{h: h, w: wt, sink: out, pos: cursor}
	end, err := s.run(ctx)
	h.logEnd("sse", ws, user, s.pos, end, err)
	if end == endWriteFailed || end == endClientGone {
		out.abandon()
	} else {
		out.arm() // let net/http end the chunked body, within WriteTimeout
	}
}

// sseSink writes SSE frames into the response's buffer. The write deadline
// is armed before the first byte of a batch and the batch is flushed as
// one, so a client that stops reading fails the write after WriteTimeout
// instead of holding the stream.
type sseSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	armed   bool
	head    [96]byte // a frame head, built without allocating
}

func (s *sseSink) arm() {
	if !s.armed {
		s.armed = true
		// ErrNotSupported leaves the stream without stall protection; the
		// HTTP layer's wrappers must implement Unwrap.
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	}
}

// abandon makes any further write fail at once, so net/http does not
// block finishing the response to a client that is gone or stalled.
func (s *sseSink) abandon() { _ = s.rc.SetWriteDeadline(time.Now()) }

func (s *sseSink) write(p []byte) error {
	s.arm()
	_, err := s.w.Write(p)
	return err
}

func (s *sseSink) change(version uint64, data []byte) error {
	b := append(s.head[:0], "id: "...)
	b = strconv.AppendUint(b, version, 10)
	b = append(b, "\ndata: "...)
	if err := s.write(b); err != nil {
		return err
	}
	if err := s.write(data); err != nil {
		return err
	}
	return s.write(eventEnd)
}

var eventEnd = []byte("\n\n")

func (s *sseSink) live(e *event) error { return s.write(e.sse()) }

func (s *sseSink) comment(text string) error {
	return s.write([]byte(": " + text + "\n\n"))
}

func (s *sseSink) heartbeat() error {
	if err := s.write(heartbeatFrame); err != nil {
		return err
	}
	return s.flush()
}

var heartbeatFrame = []byte(": heartbeat\n\n")

func (s *sseSink) requiresSnapshot(oldest uint64) error {
	b := append(s.head[:0], "event: requiresSnapshot\ndata: {\"oldestRetainedVersion\":"...)
	b = strconv.AppendUint(b, oldest, 10)
	b = append(b, "}\n\n"...)
	if err := s.write(b); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseSink) flush() error {
	if !s.armed {
		return nil // nothing written since the last flush
	}
	s.armed = false
	err := s.rc.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return errNoFlush
	}
	return err
}

var errNoFlush = errors.New("watch: the ResponseWriter cannot flush; SSE needs http.Flusher")
