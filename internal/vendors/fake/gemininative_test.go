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

// nativeSend calls the Gemini-native fake with the key in x-goog-api-key
// (or, with viaQuery, in ?key=).
func nativeSend(t testing.TB, ctx context.Context, s *Server, method, path, key string, viaQuery bool, body any) reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	u := s.URL() + path
	if viaQuery && key != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "key=" + key
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if !viaQuery && key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client(t).Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func nativePost(t testing.TB, s *Server, path string, body any) reply {
	t.Helper()
	return nativeSend(t, t.Context(), s, http.MethodPost, path, testKey, false, body)
}

func userTurn(text string) M {
	return M{"contents": []any{M{"role": "user", "parts": []any{M{"text": text}}}}}
}

var nativeWeather = M{"name": "get_weather", "parameters": M{"type": "object",
	"properties": M{"city": M{"type": "string"}, "days": M{"type": "integer"}}, "required": []any{"city", "days"}}}
var nativeTime = M{"name": "get_time"}

func withTools(body M, decls ...any) M {
	body["tools"] = []any{M{"functionDeclarations": decls}}
	return body
}

// googleErr checks and returns the single-object Google error body.
func googleErr(t *testing.T, body []byte) M {
	t.Helper()
	b := strings.TrimSpace(string(body))
	if !strings.HasPrefix(b, "{") {
		t.Fatalf("native error is not an object: %s", body)
	}
	e, _ := decode(t, body)["error"].(M)
	for _, k := range []string{"code", "message", "status"} {
		if !has(e, k) {
			t.Fatalf("error lacks %s: %s", k, body)
		}
	}
	return e
}

