package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/or3/syncd/syncerr"
)

// errorDetail is the error object of every failure body.
type errorDetail struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorBody is the whole-request failure of api.md "Errors". Status is an
// extra key (clients ignore extras; it matches the RPC envelope).
type errorBody struct {
	Error errorDetail `json:"error"`
}

// rpcErrorBody is an RPC failure (api.md "RPC stores").
type rpcErrorBody struct {
	OK    bool        `json:"ok"`
	Error errorDetail `json:"error"`
}

// codeForStatus is api.md Decisions 1: status and code always go together.
// Statuses outside the table (405) borrow the closest code.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		return syncerr.CodeValidation
	case http.StatusUnauthorized:
		return syncerr.CodeUnauthorized
	case http.StatusForbidden:
		return syncerr.CodeForbidden
	case http.StatusNotFound:
		return syncerr.CodeNotFound
	case http.StatusConflict:
		return syncerr.CodeConflict
	case http.StatusGone:
		return syncerr.CodeGone
	case http.StatusRequestEntityTooLarge:
		return syncerr.CodeOversized
	case http.StatusTooManyRequests:
		return syncerr.CodeRateLimited
	case http.StatusServiceUnavailable:
		return syncerr.CodeUnavailable
	}
	return syncerr.CodeServer
}

// toSyncErr turns any error a module returned into the *syncerr.Error to
// answer with. Errors that are not *syncerr.Error are internal (500); a
// context cancelled because the client went away is reported as 503 (the
// client will not read it, but the metrics should not count a server bug).
func toSyncErr(err error) *syncerr.Error {
	if se, ok := syncerr.As(err); ok {
		if se.Status < 400 || se.Status > 599 {
			// A module bug; never send a success status with an error body.
			return syncerr.Internal(err, "internal error")
		}
		return se
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return syncerr.Unavailable(err, "request cancelled")
	}
	return syncerr.Internal(err, "internal error")
}

// writeError answers err through ErrorWriter's logic with s's logger.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(s.log, w, r, err)
}

// ErrorWriter returns the function that answers a failed request the way
// every syncd endpoint does (api.md "Errors"; the RPC envelope on
// /v1/rpc/), for modules that answer refusals themselves (the watch hub).
func ErrorWriter(log *slog.Logger) func(w http.ResponseWriter, r *http.Request, err error) {
	log = log.With("component", "api")
	return func(w http.ResponseWriter, r *http.Request, err error) { writeError(log, w, r, err) }
}

// writeError answers err. It logs server-side failures with their cause
// (which clients never see) and sets Retry-After on 429 (and wherever the
// error names one).
func writeError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	se := toSyncErr(err)
	code := codeForStatus(se.Status)
	msg := se.Message
	if se.Status >= 500 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", se.Status, "err", err)
		if se.Status == http.StatusInternalServerError {
			msg = "internal error" // the cause stays in the log
		}
	}
	if se.Status == http.StatusTooManyRequests {
		ra := se.RetryAfterSeconds
		if ra < 1 {
			ra = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	} else if se.RetryAfterSeconds > 0 { // e.g. 503 while a home region is unreachable
		w.Header().Set("Retry-After", strconv.Itoa(se.RetryAfterSeconds))
	}
	detail := errorDetail{Status: se.Status, Code: code, Message: msg}
	if isRPC(r) {
		writeJSON(w, se.Status, rpcErrorBody{OK: false, Error: detail})
		return
	}
	writeJSON(w, se.Status, errorBody{Error: detail})
}

// errorf is a shorthand for a failure built in this package.
func errorf(status int, format string, args ...any) *syncerr.Error {
	return &syncerr.Error{Status: status, Code: codeForStatus(status), Message: fmt.Sprintf(format, args...)}
}
