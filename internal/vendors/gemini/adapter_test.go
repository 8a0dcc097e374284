package gemini

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// These tests run the adapter over real HTTP against the fake Gemini
// (fake.GeminiNative), which parses requests as strictly as Google does.

const testKey = "AIzaSyTest-0123456789abcdefghijklmno"

type M = map[string]any

func start(t *testing.T, opts fake.Options) (*fake.Server, *Adapter) {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string]string{testKey: "alpha"}
	}
	s := fake.Start(t, fake.GeminiNative, opts)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return s, New(Options{BaseURL: s.URL(), Client: &http.Client{Transport: tr}})
}

func call(t *testing.T, model string, body M) *vendors.Call {
	t.Helper()
	body["model"] = model
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := body["stream"].(bool)
	so, _ := body["stream_options"].(M)
	incl, _ := so["include_usage"].(bool)
	return &vendors.Call{Key: testKey, Model: model, Body: b, Stream: stream, IncludeUsage: stream && incl}
}

func userMsg(text string) []any { return []any{M{"role": "user", "content": text}} }

var weatherTool = M{"type": "function", "function": M{
	"name": "get_weather", "description": "Current weather",
	"parameters": M{
		"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": false,
		"properties": M{
			"city": M{"type": "string", "format": "uri-reference"},
			"unit": M{"$ref": "#/$defs/unit"},
			"when": M{"type": []any{"string", "null"}, "format": "date-time"},
		},
		"required": []any{"city", "unit"},
		"$defs":    M{"unit": M{"type": "string", "enum": []any{"c", "f"}}},
	},
}}

var timeTool = M{"type": "function", "function": M{"name": "get_time", "parameters": M{"type": "object", "properties": M{}}}}

func decodeJSON(t *testing.T, b []byte) M {
	t.Helper()
	var m M
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

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

// drainStream reads every chunk, returning them and the error that ended
// the stream (io.EOF for a clean end).
func drainStream(t *testing.T, s vendors.Stream) ([]M, error) {
	t.Helper()
	defer s.Close()
	var out []M
	for {
		d, err := s.Next()
		if err != nil {
			return out, err
		}
		out = append(out, decodeJSON(t, d))
	}
}

func apiError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *openai.Error", err, err)
	}
	return e
}

func TestHTTPChat(t *testing.T) {
	s, a := start(t, fake.Options{})
	res, err := a.Chat(t.Context(), call(t, "gemini-2.5-flash", M{"messages": userMsg("hi")}))
	if err != nil {
		t.Fatal(err)
	}
	m := decodeJSON(t, res.Body)
	if got := dig(m, "choices", 0, "message", "content"); got != "Hello from gemini-native/gemini-2.5-flash via alpha. You said: hi" {
		t.Errorf("content %v", got)
	}
	if dig(m, "choices", 0, "finish_reason") != "stop" || m["object"] != "chat.completion" || m["model"] != "gemini-2.5-flash" {
		t.Errorf("answer %v", m)
	}
	if id, _ := m["id"].(string); id == "" {
		t.Error("no id")
	}
	u := m["usage"].(M)
	if u["total_tokens"] != u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) || u["prompt_tokens"].(float64) < 1 {
		t.Errorf("usage %v", u)
	}
	rec := s.Requests()[0]
	if rec.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || rec.Query != "" ||
		rec.Header.Get("x-goog-api-key") != testKey || rec.Header.Get("Authorization") != "" {
		t.Errorf("request %s?%s headers %v", rec.Path, rec.Query, rec.Header)
	}
}

