package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/or3/syncd/jobs"
)

// JobStreams opens background-job content streams (*jobs.Store).
type JobStreams interface {
	OpenStream(ctx context.Context, id, userID string, offset int64) (*jobs.Stream, error)
}

// jobKeepAlive is how often an idle job stream sends a comment line.
const jobKeepAlive = 15 * time.Second

// jobStream is GET /v1/jobs/{id}/stream?userId=U&offset=N (api.md
// Decisions 7): Server-Sent Events of the job's content from byte offset N
// (Last-Event-ID first), each `id: <offset after the chunk>` with
// `data: {"offset":<start>,"content":"<chunk>"}`, and a final `event: done`
// with the status. A re-claimed job whose content went back to its
// contentBase sends `event: reset` with `data: {"offset":<where it
// resumes>}` (clients that ignore it still get every byte of the final
// content once the job is done via getJob). An unknown job, or one the
// user does not own, is 404.
func (s *Server) jobStream(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Jobs == nil {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "jobs are not available"))
		return
	}
	id := r.PathValue("id")
	user := strings.TrimSpace(r.URL.Query().Get("userId"))
	if user == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "the userId query parameter is required"))
		return
	}
	var offset uint64
	var err error
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		offset, err = parseCursor(v, "Last-Event-ID")
	} else if v := r.URL.Query().Get("offset"); v != "" {
		offset, err = parseCursor(v, "offset")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.cfg.Jobs.OpenStream(r.Context(), id, user, int64(offset))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, done, ok := s.openStream(r.Context())
	if !ok {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "server is shutting down"))
		return
	}
	defer done()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(": job stream\n\n"))
	_ = rc.Flush()
	var buf bytes.Buffer
	for {
		wait, cancel := context.WithTimeout(ctx, jobKeepAlive)
		ev, err := st.Next(wait)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			_ = rc.Flush()
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("job stream ended", "job", id, "err", err)
			}
			return
		}
		buf.Reset()
		writeJobEvent(&buf, ev)
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		_ = rc.Flush()
		if ev.Kind == "done" {
			return
		}
	}
}

// writeJobEvent frames one job stream event.
func writeJobEvent(buf *bytes.Buffer, ev jobs.StreamEvent) {
	switch ev.Kind {
	case "done":
		fmt.Fprintf(buf, "event: done\ndata: {\"status\":%s}\n\n", jsonString(ev.Status))
	case "reset":
		fmt.Fprintf(buf, "event: reset\nid: %d\ndata: {\"offset\":%d}\n\n", ev.Offset, ev.Offset)
	default:
		buf.WriteString("id: ")
		buf.WriteString(strconv.FormatInt(ev.End(), 10))
		buf.WriteString("\ndata: {\"offset\":")
		buf.WriteString(strconv.FormatInt(ev.Offset, 10))
		buf.WriteString(",\"content\":")
		buf.WriteString(jsonString(ev.Content))
		buf.WriteString("}\n\n")
	}
}

// jsonString is s as a JSON string without HTML escaping (one line: JSON
// escapes newlines, so it fits an SSE data field).
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
