package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/or3/syncd/engine"
)

// push is POST /v1/sync/push: PushBatch → PushResult.
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	user, err := acting(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	batch, err := decodePush(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.cfg.Sync.Push(r.Context(), user, batch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.observePush(&res)
	writeJSON(w, http.StatusOK, res)
}

// pull is POST /v1/sync/pull: PullRequest → PullResponse.
func (s *Server) pull(w http.ResponseWriter, r *http.Request) {
	user, err := acting(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodePull(body)
	if err != nil {
		s.writeError(w, r, err)
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
		out = append(out, '\n')
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		if cap(out) <= 4<<20 {
			*bufp = out
			pullBufs.Put(bufp)
		}
		return
	}
	res, err := s.cfg.Sync.Pull(r.Context(), user, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// pullJSONer is the optional fast path of Sync: the pull answer as JSON.
type pullJSONer interface {
	PullJSON(ctx context.Context, user string, req engine.PullRequest, dst []byte) ([]byte, error)
}

var pullBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// updateCursor is POST /v1/sync/update-cursor: {scope, deviceId, version}
// → {ok:true}.
func (s *Server) updateCursor(w http.ResponseWriter, r *http.Request) {
	user, err := acting(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodeCursor(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Sync.UpdateCursor(r.Context(), user, req); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
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
