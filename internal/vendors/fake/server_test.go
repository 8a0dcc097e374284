package fake

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// vendorError pulls the message and the type/status out of either
// vendor's error body, checking its shape on the way.
func vendorError(t *testing.T, fl Flavor, body []byte) (msg, kind string, e M) {
	t.Helper()
	if fl == GeminiCompat {
		b := strings.TrimSpace(string(body))
		if !strings.HasPrefix(b, "[") {
			t.Fatalf("Gemini error not an array: %s", body)
		}
		b = strings.TrimSuffix(strings.TrimPrefix(b, "["), "]")
		e = decode(t, []byte(b))["error"].(M)
		return e["message"].(string), e["status"].(string), e
	}
	e = decode(t, body)["error"].(M)
	for _, k := range []string{"message", "type", "param", "code"} {
		if !has(e, k) {
			t.Errorf("OpenAI error lacks %q: %v", k, e)
		}
	}
	return e["message"].(string), e["type"].(string), e
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flavor  Flavor
		key     string
		path    string
		body    any
		status  int
		kind    string // OpenAI type or Google status
		msg     string // prefix
		code    any    // OpenAI code
		details bool   // Gemini API_KEY_INVALID detail
	}{
		{"openai no key", OpenAI, "", "/chat/completions", userChat("m", "x"), 401, "invalid_request_error", "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth", nil, false},
		{"openai bad key", OpenAI, "sk-proj-abcdefghijklmnopqrstuvwxyz1234", "/chat/completions", userChat("m", "x"), 401, "invalid_request_error", "Incorrect API key provided: sk-proj-" + strings.Repeat("*", 26) + "1234. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_api_key", false},
		{"openai bad json", OpenAI, testKey, "/chat/completions", `{"model": "m",`, 400, "invalid_request_error", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP client correctly.", nil, false},
		{"openai wrong type", OpenAI, testKey, "/chat/completions", `{"model":"m","messages":[],"stream":"yes"}`, 400, "invalid_request_error", "Invalid type for 'stream'", nil, false},
		{"openai no messages", OpenAI, testKey, "/chat/completions", `{"model":"m"}`, 400, "invalid_request_error", "Missing required parameter: 'messages'.", nil, false},
		{"openai unknown path", OpenAI, testKey, "/completions/legacy", userChat("m", "x"), 404, "invalid_request_error", "Invalid URL (POST /v1/completions/legacy)", nil, false},
		{"gemini no key", GeminiCompat, "", "/chat/completions", userChat("m", "x"), 401, "UNAUTHENTICATED", "Request is missing required authentication credential", nil, false},
		{"gemini bad key", GeminiCompat, "AIzaWrong", "/chat/completions", userChat("m", "x"), 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", nil, true},
		{"gemini bad json", GeminiCompat, testKey, "/embeddings", `nope`, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.", nil, false},
		{"gemini unknown path", GeminiCompat, testKey, "/responses", userChat("m", "x"), 404, "NOT_FOUND", "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, tc.flavor, testOpts())
			r := post(t, s, tc.path, tc.key, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			msg, kind, e := vendorError(t, tc.flavor, r.body)
			if kind != tc.kind || !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("got %s %q, want %s %q", kind, msg, tc.kind, tc.msg)
			}
			if tc.flavor == OpenAI && e["code"] != tc.code {
				t.Errorf("code %v, want %v", e["code"], tc.code)
			}
			if tc.flavor == GeminiCompat && e["code"] != float64(tc.status) {
				t.Errorf("code %v", e["code"])
			}
			if tc.details && path(e, "details", 0, "reason") != "API_KEY_INVALID" {
				t.Errorf("details %v", e["details"])
			}
			if rec := s.Requests(); len(rec) != 1 || string(rec[0].Body) != bodyString(tc.body) {
				t.Errorf("request not recorded: %+v", rec)
			}
		})
	}
}

func bodyString(b any) string {
	if s, ok := b.(string); ok {
		return s
	}
	j, _ := marshal(b)
	return string(j)
}

func TestReplies(t *testing.T) {
	tools := []any{weatherTool, timeTool}
	toolMsg := func(content string) M { return M{"role": "tool", "tool_call_id": "call_1", "content": content} }
	for _, tc := range []struct {
		name   string
		req    M
		text   string   // want text, or
		calls  []string // want "name args" per call
		finish string
	}{
		{"parts and images", M{"messages": []any{M{"role": "user", "content": []any{
			M{"type": "text", "text": "look at "}, M{"type": "image_url", "image_url": M{"url": "data:,"}},
			M{"type": "text", "text": "these"}, M{"type": "image_url", "image_url": M{"url": "data:,"}}}}}},
			"Hello from openai/m via alpha. You said: look at these (2 images)", nil, "stop"},
		{"schema args", M{"tools": tools}, "", []string{`get_weather {"city":"x","days":1,"metric":true,"extra":null}`}, "tool_calls"},
		{"named choice", M{"tools": tools, "tool_choice": M{"type": "function", "function": M{"name": "get_time"}}}, "", []string{`get_time {}`}, "tool_calls"},
		{"choice none", M{"tools": tools, "tool_choice": "none"}, "Hello from openai/m via alpha. You said: hi", nil, "stop"},
		{"parallel", M{"tools": tools, "messages": []any{M{"role": "user", "content": "parallel please"}}}, "", []string{`get_weather {"city":"x","days":1,"metric":true,"extra":null}`, `get_time {}`}, "tool_calls"},
		{"parallel off", M{"tools": tools, "parallel_tool_calls": false, "messages": []any{M{"role": "user", "content": "parallel please"}}}, "", []string{`get_weather {"city":"x","days":1,"metric":true,"extra":null}`}, "tool_calls"},
		{"args override", M{"tools": tools, "messages": []any{M{"role": "user", "content": `use args={"city": "Paris", "n": [1]} now`}}}, "", []string{`get_weather {"city":"Paris","n":[1]}`}, "tool_calls"},
		{"tool result", M{"tools": tools, "messages": []any{M{"role": "user", "content": "hi"}, M{"role": "assistant", "tool_calls": []any{}}, toolMsg("sunny")}}, "Tool result: sunny", nil, "stop"},
		{"parallel results", M{"tools": tools, "messages": []any{M{"role": "user", "content": "hi"}, toolMsg("a"), toolMsg("b")}}, "Tool result: a | b", nil, "stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, OpenAI, testOpts())
			req := userChat("m", "hi")
			for k, v := range tc.req {
				req[k] = v
			}
			r := post(t, s, "/chat/completions", testKey, req)
			m := decode(t, r.body)
			if got := path(m, "choices", 0, "finish_reason"); got != tc.finish {
				t.Errorf("finish %v, want %s", got, tc.finish)
			}
			msg := path(m, "choices", 0, "message").(M)
			if tc.calls == nil {
				if msg["content"] != tc.text {
					t.Errorf("content %q, want %q", msg["content"], tc.text)
				}
				return
			}
			if !has(msg, "content") || msg["content"] != nil {
				t.Errorf("content %v, want null", msg["content"])
			}
			var got []string
			for _, x := range msg["tool_calls"].([]any) {
				got = append(got, path(x, "function", "name").(string)+" "+path(x, "function", "arguments").(string))
			}
			if !reflect.DeepEqual(got, tc.calls) {
				t.Errorf("calls %q, want %q", got, tc.calls)
			}
		})
	}
}

