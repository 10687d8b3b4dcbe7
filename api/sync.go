package api

import (
	"net/http"
	"strings"

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
	res, err := s.cfg.Sync.Pull(r.Context(), user, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

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
