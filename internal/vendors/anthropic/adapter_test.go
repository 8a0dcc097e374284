package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// These tests run the adapter over real HTTP against the fake's Anthropic
// flavour, which speaks the Messages API as documented (see the fake's own
// tests for its sources).

const testKey = "sk-ant-api03-test-0123456789"

type M = map[string]any

func startFake(t *testing.T, opts fake.Options) (*fake.Server, *Adapter) {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string]string{testKey: "alpha"}
	}
	s := fake.Start(t, fake.Anthropic, opts)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return s, New(Options{BaseURL: s.URL(), Client: &http.Client{Transport: tr}, Headers: map[string]string{"anthropic-beta": "test-beta"}})
}

func chatCall(t *testing.T, req M) *vendors.Call {
	t.Helper()
	if req["model"] == nil {
		req["model"] = "claude-x"
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := req["stream"].(bool)
	incl := false
	if so, ok := req["stream_options"].(M); ok {
		incl, _ = so["include_usage"].(bool)
	}
	return &vendors.Call{Key: testKey, Model: req["model"].(string), Body: b, Stream: stream, IncludeUsage: stream && incl}
}

func user(text string) []any { return []any{M{"role": "user", "content": text}} }

var tools = []any{
	M{"type": "function", "function": M{"name": "get_weather", "parameters": M{"type": "object",
		"properties": M{"city": M{"type": "string"}}, "required": []any{"city"}}}},
	M{"type": "function", "function": M{"name": "get_time", "parameters": M{"type": "object", "properties": M{}}}},
}

func decodeJSON(t *testing.T, b []byte) M {
	t.Helper()
	var m M
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

// dig walks decoded JSON: string keys for objects, ints for arrays.
func dig(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(M)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// drain reads a stream to its end: the decoded chunks and the final error
// (nil for io.EOF).
func drain(t *testing.T, s vendors.Stream) ([]M, error) {
	t.Helper()
	defer s.Close()
	var out []M
	for {
		d, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, decodeJSON(t, d))
	}
}

func TestChat(t *testing.T) {
	s, a := startFake(t, fake.Options{})
	res, err := a.Chat(t.Context(), chatCall(t, M{"messages": append([]any{M{"role": "system", "content": "Be nice."}}, user("hi")...),
		"temperature": 1.7}))
	if err != nil {
		t.Fatal(err)
	}
	m := decodeJSON(t, res.Body)
	if m["object"] != "chat.completion" || m["model"] != "claude-x" || !strings.HasPrefix(m["id"].(string), "msg_01") {
		t.Errorf("envelope %s", res.Body)
	}
	if got := dig(m, "choices", 0, "message", "content"); got != "Hello from anthropic/claude-x via alpha. You said: hi" {
		t.Errorf("content %v", got)
	}
	if dig(m, "choices", 0, "finish_reason") != "stop" {
		t.Errorf("finish %v", dig(m, "choices", 0, "finish_reason"))
	}
	u := m["usage"].(M)
	if u["prompt_tokens"].(float64) < 1 || u["total_tokens"] != u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) {
		t.Errorf("usage %v", u)
	}
	rec := s.Requests()[0]
	h := rec.Header
	if h.Get("x-api-key") != testKey || h.Get("anthropic-version") != "2023-06-01" || h.Get("anthropic-beta") != "test-beta" ||
		h.Get("Authorization") != "" || rec.Path != "/v1/messages" || res.Header.Get("request-id") == "" {
		t.Errorf("request headers %v, response headers %v", h, res.Header)
	}
	body := decodeJSON(t, rec.Body)
	if body["system"] != "Be nice." || body["max_tokens"] != 4096.0 || body["temperature"] != 1.0 {
		t.Errorf("sent %s", rec.Body)
	}
}

func TestStreamIncludeUsage(t *testing.T) {
	_, a := startFake(t, fake.Options{})
	res, err := a.Chat(t.Context(), chatCall(t, M{"messages": user("hi"), "stream": true, "stream_options": M{"include_usage": true}}))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, res.Stream)
	if err != nil {
		t.Fatal(err)
	}
	var text string
	usages := 0
	for i, c := range chunks {
		u, ok := c["usage"]
		if !ok {
			t.Fatalf("chunk %d lacks usage: %v", i, c)
		}
		if u != nil {
			usages++
			if i != len(chunks)-1 || len(c["choices"].([]any)) != 0 {
				t.Errorf("usage on chunk %d of %d with choices %v", i, len(chunks), c["choices"])
			}
			if u.(M)["total_tokens"].(float64) < 2 {
				t.Errorf("usage %v", u)
			}
			continue
		}
		if s, ok := dig(c, "choices", 0, "delta", "content").(string); ok {
			text += s
		}
	}
	if usages != 1 {
		t.Errorf("%d usage chunks", usages)
	}
	if dig(chunks[0], "choices", 0, "delta", "role") != "assistant" || dig(chunks[len(chunks)-2], "choices", 0, "finish_reason") != "stop" {
		t.Errorf("first %v, before last %v", chunks[0], chunks[len(chunks)-2])
	}
	if text != "Hello from anthropic/claude-x via alpha. You said: hi" {
		t.Errorf("text %q", text)
	}
}

