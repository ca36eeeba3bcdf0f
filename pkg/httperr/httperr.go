// Package httperr owns tusimg's one error type: an HTTP status, a stable
// machine-readable code, a public message safe to show to any client, optional
// public detail, and a wrapped internal cause that is logged but never sent.
//
// It also owns the JSON wire format of errors:
//
//	{"error": {"code": "type_not_allowed", "message": "...", "detail": {...}}}
//
// It does not know about tusd, routing or logging policy; callers decide where
// errors are written.
package httperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an error with an HTTP status and a public message. The zero value
// is not useful; build one with New or Wrap.
type Error struct {
	// Status is the HTTP status code to answer with (4xx or 5xx).
	Status int
	// Code is a stable, lowercase snake_case identifier such as "too_large".
	Code string
	// Message is a human-readable sentence that is safe to show to clients.
	Message string
	// Detail holds optional public key/value facts (limits, sniffed type, ...).
	Detail map[string]any
	// Cause is the internal error, if any. It is logged, never sent.
	Cause error
}

// New returns an Error with the given status, code and public message.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Newf is New with a formatted message. Arguments must be public facts only.
func Newf(status int, code, format string, args ...any) *Error {
	return New(status, code, fmt.Sprintf(format, args...))
}

// Internal wraps cause in a generic 500 whose public message reveals nothing
// about the cause.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error",
		Message: "internal server error", Cause: cause}
}

// WithDetail returns a copy of e with key set to value in Detail.
func (e *Error) WithDetail(key string, value any) *Error {
	c := *e
	c.Detail = make(map[string]any, len(e.Detail)+1)
	for k, v := range e.Detail {
		c.Detail[k] = v
	}
	c.Detail[key] = value
	return &c
}

// WithCause returns a copy of e carrying cause as its internal cause.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// Error implements error. It includes the cause, so it is for logs only.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s (%d): %s: %v", e.Code, e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
}

// Is makes errors.Is(err, Sentinel) true for copies of a sentinel made by
// WithDetail or WithCause: errors match when status and code match.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Code == e.Code
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// As returns the *Error in err's chain, or a generic internal error wrapping
// err when there is none. It never returns nil for a non-nil err.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// Body is the JSON document written for an error.
type Body struct {
	Error BodyError `json:"error"`
}

// BodyError is the inner object of Body.
type BodyError struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Detail    map[string]any `json:"detail,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
}

// JSON returns the public JSON encoding of e, with requestID when non-empty.
func (e *Error) JSON(requestID string) []byte {
	b, err := json.Marshal(Body{Error: BodyError{Code: e.Code, Message: e.Message,
		Detail: e.Detail, RequestID: requestID}})
	if err != nil { // only possible with an unencodable Detail value
		b, _ = json.Marshal(Body{Error: BodyError{Code: e.Code, Message: e.Message, RequestID: requestID}})
	}
	return append(b, '\n')
}

// Write writes e as a JSON response. For HEAD requests only the status and
// headers are written.
func Write(w http.ResponseWriter, r *http.Request, e *Error, requestID string) {
	body := e.JSON(requestID)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "1")
		}
	}
	w.WriteHeader(e.Status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
