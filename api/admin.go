package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/or3/syncd/admin"
)

// Admin is what the provider admin endpoints need (*admin.Service).
type Admin interface {
	Status(ctx context.Context) (admin.Status, error)
	WorkspaceDigest(ctx context.Context, ws string) (admin.Digest, error)
	RunAction(ctx context.Context, actor admin.Actor, id string, p admin.ActionParams, progress admin.Progress) (any, error)
	ResolveActor(ctx context.Context, actorUserID, username, requestID string) (admin.Actor, error)
}

// adminOrFail returns the Admin or answers 503.
func (s *Server) adminOrFail(w http.ResponseWriter, r *http.Request) Admin {
	if s.cfg.Admin == nil {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "the admin endpoints are not available"))
	}
	return s.cfg.Admin
}

// adminStatus is GET /v1/admin/status.
func (s *Server) adminStatus(w http.ResponseWriter, r *http.Request) {
	a := s.adminOrFail(w, r)
	if a == nil {
		return
	}
	st, err := a.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// adminDigest is GET /v1/admin/digest?workspaceId=W.
func (s *Server) adminDigest(w http.ResponseWriter, r *http.Request) {
	a := s.adminOrFail(w, r)
	if a == nil {
		return
	}
	ws := strings.TrimSpace(r.URL.Query().Get("workspaceId"))
	if ws == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "workspaceId is required"))
		return
	}
	d, err := a.WorkspaceDigest(r.Context(), ws)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// adminAction is POST /v1/admin/actions/{id}: an optional JSON body of
// parameters. The acting admin: X-Syncd-User (a user holding a grant) or
// the service token alone (the super admin, named by X-Syncd-Admin);
// X-Request-Id goes to the audit record. With "Accept:
// application/x-ndjson" the answer streams progress lines
// ({"phase","done","total"}) and ends with {"ok":true,"result":...} or
// {"ok":false,"error":{...}}; otherwise it is one JSON answer.
func (s *Server) adminAction(w http.ResponseWriter, r *http.Request) {
	a := s.adminOrFail(w, r)
	if a == nil {
		return
	}
	var body []byte
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		var err error
		if body, err = readJSONBody(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	p, err := admin.DecodeActionParams(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	actor, err := a.ResolveActor(r.Context(), strings.TrimSpace(r.Header.Get("X-Syncd-User")),
		strings.TrimSpace(r.Header.Get("X-Syncd-Admin")), strings.TrimSpace(r.Header.Get("X-Request-Id")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if !strings.Contains(r.Header.Get("Accept"), "application/x-ndjson") {
		res, err := a.RunAction(r.Context(), actor, id, p, nil)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rpcOK{OK: true, Result: res})
		return
	}
	known := false
	for _, k := range admin.Actions {
		known = known || k == id
	}
	if !known {
		_, err := a.RunAction(r.Context(), actor, id, p, nil) // the 404 answer
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	line := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(v)
		if fl != nil {
			fl.Flush()
		}
	}
	progress := func(phase string, done, total int64) {
		line(map[string]any{"phase": phase, "done": done, "total": total})
	}
	res, err := a.RunAction(r.Context(), actor, id, p, progress)
	if err != nil {
		se := toSyncErr(err)
		line(rpcErrorBody{OK: false, Error: errorDetail{Status: se.Status, Code: codeForStatus(se.Status), Message: se.Message}})
		return
	}
	line(rpcOK{OK: true, Result: res})
}
