package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// watchSSE is GET /v1/sync/watch?workspaceId=W&cursor=N (Server-Sent
// Events, api.md Decisions 6).
func (s *Server) watchSSE(w http.ResponseWriter, r *http.Request) {
	s.watch(w, r, false)
}

// watchWS is GET /v1/sync/ws?workspaceId=W&cursor=N (the same stream over
// WebSocket).
func (s *Server) watchWS(w http.ResponseWriter, r *http.Request) {
	s.watch(w, r, true)
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, ws bool) {
	user, err := acting(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	workspace, err := queryWorkspace(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cursor, err := watchCursor(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.cfg.Watch == nil {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "watch is not available"))
		return
	}
	// The Watch authorizes the read itself before it writes a byte of the
	// stream and answers a refusal as an ordinary JSON error (watch.Config
	// WriteError). Checking here too would cost a second role read and grow
	// this goroutine's stack, which an idle stream keeps for its lifetime.
	ctx, done, ok := s.openStream(r.Context())
	if !ok {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "server is shutting down"))
		return
	}
	defer done()
	// A stream outlives the server's read timeout: clear the connection's
	// deadlines, or the server would cut the stream (and cancel its
	// context) when ReadTimeout passes.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	r = r.WithContext(ctx)
	if ws {
		s.cfg.Watch.ServeWS(w, r, user, workspace, cursor)
	} else {
		s.cfg.Watch.ServeSSE(w, r, user, workspace, cursor)
	}
}

// watchCursor is the stream's starting cursor: Last-Event-ID when present
// (a reconnecting EventSource), else the cursor query parameter, else 0.
func watchCursor(r *http.Request) (uint64, error) {
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		return parseCursor(v, "Last-Event-ID")
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		return parseCursor(v, "cursor")
	}
	return 0, nil
}

func parseCursor(v, name string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > maxSafeInt {
		return 0, errorf(http.StatusBadRequest, "%s must be a non-negative safe integer, not %.40q", name, v)
	}
	return n, nil
}

// openStream registers a stream that CloseStreams can end. ok is false
// once the server is closing.
func (s *Server) openStream(parent context.Context) (ctx context.Context, done func(), ok bool) {
	ctx, cancel := context.WithCancel(parent)
	key := new(int)
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.closing {
		cancel()
		return nil, nil, false
	}
	s.streams[key] = cancel
	s.streamsWG.Add(1)
	return ctx, func() {
		cancel()
		s.streamsMu.Lock()
		delete(s.streams, key)
		s.streamsMu.Unlock()
		s.streamsWG.Done()
	}, true
}

// CloseStreams refuses new watch streams and waits for the open ones to
// end; when ctx ends first, it cancels the remaining streams' contexts and
// waits for their handlers to return (at most a second more). The daemon
// calls it at shutdown after closing the watch hub (which ends streams
// cleanly: SSE responses end, WebSockets close with 1001): http.Server's
// Shutdown waits for connections to go idle, which a stream never does by
// itself, and does not track hijacked WebSocket connections at all. An
// SSE stream the hub has parked (its connection hijacked, its handler
// returned) is no longer counted here: Hub.Close ends those itself.
func (s *Server) CloseStreams(ctx context.Context) error {
	s.streamsMu.Lock()
	s.closing = true
	s.streamsMu.Unlock()
	waited := make(chan struct{})
	go func() {
		s.streamsWG.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
	}
	s.streamsMu.Lock()
	n := len(s.streams)
	for _, cancel := range s.streams {
		cancel()
	}
	s.streamsMu.Unlock()
	select {
	case <-waited:
		return nil
	case <-time.After(time.Second):
		return fmt.Errorf("api: %d watch streams still open", n)
	}
}