func TestGeminiNativeGenerate(t *testing.T) {
	s := Start(t, GeminiNative, testOpts())
	if !strings.HasSuffix(s.URL(), "/v1beta") {
		t.Errorf("URL %q", s.URL())
	}
	r := nativePost(t, s, "/models/gemini-2.5-flash:generateContent", userTurn("hello"))
	if r.status != 200 || r.header.Get("Content-Type") != "application/json; charset=UTF-8" {
		t.Fatalf("%d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	// Pretty-printed like mock-responses/googleai/unary-success-basic-reply-short.txt.
	if !strings.HasPrefix(string(r.body), "{\n  \"candidates\": [\n") {
		t.Errorf("layout %.40q", r.body)
	}
	m := decode(t, r.body)
	c := path(m, "candidates", 0).(M)
	if path(c, "content", "parts", 0, "text") != "Hello from gemini-native/gemini-2.5-flash via alpha. You said: hello" ||
		path(c, "content", "role") != "model" || c["finishReason"] != "STOP" || c["index"] != 0.0 {
		t.Errorf("candidate %v", c)
	}
	u := m["usageMetadata"].(M)
	if u["totalTokenCount"] != u["promptTokenCount"].(float64)+u["candidatesTokenCount"].(float64) || path(u, "promptTokensDetails", 0, "modality") != "TEXT" {
		t.Errorf("usage %v", u)
	}
	if m["modelVersion"] != "gemini-2.5-flash" || len(m["responseId"].(string)) != 23 {
		t.Errorf("envelope %v", m)
	}
	rec := s.Requests()[0]
	if rec.Model != "gemini-2.5-flash" || rec.KeyName != "alpha" || rec.Stream {
		t.Errorf("recorded %+v", rec)
	}
	// ?key= works as well as the header.
	if r := nativeSend(t, t.Context(), s, "POST", "/models/gemini-2.5-flash:generateContent", testKey, true, userTurn("x")); r.status != 200 {
		t.Errorf("?key=: %d %s", r.status, r.body)
	}
	g := s.GeminiRequests()
	if len(g) != 2 || g[0].Model != "gemini-2.5-flash" || *g[0].Contents[0].Parts[0].Text != "hello" {
		t.Errorf("parsed %+v", g)
	}
}

func TestGeminiNativeStream(t *testing.T) {
	for _, tc := range []struct {
		name       string
		crlf, sse  bool
		tools      bool
		wantFrames int
	}{
		{"sse", false, true, false, 4},
		{"sse crlf", true, true, false, 4},
		{"json array", false, false, false, 4},
		{"sse calls", false, true, true, 2},
		{"sse calls crlf", true, true, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts()
			opts.CRLF = tc.crlf
			s := Start(t, GeminiNative, opts)
			p := "/models/gemini-2.5-flash:streamGenerateContent"
			if tc.sse {
				p += "?alt=sse"
			}
			body := userTurn("do it in parallel")
			if tc.tools {
				withTools(body, nativeWeather, nativeTime)
			}
			r := nativePost(t, s, p, body)
			if r.status != 200 || r.err != nil {
				t.Fatalf("%d %v: %s", r.status, r.err, r.body)
			}
			var frames []M
			if tc.sse {
				eol := "\n"
				if tc.crlf {
					eol = "\r\n"
					if strings.Count(string(r.body), "\n") != strings.Count(string(r.body), "\r\n") {
						t.Fatal("bare \\n in CRLF mode")
					}
				}
				for _, e := range events(t, r.body, eol) {
					if e == "[DONE]" {
						t.Fatal("Gemini sends no [DONE]")
					}
					frames = append(frames, decode(t, []byte(e)))
				}
			} else {
				if !strings.HasPrefix(string(r.body), "[{") || !strings.HasSuffix(string(r.body), "}\n]") || !strings.Contains(string(r.body), "}\n,\r\n{") {
					t.Errorf("array framing %q", r.body)
				}
				var arr []M
				if err := json.Unmarshal(r.body, &arr); err != nil {
					t.Fatal(err)
				}
				frames = arr
			}
			if len(frames) != tc.wantFrames {
				t.Fatalf("%d frames", len(frames))
			}
			for i, f := range frames {
				last := i == len(frames)-1
				c := path(f, "candidates", 0).(M)
				if has(c, "finishReason") != last {
					t.Errorf("frame %d: finishReason present = %v", i, has(c, "finishReason"))
				}
				if has(f["usageMetadata"], "candidatesTokenCount") != last {
					t.Errorf("frame %d: usage %v", i, f["usageMetadata"])
				}
			}
			if !tc.tools {
				return
			}
			parts := path(frames[0], "candidates", 0, "content", "parts").([]any)
			if len(parts) != 2 || path(parts[0], "functionCall", "name") != "get_weather" || !has(parts[0], "thoughtSignature") || has(parts[1], "thoughtSignature") {
				t.Errorf("call frame parts %v", parts)
			}
			if got := path(frames[1], "candidates", 0, "content", "parts"); !reflect.DeepEqual(got, []any{M{"text": ""}}) {
				t.Errorf("trailing frame parts %v", got)
			}
		})
	}
}

func TestGeminiNativeCalls(t *testing.T) {
	s := Start(t, GeminiNative, testOpts())
	r := nativePost(t, s, "/models/gemini-2.5-flash:generateContent", withTools(userTurn("weather?"), nativeWeather, nativeTime))
	parts := path(decode(t, r.body), "candidates", 0, "content", "parts").([]any)
	args := `{"city":"x","days":1}`
	if len(parts) != 1 || path(parts[0], "functionCall", "name") != "get_weather" ||
		path(parts[0], "thoughtSignature") != GeminiThoughtSignature("get_weather", []byte(args)) {
		t.Fatalf("parts %v", parts)
	}
	if got, _ := json.Marshal(path(parts[0], "functionCall", "args")); string(got) != args {
		t.Errorf("args %s", got)
	}

	// The round trip: call and result go back, the answer uses the result.
	history := M{"contents": []any{
		M{"role": "user", "parts": []any{M{"text": "weather?"}}},
		M{"role": "model", "parts": []any{parts[0]}},
		M{"role": "user", "parts": []any{M{"functionResponse": M{"name": "get_weather", "response": M{"content": "sunny"}}}}},
	}}
	withTools(history, nativeWeather)
	for _, model := range []string{"gemini-2.5-flash", "gemini-3-pro-preview"} {
		r = nativePost(t, s, "/models/"+model+":generateContent", history)
		if got := path(decode(t, r.body), "candidates", 0, "content", "parts", 0, "text"); got != "Tool result: sunny" {
			t.Errorf("%s: %d %v", model, r.status, got)
		}
	}
}

func TestGeminiNativeRefuses(t *testing.T) {
	sig := GeminiThoughtSignature("get_weather", []byte(`{"city":"x"}`))
	callTurn := func(part M) M {
		return withTools(M{"contents": []any{
			M{"role": "user", "parts": []any{M{"text": "w"}}},
			M{"role": "model", "parts": []any{part}},
			M{"role": "user", "parts": []any{M{"functionResponse": M{"name": "get_weather", "response": M{"ok": true}}}}},
		}}, nativeWeather)
	}
	call := M{"name": "get_weather", "args": M{"city": "x"}}
	schema := func(s M) M { return withTools(userTurn("x"), M{"name": "f", "parameters": s}) }
	for _, tc := range []struct {
		name  string
		model string
		body  any
		msg   string // "" when accepted
	}{
		{"not JSON", "gemini-2.5-flash", `{"contents":`, "Invalid JSON payload received."},
		{"OpenAI field", "gemini-2.5-flash", M{"messages": []any{}}, `Invalid JSON payload received. Unknown name "messages": Cannot find field.`},
		{"additionalProperties", "gemini-2.5-flash", schema(M{"type": "object", "additionalProperties": false, "properties": M{"a": M{"type": "string"}}}), `Unknown name "additionalProperties"`},
		{"$ref", "gemini-2.5-flash", schema(M{"type": "object", "properties": M{"a": M{"$ref": "#/$defs/a"}}}), `Unknown name "$ref"`},
		{"$schema", "gemini-2.5-flash", schema(M{"$schema": "x", "type": "object", "properties": M{"a": M{"type": "string"}}}), `Unknown name "$schema"`},
		{"string format", "gemini-2.5-flash", schema(M{"type": "object", "properties": M{"a": M{"type": "string", "format": "email"}}}), "only 'enum' and 'date-time' are supported"},
		{"integer enum", "gemini-2.5-flash", schema(M{"type": "object", "properties": M{"a": M{"type": "integer", "enum": []any{"1"}}}}), "only allowed for STRING type"},
		{"empty object", "gemini-2.5-flash", schema(M{"type": "object", "properties": M{}}), "parameters.properties: should be non-empty for OBJECT type"},
		{"type list", "gemini-2.5-flash", schema(M{"type": "object", "properties": M{"a": M{"type": []any{"string", "null"}}}}), "Invalid value"},
		{"date-time is fine", "gemini-2.5-flash", schema(M{"type": "object", "properties": M{"a": M{"type": "string", "format": "date-time", "nullable": true}}}), ""},
		{"role", "gemini-2.5-flash", M{"contents": []any{M{"role": "assistant", "parts": []any{M{"text": "x"}}}}}, "Please use a valid role: user, model."},
		{"no contents", "gemini-2.5-flash", M{"contents": []any{}}, "contents is not specified"},
		{"empty part", "gemini-2.5-flash", M{"contents": []any{M{"role": "user", "parts": []any{M{}}}}}, "required oneof field 'data'"},
		{"budget and level", "gemini-2.5-flash", M{"contents": userTurn("x")["contents"], "generationConfig": M{"thinkingConfig": M{"thinkingBudget": 1, "thinkingLevel": "low"}}}, "only one of thinking budget and thinking level"},
		{"gemini 3 without signature", "gemini-3-pro-preview", callTurn(M{"functionCall": call}), "Function call is missing a thought_signature"},
		{"gemini 2.5 without signature", "gemini-2.5-flash", callTurn(M{"functionCall": call}), ""},
		{"signature echoed", "gemini-3-pro-preview", callTurn(M{"functionCall": call, "thoughtSignature": sig}), ""},
		{"args reordered", "gemini-3-pro-preview", callTurn(M{"functionCall": M{"name": "get_weather", "args": json.RawMessage(`{ "city" : "x" }`)}, "thoughtSignature": sig}), ""},
		{"skip signature", "gemini-3-pro-preview", callTurn(M{"functionCall": call, "thoughtSignature": skipThoughtSignature}), ""},
		{"corrupted signature", "gemini-2.5-flash", callTurn(M{"functionCall": call, "thoughtSignature": sig[:20]}), "Corrupted thought signature."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, GeminiNative, testOpts())
			r := nativePost(t, s, "/models/"+tc.model+":generateContent", tc.body)
			if tc.msg == "" {
				if r.status != 200 {
					t.Fatalf("refused: %d %s", r.status, r.body)
				}
				return
			}
			e := googleErr(t, r.body)
			if r.status != 400 || e["status"] != "INVALID_ARGUMENT" || !strings.Contains(e["message"].(string), tc.msg) {
				t.Errorf("got %d %v, want 400 containing %q", r.status, e, tc.msg)
			}
		})
	}
}