func TestHTTPStreamIncludeUsage(t *testing.T) {
	for _, crlf := range []bool{false, true} {
		s, a := start(t, fake.Options{CRLF: crlf})
		res, err := a.Chat(t.Context(), call(t, "gemini-2.5-flash", M{"messages": userMsg("hi"), "stream": true,
			"stream_options": M{"include_usage": true}}))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := drainStream(t, res.Stream)
		if err != io.EOF {
			t.Fatalf("crlf=%v: stream ended with %v", crlf, err)
		}
		if rec := s.Requests()[0]; rec.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || rec.Query != "alt=sse" {
			t.Errorf("request %s?%s", rec.Path, rec.Query)
		}
		if d := dig(cs[0], "choices", 0, "delta"); !reflect.DeepEqual(d, M{"role": "assistant", "content": ""}) {
			t.Errorf("first delta %v", d)
		}
		var text strings.Builder
		usages := 0
		for i, c := range cs {
			u, ok := c["usage"]
			if !ok {
				t.Errorf("chunk %d has no usage key", i)
			}
			if u != nil {
				usages++
				if i != len(cs)-1 || len(c["choices"].([]any)) != 0 {
					t.Errorf("usage on chunk %d of %d: %v", i, len(cs), c)
				}
			}
			if s, ok := dig(c, "choices", 0, "delta", "content").(string); ok {
				text.WriteString(s)
			}
		}
		if usages != 1 || dig(cs[len(cs)-1], "usage", "total_tokens") == nil {
			t.Errorf("%d usage chunks", usages)
		}
		if text.String() != "Hello from gemini-native/gemini-2.5-flash via alpha. You said: hi" {
			t.Errorf("text %q", text.String())
		}
		if fr := dig(cs[len(cs)-2], "choices", 0, "finish_reason"); fr != "stop" {
			t.Errorf("finish %v", fr)
		}
		for _, c := range cs[:len(cs)-2] {
			if dig(c, "choices", 0, "finish_reason") != nil {
				t.Errorf("early finish_reason in %v", c)
			}
		}
	}
}

func TestHTTPStreamParallelCalls(t *testing.T) {
	s, a := start(t, fake.Options{})
	res, err := a.Chat(t.Context(), call(t, "gemini-2.5-flash", M{"messages": userMsg("do both in parallel"), "stream": true,
		"tools": []any{weatherTool, timeTool}}))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := drainStream(t, res.Stream)
	if err != io.EOF {
		t.Fatal(err)
	}
	var calls []M
	for _, c := range cs {
		if _, has := c["usage"]; has {
			t.Errorf("usage without include_usage: %v", c)
		}
		list, _ := dig(c, "choices", 0, "delta", "tool_calls").([]any)
		for _, x := range list {
			calls = append(calls, x.(M))
		}
	}
	if len(calls) != 2 {
		t.Fatalf("%d calls: %v", len(calls), cs)
	}
	for i, c := range calls {
		if c["index"] != float64(i) || c["type"] != "function" {
			t.Errorf("call %d: %v", i, c)
		}
	}
	if calls[0]["id"] == calls[1]["id"] {
		t.Error("ids not distinct")
	}
	if dig(calls[0], "function", "name") != "get_weather" || dig(calls[0], "function", "arguments") != `{"city":"x","unit":"x"}` ||
		dig(calls[1], "function", "name") != "get_time" || dig(calls[1], "function", "arguments") != `{}` {
		t.Errorf("calls %v", calls)
	}
	if fr := dig(cs[len(cs)-1], "choices", 0, "finish_reason"); fr != "tool_calls" {
		t.Errorf("finish %v", fr)
	}
	// The fake signs the first call only, as Gemini 3 does for parallel calls.
	if signatureFromID(calls[0]["id"].(string)) == "" || signatureFromID(calls[1]["id"].(string)) != "" {
		t.Errorf("signatures in ids %v / %v", calls[0]["id"], calls[1]["id"])
	}
	// The schema reached the fake cleaned (the fake refuses $schema, $ref,
	// additionalProperties and the uri-reference format).
	params := s.GeminiRequests()[0].Tools[0].FunctionDeclarations[0].Parameters
	if params == nil || params.Properties["unit"] == nil || !reflect.DeepEqual(params.Properties["unit"].Enum, []string{"c", "f"}) ||
		params.Properties["city"].Format != "" || params.Properties["when"].Format != "date-time" || params.Properties["when"].Nullable == nil {
		t.Errorf("parameters %+v", params)
	}
	if s.GeminiRequests()[0].Tools[0].FunctionDeclarations[1].Parameters != nil {
		t.Error("an empty object schema was sent (Gemini refuses it)")
	}
}

