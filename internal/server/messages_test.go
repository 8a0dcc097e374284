package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aopt "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// The inbound Anthropic API, end to end: the official Anthropic Go SDK
// talks to /v1/messages, and the gateway serves it from OpenAI and from
// Gemini's OpenAI-compatible endpoint (the repo's fake vendors).

var messageUpstreams = []struct {
	name   string
	flavor fake.Flavor
	typ    string
}{
	{"openai", fake.OpenAI, config.TypeOpenAI},
	{"gemini", fake.GeminiCompat, config.TypeGemini},
}

func messagesGateway(t *testing.T, flavor fake.Flavor, typ string) (*gateway, *fake.Server) {
	t.Helper()
	up := fake.Start(t, flavor, fake.Options{Keys: map[string]string{"sk-test-1": "key-one"}})
	v := vendorOf("v", typ, up.URL(), []string{"sk-test-1"}, "served-model")
	v.InlineImages = config.InlineNever // these tests are about translation: URLs pass as they are
	g := startGateway(t, configOf(config.UnknownModelsPool, v))
	return g, up
}

// claude is an Anthropic SDK client for the gateway. The SDK appends
// "v1/messages" to its base URL, so the base is the gateway's root.
func claude(g *gateway, opts ...aopt.RequestOption) *anthropic.Client {
	c := anthropic.NewClient(append([]aopt.RequestOption{
		aopt.WithBaseURL(strings.TrimSuffix(g.URL, "/v1") + "/"),
		aopt.WithAPIKey("client-key"), aopt.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

func userText(s string) []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(s))}
}

var claudeTools = []anthropic.ToolUnionParam{
	{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("Weather in a city"),
		InputSchema: anthropic.ToolInputSchemaParam{
			Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}},
	{OfTool: &anthropic.ToolParam{Name: "get_time", InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{}}}},
}

// upstreamBody is the JSON the fake vendor received in its i-th request.
func upstreamBody(t *testing.T, up *fake.Server, i int) map[string]any {
	t.Helper()
	reqs := up.Requests()
	if len(reqs) <= i {
		t.Fatalf("the vendor saw %d requests, want at least %d", len(reqs), i+1)
	}
	var m map[string]any
	if err := json.Unmarshal(reqs[i].Body, &m); err != nil {
		t.Fatalf("upstream body: %v", err)
	}
	return m
}

func TestMessagesNonStreaming(t *testing.T) {
	for _, u := range messageUpstreams {
		t.Run(u.name, func(t *testing.T) {
			g, up := messagesGateway(t, u.flavor, u.typ)
			var resp *http.Response
			c := claude(g)
			msg, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
				Model: "claude-alias", MaxTokens: 1024,
				System:   []anthropic.TextBlockParam{{Text: "Be brief."}},
				Messages: userText("ping"),
			}, aopt.WithResponseInto(&resp))
			if err != nil {
				t.Fatal(err)
			}
			if msg.Model != "claude-alias" || msg.Role != "assistant" || !strings.HasPrefix(msg.ID, "msg_") {
				t.Errorf("message %s model %q role %q", msg.ID, msg.Model, msg.Role)
			}
			if len(msg.Content) != 1 || msg.Content[0].Type != "text" ||
				!strings.Contains(msg.Content[0].Text, "served-model") || !strings.Contains(msg.Content[0].Text, "ping") {
				t.Errorf("content %+v", msg.Content)
			}
			if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
				t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
			}
			h := resp.Header
			if h.Get("X-Genrouter-Vendor") != "v" || h.Get("X-Genrouter-Model") != "served-model" ||
				h.Get("X-Genrouter-Credential") != "k0" || h.Get("X-Request-Id") == "" || h.Get("Request-Id") != h.Get("X-Request-Id") {
				t.Errorf("headers %v", h)
			}
			sent := upstreamBody(t, up, 0)
			if sent["model"] != "served-model" || sent["max_tokens"] != float64(1024) {
				t.Errorf("upstream request %v", sent)
			}
			msgs, _ := sent["messages"].([]any)
			if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[0].(map[string]any)["content"] != "Be brief." {
				t.Errorf("upstream messages %v", msgs)
			}
			rec := up.Requests()[0]
			if rec.Header.Get("Authorization") != "Bearer sk-test-1" || rec.Header.Get("X-Api-Key") != "" {
				t.Errorf("upstream auth %q, x-api-key %q", rec.Header.Get("Authorization"), rec.Header.Get("X-Api-Key"))
			}
		})
	}
}

