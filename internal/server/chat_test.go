package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// flavors are the upstream types every end-to-end test runs against: the
// first two are the OpenAI-compatible ones (the only ones that embed in the
// fake besides Gemini native and Azure).
var flavors = []struct {
	name   string
	flavor fake.Flavor
	typ    string
	crlf   bool
	api    string
}{
	{"openai", fake.OpenAI, config.TypeOpenAI, false, ""},
	{"gemini", fake.GeminiCompat, config.TypeGemini, false, ""},
	{"gemini-crlf", fake.GeminiCompat, config.TypeGemini, true, ""},
	{"anthropic", fake.Anthropic, config.TypeAnthropic, false, ""},
	{"gemini-native", fake.GeminiNative, config.TypeGemini, false, config.APINative},
	{"gemini-native-crlf", fake.GeminiNative, config.TypeGemini, true, config.APINative},
	{"azure", fake.Azure, config.TypeAzure, false, ""},
	{"openai-compatible", fake.OpenAI, config.TypeOpenAICompatible, false, ""},
}

// oneVendor starts a fake vendor of the flavor and a gateway in front of it
// serving model "served-model".
func oneVendor(t *testing.T, flavor fake.Flavor, typ string, crlf bool, api ...string) (*gateway, *fake.Server) {
	t.Helper()
	up := fake.Start(t, flavor, fake.Options{Keys: map[string]string{"sk-test-1": "key-one"}, CRLF: crlf})
	v := vendorOf("v", typ, up.URL(), []string{"sk-test-1"}, "served-model")
	if len(api) > 0 {
		v.API = api[0]
	}
	g := startGateway(t, configOf(config.UnknownModelsPool, v))
	return g, up
}

func TestChatNonStreaming(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			g, up := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			var resp *http.Response
			c := sdk(g)
			got, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model:    "my-alias",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("ping")},
			}, option.WithResponseInto(&resp), option.WithJSONSet("x_custom", map[string]any{"keep": []int{1, 2}}))
			if err != nil {
				t.Fatal(err)
			}
			if got.Model != "my-alias" {
				t.Errorf("model = %q, want the alias the client asked for", got.Model)
			}
			if msg := got.Choices[0].Message.Content; !strings.Contains(msg, "served-model") || !strings.Contains(msg, "ping") {
				t.Errorf("content = %q", msg)
			}
			if got.Usage.TotalTokens == 0 || got.Choices[0].FinishReason != "stop" {
				t.Errorf("usage %+v finish %q", got.Usage, got.Choices[0].FinishReason)
			}
			h := resp.Header
			if h.Get("X-Genrouter-Vendor") != "v" || h.Get("X-Genrouter-Model") != "served-model" ||
				h.Get("X-Genrouter-Credential") != "k0" || h.Get("X-Request-Id") == "" {
				t.Errorf("served-by headers = %v", h)
			}
			reqs := up.Requests()
			if len(reqs) != 1 {
				t.Fatalf("vendor saw %d requests", len(reqs))
			}
			if reqs[0].Model != "served-model" || reqs[0].KeyName != "key-one" {
				t.Errorf("upstream saw model %q with key %q", reqs[0].Model, reqs[0].KeyName)
			}
			if f.typ == config.TypeAnthropic || f.api == config.APINative {
				return // translated: unknown OpenAI fields have no place there
			}
			var sent map[string]any
			json.Unmarshal(reqs[0].Body, &sent)
			if keep, _ := json.Marshal(sent["x_custom"]); string(keep) != `{"keep":[1,2]}` {
				t.Errorf("unknown field not passed through: %s", reqs[0].Body)
			}
		})
	}
}

