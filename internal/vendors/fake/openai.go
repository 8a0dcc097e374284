package fake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openaiWire renders OpenAI's /v1 API as openapi.yaml and recorded traffic
// show it: ordered keys, pretty-printed non-stream bodies, explicit nulls.
type openaiWire struct{}

func (openaiWire) prefix() string                { return "/v1" }
func (openaiWire) apiKey(r *http.Request) string { return bearer(r) }
func (openaiWire) modelName(m string) string     { return m }

func (openaiWire) defaultModels() []string {
	return []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}
}

func (openaiWire) contentType(stream bool) string {
	if stream {
		return "text/event-stream; charset=utf-8"
	}
	return "application/json"
}

func (openaiWire) headers(h http.Header, c *call, status int) {
	h.Set("x-request-id", "req_"+hexOf(32, "req", strconv.FormatInt(c.seq, 10)))
	h.Set("openai-version", "2020-10-01")
	h.Set("openai-organization", "user-genrouter-fake")
	h.Set("openai-processing-ms", strconv.FormatInt(time.Since(c.start).Milliseconds(), 10))
	remaining := "9999"
	if status == http.StatusTooManyRequests {
		remaining = "0"
	}
	h.Set("x-ratelimit-limit-requests", "10000")
	h.Set("x-ratelimit-remaining-requests", remaining)
	h.Set("x-ratelimit-reset-requests", "6ms")
	h.Set("x-ratelimit-limit-tokens", "30000000")
	h.Set("x-ratelimit-remaining-tokens", "29999990")
	h.Set("x-ratelimit-reset-tokens", "0s")
}

// OpenAI's error messages, verbatim as quoted from the live API.
const (
	openaiNoKeyMsg   = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys."
	openaiBadJSONMsg = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP client correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)

func openaiError(message, typ string, param, code any) obj {
	if p, ok := param.(string); ok && p == "" {
		param = nil
	}
	return obj{{"error", obj{{"message", message}, {"type", typ}, {"param", param}, {"code", code}}}}
}

// maskKey hides a key the way OpenAI's 401 does: the first 8 and last 4
// characters around stars. Short keys are echoed whole (seen with
// "undefined"; the exact threshold is inferred).
func maskKey(k string) string {
	if len(k) <= 12 {
		return k
	}
	return k[:8] + strings.Repeat("*", len(k)-12) + k[len(k)-4:]
}

func (openaiWire) errorFor(c *call, f failure) (int, any, string) {
	const indent = "    " // OpenAI's error bodies are indented by 4
	switch f.kind {
	case failNoKey:
		return 401, openaiError(openaiNoKeyMsg, "invalid_request_error", nil, nil), indent
	case failBadKey:
		return 401, openaiBadKey(c.key), indent
	case failBadJSON:
		return 400, openaiError(openaiBadJSONMsg, "invalid_request_error", nil, nil), indent
	case failInvalid:
		return 400, openaiError(f.arg, "invalid_request_error", f.param, nil), indent
	case failNoModel:
		return 404, openaiModelNotFound(f.arg), indent
	case failNoSuchModel:
		return 404, openaiError(fmt.Sprintf("The model '%s' does not exist", f.arg), "invalid_request_error", "model", "model_not_found"), indent
	case failNoRoute:
		return 404, openaiError("Invalid URL ("+f.arg+")", "invalid_request_error", nil, nil), indent
	}
	return f.status, openaiStatusError(c, f.status), indent
}

func openaiBadKey(key string) obj {
	return openaiError("Incorrect API key provided: "+maskKey(key)+". You can find your API key at https://platform.openai.com/account/api-keys.",
		"invalid_request_error", nil, "invalid_api_key")
}

func openaiModelNotFound(model string) obj {
	return openaiError(fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model),
		"invalid_request_error", nil, "model_not_found")
}

// openaiStatusError is the body OpenAI sends with an injected status; each
// is the one commonly seen for that status.
func openaiStatusError(c *call, status int) obj {
	model := c.rec.Model
	if model == "" {
		model = "gpt-4o"
	}
	switch status {
	case 400:
		return openaiError("This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.",
			"invalid_request_error", "messages", "context_length_exceeded")
	case 401:
		return openaiBadKey(c.key)
	case 403:
		return openaiError("Country, region, or territory not supported", "request_forbidden", nil, "unsupported_country_region_territory")
	case 404:
		return openaiModelNotFound(model)
	case 429:
		wait := "20s"
		if n, err := strconv.Atoi(c.w.Header().Get("Retry-After")); err == nil {
			wait = strconv.Itoa(n) + "s"
		}
		return openaiError(fmt.Sprintf("Rate limit reached for %s in organization org-genrouterfake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in %s. Visit https://platform.openai.com/account/rate-limits to learn more.", model, wait),
			"requests", nil, "rate_limit_exceeded")
	case 500:
		return openaiError("The server had an error while processing your request. Sorry about that!", "server_error", nil, nil)
	case 502:
		// Cloudflare's body in front of OpenAI: code is the number.
		return obj{{"error", obj{{"code", 502}, {"message", "Bad gateway."}, {"param", nil}, {"type", "cf_bad_gateway"}}}}
	case 503:
		return openaiError("The server is overloaded or not ready yet.", "server_error", nil, nil)
	case 504:
		return obj{{"error", obj{{"code", 504}, {"message", "Gateway timeout."}, {"param", nil}, {"type", "cf_gateway_timeout"}}}}
	}
	typ := "invalid_request_error"
	if status >= 500 {
		typ = "server_error"
	}
	return openaiError(http.StatusText(status), typ, nil, nil)
}

func (w openaiWire) streamError(c *call, status int) any {
	return openaiStatusError(c, status)
}

