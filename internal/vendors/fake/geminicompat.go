package fake

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// geminiCompatWire renders Gemini's OpenAI-compatible API
// (/v1beta/openai) with its known deviations from OpenAI: array-form
// errors, alphabetically ordered keys (plain maps reproduce that), no
// logprobs/system_fingerprint/service_tier/refusal, and the stream quirks
// in chatStream.
type geminiCompatWire struct{}

func (geminiCompatWire) prefix() string                { return "/v1beta/openai" }
func (geminiCompatWire) apiKey(r *http.Request) string { return bearer(r) }

// modelName drops the "models/" prefix Gemini adds to bare names, so either
// spelling finds the model.
func (geminiCompatWire) modelName(m string) string { return strings.TrimPrefix(m, "models/") }

func (geminiCompatWire) defaultModels() []string {
	return []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001"}
}

func (geminiCompatWire) contentType(stream bool) string {
	if stream {
		return "text/event-stream"
	}
	return "application/json; charset=UTF-8"
}

func (geminiCompatWire) headers(h http.Header, c *call, status int) {
	h.Set("Server", "scaffolding on HTTPServer2")
	h.Set("Vary", "Origin, X-Origin, Referer")
}

// googleStatus is the google.rpc status name for an HTTP status.
func googleStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 500:
		return "INTERNAL"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "UNKNOWN"
}

// googleError keeps google.rpc.Status's field order (code, message,
// status, details) as Google prints it.
func googleError(code int, message string, details ...any) obj {
	e := obj{{"code", code}, {"message", message}, {"status", googleStatus(code)}}
	if len(details) > 0 {
		e = append(e, field{"details", details})
	}
	return obj{{"error", e}}
}

// geminiArray wraps an error the way the compat endpoint does: a one-element
// JSON array.
func geminiArray(code int, message string, details ...any) (int, any, string) {
	return code, []any{googleError(code, message, details...)}, "  "
}

func geminiModelNotFound(model string) string {
	// "v1main" is what the compat layer reports; inferred from quoted errors.
	return "models/" + strings.TrimPrefix(model, "models/") +
		" is not found for API version v1main, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
}

const geminiBadKeyMsg = "API key not valid. Please pass a valid API key."