func TestGeminiNativeTriggers(t *testing.T) {
	s := Start(t, GeminiNative, testOpts())
	gen := func(body M) M {
		t.Helper()
		r := nativePost(t, s, "/models/gemini-2.5-flash:generateContent", body)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return decode(t, r.body)
	}
	m := gen(withTools(userTurn("this is malformed"), nativeWeather))
	if c := path(m, "candidates", 0).(M); c["finishReason"] != "MALFORMED_FUNCTION_CALL" || has(c, "content") || c["finishMessage"] == nil {
		t.Errorf("malformed %v", c)
	}
	m = gen(userTurn("something unsafe"))
	if c := path(m, "candidates", 0).(M); c["finishReason"] != "SAFETY" || path(c, "content", "parts", 0, "text") == "" {
		t.Errorf("unsafe %v", c)
	}
	m = gen(userTurn("this gets blocked"))
	if has(m, "candidates") || path(m, "promptFeedback", "blockReason") != "SAFETY" {
		t.Errorf("blocked %v", m)
	}
	body := userTurn("a long enough question")
	body["generationConfig"] = M{"maxOutputTokens": 2, "candidateCount": 2, "thinkingConfig": M{"includeThoughts": true}}
	m = gen(body)
	cs := m["candidates"].([]any)
	if len(cs) != 2 || path(cs[1], "index") != 1.0 || path(cs[0], "finishReason") != "MAX_TOKENS" ||
		path(cs[0], "content", "parts", 0, "thought") != true || len(path(cs[0], "content", "parts", 1, "text").(string)) != 8 {
		t.Errorf("max tokens, n, thoughts: %v", cs)
	}
	if path(m, "usageMetadata", "thoughtsTokenCount") == nil || path(m, "usageMetadata", "candidatesTokenCount") != 4.0 {
		t.Errorf("usage %v", m["usageMetadata"])
	}

	// The same in a stream: malformed in one frame, unsafe ends with SAFETY.
	r := nativePost(t, s, "/models/gemini-2.5-flash:streamGenerateContent?alt=sse", withTools(userTurn("malformed"), nativeWeather))
	if evs := events(t, r.body, "\n"); len(evs) != 1 || !strings.Contains(evs[0], `"finishReason":"MALFORMED_FUNCTION_CALL"`) {
		t.Errorf("malformed stream %q", evs)
	}
	r = nativePost(t, s, "/models/gemini-2.5-flash:streamGenerateContent?alt=sse", userTurn("unsafe"))
	if evs := events(t, r.body, "\n"); !strings.Contains(evs[len(evs)-1], `"finishReason":"SAFETY"`) {
		t.Errorf("unsafe stream %q", evs)
	}
}

