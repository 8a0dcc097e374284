package anthropic

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/openai"
)

// TestTranslateResponse checks Messages API answers against the
// chat.completion objects they must become.
func TestTranslateResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		// Anthropic docs, "Messages examples": basic request and response.
		{"basic", `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[{"type":"text","text":"Hello!"}],
		  "model":"claude-3-5-sonnet-20241022","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":6}}`,
			`{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4-5",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`},
		// The final message of tests/lib/fixtures/tool_use_response.txt in
		// anthropics/anthropic-sdk-typescript: text, then a tool_use block.
		{"text and tool use", `{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","type":"message","role":"assistant","model":"claude-opus-4-8",
		  "content":[{"type":"text","text":"I'll check the current weather in Paris for you."},
		    {"type":"tool_use","id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","name":"get_weather","input":{"location": "Paris"}}],
		  "stop_reason":"tool_use","stop_sequence":null,
		  "usage":{"input_tokens":377,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":65,"service_tier":"standard"}}`,
			`{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4-5",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"I'll check the current weather in Paris for you.","refusal":null,
			    "tool_calls":[{"id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},
			    "logprobs":null,"finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":377,"completion_tokens":65,"total_tokens":442,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`},
		// Anthropic docs, "Implement tool use": parallel tool_use blocks
		// and no text, so content is null.
		{"tool calls only", `{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-x",
		  "content":[{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}},
		    {"type":"tool_use","id":"toolu_01B","name":"get_time","input":{}}],
		  "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":20}}`,
			`{"id":"msg_01Aq9w938a90dw8q","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4-5",
			  "choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[
			    {"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}"}},
			    {"id":"toolu_01B","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
			    "logprobs":null,"finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`},
		// Anthropic docs, "Extended thinking" (a thinking block with its
		// signature, then text) and "Prompt caching" (cache_read and
		// cache_creation counts besides input_tokens).
		{"thinking and cache usage", `{"id":"msg_t","type":"message","role":"assistant","model":"claude-x",
		  "content":[{"type":"thinking","thinking":"Let me analyze this step by step...","signature":"WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL"},
		    {"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4a"},
		    {"type":"text","text":"Based on my analysis..."}],
		  "stop_reason":"max_tokens","stop_sequence":null,
		  "usage":{"input_tokens":21,"cache_creation_input_tokens":188086,"cache_read_input_tokens":1000,"output_tokens":393}}`,
			`{"id":"msg_t","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4-5",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"Based on my analysis...","refusal":null,
			    "reasoning_content":"Let me analyze this step by step..."},"logprobs":null,"finish_reason":"length"}],
			  "usage":{"prompt_tokens":189107,"completion_tokens":393,"total_tokens":189500,"prompt_tokens_details":{"cached_tokens":1000,"cache_write_tokens":188086}}}`},
		{"refusal, empty content", `{"id":"msg_r","type":"message","role":"assistant","model":"x","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}`,
			`{"id":"msg_r","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4-5",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":"content_filter"}],
			  "usage":{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := translateResponse([]byte(tc.in), "claude-sonnet-4-5", 1700000000)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, tc.want)
		})
	}
}

func TestFinishReason(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter", "": "stop",
	} {
		if got := finishReason(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// TestUpstreamError maps Anthropic's error bodies (the "Errors" page's
// status table and envelope; messages as quoted in SDK issues) to OpenAI's.
func TestUpstreamError(t *testing.T) {
	const key = "sk-ant-api03-secret"
	for _, tc := range []struct {
		name               string
		status             int
		header             http.Header
		body               string
		wantType, wantCode string
		wantMsg            string
		wantRetry          string
	}{
		{"invalid request", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`,
			"invalid_request_error", "", "max_tokens: Field required", ""},
		{"bad key", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_1"}`,
			"authentication_error", "", "invalid x-api-key", ""},
		{"permission", 403, nil, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, "permission_error", "", "no", ""},
		{"not found", 404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}`, "not_found_error", "", "model: claude-nope", ""},
		{"too large", 413, nil, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`,
			"invalid_request_error", "request_too_large", "Request exceeds", ""},
		{"rate limit", 429, http.Header{"Retry-After": {"7"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit"}}`,
			"rate_limit_error", "", "rate limit", "7"},
		{"api error", 500, nil, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, "server_error", "", "Internal server error", ""},
		{"overloaded", 529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "server_error", "overloaded", "Overloaded", ""},
		{"html from a proxy", 502, nil, `<html>bad gateway</html>`, "server_error", "", "HTTP 502", ""},
		{"echoed key", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key: ` + key + `"}}`,
			"authentication_error", "", "[credential]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := upstreamError(tc.status, tc.header, []byte(tc.body), key)
			code := ""
			if e.Code != nil {
				code = *e.Code
			}
			if e.Status != tc.status || e.Type != tc.wantType || code != tc.wantCode || !strings.Contains(e.Message, tc.wantMsg) || e.RetryAfter != tc.wantRetry {
				t.Errorf("got %d %q %q %q retry %q", e.Status, e.Type, code, e.Message, e.RetryAfter)
			}
			if strings.Contains(e.Message, key) {
				t.Error("credential leaked")
			}
		})
	}
}

func TestEmbedUnsupported(t *testing.T) {
	_, err := New(Options{}).Embed(t.Context(), nil)
	var e *openai.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code == nil || *e.Code != "unsupported_endpoint" {
		t.Fatalf("%v", err)
	}
}
