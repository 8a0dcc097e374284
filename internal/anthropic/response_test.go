package anthropic

import (
	"strings"
	"testing"
)

// OpenAI fixtures: the CreateChatCompletionResponse examples of
// openai/openai-openapi openapi.yaml (chatcmpl-123, the tool-call example
// with call_abc123), DeepSeek's reasoning_content
// (https://api-docs.deepseek.com/guides/reasoning_model), vLLM's
// stop_reason (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html),
// Gemini's OpenAI-compatible tool call answer (function-call-… ids, no
// index). Anthropic's message shape is the one in
// https://platform.claude.com/docs/en/api/messages and in the message_start
// of anthropic-sdk-typescript's tests/lib/fixtures/tool_use_response.txt.
func TestMessageFromOpenAI(t *testing.T) {
	tests := []struct {
		name  string
		stops []string
		in    string
		want  string
	}{
		{"text", nil,
			`{"id":"chatcmpl-123","object":"chat.completion","created":1677652288,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"\n\nHello there, how may I assist you today?"},"logprobs":null,"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"completion_tokens_details":{"reasoning_tokens":0}}}`,
			`{"id":"msg_123","type":"message","role":"assistant","model":"claude-alias",
			  "content":[{"type":"text","text":"\n\nHello there, how may I assist you today?"}],
			  "stop_reason":"end_turn","stop_sequence":null,
			  "usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":12}}`},
		{"tool call", nil,
			`{"id":"chatcmpl-abc123","object":"chat.completion","created":1699896916,"model":"gpt-4o-mini",
			  "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function",
			    "function":{"name":"get_current_weather","arguments":"{\n\"location\": \"Boston, MA\"\n}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":64}}}`,
			`{"id":"msg_abc123","type":"message","role":"assistant","model":"claude-alias",
			  "content":[{"type":"tool_use","id":"call_abc123","name":"get_current_weather","input":{"location":"Boston, MA"}}],
			  "stop_reason":"tool_use","stop_sequence":null,
			  "usage":{"input_tokens":18,"cache_creation_input_tokens":0,"cache_read_input_tokens":64,"output_tokens":17}}`},
		{"text and parallel calls from Gemini, finish stop", nil,
			`{"choices":[{"finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Checking.","tool_calls":[
			    {"function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"},"id":"function-call-1","type":"function"},
			    {"function":{"arguments":"","name":"get_time"},"id":"function-call-2","type":"function"}]}}],
			  "created":1,"id":"abcDEF_-x.y","model":"gemini-2.5-flash","object":"chat.completion",
			  "usage":{"completion_tokens":5,"prompt_tokens":7,"total_tokens":12}}`,
			`{"id":"msg_abcDEF_-xy","type":"message","role":"assistant","model":"claude-alias",
			  "content":[{"type":"text","text":"Checking."},
			    {"type":"tool_use","id":"function-call-1","name":"get_weather","input":{"city":"Paris"}},
			    {"type":"tool_use","id":"function-call-2","name":"get_time","input":{}}],
			  "stop_reason":"tool_use","stop_sequence":null,
			  "usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":5}}`},
		{"reasoning first", nil,
			`{"id":"chatcmpl-r","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":"9.11 < 9.8 since 0.11 < 0.8.","content":"9.8 is greater."},"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":10,"completion_tokens":20}}`,
			`{"id":"msg_r","type":"message","role":"assistant","model":"claude-alias",
			  "content":[{"type":"thinking","thinking":"9.11 < 9.8 since 0.11 < 0.8.","signature":""},{"type":"text","text":"9.8 is greater."}],
			  "stop_reason":"end_turn","stop_sequence":null,
			  "usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":20}}`},
		{"cut short", nil,
			`{"id":"chatcmpl-l","choices":[{"index":0,"message":{"role":"assistant","content":"Once upon"},"finish_reason":"length"}]}`,
			`{"id":"msg_l","type":"message","role":"assistant","model":"claude-alias","content":[{"type":"text","text":"Once upon"}],
			  "stop_reason":"max_tokens","stop_sequence":null,
			  "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"content filter, nothing said", nil,
			`{"id":"chatcmpl-f","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}]}`,
			`{"id":"msg_f","type":"message","role":"assistant","model":"claude-alias","content":[],
			  "stop_reason":"refusal","stop_sequence":null,
			  "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"refusal", nil,
			`{"id":"chatcmpl-x","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}`,
			`{"id":"msg_x","type":"message","role":"assistant","model":"claude-alias","content":[{"type":"text","text":"I can't help with that."}],
			  "stop_reason":"refusal","stop_sequence":null,
			  "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"vLLM names the stop sequence", []string{"###", "END"},
			`{"id":"cmpl-9","choices":[{"index":0,"message":{"role":"assistant","content":"1, 2, 3"},"finish_reason":"stop","stop_reason":"END"}]}`,
			`{"id":"msg_cmpl-9","type":"message","role":"assistant","model":"claude-alias","content":[{"type":"text","text":"1, 2, 3"}],
			  "stop_reason":"stop_sequence","stop_sequence":"END",
			  "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"vLLM stop token id is not a sequence", []string{"END"},
			`{"id":"cmpl-9","choices":[{"index":0,"message":{"role":"assistant","content":"1"},"finish_reason":"stop","stop_reason":128009}]}`,
			`{"id":"msg_cmpl-9","type":"message","role":"assistant","model":"claude-alias","content":[{"type":"text","text":"1"}],
			  "stop_reason":"end_turn","stop_sequence":null,
			  "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"broken arguments become {}", nil,
			`{"id":"chatcmpl-b","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"tool_calls"}]}`,
			`{"id":"msg_b","type":"message","role":"assistant","model":"claude-alias","content":[{"type":"tool_use","id":"call_1","name":"f","input":{}}],
			  "stop_reason":"tool_use","stop_sequence":null,
			  "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessageFromOpenAI([]byte(tt.in), "claude-alias", tt.stops)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, got, tt.want)
		})
	}
}

func TestMessageFromOpenAIFailures(t *testing.T) {
	if _, err := MessageFromOpenAI([]byte(`not json`), "m", nil); err == nil {
		t.Error("no error for a body that is not JSON")
	}
	if _, err := MessageFromOpenAI([]byte(`{"id":"x","choices":[]}`), "m", nil); err != ErrNoChoices {
		t.Errorf("err = %v, want ErrNoChoices", err)
	}
}

func TestMessageID(t *testing.T) {
	if got := MessageID("chatcmpl-AbC123"); got != "msg_AbC123" {
		t.Errorf("MessageID = %q", got)
	}
	// A Claude vendor's id (the Anthropic adapter keeps it) is already one.
	if got := MessageID("msg_01XFDUDYJgAACzvnptvVoYEL"); got != "msg_01XFDUDYJgAACzvnptvVoYEL" {
		t.Errorf("MessageID of an Anthropic id = %q", got)
	}
	a, b := MessageID(""), MessageID("")
	if !strings.HasPrefix(a, "msg_") || len(a) < 20 || a == b {
		t.Errorf("random ids %q %q", a, b)
	}
}

// The error shape and the status → type table of
// https://platform.claude.com/docs/en/api/errors.
func TestErrors(t *testing.T) {
	for status, typ := range map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
		405: "invalid_request_error", 413: "request_too_large", 422: "invalid_request_error", 429: "rate_limit_error",
		500: "api_error", 502: "api_error", 503: "overloaded_error", 504: "api_error", 529: "overloaded_error",
	} {
		if got := ErrorType(status); got != typ {
			t.Errorf("ErrorType(%d) = %s, want %s", status, got, typ)
		}
	}
	sameJSON(t, ErrorBody("not_found_error", "The requested resource could not be found.", "req_011CSHoEeqs5C35K2UUqR7Fy"),
		`{"type":"error","error":{"type":"not_found_error","message":"The requested resource could not be found."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`)
	sameJSON(t, ErrorBody("overloaded_error", "Overloaded", ""), `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
}
