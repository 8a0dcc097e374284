package fake

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestOpenAIChatNonStream(t *testing.T) {
	s := Start(t, OpenAI, testOpts())
	r := post(t, s, "/chat/completions", testKey, userChat("gpt-4o", "hi there"))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if !strings.HasPrefix(string(r.body), "{\n  \"id\": \"chatcmpl-") {
		t.Errorf("body not pretty-printed in OpenAI's order: %.40q", r.body)
	}
	m := decode(t, r.body)
	want := "Hello from openai/gpt-4o via alpha. You said: hi there"
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"object"}, "chat.completion"},
		{[]any{"model"}, "gpt-4o"},
		{[]any{"service_tier"}, "default"},
		{[]any{"choices", 0, "index"}, 0.0},
		{[]any{"choices", 0, "message", "role"}, "assistant"},
		{[]any{"choices", 0, "message", "content"}, want},
		{[]any{"choices", 0, "message", "refusal"}, nil},
		{[]any{"choices", 0, "message", "annotations"}, []any{}},
		{[]any{"choices", 0, "logprobs"}, nil},
		{[]any{"choices", 0, "finish_reason"}, "stop"},
		{[]any{"usage", "prompt_tokens"}, 2.0}, // "hi there" is 8 chars
		{[]any{"usage", "completion_tokens"}, float64(len(want) / 4)},
		{[]any{"usage", "total_tokens"}, float64(2 + len(want)/4)},
		{[]any{"usage", "prompt_tokens_details", "cached_tokens"}, 0.0},
		{[]any{"usage", "completion_tokens_details", "reasoning_tokens"}, 0.0},
	}
	for _, c := range checks {
		if got := path(m, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
		}
	}
	if fp, _ := m["system_fingerprint"].(string); !strings.HasPrefix(fp, "fp_") {
		t.Errorf("system_fingerprint %q", fp)
	}
	if !has(path(m, "choices", 0, "message"), "refusal") || !has(path(m, "choices", 0), "logprobs") {
		t.Error("explicit nulls missing")
	}
	for h, want := range map[string]string{"openai-version": "2020-10-01", "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-tokens": "29999990"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	for _, h := range []string{"openai-processing-ms", "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-reset-tokens", "x-ratelimit-remaining-requests"} {
		if r.header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if id := r.header.Get("x-request-id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("x-request-id %q", id)
	}
}

func TestOpenAIStreamFraming(t *testing.T) {
	for _, tc := range []struct {
		name         string
		includeUsage bool
		chunks       int
	}{
		{"plain", false, 0},
		{"include_usage", true, 0},
		{"six chunks with usage", true, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts()
			opts.Chunks = tc.chunks
			s := Start(t, OpenAI, opts)
			req := userChat("gpt-4o-mini", "stream me")
			req["stream"] = true
			if tc.includeUsage {
				req["stream_options"] = M{"include_usage": true}
			}
			r := post(t, s, "/chat/completions", testKey, req)
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			cs, done := chunks(t, events(t, r.body, "\n"))
			if !done {
				t.Fatal("no [DONE]")
			}
			want := tc.chunks
			if want == 0 {
				want = 4
			}
			// role chunk + content chunks + finish chunk (+ usage chunk)
			n := 1 + want + 1
			if tc.includeUsage {
				n++
			}
			if len(cs) != n {
				t.Fatalf("got %d chunks, want %d", len(cs), n)
			}
			first := path(cs[0], "choices", 0, "delta")
			if !reflect.DeepEqual(first, M{"role": "assistant", "content": "", "refusal": nil}) {
				t.Errorf("first delta %#v", first)
			}
			var text strings.Builder
			for i, c := range cs {
				if c["object"] != "chat.completion.chunk" || c["service_tier"] != "default" || !has(c, "system_fingerprint") || !has(c, "obfuscation") {
					t.Errorf("chunk %d lacks OpenAI fields: %v", i, c)
				}
				if has(c, "usage") != tc.includeUsage {
					t.Errorf("chunk %d: usage present = %v", i, has(c, "usage"))
				}
				choices := c["choices"].([]any)
				if tc.includeUsage && i == len(cs)-1 {
					if len(choices) != 0 || path(c, "usage", "total_tokens") == nil {
						t.Errorf("usage chunk %v", c)
					}
					continue
				}
				if tc.includeUsage && c["usage"] != nil {
					t.Errorf("chunk %d usage %v, want null", i, c["usage"])
				}
				ch := choices[0].(M)
				if !has(ch, "logprobs") || ch["logprobs"] != nil {
					t.Errorf("chunk %d logprobs %v", i, ch)
				}
				last := i == n-1 || (tc.includeUsage && i == n-2)
				if last {
					if ch["finish_reason"] != "stop" || !reflect.DeepEqual(ch["delta"], M{}) {
						t.Errorf("final choice %v", ch)
					}
				} else if !has(ch, "finish_reason") || ch["finish_reason"] != nil {
					t.Errorf("chunk %d finish_reason %v, want null", i, ch["finish_reason"])
				}
				if s, ok := path(ch, "delta", "content").(string); ok {
					text.WriteString(s)
				}
			}
			if got := text.String(); got != "Hello from openai/gpt-4o-mini via alpha. You said: stream me" {
				t.Errorf("streamed text %q", got)
			}
		})
	}
}

