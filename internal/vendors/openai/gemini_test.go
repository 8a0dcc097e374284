package openai

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

type sliceStream struct{ chunks []string }

func (s *sliceStream) Next() ([]byte, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return []byte(c), nil
}
func (s *sliceStream) Close() error { return nil }

func drain(t *testing.T, s interface{ Next() ([]byte, error) }) []map[string]any {
	t.Helper()
	var out []map[string]any
	for {
		d, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(d, &m); err != nil {
			t.Fatalf("chunk is not JSON: %s", d)
		}
		out = append(out, m)
	}
}

// Chunks shaped like Gemini's OpenAI-compatible stream of a tool call, as
// recorded in THU-MAIC/OpenMAIC#1556 and googleapis/python-genai#2868.
var geminiToolStream = []string{
	`{"choices":[{"delta":{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"},"id":"function-call-1","type":"function"}]},"index":0}],"created":1,"id":"abc","model":"gemini-2.0-flash","object":"chat.completion.chunk"}`,
	`{"choices":[{"delta":{"role":"assistant","tool_calls":[{"function":{"arguments":"{}","name":"get_time"},"id":"function-call-2","type":"function"}]},"finish_reason":"stop","index":0}],"created":1,"id":"abc","model":"gemini-2.0-flash","object":"chat.completion.chunk","usage":{"completion_tokens":5,"prompt_tokens":7,"total_tokens":12}}`,
}

func TestGeminiStreamToolCalls(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		out := drain(t, newGeminiStream(&sliceStream{append([]string(nil), geminiToolStream...)}, includeUsage))
		wantChunks := 2
		if includeUsage {
			wantChunks = 3
		}
		if len(out) != wantChunks {
			t.Fatalf("include_usage=%v: %d chunks, want %d", includeUsage, len(out), wantChunks)
		}
		for i, c := range out[:2] {
			ch := c["choices"].([]any)[0].(map[string]any)
			tc := ch["delta"].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
			if tc["index"] != float64(i) {
				t.Errorf("chunk %d: tool call index %v, want %d", i, tc["index"], i)
			}
			if _, hasRole := ch["delta"].(map[string]any)["role"]; hasRole != (i == 0) {
				t.Errorf("chunk %d: role present = %v", i, hasRole)
			}
			if i == 0 && ch["finish_reason"] != nil {
				t.Errorf("first chunk finish_reason = %v, want null", ch["finish_reason"])
			}
			if _, ok := ch["finish_reason"]; !ok {
				t.Errorf("chunk %d: finish_reason absent, want present", i)
			}
			if u, ok := c["usage"]; includeUsage != ok || u != nil {
				t.Errorf("chunk %d: usage = %v (present %v), want null only with include_usage", i, u, ok)
			}
		}
		last := out[1]["choices"].([]any)[0].(map[string]any)
		if last["finish_reason"] != "tool_calls" {
			t.Errorf("finish_reason = %v, want tool_calls", last["finish_reason"])
		}
		if includeUsage {
			u := out[2]
			if len(u["choices"].([]any)) != 0 || u["usage"].(map[string]any)["total_tokens"] != float64(12) || u["id"] != "abc" {
				t.Errorf("usage chunk = %v", u)
			}
		}
	}
}

func TestGeminiStreamTextKeepsStop(t *testing.T) {
	out := drain(t, newGeminiStream(&sliceStream{[]string{
		`{"choices":[{"delta":{"content":"Hi","role":"assistant"},"index":0}],"id":"x","model":"g","object":"chat.completion.chunk"}`,
		`{"choices":[{"delta":{"content":" there","role":"assistant"},"finish_reason":"stop","index":0}],"id":"x","model":"g","object":"chat.completion.chunk"}`,
	}}, false))
	if fr := out[1]["choices"].([]any)[0].(map[string]any)["finish_reason"]; fr != "stop" {
		t.Fatalf("finish_reason = %v", fr)
	}
}

