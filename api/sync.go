package api

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/or3/syncd/engine"
)

// push is POST /v1/sync/push: PushBatch → PushResult.
//
// The body is decoded in one pass (decodePushFast) that hands the engine
// compacted, pre-scanned payloads; a body it does not accept goes through
// checkJSON and decodePush, which give every error its answer. The answer
// is encoded without reflection (PushResult.AppendJSON, encoding/json's
// bytes).
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	user, err := acting(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	batch, ok := decodePushFast(body)
	if !ok {
		if err := checkJSON(body); err != nil {
			s.writeError(w, r, err)
			return
		}
		if batch, err = decodePush(body); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	res, err := s.cfg.Sync.Push(r.Context(), user, batch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.observePush(&res)
	bufp := pullBufs.Get().(*[]byte)
	writeEncoded(w, res.AppendJSON((*bufp)[:0]), bufp)
}

// pull is POST /v1/sync/pull: PullRequest → PullResponse.
func (s *Server) pull(w http.ResponseWriter, r *http.Request) {
	user, req, ok := decoded(s, w, r, decodePull)
	if !ok {
		return
	}
	// The engine can encode the answer straight from the log (no Go values,
	// no reflection); use it when the Sync has it.
	if pj, ok := s.cfg.Sync.(pullJSONer); ok {
		bufp := pullBufs.Get().(*[]byte)
		out, err := pj.PullJSON(r.Context(), user, req, (*bufp)[:0])
		if err != nil {
			pullBufs.Put(bufp)
			s.writeError(w, r, err)
			return
		}
		writeEncoded(w, out, bufp)
		return
	}
	res, err := s.cfg.Sync.Pull(r.Context(), user, req)
	s.answer(w, r, res, err)
}

// pullJSONer is the optional fast path of Sync: the pull answer as JSON.
type pullJSONer interface {
	PullJSON(ctx context.Context, user string, req engine.PullRequest, dst []byte) ([]byte, error)
}

var pullBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// updateCursor is POST /v1/sync/update-cursor: {scope, deviceId, version}
// → {ok:true}.
func (s *Server) updateCursor(w http.ResponseWriter, r *http.Request) {
	user, req, ok := decoded(s, w, r, decodeCursor)
	if !ok {
		return
	}
	err := s.cfg.Sync.UpdateCursor(r.Context(), user, req)
	s.answer(w, r, map[string]bool{"ok": true}, err)
}

// serverVersion is GET /v1/sync/server-version?workspaceId=W →
// {serverVersion} (read role).
func (s *Server) serverVersion(w http.ResponseWriter, r *http.Request) {
	user, err := acting(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, err := queryWorkspace(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.cfg.Sync.ServerVersion(r.Context(), user, ws)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"serverVersion": v})
}

// queryWorkspace reads the workspaceId query parameter of a GET.
func queryWorkspace(r *http.Request) (string, error) {
	raw := r.URL.Query().Get("workspaceId")
	if strings.TrimSpace(raw) == "" {
		return "", errorf(http.StatusBadRequest, "the workspaceId query parameter is required")
	}
	return engine.NormalizeScope(engine.Scope{WorkspaceID: raw})
}