func TestStreamParallelToolCalls(t *testing.T) {
	_, a := startFake(t, fake.Options{Chunks: 3})
	res, err := a.Chat(t.Context(), chatCall(t, M{"messages": user("parallel please"), "tools": tools, "stream": true}))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, res.Stream)
	if err != nil {
		t.Fatal(err)
	}
	type call struct{ id, name, args string }
	var calls []call
	finish := ""
	for _, c := range chunks {
		if _, ok := c["usage"]; ok {
			t.Errorf("usage without include_usage: %v", c)
		}
		if f, ok := dig(c, "choices", 0, "finish_reason").(string); ok {
			finish = f
		}
		tcs, _ := dig(c, "choices", 0, "delta", "tool_calls").([]any)
		for _, tc := range tcs {
			i := int(dig(tc, "index").(float64))
			if i == len(calls) {
				calls = append(calls, call{id: dig(tc, "id").(string), name: dig(tc, "function", "name").(string)})
			} else if i > len(calls) {
				t.Fatalf("index %d out of order", i)
			}
			calls[i].args += dig(tc, "function", "arguments").(string)
		}
	}
	if len(calls) != 2 || calls[0].name != "get_weather" || calls[1].name != "get_time" ||
		calls[0].args != `{"city":"x"}` || calls[1].args != `{}` || calls[0].id == calls[1].id || !strings.HasPrefix(calls[1].id, "toolu_") {
		t.Errorf("calls %+v", calls)
	}
	if finish != "tool_calls" {
		t.Errorf("finish_reason %q", finish)
	}
}

func TestToolResultRoundTrip(t *testing.T) {
	s, a := startFake(t, fake.Options{})
	// First leg: the model calls both tools.
	res, err := a.Chat(t.Context(), chatCall(t, M{"messages": user("parallel please"), "tools": tools}))
	if err != nil {
		t.Fatal(err)
	}
	msg := dig(decodeJSON(t, res.Body), "choices", 0, "message").(M)
	calls := msg["tool_calls"].([]any)
	if msg["content"] != nil || len(calls) != 2 {
		t.Fatalf("first leg %v", msg)
	}
	// Second leg: the assistant turn as the client got it, then one tool
	// message per call.
	msgs := append(user("parallel please"), msg,
		M{"role": "tool", "tool_call_id": dig(calls[0], "id"), "content": "sunny"},
		M{"role": "tool", "tool_call_id": dig(calls[1], "id"), "content": "noon"})
	res, err = a.Chat(t.Context(), chatCall(t, M{"messages": msgs, "tools": tools}))
	if err != nil {
		t.Fatal(err)
	}
	if got := dig(decodeJSON(t, res.Body), "choices", 0, "message", "content"); got != "Tool result: sunny | noon" {
		t.Errorf("answer %v", got)
	}
	sent := decodeJSON(t, s.Requests()[1].Body)
	turns := sent["messages"].([]any)
	if len(turns) != 3 || dig(turns[2], "role") != "user" {
		t.Fatalf("turns %v", turns)
	}
	results := dig(turns[2], "content").([]any)
	if len(results) != 2 || dig(results[0], "type") != "tool_result" || dig(results[1], "type") != "tool_result" ||
		dig(results[0], "tool_use_id") != dig(calls[0], "id") || dig(results[1], "content") != "noon" {
		t.Errorf("tool results %v", results)
	}
	if dig(turns[1], "content", 0, "type") != "tool_use" || dig(turns[1], "content", 0, "input", "city") != "x" {
		t.Errorf("assistant turn %v", turns[1])
	}
}

