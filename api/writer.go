package api

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
)

// statusWriter records the status of an answer for metrics and recovery.
// It passes Flush and Hijack through (SSE and WebSocket need them) and
// unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.code = http.StatusOK
		w.wroteHeader = true
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if !w.wroteHeader {
		w.code = http.StatusOK
		w.wroteHeader = true
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("api: connection cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err == nil && !w.wroteHeader {
		// A WebSocket upgrade: the handshake answer is 101.
		w.code = http.StatusSwitchingProtocols
		w.wroteHeader = true
	}
	return conn, rw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

func stack() string { return string(debug.Stack()) }
