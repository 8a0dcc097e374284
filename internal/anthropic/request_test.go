package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/openai"
)

// Request fixtures are the documented payloads, trimmed:
//   - basic: the Messages API reference, https://platform.claude.com/docs/en/api/messages
//   - tools: the get_weather conversation of
//     https://platform.claude.com/docs/en/agents-and-tools/tool-use/overview
//   - images: https://platform.claude.com/docs/en/build-with-claude/vision
//   - PDFs: https://platform.claude.com/docs/en/build-with-claude/pdf-support
//   - thinking: https://platform.claude.com/docs/en/build-with-claude/extended-thinking
//   - system blocks with cache_control: https://platform.claude.com/docs/en/build-with-claude/prompt-caching
const weatherTool = `{"name":"get_weather","description":"Get the current weather in a given location",
	"input_schema":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"}},"required":["location"]}}`

const weatherFunction = `{"type":"function","function":{"name":"get_weather","description":"Get the current weather in a given location",
	"parameters":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"}},"required":["location"]}}}`

func TestToOpenAI(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"basic",
			`{"model":"claude-opus-4-7","max_tokens":1024,"messages":[{"role":"user","content":"Hello, world"}]}`,
			`{"model":"claude-opus-4-7","max_tokens":1024,"messages":[{"role":"user","content":"Hello, world"}]}`},
		{"system string, sampling, stop sequences, user id; top_k dropped",
			`{"model":"m","max_tokens":10,"system":"Be terse.","temperature":0.2,"top_p":0.9,"top_k":40,
			  "stop_sequences":["END","\n\nHuman:"],"metadata":{"user_id":"u-123"},
			  "messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"m","max_tokens":10,"temperature":0.2,"top_p":0.9,"stop":["END","\n\nHuman:"],"user":"u-123",
			  "messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"Hi"}]}`},
		{"system blocks with cache_control",
			`{"model":"m","max_tokens":10,
			  "system":[{"type":"text","text":"You are an AI assistant tasked with analyzing literary works."},
			            {"type":"text","text":"<the entire contents of Pride and Prejudice>","cache_control":{"type":"ephemeral"}}],
			  "messages":[{"role":"user","content":[{"type":"text","text":"Analyze the major themes.","cache_control":{"type":"ephemeral"}}]}]}`,
			`{"model":"m","max_tokens":10,"messages":[
			  {"role":"system","content":"You are an AI assistant tasked with analyzing literary works.\n\n<the entire contents of Pride and Prejudice>"},
			  {"role":"user","content":"Analyze the major themes."}]}`},
		{"a long user id is hashed to fit OpenAI's 64 characters",
			`{"model":"m","max_tokens":10,"metadata":{"user_id":"user_2f3c8f0e9a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d_account__session_0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"},"messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"m","max_tokens":10,"user":"64d433694b5d12436a403ba9db1714c98981d5d790248e9bbbee8e9ed0c92576","messages":[{"role":"user","content":"Hi"}]}`},
		{"stream asks for usage",
			`{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"m","max_tokens":5,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`},
		{"tool use round trip",
			`{"model":"m","max_tokens":1024,"tools":[` + weatherTool + `],
			  "messages":[
			    {"role":"user","content":"What's the weather like in San Francisco?"},
			    {"role":"assistant","content":[
			      {"type":"text","text":"<thinking>I need to use get_weather, and the user wants SF, which is likely San Francisco, CA.</thinking>"},
			      {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location": "San Francisco, CA", "unit": "celsius"}}]},
			    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01A09q90qw90lq917835lq9","content":"15 degrees"}]}]}`,
			`{"model":"m","max_tokens":1024,"tools":[` + weatherFunction + `],
			  "messages":[
			    {"role":"user","content":"What's the weather like in San Francisco?"},
			    {"role":"assistant","content":"<thinking>I need to use get_weather, and the user wants SF, which is likely San Francisco, CA.</thinking>",
			     "tool_calls":[{"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}"}}]},
			    {"role":"tool","tool_call_id":"toolu_01A09q90qw90lq917835lq9","content":"15 degrees"}]}`},
		{"parallel tool results, blocks content, is_error, text after results, image in a result",
			`{"model":"m","max_tokens":100,"tools":[` + weatherTool + `],
			  "messages":[
			    {"role":"user","content":"Weather in Paris and Rome?"},
			    {"role":"assistant","content":[
			      {"type":"tool_use","id":"toolu_a","name":"get_weather","input":{"location":"Paris"}},
			      {"type":"tool_use","id":"toolu_b","name":"get_weather","input":{}}]},
			    {"role":"user","content":[
			      {"type":"tool_result","tool_use_id":"toolu_a","content":[{"type":"text","text":"18C"},{"type":"text","text":"sunny"},
			        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
			      {"type":"tool_result","tool_use_id":"toolu_b","content":"location is required","is_error":true},
			      {"type":"text","text":"Thanks"}]}]}`,
			`{"model":"m","max_tokens":100,"tools":[` + weatherFunction + `],
			  "messages":[
			    {"role":"user","content":"Weather in Paris and Rome?"},
			    {"role":"assistant","content":null,"tool_calls":[
			      {"id":"toolu_a","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},
			      {"id":"toolu_b","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
			    {"role":"tool","tool_call_id":"toolu_a","content":"18C\nsunny"},
			    {"role":"tool","tool_call_id":"toolu_b","content":"Error: location is required"},
			    {"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"text","text":"Thanks"}]}]}`},
		{"tool without schema, tool_choice any without parallel use",
			`{"model":"m","max_tokens":10,"tools":[{"name":"now","description":"The time"}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},
			  "messages":[{"role":"user","content":"time?"}]}`,
			`{"model":"m","max_tokens":10,"tools":[{"type":"function","function":{"name":"now","description":"The time","parameters":{"type":"object","properties":{}}}}],
			  "tool_choice":"required","parallel_tool_calls":false,"messages":[{"role":"user","content":"time?"}]}`},
		{"tool_choice tool",
			`{"model":"m","max_tokens":10,"tools":[` + weatherTool + `],"tool_choice":{"type":"tool","name":"get_weather"},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"m","max_tokens":10,"tools":[` + weatherFunction + `],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"messages":[{"role":"user","content":"x"}]}`},
		{"tool_choice none and auto",
			`{"model":"m","max_tokens":10,"tools":[` + weatherTool + `],"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"m","max_tokens":10,"tools":[` + weatherFunction + `],"tool_choice":"none","messages":[{"role":"user","content":"x"}]}`},
		{"tool_choice auto without tools is left out",
			`{"model":"m","max_tokens":10,"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`},
		{"images: base64 and url",
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
			  {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQSkZJRg=="}},
			  {"type":"image","source":{"type":"url","url":"https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},
			  {"type":"text","text":"Describe these images."}]}]}`,
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
			  {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
			  {"type":"image_url","image_url":{"url":"https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},
			  {"type":"text","text":"Describe these images."}]}]}`},
		{"documents: base64 PDF and plain text",
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
			  {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjQ="}},
			  {"type":"document","title":"Notes","source":{"type":"text","media_type":"text/plain","data":"The grass is green."}},
			  {"type":"text","text":"Which model has the highest human preference win rates?"}]}]}`,
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
			  {"type":"file","file":{"filename":"document.pdf","file_data":"data:application/pdf;base64,JVBERi0xLjQ="}},
			  {"type":"text","text":"Notes\n\nThe grass is green."},
			  {"type":"text","text":"Which model has the highest human preference win rates?"}]}]}`},
		{"thinking: budget to effort, thinking blocks dropped",
			`{"model":"m","max_tokens":16000,"thinking":{"type":"enabled","budget_tokens":10000},"messages":[
			  {"role":"user","content":"Are there an infinite number of prime numbers such that n mod 4 == 3?"},
			  {"role":"assistant","content":[{"type":"thinking","thinking":"Let me analyze this step by step...","signature":"WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL...."},
			    {"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP..."},
			    {"type":"text","text":"Yes."}]},
			  {"role":"user","content":"Why?"}]}`,
			`{"model":"m","max_tokens":16000,"reasoning_effort":"high","messages":[
			  {"role":"user","content":"Are there an infinite number of prime numbers such that n mod 4 == 3?"},
			  {"role":"assistant","content":"Yes."},
			  {"role":"user","content":"Why?"}]}`},
		{"effort and a small budget",
			`{"model":"m","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"m","max_tokens":10,"reasoning_effort":"low","messages":[{"role":"user","content":"x"}]}`},
		{"output_config effort wins, adaptive alone says nothing",
			`{"model":"m","max_tokens":10,"thinking":{"type":"adaptive"},"output_config":{"effort":"medium"},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"m","max_tokens":10,"reasoning_effort":"medium","messages":[{"role":"user","content":"x"}]}`},
		{"structured output",
			`{"model":"m","max_tokens":10,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"m","max_tokens":10,"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","properties":{"a":{"type":"string"}}}}},"messages":[{"role":"user","content":"x"}]}`},
		{"prefill kept, empty final assistant left out",
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"What's the Greek name for Sun? (A) Sol (B) Helios (C) Sun"},{"role":"assistant","content":"The best answer is ("}]}`,
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"What's the Greek name for Sun? (A) Sol (B) Helios (C) Sun"},{"role":"assistant","content":"The best answer is ("}]}`},
		{"empty final assistant",
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[]}]}`,
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`},
		{"html stays literal",
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"<b>a & b</b>"}]}`,
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"<b>a & b</b>"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, e := ParseRequest([]byte(tt.in))
			if e != nil {
				t.Fatalf("ParseRequest: %v", e)
			}
			got, e := r.ToOpenAI()
			if e != nil {
				t.Fatalf("ToOpenAI: %v", e)
			}
			sameJSON(t, got, tt.want)
			if strings.Contains(tt.name, "html") && !strings.Contains(string(got), "<b>a & b</b>") {
				t.Errorf("HTML escaped: %s", got)
			}
			// The gateway parses and validates what it sends.
			var req openai.ChatRequest
			if err := json.Unmarshal(got, &req); err != nil {
				t.Fatalf("not an OpenAI request: %v", err)
			}
			if e := req.Validate(); e != nil {
				t.Fatalf("translated request fails validation: %v", e)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct{ name, in, want string }{
		{"not JSON", `{"model":`, "The request body is not valid JSON"},
		{"not an object", `[1]`, "must be a JSON object"},
		{"no model", `{"max_tokens":1,` + user + `}`, "model: Field required"},
		{"no max_tokens", `{"model":"m",` + user + `}`, "max_tokens: Field required"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,` + user + `}`, "max_tokens: Input should be greater than or equal to 1"},
		{"max_tokens a string", `{"model":"m","max_tokens":"9",` + user + `}`, "max_tokens: Input should be a valid integer"},
		{"no messages", `{"model":"m","max_tokens":1}`, "messages: Field required"},
		{"empty messages", `{"model":"m","max_tokens":1,"messages":[]}`, "messages: at least one message is required"},
		{"system role", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, "messages.0.role: Input should be 'user' or 'assistant'"},
		{"content null", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":null}]}`, "messages.0.content: Field required"},
		{"content a number", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":5}]}`, "content must be a string or an array"},
		{"empty user text", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":""}]}`, "messages.0: all messages must have non-empty content"},
		{"system block not text", `{"model":"m","max_tokens":1,"system":[{"type":"image"}],` + user + `}`, "system.0.type"},
		{"unknown tool_use_id", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"1"}]}]}`,
			"messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x"},
		{"server tool", `{"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}],` + user + `}`,
			`tools.0.type: tool type "web_search_20250305" is not supported`},
		{"unsupported block", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"search_result","source":"x"}]}]}`,
			`messages.0.content.0.type: content block type "search_result" is not supported`},
		{"image from the Files API", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_011CNha8iCJcU1wXNR6q4V8w"}}]}]}`,
			`messages.0.content.0.source.type: image source type "file" is not supported`},
		{"PDF by URL", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://assets.anthropic.com/m/1cd9d098ac3e6467/original/Claude-3-Model-Card-October-Addendum.pdf"}}]}]}`,
			`messages.0.content.0.source.type: document source type "url" is not supported`},
		{"tool_use input not an object", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]}`,
			"messages.1.content.0.input: Input should be a valid dictionary"},
		{"bad tool_choice", `{"model":"m","max_tokens":1,"tools":[` + weatherTool + `],"tool_choice":{"type":"sometimes"},` + user + `}`, "tool_choice.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, e := ParseRequest([]byte(tt.in))
			if e == nil {
				_, e = r.ToOpenAI()
			}
			if e == nil {
				t.Fatal("no error")
			}
			if e.Status != 400 || e.Type != ErrInvalidRequest || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("error %d %s %q, want 400 invalid_request_error containing %q", e.Status, e.Type, e.Message, tt.want)
			}
		})
	}
}

// What only openai.Validate catches comes back in Anthropic's terms.
func TestFromValidation(t *testing.T) {
	r, e := ParseRequest([]byte(`{"model":"m","max_tokens":1,"tools":[{"name":"get weather"}],"messages":[{"role":"user","content":"x"}]}`))
	if e != nil {
		t.Fatal(e)
	}
	body, _ := r.ToOpenAI()
	var req openai.ChatRequest
	json.Unmarshal(body, &req)
	v := req.Validate()
	if v == nil {
		t.Fatal("no validation error")
	}
	got := FromValidation(v)
	if got.Status != 400 || got.Type != ErrInvalidRequest || !strings.HasPrefix(got.Message, "tools.0.name: ") {
		t.Fatalf("got %+v", got)
	}
}