func TestReasoningEffort(t *testing.T) {
	s, a := startFake(t, fake.Options{})
	res, err := a.Chat(t.Context(), chatCall(t, M{"messages": user("hi"), "reasoning_effort": "low", "temperature": 0.3}))
	if err != nil {
		t.Fatal(err)
	}
	msg := dig(decodeJSON(t, res.Body), "choices", 0, "message").(M)
	if r, _ := msg["reasoning_content"].(string); !strings.Contains(r, "hi") {
		t.Errorf("reasoning_content %q", r)
	}
	if dig(decodeJSON(t, s.Requests()[0].Body), "thinking", "budget_tokens") != 1024.0 {
		t.Errorf("sent %s", s.Requests()[0].Body)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key        string
		fault      *fake.Fault
		status     int
		typ, code  string
		retryAfter string
	}{
		{"rate limited", testKey, &fake.Fault{Status: 429, RetryAfter: "7"}, 429, "rate_limit_error", "", "7"},
		{"overloaded", testKey, &fake.Fault{Status: 529}, 529, "server_error", "overloaded", ""},
		{"bad key", "sk-ant-wrong-key-4242", nil, 401, "authentication_error", "", ""},
		{"not found", testKey, &fake.Fault{Status: 404}, 404, "not_found_error", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, a := startFake(t, fake.Options{})
			s.SetFault(func(*fake.Recorded) *fake.Fault { return tc.fault })
			c := chatCall(t, M{"messages": user("hi")})
			c.Key = tc.key
			_, err := a.Chat(t.Context(), c)
			var e *openai.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v", err)
			}
			code := ""
			if e.Code != nil {
				code = *e.Code
			}
			if e.Status != tc.status || e.Type != tc.typ || code != tc.code || e.RetryAfter != tc.retryAfter || e.Message == "" {
				t.Errorf("got %d %s %q %q retry %q", e.Status, e.Type, code, e.Message, e.RetryAfter)
			}
			if strings.Contains(e.Message, tc.key) || strings.Contains(string(e.Body()), tc.key) {
				t.Error("the key leaked into the error")
			}
		})
	}
}

func TestStreamBreaks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  fake.Fault
		status int
		code   string
	}{
		{"error event", fake.Fault{ErrorEventAfter: 4, Status: 529}, 529, "overloaded"},
		{"cut", fake.Fault{CutAfter: 4}, 502, ""},
		{"cut before message_stop", fake.Fault{CutAfter: 1000}, 502, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, a := startFake(t, fake.Options{})
			s.SetFault(func(*fake.Recorded) *fake.Fault { return &tc.fault })
			res, err := a.Chat(t.Context(), chatCall(t, M{"messages": user("hi"), "stream": true, "stream_options": M{"include_usage": true}}))
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := drain(t, res.Stream)
			var e *openai.Error
			if !errors.As(err, &e) || e.Status != tc.status || (tc.code != "" && (e.Code == nil || *e.Code != tc.code)) {
				t.Fatalf("stream ended with %v after %d chunks", err, len(chunks))
			}
			for _, c := range chunks {
				if c["usage"] != nil {
					t.Errorf("usage chunk from a broken stream: %v", c)
				}
			}
			if len(chunks) == 0 {
				t.Error("no chunk before the break")
			}
		})
	}
}

func TestClientCancel(t *testing.T) {
	s, a := startFake(t, fake.Options{ChunkGap: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res, err := a.Chat(ctx, chatCall(t, M{"messages": user("hi"), "stream": true}))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := res.Stream.Next(); err != nil || !strings.Contains(string(d), `"role":"assistant"`) {
		t.Fatalf("first chunk %s, %v", d, err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := res.Stream.Next()
		got <- err
	}()
	cancel()
	select {
	case err := <-got:
		if err == nil || err == io.EOF {
			t.Errorf("Next after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after cancel")
	}
	res.Stream.Close()
	if !s.WaitCanceled(1, 5*time.Second) {
		t.Fatal("the fake did not see the cancellation")
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	s, a := startFake(t, fake.Options{})
	s.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Hang: true} })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := a.Chat(ctx, chatCall(t, M{"messages": user("hi")}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's", err)
	}
	if !s.WaitCanceled(1, 5*time.Second) {
		t.Fatal("the fake did not see the cancellation")
	}
}

func TestTranslationErrorSendsNothing(t *testing.T) {
	s, a := startFake(t, fake.Options{})
	_, err := a.Chat(t.Context(), chatCall(t, M{"messages": []any{
		M{"role": "user", "content": "x"},
		M{"role": "assistant", "tool_calls": []any{M{"id": "c1", "type": "function", "function": M{"name": "f", "arguments": "{oops"}}}},
	}}))
	var e *openai.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Param == nil || *e.Param != "messages[1].tool_calls[0].function.arguments" {
		t.Fatalf("error %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
