package watch

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// ServeWS is ServeSSE over WebSocket (api.md GET /v1/sync/ws): the same
// checks answered as HTTP errors before the upgrade, then the same stream
// with one JSON SyncChange per text message, a ping every
// Config.Heartbeat, and a cursor behind the retained history answered by
// the message {"type":"requiresSnapshot","oldestRetainedVersion":N} and a
// normal closure (1000). Other endings close with 1001 (hub closed), 1008
// (membership lost), 1011 (log unreadable, retry), or drop the connection
// (client gone or not reading). The client sends nothing; a data message
// from it closes the stream with 1008.
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request, user, workspace string, cursor uint64) {
	ws, err := h.admit(r.Context(), user, workspace, cursor)
	if err != nil {
		h.cfg.WriteError(w, r, err)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		// Accept has answered the request (400, 403 on a foreign origin, 426).
		h.log.Debug("watch: websocket accept failed", "workspace", ws, "err", err)
		return
	}
	// CloseRead answers pings, pongs and the close handshake on one goroutine
	// and cancels ctx when the connection ends.
	ctx := c.CloseRead(r.Context())

	wt := h.register(ws, user)
	defer h.unregister(wt)
	out := &wsSink{c: c, ctx: ctx, timeout: h.cfg.WriteTimeout}
	s := &stream{h: h, w: wt, sink: out, pos: cursor}
	end, err := s.run(ctx)
	out.flush()
	h.logEnd("ws", ws, user, s.pos, end, err)
	switch end {
	case endRequiresSnapshot:
		_ = c.Close(websocket.StatusNormalClosure, "requiresSnapshot")
	case endHubClosed:
		_ = c.Close(websocket.StatusGoingAway, "server shutting down")
	case endRefused:
		_ = c.Close(websocket.StatusPolicyViolation, "forbidden")
	case endReadFailed:
		_ = c.Close(websocket.StatusInternalError, "storage unavailable, retry later")
	default: // client gone, or not reading: no handshake to wait for
		_ = c.CloseNow()
	}
}

// wsSink writes one message per change. A batch shares one deadline
// context; coder/websocket closes the connection when it expires mid-write.
type wsSink struct {
	c       *websocket.Conn
	ctx     context.Context
	timeout time.Duration
	wctx    context.Context
	cancel  context.CancelFunc
}

func (s *wsSink) arm() context.Context {
	if s.wctx == nil {
		s.wctx, s.cancel = context.WithTimeout(s.ctx, s.timeout)
	}
	return s.wctx
}

func (s *wsSink) change(_ uint64, data []byte) error {
	return s.c.Write(s.arm(), websocket.MessageText, data)
}

func (s *wsSink) live(e *event) error {
	return s.c.Write(s.arm(), websocket.MessageText, e.json())
}

func (s *wsSink) flush() error {
	if s.cancel != nil {
		s.cancel()
		s.wctx, s.cancel = nil, nil
	}
	return nil
}

func (s *wsSink) heartbeat() error {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	return s.c.Ping(ctx)
}

func (s *wsSink) requiresSnapshot(oldest uint64) error {
	b := append([]byte(`{"type":"requiresSnapshot","oldestRetainedVersion":`), strconv.FormatUint(oldest, 10)...)
	b = append(b, '}')
	err := s.c.Write(s.arm(), websocket.MessageText, b)
	s.flush()
	return err
}
