package anthropic

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
)

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad golden JSON %v: %s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, compactJSON(want))
	}
}

func compactJSON(s string) string {
	b, _ := encodeAny(s)
	return string(b)
}

func encodeAny(s string) ([]byte, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return encode(v)
}

// TestTranslateRequest checks OpenAI requests against the Messages API
// bodies they must become. The OpenAI inputs are the examples of OpenAI's
// API reference (Create chat completion: "Default", "Image input",
// "Functions") and the tool-calling guide's round trip; the Anthropic
// shapes follow Anthropic's Messages API reference and its guides "Tool
// use: implement tool use" (tool_use/tool_result blocks, tool_choice
// auto/any/tool/none, disable_parallel_tool_use, tool results first in the
// user turn), "Vision" (base64 and url image sources), "PDF support"
// (document blocks), "Extended thinking" (thinking.budget_tokens ≥ 1024 and
// below max_tokens) and "Structured outputs" (output_config.format).
func TestTranslateRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream bool
		in     string
		want   string
	}{
		{"default example: developer message becomes system", false,
			`{"model":"gpt-4o","messages":[{"role":"developer","content":"You are a helpful assistant."},{"role":"user","content":"Hello!"}]}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"system":"You are a helpful assistant.",
			  "messages":[{"role":"user","content":[{"type":"text","text":"Hello!"}]}]}`},
		{"several system messages are joined; stream", true,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"One."},{"role":"system","content":[{"type":"text","text":"Two."}]},{"role":"user","content":"Hi"}]}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"system":"One.\n\nTwo.","stream":true,
			  "messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`},
		{"image input: url and data URL", false,
			`{"model":"gpt-4o","max_tokens":300,"messages":[{"role":"user","content":[
			  {"type":"text","text":"What's in this image?"},
			  {"type":"image_url","image_url":{"url":"https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"}},
			  {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}]}`,
			`{"model":"claude-sonnet-4-5","max_tokens":300,"messages":[{"role":"user","content":[
			  {"type":"text","text":"What's in this image?"},
			  {"type":"image","source":{"type":"url","url":"https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"}},
			  {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}`},
		{"functions example: tools and tool_choice auto", false,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"What's the weather like in Boston today?"}],
			  "tools":[{"type":"function","function":{"name":"get_current_weather","description":"Get the current weather in a given location",
			    "parameters":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}}}],
			  "tool_choice":"auto"}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,
			  "messages":[{"role":"user","content":[{"type":"text","text":"What's the weather like in Boston today?"}]}],
			  "tools":[{"name":"get_current_weather","description":"Get the current weather in a given location",
			    "input_schema":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}}],
			  "tool_choice":{"type":"auto"}}`},
		{"tool round trip: consecutive tool results merge into one user turn, first", false,
			`{"model":"gpt-4o","messages":[
			  {"role":"user","content":"Weather in Paris and the time?"},
			  {"role":"assistant","content":null,"tool_calls":[
			    {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Paris\"}"}},
			    {"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
			  {"role":"tool","tool_call_id":"call_1","content":"15 degrees"},
			  {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"noon"}]},
			  {"role":"user","content":"Thanks!"}],
			  "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}},
			           {"type":"function","function":{"name":"get_time"}}]}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[
			  {"role":"user","content":[{"type":"text","text":"Weather in Paris and the time?"}]},
			  {"role":"assistant","content":[
			    {"type":"tool_use","id":"call_1","name":"get_weather","input":{"location":"Paris"}},
			    {"type":"tool_use","id":"call_2","name":"get_time","input":{}}]},
			  {"role":"user","content":[
			    {"type":"tool_result","tool_use_id":"call_1","content":"15 degrees"},
			    {"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"noon"}]},
			    {"type":"text","text":"Thanks!"}]}],
			  "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}},
			           {"name":"get_time","input_schema":{"type":"object","properties":{}}}]}`},
		{"same-role messages merge; assistant text before tool_use", false,
			`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},
			  {"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
			  {"role":"tool","tool_call_id":"toolu_1","content":""}],
			  "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[
			  {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
			  {"role":"assistant","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},
			  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1"}]}],
			  "tools":[{"name":"f","input_schema":{"type":"object"}}]}`},
		{"sampling, stop, limits, user, required tool without parallel calls", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1.5,"top_p":0.9,"stop":"END",
			  "max_tokens":100,"max_completion_tokens":200,"user":"user-123","seed":7,"frequency_penalty":1,
			  "tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","parallel_tool_calls":false}`,
			`{"model":"claude-sonnet-4-5","max_tokens":200,"temperature":1,"top_p":0.9,"stop_sequences":["END"],
			  "metadata":{"user_id":"user-123"},
			  "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
			  "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],
			  "tool_choice":{"type":"any","disable_parallel_tool_use":true}}`},
		{"named tool choice, stop list, metadata user_id", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","","b"],"metadata":{"user_id":"u-9","other":"dropped"},
			  "tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"stop_sequences":["a","b"],"metadata":{"user_id":"u-9"},
			  "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
			  "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],
			  "tool_choice":{"type":"tool","name":"f"}}`},
		{"tool_choice none; parallel_tool_calls cannot apply", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
			  "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`},
		{"tool_choice without tools is dropped", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`},
		{"reasoning_effort without a limit: budget on top of the default", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high","temperature":0.2}`,
			`{"model":"claude-sonnet-4-5","max_tokens":8192,"thinking":{"type":"enabled","budget_tokens":4096},
			  "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`},
		{"reasoning_effort under a client limit", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"medium","max_completion_tokens":1500}`,
			`{"model":"claude-sonnet-4-5","max_tokens":1500,"thinking":{"type":"enabled","budget_tokens":1499},
			  "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`},
		{"reasoning_effort that cannot fit is dropped", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","max_tokens":1000,"temperature":0.5}`,
			`{"model":"claude-sonnet-4-5","max_tokens":1000,"temperature":0.5,
			  "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`},
		{"reasoning_effort gives way to a forced tool", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
			  "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"any"}}`},
		{"reasoning_effort gives way while the last assistant turn called tools", false,
			`{"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":"x"},
			  {"role":"assistant","reasoning_content":"think","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
			  {"role":"tool","tool_call_id":"toolu_1","content":"1"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[
			  {"role":"user","content":[{"type":"text","text":"x"}]},
			  {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},
			  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"1"}]}],
			  "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}]}`},
		{"json_schema response format", false,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}}}}}}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}},
			  "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`},
		{"cache_control kept; system as blocks; PDF and text files", false,
			`{"model":"m","messages":[
			  {"role":"system","content":[{"type":"text","text":"Long context","cache_control":{"type":"ephemeral"}}]},
			  {"role":"user","content":[
			    {"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}},
			    {"type":"file","file":{"filename":"b.txt","file_data":"data:text/plain;base64,aGVsbG8="}},
			    {"type":"text","text":"Summarise"}]}]}`,
			`{"model":"claude-sonnet-4-5","max_tokens":4096,
			  "system":[{"type":"text","text":"Long context","cache_control":{"type":"ephemeral"}}],
			  "messages":[{"role":"user","content":[
			    {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},
			    {"type":"document","source":{"type":"text","media_type":"text/plain","data":"hello"}},
			    {"type":"text","text":"Summarise"}]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, model, e := translateRequest([]byte(tc.in), "claude-sonnet-4-5", tc.stream, 4096)
			if e != nil {
				t.Fatal(e)
			}
			if model != "claude-sonnet-4-5" {
				t.Errorf("model %q", model)
			}
			jsonEqual(t, got, tc.want)
		})
	}
}

func TestTranslateRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, param string
	}{
		{"arguments not JSON",
			`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments"},
		{"arguments not an object",
			`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments"},
		{"audio", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`,
			"messages[0].content[0].type"},
		{"image URL neither http nor base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`,
			"messages[0].content[0].image_url.url"},
		{"OpenAI file id", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`,
			"messages[0].content[0].file.file_id"},
		{"n above 1", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, "n"},
		{"unknown reasoning effort", `{"model":"m","reasoning_effort":"max","messages":[{"role":"user","content":"x"}]}`, "reasoning_effort"},
		{"legacy function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"bad stop", `{"model":"m","stop":3,"messages":[{"role":"user","content":"x"}]}`, "stop"},
		{"bad content", `{"model":"m","messages":[{"role":"user","content":3}]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, e := translateRequest([]byte(tc.in), "m", false, 4096)
			if e == nil {
				t.Fatal("no error")
			}
			var oe *openai.Error
			if !errors.As(error(e), &oe) || oe.Status != 400 || oe.Type != openai.TypeInvalidRequest {
				t.Fatalf("error %v", e)
			}
			param := ""
			if oe.Param != nil {
				param = *oe.Param
			}
			if param != tc.param {
				t.Errorf("param %q, want %q (%s)", param, tc.param, oe.Message)
			}
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("Anthropic-Ratelimit-Requests-Remaining", "0")
	h.Set("Anthropic-Ratelimit-Requests-Reset", now.Add(30*time.Second).Format(time.RFC3339))
	h.Set("Anthropic-Ratelimit-Tokens-Remaining", "5000")
	rateLimitHeaders(h, now)
	if h.Get("X-Ratelimit-Remaining-Requests") != "0" || h.Get("X-Ratelimit-Reset-Requests") != "30s" ||
		h.Get("X-Ratelimit-Remaining-Tokens") != "5000" || h.Get("X-Ratelimit-Reset-Tokens") != "" {
		t.Errorf("headers %v", h)
	}
}