func TestOpenAIStreamToolCalls(t *testing.T) {
	s := Start(t, OpenAI, testOpts())
	req := userChat("gpt-4o", "call them in parallel")
	req["stream"] = true
	req["tools"] = []any{weatherTool, timeTool}
	r := post(t, s, "/chat/completions", testKey, req)
	cs, done := chunks(t, events(t, r.body, "\n"))
	if !done {
		t.Fatal("no [DONE]")
	}
	type acc struct {
		id, name, args string
		frags          int
	}
	calls := map[int]*acc{}
	var finish any
	for i, c := range cs {
		ch := path(c, "choices", 0).(M)
		if ch["finish_reason"] != nil {
			finish = ch["finish_reason"]
		}
		tcs, _ := path(ch, "delta", "tool_calls").([]any)
		for _, x := range tcs {
			tc := x.(M)
			idx, ok := tc["index"].(float64)
			if !ok {
				t.Fatalf("chunk %d: tool call without index: %v", i, tc)
			}
			a := calls[int(idx)]
			if a == nil {
				if tc["type"] != "function" || path(tc, "function", "arguments") != "" {
					t.Errorf("first delta of call %v: %v", idx, tc)
				}
				a = &acc{id: tc["id"].(string), name: path(tc, "function", "name").(string)}
				calls[int(idx)] = a
				continue
			}
			if has(tc, "id") || has(tc, "type") {
				t.Errorf("later delta repeats id/type: %v", tc)
			}
			a.args += path(tc, "function", "arguments").(string)
			a.frags++
		}
	}
	if finish != "tool_calls" {
		t.Errorf("finish_reason %v", finish)
	}
	if len(calls) != 2 {
		t.Fatalf("calls %v", calls)
	}
	want := []acc{{name: "get_weather", args: `{"city":"x","days":1,"metric":true,"extra":null}`}, {name: "get_time", args: `{}`}}
	for i, w := range want {
		a := calls[i]
		if a.name != w.name || a.args != w.args || !strings.HasPrefix(a.id, "call_") {
			t.Errorf("call %d = %+v, want %+v", i, *a, w)
		}
		if a.frags < 2 {
			t.Errorf("call %d: arguments in %d fragments, want several", i, a.frags)
		}
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	s := Start(t, OpenAI, testOpts())
	for _, tc := range []struct {
		name  string
		input any
		dims  int
		b64   bool
		texts []string
	}{
		{"string", "hello", 0, false, []string{"hello"}},
		{"strings base64", []any{"a", "b"}, 0, true, []string{"a", "b"}},
		{"dimensions", "hello", 5, true, []string{"hello"}},
		{"token array", []any{1, 2, 3}, 0, false, []string{"[1,2,3]"}},
		{"token arrays", []any{[]any{1}, []any{2, 3}}, 0, true, []string{"[1]", "[2,3]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := M{"model": "text-embedding-3-small", "input": tc.input}
			if tc.dims > 0 {
				req["dimensions"] = tc.dims
			}
			if tc.b64 {
				req["encoding_format"] = "base64"
			}
			r := post(t, s, "/embeddings", testKey, req)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			m := decode(t, r.body)
			if m["object"] != "list" || m["model"] != "text-embedding-3-small" || path(m, "usage", "total_tokens") == nil {
				t.Errorf("envelope %v", m)
			}
			data := m["data"].([]any)
			if len(data) != len(tc.texts) {
				t.Fatalf("%d items, want %d", len(data), len(tc.texts))
			}
			dim := tc.dims
			if dim == 0 {
				dim = 8
			}
			for i, text := range tc.texts {
				d := data[i].(M)
				if d["object"] != "embedding" || d["index"] != float64(i) {
					t.Errorf("item %v", d)
				}
				got := embedding(t, d["embedding"], tc.b64)
				if want := Vector(text, dim); !reflect.DeepEqual(got, want) {
					t.Errorf("item %d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

// embedding decodes an item's vector, base64 (little-endian float32) or a
// JSON array.
func embedding(t *testing.T, v any, b64 bool) []float32 {
	t.Helper()
	if b64 {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("embedding %T, want base64 string", v)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 {
			t.Fatalf("base64: %v (%d bytes)", err, len(b))
		}
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	}
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("embedding %T, want array", v)
	}
	out := make([]float32, len(arr))
	for i, x := range arr {
		out[i] = float32(x.(float64))
		if out[i] < -1 || out[i] > 1 {
			t.Errorf("value %v out of [-1,1]", x)
		}
	}
	return out
}

func TestOpenAIModels(t *testing.T) {
	s := Start(t, OpenAI, Options{Models: []string{"gpt-4o", "o3"}})
	r := send(t, t.Context(), s, "GET", "/models", "k", nil)
	m := decode(t, r.body)
	if m["object"] != "list" || len(m["data"].([]any)) != 2 {
		t.Fatalf("list %s", r.body)
	}
	d := path(m, "data", 1).(M)
	if d["id"] != "o3" || d["object"] != "model" || d["owned_by"] == nil || d["created"] == nil {
		t.Errorf("model %v", d)
	}
	r = send(t, t.Context(), s, "GET", "/models/gpt-4o", "k", nil)
	if r.status != 200 || decode(t, r.body)["id"] != "gpt-4o" {
		t.Errorf("get: %d %s", r.status, r.body)
	}
	r = send(t, t.Context(), s, "GET", "/models/nope", "k", nil)
	if r.status != 404 || path(decode(t, r.body), "error", "code") != "model_not_found" {
		t.Errorf("unknown: %d %s", r.status, r.body)
	}
	r = post(t, s, "/chat/completions", "k", userChat("gpt-9", "x"))
	if r.status != 404 || path(decode(t, r.body), "error", "message") != "The model `gpt-9` does not exist or you do not have access to it." {
		t.Errorf("chat unknown model: %d %s", r.status, r.body)
	}
	if got := s.Requests()[1].Model; got != "gpt-4o" {
		t.Errorf("GET models/{id} recorded model %q", got)
	}
}
