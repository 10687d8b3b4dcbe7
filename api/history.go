package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/or3/syncd/engine"
)

// History is what the HTTP layer needs for snapshots, history GC,
// canonical storage pages and maintenance (*engine.Engine).
type History interface {
	Snapshot(ctx context.Context, user string, req engine.SnapshotRequest) (engine.SnapshotResponse, error)
	GCChangeLog(ctx context.Context, user string, req engine.GCRequest) (engine.GCResult, error)
	GCTombstones(ctx context.Context, user string, req engine.GCRequest) (engine.GCResult, error)
	CanonicalStorage(ctx context.Context, user string, req engine.CanonicalRequest) (engine.CanonicalPage, error)
	Maintenance(ctx context.Context) (engine.MaintenanceState, error)
	WorkspaceIDs(ctx context.Context) ([]string, error)
}

// snapshotJSONer is the optional fast path of History: a snapshot page as
// JSON, in two parts (head with the next page token first, then the
// items) so the token goes first without moving the items.
type snapshotJSONer interface {
	SnapshotJSONParts(ctx context.Context, user string, req engine.SnapshotRequest, head, items []byte) ([]byte, []byte, error)
}

// history returns the History or answers 503 when none is configured.
func (s *Server) history(w http.ResponseWriter, r *http.Request) History {
	if s.cfg.History == nil {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "snapshots and history are not available"))
	}
	return s.cfg.History
}

// decodeBody reads the acting user and the JSON body of a sync POST.
func (s *Server) userAndBody(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	user, err := acting(r)
	if err != nil {
		s.writeError(w, r, err)
		return "", nil, false
	}
	body, err := readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return "", nil, false
	}
	return user, body, true
}

// decoded reads the acting user and the body of a sync POST and decodes
// it; ok is false when an error answer was already written.
func decoded[Req any](s *Server, w http.ResponseWriter, r *http.Request, decode func([]byte) (Req, error)) (user string, req Req, ok bool) {
	user, body, ok := s.userAndBody(w, r)
	if !ok {
		return "", req, false
	}
	req, err := decode(body)
	if err != nil {
		s.writeError(w, r, err)
		return "", req, false
	}
	return user, req, true
}

// answer writes res as the JSON answer, or err as the error answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, res any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// writeEncoded answers with JSON bytes an engine encoded into a pooled
// buffer (pull and snapshot pages), then returns the buffer to the pool.
func writeEncoded(w http.ResponseWriter, out []byte, bufp *[]byte) {
	out = append(out, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	if cap(out) <= 4<<20 {
		*bufp = out[:0]
		pullBufs.Put(bufp)
	}
}

// snapshot is POST /v1/sync/snapshot: SnapshotRequest → SnapshotResponse.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	h := s.history(w, r)
	if h == nil {
		return
	}
	user, req, ok := decoded(s, w, r, decodeSnapshot)
	if !ok {
		return
	}
	// The engine encodes the page straight from the log when it can, else
	// the page encodes itself (both: the bytes encoding/json would write,
	// without re-validating every payload). Uncompressed: the page is
	// mostly payload text, and compressing it would cost more CPU than the
	// bytes cost on a LAN or loopback.
	bufp := pullBufs.Get().(*[]byte)
	sj, ok := h.(snapshotJSONer)
	if !ok {
		res, err := h.Snapshot(r.Context(), user, req)
		if err != nil {
			pullBufs.Put(bufp)
			s.writeError(w, r, err)
			return
		}
		writeEncoded(w, res.AppendJSON((*bufp)[:0]), bufp)
		return
	}
	var headBuf [512]byte
	head, items, err := sj.SnapshotJSONParts(r.Context(), user, req, headBuf[:0], (*bufp)[:0])
	if err != nil {
		pullBufs.Put(bufp)
		s.writeError(w, r, err)
		return
	}
	// Two writes, no copy: the head (token first) and the items.
	items = append(items, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(items)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err == nil {
		_, _ = w.Write(items)
	}
	if cap(items) <= 4<<20 {
		*bufp = items[:0]
		pullBufs.Put(bufp)
	}
}

// gc is POST /v1/sync/gc-change-log and /v1/sync/gc-tombstones:
// {scope, retentionSeconds} → {purged, hasMore}.
func (s *Server) gc(tombstones bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := s.history(w, r)
		if h == nil {
			return
		}
		user, req, ok := decoded(s, w, r, decodeGC)
		if !ok {
			return
		}
		collect := h.GCChangeLog
		if tombstones {
			collect = h.GCTombstones
		}
		res, err := collect(r.Context(), user, req)
		s.answer(w, r, res, err)
	}
}

// canonicalStorage is POST /v1/sync/canonical-storage.
func (s *Server) canonicalStorage(w http.ResponseWriter, r *http.Request) {
	h := s.history(w, r)
	if h == nil {
		return
	}
	user, req, ok := decoded(s, w, r, decodeCanonical)
	if !ok {
		return
	}
	res, err := h.CanonicalStorage(r.Context(), user, req)
	s.answer(w, r, res, err)
}

// maintenance is GET /v1/sync/maintenance (service token only).
func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	h := s.history(w, r)
	if h == nil {
		return
	}
	st, err := h.Maintenance(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// workspaces is GET /v1/sync/workspaces (service token only).
func (s *Server) workspaces(w http.ResponseWriter, r *http.Request) {
	h := s.history(w, r)
	if h == nil {
		return
	}
	ids, err := h.WorkspaceIDs(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"workspaceIds": ids})
}

// decodeSnapshot decodes a SnapshotRequest; pageSize is required.
func decodeSnapshot(body []byte) (engine.SnapshotRequest, error) {
	var req engine.SnapshotRequest
	top, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.Scope, err = decodeScope(top); err != nil {
		return req, err
	}
	if req.PageSize, _, err = top.int("pageSize", true); err != nil {
		return req, err
	}
	if req.PageToken, err = top.str("pageToken"); err != nil {
		return req, err
	}
	if req.Tables, err = top.strings("tables"); err != nil {
		return req, err
	}
	return req, nil
}

// decodeGC decodes {scope, retentionSeconds}.
func decodeGC(body []byte) (engine.GCRequest, error) {
	var req engine.GCRequest
	top, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.Scope, err = decodeScope(top); err != nil {
		return req, err
	}
	if req.RetentionSeconds, _, err = top.int("retentionSeconds", true); err != nil {
		return req, err
	}
	return req, nil
}

// decodeCanonical decodes {scope, kind, limit?, cursor?, hash?, now?}.
func decodeCanonical(body []byte) (engine.CanonicalRequest, error) {
	var req engine.CanonicalRequest
	top, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.Scope, err = decodeScope(top); err != nil {
		return req, err
	}
	if req.Kind, err = top.str("kind"); err != nil {
		return req, err
	}
	if n, present, err := top.int("limit", false); err != nil {
		return req, err
	} else if present {
		req.Limit = &n
	}
	if req.Cursor, err = top.str("cursor"); err != nil {
		return req, err
	}
	req.HashSet = !isNull(top.raw("hash"))
	if req.Hash, err = top.str("hash"); err != nil {
		return req, err
	}
	if n, present, err := top.int("now", false); err != nil {
		return req, err
	} else if present {
		req.Now = &n
	}
	return req, nil
}