func TestGeminiNativeAuthAndFaults(t *testing.T) {
	s := Start(t, GeminiNative, testOpts())
	r := nativeSend(t, t.Context(), s, "POST", "/models/m:generateContent", "", false, userTurn("x"))
	if e := googleErr(t, r.body); r.status != 403 || e["status"] != "PERMISSION_DENIED" {
		t.Errorf("no key: %d %v", r.status, e)
	}
	r = nativeSend(t, t.Context(), s, "POST", "/models/m:generateContent", "AIzaWrong", true, userTurn("x"))
	if e := googleErr(t, r.body); r.status != 400 || e["message"] != geminiBadKeyMsg || path(e, "details", 0, "reason") != "API_KEY_INVALID" {
		t.Errorf("bad key: %d %v", r.status, e)
	}
	for _, tc := range []struct {
		status     int
		retryAfter string
		kind, msg  string
		delay      string
	}{
		{429, "", "RESOURCE_EXHAUSTED", "You exceeded your current quota", "17s"},
		{429, "7", "RESOURCE_EXHAUSTED", "You exceeded your current quota", "7s"},
		{500, "", "INTERNAL", "An internal error has occurred", ""},
		{503, "", "UNAVAILABLE", "The model is overloaded. Please try again later.", ""},
	} {
		s.SetFault(func(*Recorded) *Fault { return &Fault{Status: tc.status, RetryAfter: tc.retryAfter} })
		r := nativePost(t, s, "/models/gemini-2.5-flash:generateContent", userTurn("x"))
		e := googleErr(t, r.body)
		if r.status != tc.status || e["status"] != tc.kind || !strings.HasPrefix(e["message"].(string), tc.msg) || e["code"] != float64(tc.status) {
			t.Errorf("%d: %d %v", tc.status, r.status, e)
		}
		if tc.delay != "" {
			var got any
			for _, d := range e["details"].([]any) {
				if path(d, "@type") == "type.googleapis.com/google.rpc.RetryInfo" {
					got = path(d, "retryDelay")
				}
			}
			if got != tc.delay {
				t.Errorf("retryDelay %v, want %s", got, tc.delay)
			}
		}
	}
	s.SetFault(nil)

	t.Run("cut", func(t *testing.T) {
		s := Start(t, GeminiNative, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{CutAfter: 2} })
		r := nativePost(t, s, "/models/m:streamGenerateContent?alt=sse", userTurn("x"))
		if r.status != 200 || !errors.Is(r.err, io.ErrUnexpectedEOF) || strings.Count(string(r.body), "data: ") != 2 {
			t.Errorf("%d %v %q", r.status, r.err, r.body)
		}
	})
	t.Run("error event", func(t *testing.T) {
		s := Start(t, GeminiNative, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{ErrorEventAfter: 1} })
		r := nativePost(t, s, "/models/m:streamGenerateContent?alt=sse", userTurn("x"))
		evs := events(t, r.body, "\n")
		if len(evs) != 2 || path(decode(t, []byte(evs[1])), "error", "status") != "INTERNAL" {
			t.Errorf("events %q", evs)
		}
	})
	for _, tc := range []struct {
		name  string
		opts  Options
		fault *Fault
	}{{"slow stream", Options{ChunkGap: time.Hour}, nil}, {"stall", Options{}, &Fault{StallAfter: 1}}} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, GeminiNative, tc.opts)
			s.SetFault(func(*Recorded) *Fault { return tc.fault })
			ctx, cancel := context.WithCancel(t.Context())
			req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/models/m:streamGenerateContent?alt=sse", strings.NewReader(bodyString(userTurn("x"))))
			req.Header.Set("x-goog-api-key", "k")
			resp, err := client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := resp.Body.Read(make([]byte, 10)); err != nil {
				t.Fatal(err)
			}
			cancel()
			if !s.WaitCanceled(1, 5*time.Second) {
				t.Fatal("cancellation not counted")
			}
			waitFor(t, func() bool { return s.Active() == 0 })
		})
	}
}

