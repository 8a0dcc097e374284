package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The shapes checked here follow Anthropic's documentation and recorded
// traffic: the stream fixtures basic_response.txt and tool_use_response.txt
// in anthropics/anthropic-sdk-typescript (tests/lib/fixtures), the status
// table of Anthropic's "Errors" page, and error messages quoted verbatim in
// anthropics/claude-code issues (#5989, #6521) and n8n-io/n8n#37930.

const anthropicVersion = "2023-06-01"

// anthPost sends a Messages API request with Anthropic's headers; an empty
// version leaves anthropic-version out.
func anthPost(t testing.TB, s *Server, key, version string, body any) reply {
	t.Helper()
	return anthDo(t, context.Background(), s, http.MethodPost, "/messages", key, version, body)
}

func anthDo(t testing.TB, ctx context.Context, s *Server, method, urlPath, key, version string, body any) reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+urlPath, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if version != "" {
		req.Header.Set("anthropic-version", version)
	}
	req.Header.Set("content-type", "application/json")
	resp, err := client(t).Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func anthMsg(model, text string) M {
	return M{"model": model, "max_tokens": 1024, "messages": []any{M{"role": "user", "content": text}}}
}

func anthTools() []any {
	return []any{
		M{"name": "get_weather", "input_schema": weatherTool["function"].(M)["parameters"]},
		M{"name": "get_time", "input_schema": M{"type": "object", "properties": M{}}},
	}
}

// anthError checks the error envelope and returns its type and message.
func anthError(t *testing.T, r reply) (string, string) {
	t.Helper()
	m := decode(t, r.body)
	if m["type"] != "error" {
		t.Fatalf("not an error body: %s", r.body)
	}
	id, _ := m["request_id"].(string)
	if !strings.HasPrefix(id, "req_011C") || len(id) != 28 || r.header.Get("request-id") != id {
		t.Errorf("request_id %q, header %q", id, r.header.Get("request-id"))
	}
	return path(m, "error", "type").(string), path(m, "error", "message").(string)
}

type sse struct{ name, data string }

// anthEvents splits a stream into named events, failing on anything but
// "event: X\ndata: Y" frames whose data type matches the event name.
func anthEvents(t *testing.T, body []byte) []sse {
	t.Helper()
	s := string(body)
	if s != "" && !strings.HasSuffix(s, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", tail(s))
	}
	var out []sse
	for _, frame := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		if frame == "" {
			continue
		}
		name, data, ok := strings.Cut(frame, "\n")
		name, ok1 := strings.CutPrefix(name, "event: ")
		data, ok2 := strings.CutPrefix(data, "data: ")
		if !ok || !ok1 || !ok2 || strings.Contains(data, "\n") {
			t.Fatalf("bad SSE frame %q", frame)
		}
		if typ := decode(t, []byte(data))["type"]; typ != name {
			t.Fatalf("event %q carries type %v", name, typ)
		}
		out = append(out, sse{name, data})
	}
	return out
}

func names(evs []sse) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.name
	}
	return out
}

