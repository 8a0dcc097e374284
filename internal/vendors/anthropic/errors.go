package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
)

// Anthropic's error types and the HTTP status each stands for, from the
// "Errors" page of Anthropic's API documentation.
var errorStatus = map[string]int{
	"invalid_request_error": http.StatusBadRequest,
	"authentication_error":  http.StatusUnauthorized,
	"billing_error":         http.StatusPaymentRequired,
	"permission_error":      http.StatusForbidden,
	"not_found_error":       http.StatusNotFound,
	"request_too_large":     http.StatusRequestEntityTooLarge,
	"rate_limit_error":      http.StatusTooManyRequests,
	"api_error":             http.StatusInternalServerError,
	"timeout_error":         http.StatusGatewayTimeout,
	"overloaded_error":      529,
}

// upstreamError normalises an Anthropic error body,
// {"type":"error","error":{"type","message"},"request_id"}, to OpenAI's
// shape, keeping the status (529 included: it means "overloaded, retry")
// and the message, and never letting the credential through.
func upstreamError(status int, h http.Header, body []byte, key string) *openai.Error {
	var e *openai.Error
	if raw := bytes.TrimSpace(body); len(raw) > 0 && raw[0] == '{' {
		var env struct {
			Error *errorObject `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil && env.Error != nil {
			e = env.Error.toOpenAI(status)
		}
	}
	if e == nil {
		msg := "the vendor answered HTTP " + strconv.Itoa(status)
		if t := strings.TrimSpace(string(body)); t != "" && len(t) < 300 && !strings.Contains(t, "<") {
			msg += ": " + t
		}
		e = openai.NewError(status, openai.TypeForStatus(status), "", "", msg)
	}
	e.Message = vendors.ScrubKey(e.Message, key)
	if h != nil {
		e.RetryAfter = h.Get("Retry-After")
	}
	return e
}

// errorObject is the inner error of Anthropic's error body and of the
// in-stream error event.
type errorObject struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// toOpenAI maps the error. status 0 means "take it from the type" (stream
// errors arrive on a 200 response).
func (o *errorObject) toOpenAI(status int) *openai.Error {
	if status == 0 {
		status = errorStatus[o.Type]
		if status == 0 {
			status = http.StatusBadGateway
		}
	}
	typ, code := o.Type, ""
	switch o.Type {
	case "invalid_request_error", "authentication_error", "permission_error", "not_found_error", "rate_limit_error":
	case "api_error":
		typ = openai.TypeServer
	case "overloaded_error":
		typ, code = openai.TypeServer, "overloaded"
	case "request_too_large":
		typ, code = openai.TypeInvalidRequest, "request_too_large"
	case "billing_error":
		typ, code = openai.TypePermission, "billing_error"
	case "timeout_error":
		typ, code = openai.TypeServer, "timeout"
	default:
		typ = openai.TypeForStatus(status)
	}
	msg := o.Message
	if msg == "" {
		msg = "the vendor answered HTTP " + strconv.Itoa(status)
		if o.Type != "" {
			msg += " (" + o.Type + ")"
		}
	}
	return openai.NewError(status, typ, code, "", msg)
}
