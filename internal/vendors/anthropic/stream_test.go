package anthropic

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/openai"
)

// basicStream is tests/lib/fixtures/basic_response.txt of
// anthropics/anthropic-sdk-typescript, verbatim.
const basicStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK","type":"message","role":"assistant","content":[],"model":"claude-3-opus-20240229","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}

event: message_stop
data: {"type":"message_stop"}

`

// toolUseStream is tests/lib/fixtures/tool_use_response.txt of
// anthropics/anthropic-sdk-typescript, verbatim: text, then a tool_use
// block (Anthropic index 1) whose input arrives as partial JSON.
const toolUseStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","type":"message","role":"assistant","model":"claude-opus-4-8","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":377,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'ll check the current weather in Paris for you."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"locati"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"on\": \"P"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ar"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":65}}

event: message_stop
data: {"type":"message_stop"}

`

// thinkingParallelStream follows the event shapes of Anthropic's
// "Streaming messages" page (thinking_delta, signature_delta) and of the
// recorded thinking stream in charmbracelet/fantasy's provider tests
// (thinking block with empty thinking and signature first, cache usage in
// message_start), then two parallel tool_use blocks as in "Implement tool
// use". CRLF line ends, as some proxies send.
var thinkingParallelStream = strings.ReplaceAll(`event: message_start
data: {"type":"message_start","message":{"id":"msg_01WBeG2NaYQ8w99747S3n8MZ","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":423,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":6,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user is asking for"}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" two things.\n"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"Flo"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"rence, Italy\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01B","name":"get_time","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":120}}

event: message_stop
data: {"type":"message_stop"}

`, "\n", "\r\n")

// overloadedStream breaks off with the in-stream error event that
// Anthropic's "Streaming messages" page shows for overload.
const overloadedStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_e","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \"you\" <b>\u2028"}}

event: error
data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

`

const created = 1700000000

// chunkOf is an OpenAI chunk with the given delta, in the adapter's exact
// field order.
func chunkOf(id, model, delta, finish string, usage bool) string {
	s := `{"id":"` + id + `","object":"chat.completion.chunk","created":1700000000,"model":"` + model +
		`","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + `}]`
	if usage {
		s += `,"usage":null`
	}
	return s + "}"
}

// noArgsToolStream is Anthropic's stream of a call to a tool without
// parameters: content_block_start carries "input":{} and the only delta is
// an empty partial_json (BerriAI/litellm#5063, pipecat-ai/pipecat#409).
const noArgsToolStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_na","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_snooze","name":"snooze","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}

event: message_stop
data: {"type":"message_stop"}

`

type streamCase struct {
	name         string
	body         string
	includeUsage bool
	want         []string // chunks, then "EOF" or the error
}

func streamCases() []streamCase {
	b := func(d, f string) string {
		return chunkOf("msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", "claude-3-opus-20240229", d, f, true)
	}
	tu := func(d, f string) string {
		return chunkOf("msg_019Q1hrJbZG26Fb9BQhrkHEr", "claude-3-opus-20240229", d, f, false)
	}
	th := func(d, f string) string {
		return chunkOf("msg_01WBeG2NaYQ8w99747S3n8MZ", "claude-3-opus-20240229", d, f, true)
	}
	ov := func(d, f string) string { return chunkOf("msg_e", "claude-3-opus-20240229", d, f, false) }
	na := func(d, f string) string { return chunkOf("msg_na", "claude-3-opus-20240229", d, f, false) }
	return []streamCase{
		{"basic with usage", basicStream, true, []string{
			b(`{"role":"assistant","content":""}`, "null"),
			b(`{"content":"Hello"}`, "null"),
			b(`{"content":" there"}`, "null"),
			b(`{"content":"!"}`, "null"),
			b(`{}`, `"stop"`),
			`{"id":"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK","object":"chat.completion.chunk","created":1700000000,"model":"claude-3-opus-20240229","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":6,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`,
			"EOF",
		}},
		{"text then tool use", toolUseStream, false, []string{
			tu(`{"role":"assistant","content":""}`, "null"),
			tu(`{"content":"I"}`, "null"),
			tu(`{"content":"'ll check the current weather in Paris for you."}`, "null"),
			tu(`{"tool_calls":[{"index":0,"id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "null"),
			tu(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"locati"}}]}`, "null"),
			tu(`{"tool_calls":[{"index":0,"function":{"arguments":"on\": \"P"}}]}`, "null"),
			tu(`{"tool_calls":[{"index":0,"function":{"arguments":"ar"}}]}`, "null"),
			tu(`{"tool_calls":[{"index":0,"function":{"arguments":"is\"}"}}]}`, "null"),
			tu(`{}`, `"tool_calls"`),
			"EOF",
		}},
		{"thinking and parallel tools", thinkingParallelStream, true, []string{
			th(`{"role":"assistant","content":""}`, "null"),
			th(`{"reasoning_content":"The user is asking for"}`, "null"),
			th(`{"reasoning_content":" two things.\n"}`, "null"),
			th(`{"tool_calls":[{"index":0,"id":"toolu_01A","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "null"),
			th(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\": \"Flo"}}]}`, "null"),
			th(`{"tool_calls":[{"index":0,"function":{"arguments":"rence, Italy\"}"}}]}`, "null"),
			th(`{"tool_calls":[{"index":1,"id":"toolu_01B","type":"function","function":{"name":"get_time","arguments":""}}]}`, "null"),
			th(`{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}`, "null"),
			th(`{}`, `"tool_calls"`),
			`{"id":"msg_01WBeG2NaYQ8w99747S3n8MZ","object":"chat.completion.chunk","created":1700000000,"model":"claude-3-opus-20240229","choices":[],"usage":{"prompt_tokens":2523,"completion_tokens":120,"total_tokens":2643,"prompt_tokens_details":{"cached_tokens":2000,"cache_write_tokens":100}}}`,
			"EOF",
		}},
		{"tool without arguments", noArgsToolStream, false, []string{
			na(`{"role":"assistant","content":""}`, "null"),
			na(`{"tool_calls":[{"index":0,"id":"toolu_snooze","type":"function","function":{"name":"snooze","arguments":""}}]}`, "null"),
			na(`{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}`, "null"),
			na(`{}`, `"tool_calls"`),
			"EOF",
		}},
		{"in-stream error", overloadedStream, false, []string{
			ov(`{"role":"assistant","content":""}`, "null"),
			ov(`{"content":"Hi \"you\" <b>\u2028"}`, "null"),
			"529 server_error (overloaded): Overloaded",
		}},
		{"no message_stop", strings.TrimSuffix(basicStream, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), false, []string{
			chunkOf("msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", "claude-3-opus-20240229", `{"role":"assistant","content":""}`, "null", false),
			chunkOf("msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", "claude-3-opus-20240229", `{"content":"Hello"}`, "null", false),
			chunkOf("msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", "claude-3-opus-20240229", `{"content":" there"}`, "null", false),
			chunkOf("msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", "claude-3-opus-20240229", `{"content":"!"}`, "null", false),
			chunkOf("msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", "claude-3-opus-20240229", `{}`, `"stop"`, false),
			"502 server_error (stream_truncated): the vendor's stream ended before it was complete",
		}},
	}
}

