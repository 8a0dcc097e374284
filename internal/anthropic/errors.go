package anthropic

import (
	"fmt"
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"
)

// Anthropic's error types, from https://platform.claude.com/docs/en/api/errors.
const (
	ErrInvalidRequest  = "invalid_request_error" // 400, and other 4xx
	ErrAuthentication  = "authentication_error"  // 401
	ErrPermission      = "permission_error"      // 403
	ErrNotFound        = "not_found_error"       // 404
	ErrRequestTooLarge = "request_too_large"     // 413
	ErrRateLimit       = "rate_limit_error"      // 429
	ErrAPI             = "api_error"             // 500, and other 5xx
	ErrOverloaded      = "overloaded_error"      // 529
)

// ErrorType is the Anthropic error type for an HTTP status. The gateway's
// 503 (nothing can serve right now) is Anthropic's overloaded_error, the
// one SDKs and agents already back off on.
func ErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return ErrAuthentication
	case status == http.StatusForbidden:
		return ErrPermission
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusRequestEntityTooLarge:
		return ErrRequestTooLarge
	case status == http.StatusTooManyRequests:
		return ErrRateLimit
	case status == 529 || status == http.StatusServiceUnavailable:
		return ErrOverloaded
	case status >= 500 || status == 0:
		return ErrAPI
	}
	return ErrInvalidRequest
}

type errorEnvelope struct {
	Type      string      `json:"type"`
	Error     errorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorBody is Anthropic's error JSON:
// {"type":"error","error":{"type","message"},"request_id"}. requestID may be
// "" (the in-stream error event carries none).
func ErrorBody(typ, message, requestID string) []byte {
	return marshal(errorEnvelope{Type: "error", Error: errorDetail{Type: typ, Message: message}, RequestID: requestID})
}

// FromError renders a gateway error (OpenAI-shaped inside the gateway) in
// Anthropic's shape: the status stays, the type follows the status.
func FromError(e *openai.Error, requestID string) (status int, body []byte) {
	status = e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return status, ErrorBody(ErrorType(status), e.Message, requestID)
}

// ErrorEvent is the in-stream `event: error` for a failure after the
// stream started.
func ErrorEvent(e *openai.Error) Event {
	return Event{Name: "error", Data: ErrorBody(ErrorType(e.Status), e.Message, "")}
}

// invalid is a 400 invalid_request_error; messages name the offending path
// the way Anthropic does ("messages.1.content.0.type: ...").
func invalid(format string, args ...any) *openai.Error {
	return openai.NewError(http.StatusBadRequest, ErrInvalidRequest, "", "", fmt.Sprintf(format, args...))
}