func TestDeterministicIDs(t *testing.T) {
	ids := func() []string {
		s := Start(t, OpenAI, testOpts())
		req := userChat("m", "hi")
		req["tools"] = []any{weatherTool}
		m := decode(t, post(t, s, "/chat/completions", testKey, req).body)
		return []string{m["id"].(string), path(m, "choices", 0, "message", "tool_calls", 0, "id").(string)}
	}
	if a, b := ids(), ids(); !reflect.DeepEqual(a, b) {
		t.Errorf("ids differ between runs: %v %v", a, b)
	}
}

func TestRecording(t *testing.T) {
	s := Start(t, OpenAI, Options{}) // any key
	req := userChat("gpt-4o", "hi")
	req["stream"] = true
	req["x_unknown"] = M{"kept": true}
	r := post(t, s, "/chat/completions", "sk-one", req)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	post(t, s, "/chat/completions", "", userChat("gpt-4o", "hi"))
	rec := s.Requests()
	if len(rec) != 2 {
		t.Fatalf("%d requests", len(rec))
	}
	got := rec[0]
	if got.Method != "POST" || got.Path != "/v1/chat/completions" || got.Model != "gpt-4o" || !got.Stream ||
		got.KeyName != AnyKeyName("sk-one") || got.Header.Get("Authorization") != "Bearer sk-one" ||
		!strings.Contains(string(got.Body), `"x_unknown":{"kept":true}`) {
		t.Errorf("recorded %+v", got)
	}
	if rec[1].KeyName != "" {
		t.Errorf("unauthenticated request got key name %q", rec[1].KeyName)
	}
	if AnyKeyName("sk-one") == AnyKeyName("sk-two") || strings.Contains(AnyKeyName("sk-one"), "one") {
		t.Error("AnyKeyName should tell keys apart without echoing them")
	}
	s.SetFault(func(*Recorded) *Fault { return &Fault{Status: 500} })
	s.Reset()
	if len(s.Requests()) != 0 || s.Canceled() != 0 {
		t.Error("Reset kept state")
	}
	if r := post(t, s, "/chat/completions", "k", userChat("m", "x")); r.status != 200 {
		t.Errorf("Reset kept the fault: %d", r.status)
	}
}