func (geminiCompatWire) errorFor(c *call, f failure) (int, any, string) {
	switch f.kind {
	case failNoKey:
		// Inferred: the compat endpoint's answer without a key is not
		// recorded; this is Google's standard missing-credential error.
		return geminiArray(401, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
	case failBadKey:
		return geminiArray(400, geminiBadKeyMsg,
			obj{
				{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
				{"reason", "API_KEY_INVALID"},
				{"domain", "googleapis.com"},
				{"metadata", obj{{"service", "generativelanguage.googleapis.com"}}},
			},
			obj{
				{"@type", "type.googleapis.com/google.rpc.LocalizedMessage"},
				{"locale", "en-US"},
				{"message", geminiBadKeyMsg},
			})
	case failBadJSON:
		// Google's JSON parser error; exact wording inferred.
		return geminiArray(400, "Invalid JSON payload received. Unexpected token.")
	case failInvalid:
		return geminiArray(400, f.arg)
	case failNoModel, failNoSuchModel:
		return geminiArray(404, geminiModelNotFound(f.arg))
	case failNoRoute:
		// Inferred: Google's front end answers unknown paths itself.
		return geminiArray(404, "Method not found.")
	}
	return geminiStatusError(c, f.status)
}

var allDigits = regexp.MustCompile(`^\d+$`)

func geminiStatusError(c *call, status int) (int, any, string) {
	switch status {
	case 400:
		return geminiArray(400, "Request contains an invalid argument.")
	case 401:
		return geminiArray(401, "Request had invalid authentication credentials.")
	case 403:
		return geminiArray(403, "The caller does not have permission")
	case 404:
		return geminiArray(404, geminiModelNotFound(c.rec.Model))
	case 429:
		var details []any
		if ra := c.w.Header().Get("Retry-After"); allDigits.MatchString(ra) {
			details = append(details, obj{{"@type", "type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", ra + "s"}})
		}
		return geminiArray(429, "Resource has been exhausted (e.g. check quota).", details...)
	case 500:
		return geminiArray(500, "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
	case 503:
		return geminiArray(503, "The model is overloaded. Please try again later.")
	case 504:
		return geminiArray(504, "Deadline expired before operation could complete.")
	}
	return geminiArray(status, http.StatusText(status))
}

// streamError is the in-stream error event. Inferred: a single object like
// Gemini's native errors, not the array of the HTTP error body.
func (geminiCompatWire) streamError(c *call, status int) any {
	_, body, _ := geminiStatusError(c, status)
	return body.([]any)[0]
}

// responseID imitates Gemini's native response ids (base64url-like, 22-23
// characters), not chatcmpl-…; the exact format is inferred.
func (geminiCompatWire) responseID(c *call) string {
	return alnumOf(23, "gemini", strconv.FormatInt(c.seq, 10))
}

func geminiCallID(tc toolCall) string { return "function-call-" + digitsOf(19, "fc", tc.seed) }

func geminiUsage(a *answer) map[string]any {
	return map[string]any{"completion_tokens": a.completion, "prompt_tokens": a.prompt, "total_tokens": a.prompt + a.completion}
}

// geminiCalls renders tool calls without "index": Gemini omits it in
// streams, and the non-stream message has none in OpenAI's format either.
func geminiCalls(a *answer) []any {
	calls := make([]any, len(a.calls))
	for i, tc := range a.calls {
		calls[i] = map[string]any{
			"function": map[string]any{"arguments": tc.args, "name": tc.name},
			"id":       geminiCallID(tc),
			"type":     "function",
		}
	}
	return calls
}

func (w geminiCompatWire) chat(c *call, req *chatRequest, a *answer) (any, string) {
	msg := map[string]any{"role": "assistant"}
	finish := "stop"
	if len(a.calls) > 0 {
		// Inferred: content is left out rather than null.
		msg["tool_calls"] = geminiCalls(a)
		finish = "tool_calls" // correct here; only streams say "stop"
	} else {
		msg["content"] = a.text
	}
	return map[string]any{
		"choices": []any{map[string]any{"finish_reason": finish, "index": 0, "message": msg}},
		"created": c.start.Unix(),
		"id":      w.responseID(c),
		"model":   req.Model,
		"object":  "chat.completion",
		"usage":   geminiUsage(a),
	}, ""
}

// chatStream has Gemini's quirks: role on every delta, no finish_reason key
// until the last chunk, no first role-only chunk, tool calls without index
// and with whole arguments in one delta, finish_reason "stop" even for tool
// calls, and usage (with include_usage) on the last content chunk instead
// of a separate choices:[] chunk.
func (w geminiCompatWire) chatStream(c *call, req *chatRequest, a *answer) []any {
	id, created := w.responseID(c), c.start.Unix()
	chunk := func(delta map[string]any, last bool) map[string]any {
		delta["role"] = "assistant"
		choice := map[string]any{"delta": delta, "index": 0}
		o := map[string]any{"choices": []any{choice}, "created": created, "id": id, "model": req.Model, "object": "chat.completion.chunk"}
		if last {
			choice["finish_reason"] = "stop"
			if req.includeUsage() {
				o["usage"] = geminiUsage(a)
			}
		}
		return o
	}
	if len(a.calls) > 0 {
		return []any{chunk(map[string]any{"tool_calls": geminiCalls(a)}, true)}
	}
	parts := split(a.text, c.s.opts.Chunks)
	events := make([]any, len(parts))
	for i, p := range parts {
		events[i] = chunk(map[string]any{"content": p}, i == len(parts)-1)
	}
	return events
}

// embeddings always answers floats: whether the compat endpoint honours
// encoding_format "base64" is not known (inferred that it does not).
func (geminiCompatWire) embeddings(c *call, req *embedRequest, vecs [][]float32, tokens int) any {
	data := make([]any, len(vecs))
	for i, v := range vecs {
		data[i] = map[string]any{"embedding": v, "index": i, "object": "embedding"}
	}
	return map[string]any{"data": data, "model": req.Model, "object": "list",
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens}}
}

func (w geminiCompatWire) modelList(names []string) any {
	data := make([]any, len(names))
	for i, n := range names {
		data[i] = w.model(n)
	}
	return map[string]any{"data": data, "object": "list"}
}

func (geminiCompatWire) model(name string) any {
	return map[string]any{"id": "models/" + strings.TrimPrefix(name, "models/"), "object": "model", "owned_by": "google"}
}