func (openaiWire) chatID(c *call) string {
	return "chatcmpl-" + alnumOf(29, "chat", strconv.FormatInt(c.seq, 10))
}

func fingerprint(model string) string { return "fp_" + hexOf(10, "fp", model) }

func (openaiWire) usage(a *answer) obj {
	return obj{
		{"prompt_tokens", a.prompt},
		{"completion_tokens", a.completion},
		{"total_tokens", a.prompt + a.completion},
		{"prompt_tokens_details", obj{{"cached_tokens", 0}, {"audio_tokens", 0}}},
		{"completion_tokens_details", obj{{"reasoning_tokens", 0}, {"audio_tokens", 0}, {"accepted_prediction_tokens", 0}, {"rejected_prediction_tokens", 0}}},
	}
}

func openaiCallID(tc toolCall) string { return "call_" + alnumOf(24, "call", tc.seed) }

func (w openaiWire) chat(c *call, req *chatRequest, a *answer) (any, string) {
	msg := obj{{"role", "assistant"}}
	finish := "stop"
	if len(a.calls) > 0 {
		calls := make([]any, len(a.calls))
		for i, tc := range a.calls {
			calls[i] = obj{{"id", openaiCallID(tc)}, {"type", "function"}, {"function", obj{{"name", tc.name}, {"arguments", tc.args}}}}
		}
		msg = append(msg, field{"content", nil}, field{"tool_calls", calls})
		finish = "tool_calls"
	} else {
		msg = append(msg, field{"content", a.text})
	}
	msg = append(msg, field{"refusal", nil}, field{"annotations", []any{}})
	return obj{
		{"id", w.chatID(c)},
		{"object", "chat.completion"},
		{"created", c.start.Unix()},
		{"model", req.Model},
		{"choices", []any{obj{{"index", 0}, {"message", msg}, {"logprobs", nil}, {"finish_reason", finish}}}},
		{"usage", w.usage(a)},
		{"service_tier", "default"},
		{"system_fingerprint", fingerprint(req.Model)},
	}, "  "
}

// chatStream is OpenAI's chunk sequence: a role-only first delta, content
// (or tool-call) deltas, an empty delta with finish_reason, then with
// include_usage a choices:[] usage chunk. Every chunk carries usage:null
// when include_usage is set, and an obfuscation pad unless
// stream_options.include_obfuscation is false.
func (w openaiWire) chatStream(c *call, req *chatRequest, a *answer) []any {
	id, created, fp := w.chatID(c), c.start.Unix(), fingerprint(req.Model)
	usage := req.includeUsage()
	obfuscate := req.StreamOptions == nil || req.StreamOptions.IncludeObfuscation == nil || *req.StreamOptions.IncludeObfuscation
	n := 0
	chunk := func(choices []any, u any) obj {
		n++
		o := obj{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", req.Model},
			{"service_tier", "default"}, {"system_fingerprint", fp}, {"choices", choices}}
		if usage {
			o = append(o, field{"usage", u})
		}
		if obfuscate {
			// Pads chunk sizes; random in the real API, derived here.
			o = append(o, field{"obfuscation", alnumOf(1+n%9, "pad", id, strconv.Itoa(n))})
		}
		return o
	}
	choice := func(delta obj, finish any) []any {
		return []any{obj{{"index", 0}, {"delta", delta}, {"logprobs", nil}, {"finish_reason", finish}}}
	}

	var events []any
	finish := "stop"
	if len(a.calls) == 0 {
		events = append(events, chunk(choice(obj{{"role", "assistant"}, {"content", ""}, {"refusal", nil}}, nil), nil))
		for _, p := range split(a.text, c.s.opts.Chunks) {
			events = append(events, chunk(choice(obj{{"content", p}}, nil), nil))
		}
	} else {
		finish = "tool_calls"
		for i, tc := range a.calls {
			head := []any{obj{{"index", i}, {"id", openaiCallID(tc)}, {"type", "function"},
				{"function", obj{{"name", tc.name}, {"arguments", ""}}}}}
			if i == 0 {
				events = append(events, chunk(choice(obj{{"role", "assistant"}, {"content", nil}, {"tool_calls", head}, {"refusal", nil}}, nil), nil))
			} else {
				events = append(events, chunk(choice(obj{{"tool_calls", head}}, nil), nil))
			}
			for _, p := range split(tc.args, c.s.opts.Chunks) {
				frag := []any{obj{{"index", i}, {"function", obj{{"arguments", p}}}}}
				events = append(events, chunk(choice(obj{{"tool_calls", frag}}, nil), nil))
			}
		}
	}
	events = append(events, chunk(choice(obj{}, finish), nil))
	if usage {
		events = append(events, chunk([]any{}, w.usage(a)))
	}
	return events
}

func (openaiWire) embeddings(c *call, req *embedRequest, vecs [][]float32, tokens int) any {
	data := make([]any, len(vecs))
	for i, v := range vecs {
		var e any = v
		if req.EncodingFormat == "base64" {
			e = base64.StdEncoding.EncodeToString(float32Bytes(v))
		}
		data[i] = obj{{"object", "embedding"}, {"index", i}, {"embedding", e}}
	}
	return obj{{"object", "list"}, {"data", data}, {"model", req.Model},
		{"usage", obj{{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}
}

func (w openaiWire) modelList(names []string) any {
	data := make([]any, len(names))
	for i, n := range names {
		data[i] = w.model(n)
	}
	return obj{{"object", "list"}, {"data", data}}
}

func (openaiWire) model(name string) any {
	// A fixed, plausible creation time per model keeps answers stable.
	created := 1686588896 + int64(digest(name)[0])*86400
	return obj{{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "system"}}
}