func TestAnthropicErrors(t *testing.T) {
	toolTurns := []any{
		M{"role": "user", "content": "hi"},
		M{"role": "assistant", "content": []any{M{"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": M{}}}},
		M{"role": "user", "content": "no result"},
	}
	thinking := func(budget, max int, extra M) M {
		m := anthMsg("claude-x", "hi")
		m["max_tokens"] = max
		m["thinking"] = M{"type": "enabled", "budget_tokens": budget}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name, key, version string
		body               any
		status             int
		typ, msg           string // msg is a prefix
	}{
		{"no key", "", anthropicVersion, anthMsg("claude-x", "hi"), 401, "authentication_error", "x-api-key header is required"},
		{"bad key", "sk-ant-wrong", anthropicVersion, anthMsg("claude-x", "hi"), 401, "authentication_error", "invalid x-api-key"},
		{"no version", testKey, "", anthMsg("claude-x", "hi"), 400, "invalid_request_error", "anthropic-version: header is required"},
		{"bad json", testKey, anthropicVersion, `{"model":`, 400, "invalid_request_error", "The request body is not valid JSON"},
		{"no max_tokens", testKey, anthropicVersion, M{"model": "claude-x", "messages": []any{M{"role": "user", "content": "hi"}}}, 400, "invalid_request_error", "max_tokens: Field required"},
		{"no model", testKey, anthropicVersion, M{"max_tokens": 5, "messages": []any{}}, 400, "invalid_request_error", "model: Field required"},
		{"bad role", testKey, anthropicVersion, M{"model": "m", "max_tokens": 5, "messages": []any{M{"role": "system", "content": "x"}}}, 400, "invalid_request_error", "messages.0.role: Input should be 'user' or 'assistant'"},
		{"empty content", testKey, anthropicVersion, anthMsg("m", ""), 400, "invalid_request_error", "messages.0: all messages must have non-empty content"},
		{"tool_use without result", testKey, anthropicVersion, M{"model": "m", "max_tokens": 5, "messages": toolTurns}, 400, "invalid_request_error",
			"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message."},
		{"temperature above 1", testKey, anthropicVersion, func() M { m := anthMsg("m", "hi"); m["temperature"] = 1.5; return m }(), 400, "invalid_request_error", "temperature:"},
		{"budget too small", testKey, anthropicVersion, thinking(512, 2048, nil), 400, "invalid_request_error", "thinking.enabled.budget_tokens"},
		{"budget above max", testKey, anthropicVersion, thinking(2048, 2048, nil), 400, "invalid_request_error", "`max_tokens` must be greater than `thinking.budget_tokens`"},
		{"temperature while thinking", testKey, anthropicVersion, thinking(1024, 2048, M{"temperature": 0.5}), 400, "invalid_request_error", "`temperature` may only be set to 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, Anthropic, testOpts())
			r := anthPost(t, s, tc.key, tc.version, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			typ, msg := anthError(t, r)
			if typ != tc.typ || !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("got %s %q, want %s %q", typ, msg, tc.typ, tc.msg)
			}
		})
	}
	t.Run("unknown model and path", func(t *testing.T) {
		s := Start(t, Anthropic, Options{Models: []string{"claude-sonnet-4-5"}})
		r := anthPost(t, s, "k", anthropicVersion, anthMsg("claude-nope", "hi"))
		if typ, msg := anthError(t, r); r.status != 404 || typ != "not_found_error" || msg != "model: claude-nope" {
			t.Errorf("%d %s %q", r.status, typ, msg)
		}
		r = anthDo(t, context.Background(), s, http.MethodPost, "/chat/completions", "k", anthropicVersion, userChat("claude-sonnet-4-5", "hi"))
		if typ, msg := anthError(t, r); r.status != 404 || typ != "not_found_error" || msg != "Not Found" {
			t.Errorf("/chat/completions: %d %s", r.status, r.body)
		}
	})
}

func TestAnthropicMessage(t *testing.T) {
	s := Start(t, Anthropic, testOpts())
	r := anthPost(t, s, testKey, anthropicVersion, anthMsg("claude-x", "hi"))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := decode(t, r.body)
	id, _ := m["id"].(string)
	if !strings.HasPrefix(id, "msg_01") || len(id) != 28 || m["type"] != "message" || m["role"] != "assistant" || m["model"] != "claude-x" {
		t.Errorf("envelope %v", m)
	}
	want := "Hello from anthropic/claude-x via alpha. You said: hi"
	if path(m, "content", 0, "type") != "text" || path(m, "content", 0, "text") != want {
		t.Errorf("content %v", m["content"])
	}
	if m["stop_reason"] != "end_turn" || !has(m, "stop_sequence") || m["stop_sequence"] != nil {
		t.Errorf("stop %v %v", m["stop_reason"], m["stop_sequence"])
	}
	u := m["usage"].(M)
	for _, k := range []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"} {
		if _, ok := u[k].(float64); !ok {
			t.Errorf("usage lacks %s: %v", k, u)
		}
	}
	rec := s.Requests()[0]
	if rec.Path != "/v1/messages" || rec.Model != "claude-x" || rec.KeyName != "alpha" {
		t.Errorf("recorded %+v", rec)
	}
}