func TestChatStreamingWithUsage(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			g, _ := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			c := sdk(g)
			stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model:         "my-alias",
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream please")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			acc := openai.ChatCompletionAccumulator{}
			usageChunks, chunks := 0, 0
			for stream.Next() {
				ch := stream.Current()
				chunks++
				if ch.Model != "my-alias" {
					t.Errorf("chunk model = %q", ch.Model)
				}
				if ch.JSON.Usage.Valid() && ch.Usage.TotalTokens > 0 {
					usageChunks++
					if len(ch.Choices) != 0 {
						t.Errorf("usage rides on a chunk with %d choices", len(ch.Choices))
					}
				}
				acc.AddChunk(ch)
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if usageChunks != 1 {
				t.Errorf("%d usage chunks, want exactly 1", usageChunks)
			}
			if chunks < 3 {
				t.Errorf("only %d chunks", chunks)
			}
			if got := acc.Choices[0].Message.Content; !strings.Contains(got, "stream please") {
				t.Errorf("content = %q", got)
			}
			if acc.Choices[0].FinishReason != "stop" {
				t.Errorf("finish = %q", acc.Choices[0].FinishReason)
			}
		})
	}
}

// Without include_usage no chunk may carry usage, even when the vendor
// (Gemini) sends it anyway.
func TestStreamWithoutUsageHasNone(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			g, _ := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			status, h, body := post(t, g.URL+"/chat/completions",
				`{"model":"a","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if status != 200 || h.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("%d %s", status, h.Get("Content-Type"))
			}
			if strings.Contains(body, `"usage"`) {
				t.Errorf("usage present without include_usage:\n%s", body)
			}
			if !strings.HasSuffix(body, "data: [DONE]\n\n") {
				t.Errorf("stream does not end with [DONE]:\n%s", body)
			}
			if strings.Contains(body, "\r") {
				t.Errorf("CR leaked into the client stream")
			}
		})
	}
}

var weatherTools = []openai.ChatCompletionToolUnionParam{
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather",
		Parameters: shared.FunctionParameters{
			"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required": []string{"city"},
		},
	}),
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:       "get_time",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{}},
	}),
}

func TestStreamedParallelToolCalls(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			g, _ := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			stream := sdk(g).Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model:    "my-alias",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather and time, in parallel")},
				Tools:    weatherTools,
			})
			acc := openai.ChatCompletionAccumulator{}
			var finished []string
			for stream.Next() {
				acc.AddChunk(stream.Current())
				if tc, ok := acc.JustFinishedToolCall(); ok {
					finished = append(finished, tc.Name)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			calls := acc.Choices[0].Message.ToolCalls
			if len(calls) != 2 {
				t.Fatalf("%d tool calls, want 2: %+v", len(calls), calls)
			}
			if calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" {
				t.Errorf("names = %s, %s", calls[0].Function.Name, calls[1].Function.Name)
			}
			var args map[string]any
			if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args["city"] == nil {
				t.Errorf("arguments %q: %v", calls[0].Function.Arguments, err)
			}
			if calls[0].ID == "" || calls[0].ID == calls[1].ID {
				t.Errorf("ids %q %q", calls[0].ID, calls[1].ID)
			}
			if acc.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("finish_reason = %q, want tool_calls", acc.Choices[0].FinishReason)
			}
		})
	}
}

func TestToolRoundTrip(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			g, _ := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			c := sdk(g)
			params := openai.ChatCompletionNewParams{
				Model:    "my-alias",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
				Tools:    weatherTools,
			}
			params.Messages = answerOneToolCall(t, c, params, "18C and sunny")
			second, err := c.Chat.Completions.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(second.Choices[0].Message.Content, "18C and sunny") {
				t.Errorf("final answer = %q", second.Choices[0].Message.Content)
			}
		})
	}
}

// answerOneToolCall sends params, wants exactly one tool call back, and
// returns the conversation with that call and its result appended.
func answerOneToolCall(t *testing.T, c *openai.Client, params openai.ChatCompletionNewParams, result string) []openai.ChatCompletionMessageParamUnion {
	t.Helper()
	first, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if first.Choices[0].FinishReason != "tool_calls" || len(first.Choices[0].Message.ToolCalls) != 1 {
		t.Fatalf("first answer: %+v", first.Choices[0])
	}
	call := first.Choices[0].Message.ToolCalls[0]
	return append(params.Messages, first.Choices[0].Message.ToParam(), openai.ToolMessage(result, call.ID))
}

func TestEmbeddings(t *testing.T) {
	for _, f := range flavors[:2] {
		t.Run(f.name, func(t *testing.T) {
			up := fake.Start(t, f.flavor, fake.Options{})
			g := startGateway(t, configOf(config.UnknownModelsPool,
				vendorOf("v", f.typ, up.URL(), []string{"k"}, "chat-model", "embed-model")))
			c := sdk(g)
			res, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
				Model:      "my-embedder",
				Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
				Dimensions: openai.Int(4),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Model != "my-embedder" || len(res.Data) != 2 || len(res.Data[0].Embedding) != 4 {
				t.Fatalf("got model %q, %d vectors", res.Model, len(res.Data))
			}
			if last := up.Requests()[len(up.Requests())-1]; last.Model != "embed-model" {
				t.Errorf("routed to %q, want the embedding model", last.Model)
			}
			// base64 must come back as OpenAI encodes it, whatever the vendor does.
			status, _, body := post(t, g.URL+"/embeddings", `{"model":"e","input":"a","dimensions":4,"encoding_format":"base64"}`)
			var b64 struct {
				Data []struct {
					Embedding string `json:"embedding"`
				} `json:"data"`
			}
			if status != 200 || json.Unmarshal([]byte(body), &b64) != nil || len(b64.Data) != 1 || len(b64.Data[0].Embedding) != 24 {
				t.Errorf("base64 embeddings: %d %s", status, body)
			}
		})
	}
}

func TestModels(t *testing.T) {
	g := startGateway(t, configOf(config.UnknownModelsPool,
		vendorOf("a", config.TypeMock, "", []string{""}, "m1", "m2"),
		vendorOf("b", config.TypeMock, "", []string{""}, "m2", "m3")))
	c := sdk(g)
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "m1,m2,m3" {
		t.Errorf("models = %v", ids)
	}
	m, err := c.Models.Get(context.Background(), "m3")
	if err != nil || m.ID != "m3" || m.OwnedBy != "b" {
		t.Errorf("get m3 = %+v, %v", m, err)
	}
	_, err = c.Models.Get(context.Background(), "nope")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
	status, _, body := do(t, http.MethodGet, g.URL+"/models?vendor=a", "")
	if status != 200 || strings.Contains(body, "m3") {
		t.Errorf("?vendor=a: %d %s", status, body)
	}
}

// A 1×1 PNG.
const pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func TestImagesReachEveryVendor(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			g, _ := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			got, err := sdk(g).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "my-alias",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
					openai.TextContentPart("what is this?"),
					openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: pixel}),
				})},
			})
			if err != nil {
				t.Fatal(err)
			}
			if c := got.Choices[0].Message.Content; !strings.Contains(c, "(1 images)") || !strings.Contains(c, "what is this?") {
				t.Errorf("the vendor did not see the image: %q", c)
			}
		})
	}
}

// A tool without parameters streams its arguments as "{}" on every vendor,
// as OpenAI does and as the non-streamed answer says: "" is not JSON, so
// clients that parse arguments fail, and echo it back on the next turn.
// (Anthropic streams such a call as one empty partial_json.)
func TestStreamedToolCallWithoutArguments(t *testing.T) {
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "snooze-alarm"}),
	}
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			g, _ := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			c := sdk(g)
			params := openai.ChatCompletionNewParams{
				Model:      "my-alias",
				Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hit snooze")},
				Tools:      tools,
				ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
			}
			stream := c.Chat.Completions.NewStreaming(context.Background(), params)
			acc := openai.ChatCompletionAccumulator{}
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			msg := acc.Choices[0].Message
			if len(msg.ToolCalls) != 1 || acc.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("answer: %+v, finish_reason %q", msg, acc.Choices[0].FinishReason)
			}
			call := msg.ToolCalls[0]
			if call.Function.Name != "snooze-alarm" || call.Function.Arguments != "{}" {
				t.Errorf("tool call %s(%q), want snooze-alarm(\"{}\")", call.Function.Name, call.Function.Arguments)
			}
			params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{}
			params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("snoozed", call.ID))
			second, err := c.Chat.Completions.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(second.Choices[0].Message.Content, "snoozed") {
				t.Errorf("second turn = %q", second.Choices[0].Message.Content)
			}
		})
	}
}
