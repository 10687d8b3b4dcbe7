package api

import (
	"net/http"
	"time"
)

// ProtocolVersion is the sync protocol /v1/version reports.
const ProtocolVersion = 1

// healthz is liveness: the process answers.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// readyz is readiness: the log accepts writes.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"protocol": ProtocolVersion, "version": s.cfg.Version})
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler().ServeHTTP(w, r)
}

// maxClockOffset bounds the test clock offset (about a century).
const maxClockOffset = 100 * 366 * 24 * 3600

// testClock is the test hook POST /v1/test/clock {"offsetSeconds": N}: it
// sets syncd's clock to real time + N seconds (not cumulative).
func (s *Server) testClock(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := parseObject(body, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, _, err := o.int("offsetSeconds", true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if n > maxClockOffset || n < -maxClockOffset {
		s.writeError(w, r, errorf(http.StatusBadRequest, "offsetSeconds must be within ±%d", maxClockOffset))
		return
	}
	off := time.Duration(n) * time.Second
	s.cfg.SetClockOffset(off)
	s.log.Warn("test hook: clock offset set", "offsetSeconds", n)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "offsetSeconds": n, "nowMs": time.Now().Add(off).UnixMilli()})
}
