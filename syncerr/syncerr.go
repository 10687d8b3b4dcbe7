// Package syncerr is the one error type that crosses syncd's layers: a
// module (engine, identity, jobs, ...) returns a *syncerr.Error when a
// request must fail with a given HTTP status and api.md error code, and the
// HTTP layer maps it without knowing the module. It imports nothing of ours.
package syncerr

import (
	"errors"
	"fmt"
	"net/http"
)

// Codes of api.md "Errors".
const (
	CodeValidation   = "VALIDATION_ERROR"
	CodeUnauthorized = "UNAUTHORIZED"
	CodeForbidden    = "FORBIDDEN"
	CodeNotFound     = "NOT_FOUND"
	CodeConflict     = "CONFLICT"
	CodeGone         = "GONE"
	CodeOversized    = "OVERSIZED"
	CodeRateLimited  = "RATE_LIMITED"
	CodeServer       = "SERVER_ERROR"
	CodeUnavailable  = "UNAVAILABLE"
)

// Error is a request failure with its HTTP status and code.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfterSeconds, when > 0, becomes a Retry-After header.
	RetryAfterSeconds int
	Err               error // optional cause, not shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func newf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validation is 400 VALIDATION_ERROR.
func Validation(format string, args ...any) *Error {
	return newf(http.StatusBadRequest, CodeValidation, format, args...)
}

// Unauthorized is 401.
func Unauthorized(format string, args ...any) *Error {
	return newf(http.StatusUnauthorized, CodeUnauthorized, format, args...)
}

// Forbidden is 403.
func Forbidden(format string, args ...any) *Error {
	return newf(http.StatusForbidden, CodeForbidden, format, args...)
}

// NotFound is 404.
func NotFound(format string, args ...any) *Error {
	return newf(http.StatusNotFound, CodeNotFound, format, args...)
}

// Conflict is 409.
func Conflict(format string, args ...any) *Error {
	return newf(http.StatusConflict, CodeConflict, format, args...)
}

// Gone is 410.
func Gone(format string, args ...any) *Error {
	return newf(http.StatusGone, CodeGone, format, args...)
}

// Oversized is 413.
func Oversized(format string, args ...any) *Error {
	return newf(http.StatusRequestEntityTooLarge, CodeOversized, format, args...)
}

// UnsupportedMedia is 415 with code VALIDATION_ERROR (api.md Decisions 1).
func UnsupportedMedia(format string, args ...any) *Error {
	return newf(http.StatusUnsupportedMediaType, CodeValidation, format, args...)
}

// RateLimited is 429 with a Retry-After.
func RateLimited(retryAfterSeconds int, format string, args ...any) *Error {
	e := newf(http.StatusTooManyRequests, CodeRateLimited, format, args...)
	e.RetryAfterSeconds = retryAfterSeconds
	return e
}

// Unavailable is 503.
func Unavailable(cause error, format string, args ...any) *Error {
	e := newf(http.StatusServiceUnavailable, CodeUnavailable, format, args...)
	e.Err = cause
	return e
}

// Internal is 500; the cause is logged, not shown.
func Internal(cause error, format string, args ...any) *Error {
	e := newf(http.StatusInternalServerError, CodeServer, format, args...)
	e.Err = cause
	return e
}

// As extracts a *Error from err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}