func TestGeminiNativeEmbedAndModels(t *testing.T) {
	s := Start(t, GeminiNative, Options{Models: []string{"gemini-2.5-flash", "gemini-embedding-001"}})
	req := M{"requests": []any{
		M{"model": "models/gemini-embedding-001", "content": M{"parts": []any{M{"text": "alpha"}}}, "outputDimensionality": 4},
		M{"model": "models/gemini-embedding-001", "content": M{"parts": []any{M{"text": "beta"}}}},
	}}
	r := nativePost(t, s, "/models/gemini-embedding-001:batchEmbedContents", req)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got struct {
		Embeddings []struct {
			Values []float32 `json:"values"`
		} `json:"embeddings"`
	}
	json.Unmarshal(r.body, &got)
	if len(got.Embeddings) != 2 || !reflect.DeepEqual(got.Embeddings[0].Values, Vector("alpha", 4)) || !reflect.DeepEqual(got.Embeddings[1].Values, Vector("beta", 8)) {
		t.Errorf("embeddings %s", r.body)
	}
	req["requests"].([]any)[1].(M)["model"] = "models/other"
	if r := nativePost(t, s, "/models/gemini-embedding-001:batchEmbedContents", req); r.status != 400 {
		t.Errorf("mismatched model: %d", r.status)
	}
	if r := nativePost(t, s, "/models/gemini-embedding-001:batchEmbedContents", M{"requests": []any{M{"model": "models/gemini-embedding-001", "content": M{"parts": []any{}}, "dimensions": 3}}}); r.status != 400 {
		t.Errorf("OpenAI's dimensions field: %d", r.status)
	}

	m := decode(t, nativeSend(t, t.Context(), s, "GET", "/models", testKey, false, nil).body)
	if path(m, "models", 0, "name") != "models/gemini-2.5-flash" || path(m, "models", 1, "supportedGenerationMethods", 1) != "batchEmbedContents" {
		t.Errorf("models %v", m)
	}
	if r := nativeSend(t, t.Context(), s, "GET", "/models/gemini-2.5-flash", testKey, false, nil); r.status != 200 || path(decode(t, r.body), "name") != "models/gemini-2.5-flash" {
		t.Errorf("get %d %s", r.status, r.body)
	}
	r = nativePost(t, s, "/models/gemini-0:generateContent", userTurn("x"))
	if e := googleErr(t, r.body); r.status != 404 || !strings.HasPrefix(e["message"].(string), "models/gemini-0 is not found for API version v1beta") {
		t.Errorf("unknown model %d %v", r.status, e)
	}
	for _, p := range []string{"/models/gemini-2.5-flash:countTokens", "/openai/chat/completions"} {
		if r := nativePost(t, s, p, userTurn("x")); r.status != 404 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}