func TestAnthropicReplies(t *testing.T) {
	tools := anthTools()
	for _, tc := range []struct {
		name  string
		req   M
		text  string
		calls []string // "name input"
		stop  string
		seq   any
	}{
		{"one tool", M{"tools": tools}, "", []string{`get_weather {"city":"x","days":1,"metric":true,"extra":null}`}, "tool_use", nil},
		{"parallel", M{"tools": tools, "messages": []any{M{"role": "user", "content": "parallel please"}}}, "",
			[]string{`get_weather {"city":"x","days":1,"metric":true,"extra":null}`, `get_time {}`}, "tool_use", nil},
		{"parallel disabled", M{"tools": tools, "tool_choice": M{"type": "auto", "disable_parallel_tool_use": true},
			"messages": []any{M{"role": "user", "content": "parallel please"}}}, "",
			[]string{`get_weather {"city":"x","days":1,"metric":true,"extra":null}`}, "tool_use", nil},
		{"named tool", M{"tools": tools, "tool_choice": M{"type": "tool", "name": "get_time"}}, "", []string{`get_time {}`}, "tool_use", nil},
		{"none", M{"tools": tools, "tool_choice": M{"type": "none"}}, "Hello from anthropic/m via alpha. You said: hi", nil, "end_turn", nil},
		{"image", M{"messages": []any{M{"role": "user", "content": []any{
			M{"type": "text", "text": "see"},
			M{"type": "image", "source": M{"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}}}}},
			"Hello from anthropic/m via alpha. You said: see (1 images)", nil, "end_turn", nil},
		{"stop sequence", M{"stop_sequences": []any{"zzz", "anthropic"}}, "Hello from ", nil, "stop_sequence", "anthropic"},
		{"max tokens", M{"max_tokens": 2}, "Hello fr", nil, "max_tokens", nil},
		{"system", M{"system": "Be brief."}, "Hello from anthropic/m via alpha. You said: hi", nil, "end_turn", nil},
		{"tool results merged", M{"tools": tools, "messages": []any{
			M{"role": "user", "content": "parallel"},
			M{"role": "assistant", "content": []any{
				M{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": M{"city": "x"}},
				M{"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": M{}}}},
			M{"role": "user", "content": []any{
				M{"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"},
				M{"type": "tool_result", "tool_use_id": "toolu_b", "content": []any{M{"type": "text", "text": "noon"}}}}},
		}}, "Tool result: sunny | noon", nil, "end_turn", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, Anthropic, testOpts())
			req := anthMsg("m", "hi")
			for k, v := range tc.req {
				req[k] = v
			}
			r := anthPost(t, s, testKey, anthropicVersion, req)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			m := decode(t, r.body)
			if m["stop_reason"] != tc.stop || m["stop_sequence"] != tc.seq {
				t.Errorf("stop %v %v, want %s %v", m["stop_reason"], m["stop_sequence"], tc.stop, tc.seq)
			}
			var text string
			var calls []string
			for _, b := range m["content"].([]any) {
				switch path(b, "type") {
				case "text":
					text += path(b, "text").(string)
				case "tool_use":
					in, _ := json.Marshal(path(b, "input"))
					if id := path(b, "id").(string); !strings.HasPrefix(id, "toolu_01") || len(id) != 30 {
						t.Errorf("tool id %q", id)
					}
					calls = append(calls, path(b, "name").(string)+" "+canonical(t, in))
				}
			}
			if text != tc.text || !reflect.DeepEqual(calls, canonicalAll(t, tc.calls)) {
				t.Errorf("text %q calls %q, want %q %q", text, calls, tc.text, tc.calls)
			}
		})
	}
}

// canonical re-encodes JSON with sorted keys so inputs compare by value.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func canonicalAll(t *testing.T, calls []string) []string {
	var out []string
	for _, c := range calls {
		name, in, _ := strings.Cut(c, " ")
		out = append(out, name+" "+canonical(t, []byte(in)))
	}
	return out
}

func TestAnthropicStream(t *testing.T) {
	s := Start(t, Anthropic, testOpts())
	req := anthMsg("claude-x", "hi")
	req["stream"] = true
	r := anthPost(t, s, testKey, anthropicVersion, req)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	evs := anthEvents(t, r.body)
	want := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
		"content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if !reflect.DeepEqual(names(evs), want) {
		t.Fatalf("events %v, want %v", names(evs), want)
	}
	if evs[2].data != `{"type": "ping"}` {
		t.Errorf("ping %s", evs[2].data)
	}
	start := decode(t, []byte(evs[0].data))
	if c := path(start, "message", "content"); c == nil || len(c.([]any)) != 0 || path(start, "message", "stop_reason") != nil {
		t.Errorf("message_start %s", evs[0].data)
	}
	var text string
	for _, e := range evs[3:7] {
		d := decode(t, []byte(e.data))
		if path(d, "delta", "type") != "text_delta" || path(d, "index") != 0.0 {
			t.Errorf("delta %s", e.data)
		}
		text += path(d, "delta", "text").(string)
	}
	if text != "Hello from anthropic/claude-x via alpha. You said: hi" {
		t.Errorf("text %q", text)
	}
	md := decode(t, []byte(evs[8].data))
	if path(md, "delta", "stop_reason") != "end_turn" || path(md, "usage", "output_tokens") == nil {
		t.Errorf("message_delta %s", evs[8].data)
	}
}

func TestAnthropicStreamToolsAndThinking(t *testing.T) {
	s := Start(t, Anthropic, Options{Chunks: 2})
	req := anthMsg("claude-x", "parallel")
	req["stream"] = true
	req["tools"] = anthTools()
	req["max_tokens"] = 4096
	req["thinking"] = M{"type": "enabled", "budget_tokens": 1024}
	r := anthPost(t, s, "k", anthropicVersion, req)
	evs := anthEvents(t, r.body)
	type blk struct {
		start  M
		deltas []M
	}
	var blocks []*blk
	for _, e := range evs {
		d := decode(t, []byte(e.data))
		switch e.name {
		case "content_block_start":
			if int(d["index"].(float64)) != len(blocks) {
				t.Errorf("block index %v", d["index"])
			}
			blocks = append(blocks, &blk{start: d["content_block"].(M)})
		case "content_block_delta":
			b := blocks[len(blocks)-1]
			b.deltas = append(b.deltas, d["delta"].(M))
		}
	}
	if len(blocks) != 3 || blocks[0].start["type"] != "thinking" || blocks[1].start["type"] != "tool_use" || blocks[2].start["type"] != "tool_use" {
		t.Fatalf("blocks %v", blocks)
	}
	th := blocks[0].deltas
	if th[0]["type"] != "thinking_delta" || th[len(th)-1]["type"] != "signature_delta" || th[len(th)-1]["signature"] == "" {
		t.Errorf("thinking deltas %v", th)
	}
	for _, b := range blocks[1:] {
		if b.start["input"] == nil || len(b.start["input"].(M)) != 0 {
			t.Errorf("tool_use start %v", b.start)
		}
		if b.deltas[0]["type"] != "input_json_delta" || b.deltas[0]["partial_json"] != "" {
			t.Errorf("first tool delta %v", b.deltas[0])
		}
		var args string
		for _, d := range b.deltas {
			args += d["partial_json"].(string)
		}
		if args == "" {
			args = "{}" // a call without arguments: the real API sends only ""
		}
		if !json.Valid([]byte(args)) {
			t.Errorf("partial_json does not add up: %q", args)
		}
	}
	if md := decode(t, []byte(evs[len(evs)-2].data)); path(md, "delta", "stop_reason") != "tool_use" {
		t.Errorf("message_delta %v", md)
	}
}

func TestAnthropicStatusFaults(t *testing.T) {
	for _, tc := range []struct {
		status int
		typ    string
	}{
		{400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
		{404, "not_found_error"}, {413, "request_too_large"}, {429, "rate_limit_error"},
		{500, "api_error"}, {529, "overloaded_error"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			s := Start(t, Anthropic, testOpts())
			s.SetFault(func(*Recorded) *Fault { return &Fault{Status: tc.status, RetryAfter: "7"} })
			r := anthPost(t, s, testKey, anthropicVersion, anthMsg("claude-x", "hi"))
			if r.status != tc.status || r.header.Get("retry-after") != "7" {
				t.Fatalf("status %d retry-after %q", r.status, r.header.Get("retry-after"))
			}
			if typ, msg := anthError(t, r); typ != tc.typ || msg == "" {
				t.Errorf("%s %q", typ, msg)
			}
		})
	}
}

func TestAnthropicStreamFaults(t *testing.T) {
	streamMsg := func() M { m := anthMsg("claude-x", "hi"); m["stream"] = true; return m }
	t.Run("error event", func(t *testing.T) {
		s := Start(t, Anthropic, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{ErrorEventAfter: 3, Status: 529} })
		evs := anthEvents(t, anthPost(t, s, testKey, anthropicVersion, streamMsg()).body)
		if len(evs) != 4 || evs[3].name != "error" {
			t.Fatalf("events %v", names(evs))
		}
		if e := decode(t, []byte(evs[3].data)); path(e, "error", "type") != "overloaded_error" || path(e, "error", "message") != "Overloaded" {
			t.Errorf("error event %s", evs[3].data)
		}
	})
	t.Run("cut", func(t *testing.T) {
		s := Start(t, Anthropic, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{CutAfter: 3} })
		r := anthPost(t, s, testKey, anthropicVersion, streamMsg())
		if r.status != 200 || !errors.Is(r.err, io.ErrUnexpectedEOF) || strings.Count(string(r.body), "event: ") != 3 {
			t.Fatalf("status %d err %v body %q", r.status, r.err, r.body)
		}
	})
	t.Run("stall", func(t *testing.T) {
		s := Start(t, Anthropic, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{StallAfter: 2} })
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		r := anthDo(t, ctx, s, http.MethodPost, "/messages", testKey, anthropicVersion, streamMsg())
		if r.status != 200 || !errors.Is(r.err, context.DeadlineExceeded) || strings.Count(string(r.body), "event: ") != 2 {
			t.Fatalf("status %d err %v body %q", r.status, r.err, r.body)
		}
		if !s.WaitCanceled(1, 5*time.Second) {
			t.Error("the stalled stream did not see the client leave")
		}
	})
	t.Run("cut after everything drops message_stop", func(t *testing.T) {
		s := Start(t, Anthropic, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{CutAfter: 100} })
		r := anthPost(t, s, testKey, anthropicVersion, streamMsg())
		if r.err == nil || strings.Contains(string(r.body), "message_stop") || !strings.Contains(string(r.body), "message_delta") {
			t.Errorf("err %v body %q", r.err, tail(string(r.body)))
		}
	})
}

func TestAnthropicModels(t *testing.T) {
	s := Start(t, Anthropic, testOpts())
	r := anthDo(t, context.Background(), s, http.MethodGet, "/models", testKey, anthropicVersion, nil)
	m := decode(t, r.body)
	if r.status != 200 || path(m, "data", 0, "type") != "model" || m["has_more"] != false || m["first_id"] != "claude-sonnet-4-5" {
		t.Errorf("%d %s", r.status, r.body)
	}
}
