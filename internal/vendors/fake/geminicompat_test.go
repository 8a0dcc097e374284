package fake

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestGeminiCompatNonStream(t *testing.T) {
	s := Start(t, GeminiCompat, testOpts())
	r := post(t, s, "/chat/completions", testKey, userChat("gemini-2.5-flash", "hello"))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if !strings.HasSuffix(s.URL(), "/v1beta/openai") {
		t.Errorf("URL %q", s.URL())
	}
	m := decode(t, r.body)
	if id, _ := m["id"].(string); id == "" || strings.HasPrefix(id, "chatcmpl-") {
		t.Errorf("id %q", id)
	}
	for _, k := range []string{"system_fingerprint", "service_tier"} {
		if has(m, k) {
			t.Errorf("unexpected %s", k)
		}
	}
	ch := path(m, "choices", 0).(M)
	if has(ch, "logprobs") || has(ch["message"], "refusal") {
		t.Errorf("OpenAI-only fields in %v", ch)
	}
	if got := path(ch, "message", "content"); got != "Hello from gemini-compat/gemini-2.5-flash via alpha. You said: hello" {
		t.Errorf("content %v", got)
	}

	req := userChat("models/gemini-2.5-flash", "weather?")
	req["tools"] = []any{weatherTool}
	m = decode(t, post(t, s, "/chat/completions", testKey, req).body)
	if m["model"] != "models/gemini-2.5-flash" {
		t.Errorf("model %v, want as sent", m["model"])
	}
	if path(m, "choices", 0, "finish_reason") != "tool_calls" {
		t.Errorf("non-stream finish %v", path(m, "choices", 0, "finish_reason"))
	}
	if id, _ := path(m, "choices", 0, "message", "tool_calls", 0, "id").(string); !strings.HasPrefix(id, "function-call-") {
		t.Errorf("tool call id %q", id)
	}
}

func TestGeminiCompatStreamQuirks(t *testing.T) {
	for _, tc := range []struct {
		name         string
		tools        bool
		includeUsage bool
		crlf         bool
	}{
		{"text", false, false, false},
		{"text include_usage", false, true, false},
		{"text crlf", false, true, true},
		{"parallel tools include_usage", true, true, false},
		{"tools crlf", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts()
			opts.CRLF = tc.crlf
			s := Start(t, GeminiCompat, opts)
			req := userChat("gemini-2.5-flash", "do it in parallel")
			req["stream"] = true
			if tc.tools {
				req["tools"] = []any{weatherTool, timeTool}
			}
			if tc.includeUsage {
				req["stream_options"] = M{"include_usage": true}
			}
			r := post(t, s, "/chat/completions", testKey, req)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			eol := "\n"
			if tc.crlf {
				eol = "\r\n"
				if strings.Count(string(r.body), "\n") != strings.Count(string(r.body), "\r\n") {
					t.Fatal("bare \\n in CRLF mode")
				}
			}
			cs, done := chunks(t, events(t, r.body, eol))
			if !done {
				t.Fatal("no [DONE]")
			}
			for i, c := range cs {
				for _, k := range []string{"system_fingerprint", "service_tier", "obfuscation"} {
					if has(c, k) {
						t.Errorf("chunk %d has %s", i, k)
					}
				}
				if len(c["choices"].([]any)) == 0 {
					t.Errorf("chunk %d has choices: [] (Gemini has no usage-only chunk)", i)
				}
				ch := path(c, "choices", 0).(M)
				last := i == len(cs)-1
				if has(ch, "finish_reason") != last {
					t.Errorf("chunk %d: finish_reason present = %v", i, has(ch, "finish_reason"))
				}
				if last && ch["finish_reason"] != "stop" {
					t.Errorf("final finish_reason %v, want stop (even for tools)", ch["finish_reason"])
				}
				if has(c, "usage") != (last && tc.includeUsage) {
					t.Errorf("chunk %d: usage present = %v", i, has(c, "usage"))
				}
				if has(ch, "logprobs") || path(ch, "delta", "role") != "assistant" || has(ch["delta"], "refusal") {
					t.Errorf("chunk %d choice %v", i, ch)
				}
			}
			if tc.includeUsage && path(cs[len(cs)-1], "usage", "total_tokens") == nil {
				t.Error("usage not on the last chunk")
			}
			if !tc.tools {
				if len(cs) != 4 || path(cs[0], "choices", 0, "delta", "content") == "" {
					t.Errorf("want 4 content chunks and no role-only chunk, got %d", len(cs))
				}
				return
			}
			calls, _ := path(cs[0], "choices", 0, "delta", "tool_calls").([]any)
			if len(cs) != 1 || len(calls) != 2 {
				t.Fatalf("want one chunk with both calls, got %d chunks: %v", len(cs), cs)
			}
			for i, x := range calls {
				c := x.(M)
				if has(c, "index") {
					t.Errorf("call %d has index", i)
				}
				if id, _ := c["id"].(string); !strings.HasPrefix(id, "function-call-") {
					t.Errorf("call id %q", id)
				}
			}
			if got := path(calls[0], "function", "arguments"); got != `{"city":"x","days":1,"metric":true,"extra":null}` {
				t.Errorf("arguments not whole: %v", got)
			}
		})
	}
}

