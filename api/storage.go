package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/syncerr"
)

// Storage is the storage gateway (*blobs.Gateway): the StorageGatewayAdapter
// operations and, for the fs backend, the transfers through syncd.
type Storage interface {
	// Call runs POST /v1/storage/{op} for the acting user.
	Call(ctx context.Context, user, op string, body json.RawMessage) (any, error)
	// Upload stores the body of PUT /v1/blobs/{token}; contentLength is
	// -1 when the request declares none.
	Upload(ctx context.Context, token string, contentLength int64, contentType string, body io.Reader) error
	// Download opens the object of GET /v1/blobs/{token}.
	Download(ctx context.Context, token, rangeHeader string) (*blobs.Download, error)
}

// storageOp is POST /v1/storage/{op} (api.md "Storage").
func (s *Server) storageOp(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Storage == nil {
		s.notFound(w, r)
		return
	}
	user, body, ok := s.userAndBody(w, r)
	if !ok {
		return
	}
	res, err := s.cfg.Storage.Call(r.Context(), user, r.PathValue("op"), body)
	s.answer(w, r, res, err)
}

// blobTransferTimeout bounds one upload or download; the server-wide read
// timeout is too short for 100 MiB over a slow link.
const blobTransferTimeout = time.Hour

// blob is PUT and GET/HEAD /v1/blobs/{token}: no bearer token, the signed
// grant in the path is the capability.
func (s *Server) blob(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Storage == nil {
		s.notFound(w, r)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(blobTransferTimeout))  // best effort: not every writer supports it
	_ = rc.SetWriteDeadline(time.Now().Add(blobTransferTimeout)) // best effort
	token := r.PathValue("token")
	if r.Method == http.MethodPut {
		err := s.cfg.Storage.Upload(r.Context(), token, r.ContentLength, r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			// Do not read (or drain) the rest of a refused body: the read
			// deadline above is an hour, and net/http drains up to 256 KiB
			// after the handler, so a bogus grant with a trickled body
			// would otherwise hold the connection that long.
			w.Header().Set("Connection", "close")
			s.writeError(w, r, err)
			_ = rc.SetReadDeadline(time.Now())
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	d, err := s.cfg.Storage.Download(r.Context(), token, r.Header.Get("Range"))
	if err != nil {
		if se, ok := syncerr.As(err); ok && se.Status == http.StatusRequestedRangeNotSatisfiable {
			writeJSON(w, se.Status, errorBody{Error: errorDetail{Status: se.Status, Code: syncerr.CodeValidation, Message: se.Message}})
			return
		}
		s.writeError(w, r, err)
		return
	}
	defer func() { _ = d.Body.Close() }() // read-only
	h := w.Header()
	if d.ContentType != "" {
		h.Set("Content-Type", d.ContentType)
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	if d.Disposition != "" {
		h.Set("Content-Disposition", d.Disposition)
	}
	if d.ETag != "" {
		h.Set("ETag", d.ETag)
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.FormatInt(d.Length, 10))
	status := http.StatusOK
	if d.Partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(d.Offset, 10)+"-"+strconv.FormatInt(d.Offset+d.Length-1, 10)+"/"+strconv.FormatInt(d.Size, 10))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	// Copy into the connection's own writer, so an *os.File source can
	// go out with sendfile.
	var dst io.Writer = w
	for {
		u, ok := dst.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		dst = u.Unwrap()
	}
	if _, err := io.Copy(dst, d.Body); err != nil {
		s.log.Debug("blob download ended early", "err", err)
	}
}