func TestUpstreamError(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantCode   string
		wantMsg    string
		wantRetry  string
	}{
		{"openai 429", 429, http.Header{"Retry-After": {"7"}},
			`{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			429, "requests", "rate_limit_exceeded", "Rate limit reached", "7"},
		{"gemini array", 400, nil,
			`[{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}]`,
			400, "invalid_request_error", "invalid_argument", "Invalid JSON payload", ""},
		{"gemini bad key", 400, nil,
			`[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}]`,
			401, "authentication_error", "invalid_api_key", "API key not valid", ""},
		{"gemini retry info", 429, nil,
			`{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2.5s"}]}}`,
			429, "rate_limit_error", "resource_exhausted", "Resource exhausted", "3"},
		{"retry-after-ms", 503, http.Header{"Retry-After-Ms": {"1500"}}, `{"error":{"message":"overloaded","type":"server_error"}}`,
			503, "server_error", "", "overloaded", "2"},
		{"openai reset headers", 429, http.Header{"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"6m0s"},
			"X-Ratelimit-Remaining-Tokens": {"5"}, "X-Ratelimit-Reset-Tokens": {"1s"}},
			`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`,
			429, "requests", "rate_limit_exceeded", "Rate limit", "360"},
		{"plain text", 502, nil, `Bad Gateway`, 502, "server_error", "", "Bad Gateway", ""},
		{"html", 502, nil, `<html>nginx</html>`, 502, "server_error", "", "HTTP 502", ""},
		{"echoed key", 401, nil, `{"error":{"message":"bad key sk-secret-123","type":"invalid_request_error"}}`,
			401, "invalid_request_error", "", "[credential]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := upstreamError(tt.status, tt.header, []byte(tt.body), "sk-secret-123")
			code := ""
			if e.Code != nil {
				code = *e.Code
			}
			if e.Status != tt.wantStatus || e.Type != tt.wantType || code != tt.wantCode ||
				!strings.Contains(e.Message, tt.wantMsg) || e.RetryAfter != tt.wantRetry {
				t.Fatalf("got %d %q %q %q retry %q", e.Status, e.Type, code, e.Message, e.RetryAfter)
			}
			if strings.Contains(e.Message, "sk-secret-123") {
				t.Fatal("credential leaked into the message")
			}
		})
	}
}

func TestFloatsToBase64(t *testing.T) {
	out := floatsToBase64([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1]}],"model":"m"}`))
	// 0.5 = 0x3f000000, -1 = 0xbf800000, little-endian.
	if !strings.Contains(string(out), `"embedding":"AAAAPwAAgL8="`) {
		t.Fatalf("got %s", out)
	}
}

// Null choices or tool calls in a chunk are dropped, not a panic.
func TestGeminiStreamNullEntries(t *testing.T) {
	out := drain(t, newGeminiStream(&sliceStream{[]string{
		`{"choices":[null],"id":"x","model":"g","object":"chat.completion.chunk"}`,
		`{"choices":[{"delta":{"tool_calls":[null,{"function":{"name":"f","arguments":"{}"},"id":"c1"}]},"index":0}],"id":"x","model":"g"}`,
	}}, false))
	if len(out) != 2 {
		t.Fatalf("%d chunks", len(out))
	}
	calls := out[1]["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)["tool_calls"].([]any)
	if len(calls) != 1 || calls[0].(map[string]any)["index"] != float64(0) {
		t.Errorf("tool calls %v", calls)
	}
}

// Gemini sends usage even when the client did not ask for it: the client
// never sees it, the gateway still gets it to count the tokens.
func TestGeminiStreamKeepsUnsentUsage(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		s := newGeminiStream(&sliceStream{append([]string(nil), geminiToolStream...)}, includeUsage)
		out := drain(t, s)
		sent := false
		for _, c := range out {
			if u, ok := c["usage"]; ok && u != nil {
				sent = true
			}
		}
		if sent != includeUsage {
			t.Errorf("include_usage=%v: usage sent %v", includeUsage, sent)
		}
		if got := string(s.Usage()); got != `{"completion_tokens":5,"prompt_tokens":7,"total_tokens":12}` {
			t.Errorf("include_usage=%v: Usage() = %s", includeUsage, got)
		}
	}
}