func TestGeminiCompatModelsAndEmbeddings(t *testing.T) {
	s := Start(t, GeminiCompat, Options{Models: []string{"gemini-2.5-pro"}})
	m := decode(t, send(t, t.Context(), s, "GET", "/models", "k", nil).body)
	if !reflect.DeepEqual(m["data"], []any{M{"id": "models/gemini-2.5-pro", "object": "model", "owned_by": "google"}}) {
		t.Errorf("list %v", m)
	}
	for _, id := range []string{"gemini-2.5-pro", "models/gemini-2.5-pro"} {
		if r := send(t, t.Context(), s, "GET", "/models/"+id, "k", nil); r.status != 200 {
			t.Errorf("get %s: %d", id, r.status)
		}
	}
	r := send(t, t.Context(), s, "GET", "/models/gemini-0", "k", nil)
	if r.status != 404 || !strings.HasPrefix(string(r.body), "[") {
		t.Errorf("unknown model: %d %s", r.status, r.body)
	}
	r = post(t, s, "/chat/completions", "k", userChat("gemini-0", "x"))
	if msg, status, _ := vendorError(t, GeminiCompat, r.body); r.status != 404 || status != "NOT_FOUND" || !strings.HasPrefix(msg, "models/gemini-0 is not found") {
		t.Errorf("chat unknown model: %d %s", r.status, r.body)
	}
	r = post(t, s, "/embeddings", "k", M{"model": "models/gemini-2.5-pro", "input": "x", "encoding_format": "base64"})
	if r.status != 200 {
		t.Fatalf("embeddings %d %s", r.status, r.body)
	}
	if got := embedding(t, path(decode(t, r.body), "data", 0, "embedding"), false); !reflect.DeepEqual(got, Vector("x", 8)) {
		t.Errorf("vector %v", got)
	}
}

// Gemini embeds at most 100 inputs a request, on both APIs.
func TestGeminiEmbedBatchLimit(t *testing.T) {
	inputs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("doc ", i)
		}
		return out
	}
	compat := Start(t, GeminiCompat, Options{})
	if r := post(t, compat, "/embeddings", "k", M{"model": "gemini-embedding-001", "input": inputs(100)}); r.status != 200 {
		t.Errorf("compat, 100 inputs: %d %s", r.status, r.body)
	}
	r := post(t, compat, "/embeddings", "k", M{"model": "gemini-embedding-001", "input": inputs(101)})
	if msg, status, _ := vendorError(t, GeminiCompat, r.body); r.status != 400 || status != "INVALID_ARGUMENT" || !strings.Contains(msg, "at most 100 requests") {
		t.Errorf("compat, 101 inputs: %d %s", r.status, r.body)
	}
	native := Start(t, GeminiNative, Options{})
	batch := func(n int) M {
		reqs := make([]any, n)
		for i := range reqs {
			reqs[i] = M{"model": "models/gemini-embedding-001", "content": M{"parts": []any{M{"text": "x"}}}}
		}
		return M{"requests": reqs}
	}
	if r := nativePost(t, native, "/models/gemini-embedding-001:batchEmbedContents", batch(100)); r.status != 200 {
		t.Errorf("native, 100 inputs: %d %s", r.status, r.body)
	}
	r = nativePost(t, native, "/models/gemini-embedding-001:batchEmbedContents", batch(101))
	if e := googleErr(t, r.body); r.status != 400 || !strings.Contains(e["message"].(string), "at most 100 requests") {
		t.Errorf("native, 101 inputs: %d %s", r.status, r.body)
	}
}