// partsReader returns its parts one Read at a time, never joining two.
type partsReader struct{ parts [][]byte }

func (r *partsReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// translate runs a whole upstream body, delivered in parts, through the
// stream and lists what comes out: each chunk, then "EOF" or the error.
func translate(t testing.TB, tc streamCase, parts ...[]byte) []string {
	s := newStream(io.NopCloser(&partsReader{parts: parts}), "claude-3-opus-20240229", tc.includeUsage, "sk-ant-key", created)
	defer s.Close()
	var out []string
	for range 1000 {
		d, err := s.Next()
		if err == io.EOF {
			return append(out, "EOF")
		}
		if err != nil {
			var oe *openai.Error
			if !errors.As(err, &oe) {
				t.Fatalf("error is not an *openai.Error: %v", err)
			}
			return append(out, err.Error())
		}
		if !json.Valid(d) {
			t.Fatalf("chunk is not JSON: %s", d)
		}
		out = append(out, string(d))
	}
	t.Fatal("stream does not end")
	return nil
}

func TestStreamGolden(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := translate(t, tc, []byte(tc.body))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestStreamSplitEverywhere delivers each upstream body in two parts, split
// at every byte boundary, and requires the very same chunks.
func TestStreamSplitEverywhere(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			for i := 0; i <= len(body); i++ {
				got := translate(t, tc, body[:i:i], body[i:])
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("split at %d (%q | %q): got\n%s", i, tail(body[:i]), head(body[i:]), strings.Join(got, "\n"))
				}
			}
		})
	}
}

func tail(b []byte) string { return string(b[max(0, len(b)-20):]) }
func head(b []byte) string { return string(b[:min(20, len(b))]) }

// FuzzStream splits the upstream bodies at random places (each byte of
// cuts is the length of the next part) and requires the same chunks.
func FuzzStream(f *testing.F) {
	cases := streamCases()
	f.Add(uint8(0), []byte{1, 2, 3})
	f.Add(uint8(1), []byte{50, 0, 7, 200})
	f.Add(uint8(2), []byte{13, 1, 1, 1, 1, 255})
	f.Add(uint8(3), []byte{})
	f.Add(uint8(4), []byte{2})
	f.Fuzz(func(t *testing.T, which uint8, cuts []byte) {
		tc := cases[int(which)%len(cases)]
		body := []byte(tc.body)
		var parts [][]byte
		for _, c := range cuts {
			n := min(int(c), len(body))
			parts = append(parts, body[:n:n])
			body = body[n:]
		}
		parts = append(parts, body)
		if got := translate(t, tc, parts...); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("cuts %v: got\n%s", cuts, strings.Join(got, "\n"))
		}
	})
}

// TestStreamOddEvents covers events a stream may carry that need no chunk
// or that arrive out of the usual order.
func TestStreamOddEvents(t *testing.T) {
	body := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\n" +
		": a comment\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n\n" +
		"event: future_event\ndata: {\"type\":\"future_event\"}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	got := translate(t, streamCase{body: body, includeUsage: true}, []byte(body))
	want := []string{
		chunkOf("m", "claude-3-opus-20240229", `{"role":"assistant","content":""}`, "null", true),
		chunkOf("m", "claude-3-opus-20240229", `{}`, `"stop"`, true), // message_stop without message_delta
		`{"id":"m","object":"chat.completion.chunk","created":1700000000,"model":"claude-3-opus-20240229","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`,
		"EOF",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s", strings.Join(got, "\n"))
	}
	bad := "event: message_start\ndata: {not json\n\n"
	if got := translate(t, streamCase{body: bad}, []byte(bad)); len(got) != 1 || !strings.Contains(got[0], "stream_broken") {
		t.Errorf("invalid event: %v", got)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\n\r\t\x00\x1f", "ünï😀", "\u2028\u2029", "bad\xffutf8", "<&>"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("%q → %s → %q", s, got, back)
		}
	}
}

// BenchmarkStream measures the per-event cost of translating a stream.
func BenchmarkStream(b *testing.B) {
	body := []byte(toolUseStream)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s := newStream(io.NopCloser(&partsReader{parts: [][]byte{body}}), "claude-x", true, "k", created)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}