func TestStatusFaults(t *testing.T) {
	for _, tc := range []struct {
		flavor     Flavor
		status     int
		retryAfter string
		kind       string
		code       any
	}{
		{OpenAI, 429, "7", "requests", "rate_limit_exceeded"},
		{OpenAI, 500, "", "server_error", nil},
		{OpenAI, 503, "", "server_error", nil},
		{OpenAI, 502, "", "cf_bad_gateway", 502.0},
		{GeminiCompat, 429, "7", "RESOURCE_EXHAUSTED", nil},
		{GeminiCompat, 503, "", "UNAVAILABLE", nil},
		{GeminiCompat, 500, "", "INTERNAL", nil},
	} {
		t.Run(string(tc.flavor)+" "+http.StatusText(tc.status), func(t *testing.T) {
			s := Start(t, tc.flavor, testOpts())
			var seen *Recorded
			s.SetFault(func(r *Recorded) *Fault {
				seen = r
				return &Fault{Status: tc.status, RetryAfter: tc.retryAfter}
			})
			r := post(t, s, "/chat/completions", testKey, userChat("m", "x"))
			if r.status != tc.status || r.header.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("status %d retry-after %q: %s", r.status, r.header.Get("Retry-After"), r.body)
			}
			msg, kind, e := vendorError(t, tc.flavor, r.body)
			if kind != tc.kind || msg == "" {
				t.Errorf("kind %q msg %q", kind, msg)
			}
			if tc.flavor == OpenAI && e["code"] != tc.code {
				t.Errorf("code %v", e["code"])
			}
			if tc.status == 429 {
				if tc.flavor == OpenAI && (!strings.Contains(msg, "Please try again in 7s") || r.header.Get("x-ratelimit-remaining-requests") != "0") {
					t.Errorf("429 %q / remaining %q", msg, r.header.Get("x-ratelimit-remaining-requests"))
				}
				if tc.flavor == GeminiCompat && path(e, "details", 0, "retryDelay") != "7s" {
					t.Errorf("RetryInfo %v", e["details"])
				}
			}
			if seen == nil || seen.KeyName != "alpha" || seen.Model != "m" {
				t.Errorf("fault saw %+v", seen)
			}
		})
	}
}

func streamReq(text string) M {
	req := userChat("m", text)
	req["stream"] = true
	return req
}

func TestStreamFaults(t *testing.T) {
	for _, fl := range []Flavor{OpenAI, GeminiCompat} {
		t.Run(string(fl)+" cut", func(t *testing.T) {
			s := Start(t, fl, testOpts())
			s.SetFault(func(*Recorded) *Fault { return &Fault{CutAfter: 2, Status: 500} })
			r := post(t, s, "/chat/completions", testKey, streamReq("x"))
			if r.status != 200 || !errors.Is(r.err, io.ErrUnexpectedEOF) {
				t.Fatalf("status %d err %v, want a broken 200 stream", r.status, r.err)
			}
			if strings.Count(string(r.body), "data: ") != 2 || strings.Contains(string(r.body), "[DONE]") {
				t.Errorf("body %q", r.body)
			}
			// Non-stream requests get the Status instead.
			if r := post(t, s, "/chat/completions", testKey, userChat("m", "x")); r.status != 500 {
				t.Errorf("non-stream status %d", r.status)
			}
		})
		t.Run(string(fl)+" error event", func(t *testing.T) {
			s := Start(t, fl, testOpts())
			s.SetFault(func(*Recorded) *Fault { return &Fault{ErrorEventAfter: 1, Status: 503} })
			r := post(t, s, "/chat/completions", testKey, streamReq("x"))
			if r.err != nil {
				t.Fatal(r.err)
			}
			evs := events(t, r.body, "\n")
			if len(evs) != 2 || evs[len(evs)-1] == "[DONE]" {
				t.Fatalf("events %q", evs)
			}
			e := decode(t, []byte(evs[1]))["error"].(M)
			if fl == OpenAI && e["type"] != "server_error" || fl == GeminiCompat && e["status"] != "UNAVAILABLE" {
				t.Errorf("error event %v", e)
			}
		})
	}
	t.Run("cut after everything drops [DONE]", func(t *testing.T) {
		s := Start(t, OpenAI, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{CutAfter: 100} })
		r := post(t, s, "/chat/completions", testKey, streamReq("x"))
		if r.err == nil || strings.Contains(string(r.body), "[DONE]") || !strings.Contains(string(r.body), `"finish_reason":"stop"`) {
			t.Errorf("err %v body %q", r.err, tail(string(r.body)))
		}
	})
}

