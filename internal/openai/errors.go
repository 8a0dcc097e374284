// Package openai holds OpenAI's wire types: the lingua franca inside the
// gateway. Requests are parsed once into ChatRequest; bodies travel as bytes
// and only the fields the gateway owns (model) are edited in place.
package openai

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error types used in the "type" field of an error body.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeServer         = "server_error"
	TypeUnavailable    = "service_unavailable"
)

// Error is an OpenAI-shaped error: {"error":{"message","type","param","code"}}.
// It is also a Go error, so it can travel up the call stack unchanged.
type Error struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
	// RetryAfter is forwarded as the Retry-After header when set.
	RetryAfter string `json:"-"`
}

func (e *Error) Error() string {
	s := strconv.Itoa(e.Status) + " " + e.Type
	if e.Code != nil {
		s += " (" + *e.Code + ")"
	}
	return s + ": " + e.Message
}

// NewError builds an error; empty param or code become JSON null.
func NewError(status int, typ, code, param, message string) *Error {
	e := &Error{Status: status, Type: typ, Message: message}
	if code != "" {
		e.Code = &code
	}
	if param != "" {
		e.Param = &param
	}
	return e
}

// Body is the JSON envelope of the error.
func (e *Error) Body() []byte {
	b, _ := json.Marshal(struct {
		Error *Error `json:"error"`
	}{e})
	return b
}

// Write sends the error as an HTTP response.
func (e *Error) Write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter != "" {
		h.Set("Retry-After", e.RetryAfter)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	w.Write(append(e.Body(), '\n'))
}

// TypeForStatus picks the conventional error type for an HTTP status.
func TypeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return TypeAuthentication
	case status == http.StatusForbidden:
		return TypePermission
	case status == http.StatusNotFound:
		return TypeNotFound
	case status == http.StatusTooManyRequests:
		return TypeRateLimit
	case status == http.StatusServiceUnavailable:
		return TypeUnavailable
	case status >= 500:
		return TypeServer
	default:
		return TypeInvalidRequest
	}
}