// TestHTTPToolRoundTrip sends the tool call back with its result: the
// thought signature must reach Gemini again on the functionCall part.
func TestHTTPToolRoundTrip(t *testing.T) {
	for _, stream := range []bool{false, true} {
		s, a := start(t, fake.Options{})
		const model = "gemini-3-flash-preview" // validates signatures
		first := M{"messages": userMsg("weather in Paris? args={\"city\":\"Paris\",\"unit\":\"c\"}"), "tools": []any{weatherTool}, "stream": stream}
		res, err := a.Chat(t.Context(), call(t, model, first))
		if err != nil {
			t.Fatal(err)
		}
		var tc M
		if stream {
			cs, err := drainStream(t, res.Stream)
			if err != io.EOF {
				t.Fatal(err)
			}
			tc = dig(cs[1], "choices", 0, "delta", "tool_calls", 0).(M)
			delete(tc, "index")
		} else {
			tc = dig(decodeJSON(t, res.Body), "choices", 0, "message", "tool_calls", 0).(M)
		}
		id := tc["id"].(string)
		if !strings.HasPrefix(id, "call_") {
			t.Fatalf("id %q", id)
		}
		history := append(userMsg("weather in Paris?"),
			M{"role": "assistant", "content": nil, "tool_calls": []any{tc}},
			M{"role": "tool", "tool_call_id": id, "content": "sunny"})
		res, err = a.Chat(t.Context(), call(t, model, M{"messages": history, "tools": []any{weatherTool}}))
		if err != nil {
			t.Fatalf("stream=%v: second turn: %v", stream, err)
		}
		if got := dig(decodeJSON(t, res.Body), "choices", 0, "message", "content"); got != "Tool result: sunny" {
			t.Errorf("answer %v", got)
		}
		sent := s.GeminiRequests()[1].Contents[1].Parts[0]
		want := fake.GeminiThoughtSignature("get_weather", []byte(`{"city":"Paris","unit":"c"}`))
		if sent.FunctionCall == nil || sent.ThoughtSignature != want {
			t.Errorf("functionCall part %+v, want signature %q", sent, want)
		}
		resp := s.GeminiRequests()[1].Contents[2].Parts[0].FunctionResponse
		if resp == nil || resp.Name != "get_weather" || string(resp.Response) != `{"content":"sunny"}` {
			t.Errorf("functionResponse %+v", resp)
		}

		// A tampered signature is Gemini's 400, passed on as such.
		tc["id"] = withSignature(newCallID(), base64.StdEncoding.EncodeToString([]byte("forged")))
		history[1] = M{"role": "assistant", "tool_calls": []any{tc}}
		history[2] = M{"role": "tool", "tool_call_id": tc["id"], "content": "sunny"}
		_, err = a.Chat(t.Context(), call(t, model, M{"messages": history, "tools": []any{weatherTool}}))
		if e := apiError(t, err); e.Status != 400 || !strings.Contains(e.Message, "thought signature") {
			t.Errorf("forged signature: %v", e)
		}
		// A call made elsewhere (no signature) gets Google's skip signature.
		tc["id"] = "call_fromAnotherVendor"
		history[1] = M{"role": "assistant", "tool_calls": []any{tc}}
		history[2] = M{"role": "tool", "tool_call_id": tc["id"], "content": "sunny"}
		if _, err = a.Chat(t.Context(), call(t, model, M{"messages": history, "tools": []any{weatherTool}})); err != nil {
			t.Errorf("foreign tool call: %v", err)
		}
	}
}