func TestDelayAndCancel(t *testing.T) {
	t.Run("delay", func(t *testing.T) {
		s := Start(t, OpenAI, testOpts())
		s.SetFault(func(*Recorded) *Fault { return &Fault{Delay: 50 * time.Millisecond} })
		start := time.Now()
		if r := post(t, s, "/chat/completions", testKey, userChat("m", "x")); r.status != 200 {
			t.Fatal(r.status)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("answered after %v", d)
		}
		if s.Canceled() != 0 {
			t.Error("counted a cancellation")
		}
	})
	for _, tc := range []struct {
		name   string
		fault  *Fault
		opts   Options
		stream bool
	}{
		{"hang", &Fault{Hang: true}, Options{}, false},
		{"long delay", &Fault{Delay: time.Hour}, Options{}, false},
		{"slow stream", nil, Options{ChunkGap: time.Hour}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, GeminiCompat, tc.opts)
			s.SetFault(func(*Recorded) *Fault { return tc.fault })
			ctx, cancel := context.WithCancel(t.Context())
			body := any(userChat("m", "x"))
			if tc.stream {
				body = streamReq("x")
			}
			got := make(chan reply, 1)
			go func() { got <- send(t, ctx, s, "POST", "/chat/completions", "k", body) }()
			if tc.stream {
				// Cancel once the first event has arrived.
				waitFor(t, func() bool { return len(s.Requests()) == 1 })
				time.Sleep(20 * time.Millisecond)
			} else {
				waitFor(t, func() bool { return s.Active() == 1 })
			}
			cancel()
			<-got
			if !s.WaitCanceled(1, 5*time.Second) {
				t.Fatal("cancellation not counted")
			}
			waitFor(t, func() bool { return s.Active() == 0 })
			if s.Canceled() != 1 {
				t.Errorf("Canceled = %d", s.Canceled())
			}
		})
	}
}

// TestStreamIsIncremental proves events are flushed as written: the first
// arrives while the rest are still held back by ChunkGap.
func TestStreamIsIncremental(t *testing.T) {
	s := Start(t, OpenAI, Options{ChunkGap: time.Hour})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", s.URL()+"/chat/completions", strings.NewReader(bodyString(streamReq("x"))))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, `data: {"id":"chatcmpl-`) {
		t.Fatalf("first line %q, %v", line, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNoGoroutineLeak runs hanging, slow and cut requests whose clients
// stay connected, then checks that Start's cleanup ends them all.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("work", func(t *testing.T) {
		s := Start(t, OpenAI, Options{ChunkGap: time.Hour})
		hang := Start(t, GeminiCompat, Options{})
		hang.SetFault(func(*Recorded) *Fault { return &Fault{Hang: true} })
		cut := Start(t, OpenAI, Options{})
		cut.SetFault(func(*Recorded) *Fault { return &Fault{CutAfter: 1} })
		post(t, cut, "/chat/completions", "k", streamReq("x"))

		tr := &http.Transport{}
		c := &http.Client{Transport: tr}
		for _, srv := range []*Server{s, hang} {
			req, _ := http.NewRequest("POST", srv.URL()+"/chat/completions", strings.NewReader(bodyString(streamReq("x"))))
			req.Header.Set("Authorization", "Bearer k")
			go func() {
				if resp, err := c.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		waitFor(t, func() bool { return s.Active() == 1 && hang.Active() == 1 })
		t.Cleanup(tr.CloseIdleConnections) // runs after the servers close
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
