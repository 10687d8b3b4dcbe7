package watch

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/or3/syncd/syncerr"
)

// writeError returns the default Config.WriteError: api.md's
// {"error":{"code","message"}} with the status of the *syncerr.Error in
// err, or 500 SERVER_ERROR (cause logged, not shown) for anything else.
func writeError(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		e, ok := syncerr.As(err)
		if !ok {
			e = syncerr.Internal(err, "internal error")
		}
		if e.Status >= 500 {
			log.Warn("watch: refused", "path", r.URL.Path, "err", err)
		}
		body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		if e.RetryAfterSeconds > 0 {
			h.Set("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
		}
		w.WriteHeader(e.Status)
		_, _ = w.Write(append(body, '\n')) // the client may be gone; nothing to do
	}
}