func TestHTTPFinishes(t *testing.T) {
	for _, stream := range []bool{false, true} {
		_, a := start(t, fake.Options{})
		run := func(text string, extra M) (M, []M, error) {
			body := M{"messages": userMsg(text), "stream": stream, "tools": []any{weatherTool}}
			for k, v := range extra {
				body[k] = v
			}
			res, err := a.Chat(t.Context(), call(t, "gemini-2.5-flash", body))
			if err != nil {
				return nil, nil, err
			}
			if !stream {
				return decodeJSON(t, res.Body), nil, nil
			}
			cs, err := drainStream(t, res.Stream)
			if err != io.EOF {
				return nil, cs, err
			}
			return nil, cs, nil
		}
		finish := func(m M, cs []M) any {
			if m != nil {
				return dig(m, "choices", 0, "finish_reason")
			}
			return dig(cs[len(cs)-1], "choices", 0, "finish_reason")
		}

		_, cs, err := run("this will be malformed", nil)
		if e := apiError(t, err); e.Status != 502 || e.Code == nil || *e.Code != "malformed_function_call" || len(cs) != 0 {
			t.Errorf("stream=%v malformed: %v after %d chunks", stream, e, len(cs))
		}
		m, cs, err := run("say something unsafe", M{"tool_choice": "none"})
		if err != nil || finish(m, cs) != "content_filter" {
			t.Errorf("stream=%v unsafe: %v %v %v", stream, err, m, cs)
		}
		_, _, err = run("this gets blocked", nil)
		if e := apiError(t, err); e.Status != 400 || *e.Code != "content_filter" || !strings.Contains(e.Message, "SAFETY") {
			t.Errorf("stream=%v blocked: %v", stream, e)
		}
		m, cs, err = run("hello there my friend", M{"tool_choice": "none", "max_tokens": 2})
		if err != nil || finish(m, cs) != "length" {
			t.Errorf("stream=%v max tokens: %v %v", stream, err, finish(m, cs))
		}
		m, cs, err = run("think", M{"tool_choice": "none", "reasoning_effort": "low"})
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			if r, _ := dig(m, "choices", 0, "message", "reasoning_content").(string); !strings.Contains(r, "The user said: think") ||
				dig(m, "usage", "completion_tokens_details", "reasoning_tokens").(float64) < 1 {
				t.Errorf("reasoning %v", m)
			}
		} else if r, _ := dig(cs[1], "choices", 0, "delta", "reasoning_content").(string); !strings.Contains(r, "The user said: think") {
			t.Errorf("reasoning delta %v", cs[1])
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	s, a := start(t, fake.Options{Models: []string{"gemini-2.5-flash"}})
	chat := func(model string) *openai.Error {
		t.Helper()
		_, err := a.Chat(t.Context(), call(t, model, M{"messages": userMsg("hi")}))
		return apiError(t, err)
	}
	s.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 429} })
	if e := chat("gemini-2.5-flash"); e.Status != 429 || e.RetryAfter != "17" || *e.Code != "resource_exhausted" || e.Type != openai.TypeRateLimit {
		t.Errorf("429: %v retry %q", e, e.RetryAfter)
	}
	s.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 503} })
	if e := chat("gemini-2.5-flash"); e.Status != 503 || e.Message != "The model is overloaded. Please try again later." {
		t.Errorf("503: %v", e)
	}
	s.SetFault(nil)
	if e := chat("gemini-0"); e.Status != 404 || !strings.Contains(e.Message, "models/gemini-0 is not found") {
		t.Errorf("unknown model: %v", e)
	}
	c := call(t, "gemini-2.5-flash", M{"messages": userMsg("hi")})
	c.Key = "AIzaWrongKey"
	_, err := a.Chat(t.Context(), c)
	if e := apiError(t, err); e.Status != 401 || *e.Code != "invalid_api_key" || e.Type != openai.TypeAuthentication {
		t.Errorf("bad key: %v", e)
	}
	_, err = a.Embed(t.Context(), &vendors.Call{Key: "AIzaWrongKey", Model: "gemini-embedding-001", Body: []byte(`{"input":"x"}`)})
	if e := apiError(t, err); e.Status != 401 {
		t.Errorf("embed bad key: %v", e)
	}
	if err := a.Probe(t.Context(), testKey); err != nil {
		t.Errorf("probe: %v", err)
	}
	if e := apiError(t, a.Probe(t.Context(), "AIzaWrongKey")); e.Status != 401 {
		t.Errorf("probe bad key: %v", e)
	}
	// Client errors are caught before anything is sent.
	n := len(s.Requests())
	_, err = a.Chat(t.Context(), call(t, "gemini-2.5-flash", M{"messages": []any{
		M{"role": "assistant", "tool_calls": []any{M{"id": "call_1", "type": "function", "function": M{"name": "f", "arguments": "{oops"}}}},
	}}))
	if e := apiError(t, err); e.Status != 400 || e.Param == nil || *e.Param != "messages[0].tool_calls[0].function.arguments" {
		t.Errorf("bad arguments: %v", e)
	}
	if len(s.Requests()) != n {
		t.Error("an invalid request went upstream")
	}
}