func TestMessagesStreaming(t *testing.T) {
	for _, u := range messageUpstreams {
		t.Run(u.name, func(t *testing.T) {
			g, up := messagesGateway(t, u.flavor, u.typ)
			c := claude(g)
			stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
				Model: "claude-alias", MaxTokens: 256, Messages: userText("stream please"),
			})
			defer stream.Close()
			var acc anthropic.Message
			var types []string
			textDeltas := 0
			for stream.Next() {
				ev := stream.Current()
				types = append(types, ev.Type)
				if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
					textDeltas++
				}
				if err := acc.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if types[0] != "message_start" || types[len(types)-2] != "message_delta" || types[len(types)-1] != "message_stop" {
				t.Errorf("event types %v", types)
			}
			if textDeltas < 2 {
				t.Errorf("%d text deltas: the answer was not streamed", textDeltas)
			}
			if len(acc.Content) != 1 || !strings.Contains(acc.Content[0].Text, "stream please") {
				t.Errorf("accumulated content %+v", acc.Content)
			}
			if acc.Model != "claude-alias" || acc.StopReason != anthropic.StopReasonEndTurn ||
				acc.Usage.InputTokens == 0 || acc.Usage.OutputTokens == 0 {
				t.Errorf("model %q stop %q usage %+v", acc.Model, acc.StopReason, acc.Usage)
			}
			sent := upstreamBody(t, up, 0)
			if so, _ := sent["stream_options"].(map[string]any); sent["stream"] != true || so["include_usage"] != true {
				t.Errorf("upstream asked %v", sent)
			}

			// On the wire: Anthropic's exact framing, ping included, and
			// the same without the /v1 prefix.
			status, h, body := post(t, strings.TrimSuffix(g.URL, "/v1")+"/messages",
				`{"model":"claude-alias","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
			}
			var names []string
			for _, frame := range strings.Split(strings.TrimSpace(body), "\n\n") {
				name, rest, _ := strings.Cut(frame, "\n")
				if !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(rest, "data: {") {
					t.Fatalf("frame %q", frame)
				}
				names = append(names, strings.TrimPrefix(name, "event: "))
			}
			got := strings.Join(names, ",")
			want := "message_start,content_block_start,ping," + strings.Repeat("content_block_delta,", textDeltas) +
				"content_block_stop,message_delta,message_stop"
			if got != want {
				t.Errorf("events\n %s\nwant\n %s", got, want)
			}
		})
	}
}

func TestMessagesToolRoundTrip(t *testing.T) {
	for _, u := range messageUpstreams {
		t.Run(u.name, func(t *testing.T) {
			g, up := messagesGateway(t, u.flavor, u.typ)
			c := claude(g)
			params := anthropic.MessageNewParams{
				Model: "claude-alias", MaxTokens: 512, Tools: claudeTools,
				Messages: userText(`What is the weather? args={"city":"Paris"}`),
			}
			first, err := c.Messages.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if first.StopReason != anthropic.StopReasonToolUse || len(first.Content) != 1 || first.Content[0].Type != "tool_use" {
				t.Fatalf("first answer: stop %q content %+v", first.StopReason, first.Content)
			}
			call := first.Content[0]
			var input map[string]any
			if err := json.Unmarshal(call.Input, &input); err != nil || call.Name != "get_weather" || input["city"] != "Paris" || call.ID == "" {
				t.Fatalf("tool_use %s %s %s (%v)", call.ID, call.Name, call.Input, err)
			}

			params.Messages = append(params.Messages, first.ToParam(),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "18C and sunny", false)))
			second, err := c.Messages.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if second.StopReason != anthropic.StopReasonEndTurn || len(second.Content) != 1 ||
				!strings.Contains(second.Content[0].Text, "Tool result: 18C and sunny") {
				t.Errorf("second answer: stop %q content %+v", second.StopReason, second.Content)
			}

			// What reached the vendor: the assistant's call and the result
			// as an OpenAI tool message answering it.
			sent := upstreamBody(t, up, 1)
			msgs := sent["messages"].([]any)
			if len(msgs) != 3 {
				t.Fatalf("upstream messages %v", msgs)
			}
			asst, tool := msgs[1].(map[string]any), msgs[2].(map[string]any)
			calls, _ := asst["tool_calls"].([]any)
			if asst["role"] != "assistant" || len(calls) != 1 {
				t.Fatalf("assistant message %v", asst)
			}
			fn := calls[0].(map[string]any)["function"].(map[string]any)
			if calls[0].(map[string]any)["id"] != call.ID || fn["name"] != "get_weather" || fn["arguments"] != `{"city":"Paris"}` {
				t.Errorf("tool call sent %v", calls[0])
			}
			if tool["role"] != "tool" || tool["tool_call_id"] != call.ID || tool["content"] != "18C and sunny" {
				t.Errorf("tool message sent %v", tool)
			}
			if tools, _ := sent["tools"].([]any); len(tools) != 2 {
				t.Errorf("tools sent %v", sent["tools"])
			}
		})
	}
}

func TestMessagesStreamedToolUse(t *testing.T) {
	for _, u := range messageUpstreams {
		t.Run(u.name, func(t *testing.T) {
			g, _ := messagesGateway(t, u.flavor, u.typ)
			stream := claude(g).Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
				Model: "claude-alias", MaxTokens: 512, Tools: claudeTools,
				Messages: userText("weather and time, in parallel"),
			})
			defer stream.Close()
			var acc anthropic.Message
			partial := map[int64]string{} // what input_json_delta said, per block
			for stream.Next() {
				ev := stream.Current()
				if ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta" {
					partial[ev.Index] += ev.Delta.PartialJSON
				}
				if err := acc.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.StopReason != anthropic.StopReasonToolUse || len(acc.Content) != 2 {
				t.Fatalf("stop %q, content %+v", acc.StopReason, acc.Content)
			}
			names := []string{"get_weather", "get_time"}
			for i, b := range acc.Content {
				if b.Type != "tool_use" || b.Name != names[i] || b.ID == "" {
					t.Errorf("block %d: %s %s %s", i, b.Type, b.Name, b.ID)
				}
				var in map[string]any
				if err := json.Unmarshal(b.Input, &in); err != nil {
					t.Errorf("block %d input %s: %v", i, b.Input, err)
				}
				if partial[int64(i)] != string(b.Input) {
					t.Errorf("block %d: deltas say %q, input is %s", i, partial[int64(i)], b.Input)
				}
			}
			if acc.Content[0].ID == acc.Content[1].ID {
				t.Errorf("both calls have id %s", acc.Content[0].ID)
			}
			var weather map[string]any
			json.Unmarshal(acc.Content[0].Input, &weather)
			if weather["city"] != "x" {
				t.Errorf("get_weather input %s", acc.Content[0].Input)
			}
		})
	}
}

// An upstream 429 is Anthropic's rate_limit_error with Retry-After, for
// the SDK's error type and on the wire.
func TestMessagesRateLimited(t *testing.T) {
	for _, u := range messageUpstreams {
		t.Run(u.name, func(t *testing.T) {
			g, up := messagesGateway(t, u.flavor, u.typ)
			up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 429, RetryAfter: "20"} })
			_, err := claude(g).Messages.New(context.Background(), anthropic.MessageNewParams{
				Model: "claude-alias", MaxTokens: 16, Messages: userText("hi")})
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *anthropic.Error", err)
			}
			if apiErr.StatusCode != 429 || apiErr.Type() != "rate_limit_error" || apiErr.Message == "" {
				t.Errorf("status %d type %q message %q", apiErr.StatusCode, apiErr.Type(), apiErr.Message)
			}
			if ra, _ := strconv.Atoi(apiErr.Response.Header.Get("Retry-After")); ra < 18 || ra > 20 {
				t.Errorf("Retry-After %q", apiErr.Response.Header.Get("Retry-After"))
			}
			if apiErr.RequestID == "" || apiErr.Response.Header.Get("X-Genrouter-Attempts") == "" {
				t.Errorf("request id %q, headers %v", apiErr.RequestID, apiErr.Response.Header)
			}
			// The cooling credential now answers at once, same shape.
			status, h, body := post(t, g.URL+"/messages", `{"model":"claude-alias","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`)
			assertAnthropicError(t, status, body, 429, "rate_limit_error")
			if h.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
}

func assertAnthropicError(t *testing.T, status int, body string, wantStatus int, wantType string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body is not JSON: %s", body)
	}
	if status != wantStatus || e.Type != "error" || e.Error.Type != wantType || e.Error.Message == "" || e.RequestID == "" {
		t.Errorf("got %d %s, want %d %s", status, body, wantStatus, wantType)
	}
}

// Requests the gateway refuses come back as invalid_request_error, and
// never reach the vendor.
func TestMessagesInvalidRequests(t *testing.T) {
	g, up := messagesGateway(t, fake.OpenAI, config.TypeOpenAI)

	_, err := claude(g).Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-alias", MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_nowhere", "42", false))},
	})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" ||
		!strings.Contains(apiErr.Message, "toolu_nowhere") {
		t.Fatalf("err = %v", err)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"malformed JSON", `{"model":"claude-alias","max_tokens":`, "not valid JSON"},
		{"no max_tokens", `{"model":"claude-alias","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Field required"},
		{"no model", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "model: Field required"},
		{"bad tool name", `{"model":"m","max_tokens":5,"tools":[{"name":"get weather","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}`, "tools.0.name"},
		{"server tool", `{"model":"m","max_tokens":5,"tools":[{"type":"bash_20250124","name":"bash"}],"messages":[{"role":"user","content":"hi"}]}`, "tools.0.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := post(t, g.URL+"/messages", tc.body)
			assertAnthropicError(t, status, body, 400, "invalid_request_error")
			if !strings.Contains(body, tc.want) {
				t.Errorf("body %s, want it to mention %q", body, tc.want)
			}
		})
	}

	// Over the body limit: Anthropic's request_too_large.
	big := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("a", 2<<20) + `"}]}`
	status, _, body := post(t, g.URL+"/messages", big)
	assertAnthropicError(t, status, body, 413, "request_too_large")

	// An unknown ?vendor= is the router's 400, in Anthropic's shape too.
	_, err = claude(g).Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-alias", MaxTokens: 16, Messages: userText("hi")}, aopt.WithQuery("vendor", "nope"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" {
		t.Errorf("unknown vendor: %v", err)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("the vendor saw %d requests", n)
	}
	if !strings.Contains(g.logs.String(), `"path":"/v1/messages"`) {
		t.Errorf("no log line for /v1/messages:\n%s", g.logs.String())
	}
}

// A stream that breaks after it started ends with an error event, never
// with message_stop, and the SDK reports an error rather than a clean end.
func TestMessagesStreamBreaksLoudly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fake.Fault
	}{
		{"connection cut", fake.Fault{CutAfter: 2}},
		{"in-stream error", fake.Fault{ErrorEventAfter: 2, Status: 503}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, up := messagesGateway(t, fake.OpenAI, config.TypeOpenAI)
			f := tc.fault
			up.SetFault(func(*fake.Recorded) *fake.Fault { return &f })
			status, _, body := post(t, g.URL+"/messages",
				`{"model":"claude-alias","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			if strings.Contains(body, "message_stop") {
				t.Errorf("a broken stream ended with message_stop:\n%s", body)
			}
			frames := strings.Split(strings.TrimSpace(body), "\n\n")
			last := frames[len(frames)-1]
			if !strings.HasPrefix(last, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"") {
				t.Errorf("last event is not an error: %q", last)
			}
			stream := claude(g).Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
				Model: "claude-alias", MaxTokens: 64, Messages: userText("hi")})
			defer stream.Close()
			for stream.Next() {
			}
			var apiErr *anthropic.Error
			if err := stream.Err(); !errors.As(err, &apiErr) || apiErr.Type() == "" {
				t.Errorf("the SDK saw %v, want an API error", err)
			}
		})
	}
}

// Image blocks (base64 and URL) reach the vendor as image_url parts, and
// the request is routed to a model with images.
func TestMessagesImages(t *testing.T) {
	for _, u := range messageUpstreams {
		t.Run(u.name, func(t *testing.T) {
			g, up := messagesGateway(t, u.flavor, u.typ)
			msg, err := claude(g).Messages.New(context.Background(), anthropic.MessageNewParams{
				Model: "claude-alias", MaxTokens: 64,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
					anthropic.NewImageBlockBase64("image/png", "iVBORw0KGgo="),
					anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: "https://example.com/ant.jpg"}),
					anthropic.NewTextBlock("what are these?"))},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(msg.Content[0].Text, "(2 images)") {
				t.Errorf("answer %q", msg.Content[0].Text)
			}
			parts := upstreamBody(t, up, 0)["messages"].([]any)[0].(map[string]any)["content"].([]any)
			first := parts[0].(map[string]any)["image_url"].(map[string]any)["url"]
			second := parts[1].(map[string]any)["image_url"].(map[string]any)["url"]
			if first != "data:image/png;base64,iVBORw0KGgo=" || second != "https://example.com/ant.jpg" {
				t.Errorf("image parts %v", parts)
			}
		})
	}
}

// Even the middleware answers /v1/messages in Anthropic's shape.
func TestMessagesMiddlewareErrorsAreAnthropicShaped(t *testing.T) {
	g := startGateway(t, configOf(config.UnknownModelsPool, config.Vendor{Name: "mock", Type: config.TypeMock,
		Credentials: []config.Credential{{Name: "mock", Weight: 1}}, Models: []config.Model{{Name: "m", Streaming: true, Weight: 1}}}))
	code, _, body := do(t, "GET", g.URL+"/messages", "")
	if code != 405 || !strings.Contains(body, `"type":"error"`) || !strings.Contains(body, `"invalid_request_error"`) {
		t.Errorf("405: %d %s", code, body)
	}
}

// count_tokens answers an estimate in Anthropic's shape, through the SDK.
func TestMessagesCountTokens(t *testing.T) {
	g, _ := messagesGateway(t, fake.OpenAI, config.TypeOpenAI)
	long := strings.Repeat("word ", 400) // 2,000 characters
	got, err := claude(g).Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-alias",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(long))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.InputTokens < 450 || got.InputTokens > 600 {
		t.Errorf("input_tokens = %d, want about 500", got.InputTokens)
	}
	code, _, body := do(t, "POST", strings.TrimSuffix(g.URL, "/v1")+"/v1/messages/count_tokens", `{"model":"m"}`)
	if code != 400 || !strings.Contains(body, `"type":"error"`) {
		t.Errorf("without messages: %d %s", code, body)
	}
}