func TestHTTPStreamFaults(t *testing.T) {
	t.Run("cut", func(t *testing.T) {
		s, a := start(t, fake.Options{})
		s.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{CutAfter: 2} })
		res, err := a.Chat(t.Context(), call(t, "gemini-2.5-flash", M{"messages": userMsg("hi"), "stream": true}))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := drainStream(t, res.Stream)
		if err == io.EOF || err == nil {
			t.Fatalf("cut stream ended cleanly after %d chunks", len(cs))
		}
		if e := apiError(t, err); e.Status != 502 || len(cs) < 2 {
			t.Errorf("cut: %v after %d chunks", e, len(cs))
		}
	})
	t.Run("error event", func(t *testing.T) {
		s, a := start(t, fake.Options{})
		s.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{ErrorEventAfter: 1} })
		res, err := a.Chat(t.Context(), call(t, "gemini-2.5-flash", M{"messages": userMsg("hi"), "stream": true}))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := drainStream(t, res.Stream)
		if e := apiError(t, err); e.Status != 500 || *e.Code != "internal" || len(cs) != 2 {
			t.Errorf("error event: %v after %d chunks", e, len(cs))
		}
	})
	t.Run("client cancel", func(t *testing.T) {
		s, a := start(t, fake.Options{ChunkGap: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		res, err := a.Chat(ctx, call(t, "gemini-2.5-flash", M{"messages": userMsg("hi"), "stream": true}))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Stream.Close()
		if _, err := res.Stream.Next(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if !s.WaitCanceled(1, 5*time.Second) {
			t.Fatal("the fake never saw the client leave")
		}
	})
}

func TestHTTPEmbeddings(t *testing.T) {
	s, a := start(t, fake.Options{})
	run := func(body string) M {
		t.Helper()
		res, err := a.Embed(t.Context(), &vendors.Call{Key: testKey, Model: "gemini-embedding-001", Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		return decodeJSON(t, res.Body)
	}
	m := run(`{"model":"gemini-embedding-001","input":["alpha","beta"],"dimensions":4}`)
	if m["object"] != "list" || m["model"] != "gemini-embedding-001" || len(m["data"].([]any)) != 2 || dig(m, "usage", "prompt_tokens") != float64(3) {
		t.Errorf("list %v", m)
	}
	for i, text := range []string{"alpha", "beta"} {
		var got []float32
		for _, x := range dig(m, "data", i, "embedding").([]any) {
			got = append(got, float32(x.(float64)))
		}
		if dig(m, "data", i, "index") != float64(i) || !reflect.DeepEqual(got, fake.Vector(text, 4)) {
			t.Errorf("embedding %d: %v", i, got)
		}
	}
	var sent fake.GeminiBatchEmbed
	json.Unmarshal(s.Requests()[0].Body, &sent)
	if len(sent.Requests) != 2 || sent.Requests[0].Model != "models/gemini-embedding-001" || *sent.Requests[0].OutputDimensionality != 4 {
		t.Errorf("sent %+v", sent)
	}

	m = run(`{"model":"gemini-embedding-001","input":"alpha","encoding_format":"base64"}`)
	raw, err := base64.StdEncoding.DecodeString(dig(m, "data", 0, "embedding").(string))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(raw)/4)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if !reflect.DeepEqual(got, fake.Vector("alpha", 8)) {
		t.Errorf("base64 embedding %v", got)
	}

	_, err = a.Embed(t.Context(), &vendors.Call{Key: testKey, Model: "gemini-embedding-001", Body: []byte(`{"input":[[1,2,3]]}`)})
	if e := apiError(t, err); e.Status != 400 || *e.Param != "input" {
		t.Errorf("token input: %v", e)
	}
}
