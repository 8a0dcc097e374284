package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors/sse"
)

// Upstream streams, as Gemini sends them.

// FirebaseExtended/vertexai-sdk-test-data mock-responses/googleai/streaming-success-basic-reply-short.txt
const streamBasic = `data: {"candidates": [{"content": {"parts": [{"text": "The"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 7,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 7}]},"modelVersion": "gemini-3.1-flash-lite"}

data: {"candidates": [{"content": {"parts": [{"text": " capital of Wyoming"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 7,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 7}]},"modelVersion": "gemini-3.1-flash-lite"}

data: {"candidates": [{"content": {"parts": [{"text": " is **Cheyenne**.\n"}],"role": "model"},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 7,"candidatesTokenCount": 10,"totalTokenCount": 17,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 7}],"candidatesTokensDetails": [{"modality": "TEXT","tokenCount": 10}]},"modelVersion": "gemini-3.1-flash-lite"}

`

// mock-responses/googleai/streaming-success-thinking-function-call-thought-summary-signature.txt,
// thought texts and signature shortened.
const streamThinkingCall = `data: {"candidates": [{"content": {"parts": [{"text": "**Calculating the Days**\n\nI need the current date.","thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 38,"totalTokenCount": 106,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 38}],"thoughtsTokenCount": 68},"modelVersion": "gemini-2.5-flash","responseId": "48SHaPHpHKbG-8YPtZCawAk"}

data: {"candidates": [{"content": {"parts": [{"text": "**Determining the Approach**\n\nI'll call now().","thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 38,"totalTokenCount": 206,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 38}],"thoughtsTokenCount": 168},"modelVersion": "gemini-2.5-flash","responseId": "48SHaPHpHKbG-8YPtZCawAk"}

data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "now","args": {}},"thoughtSignature": "CiIBVKhc7vB+vaaq6rA/KC79Ts7iXagIOA4EBOyBFDpl+pxPCmcBVKhc7g=="}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 38,"candidatesTokenCount": 6,"totalTokenCount": 212,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 38}],"thoughtsTokenCount": 168},"modelVersion": "gemini-2.5-flash","responseId": "48SHaPHpHKbG-8YPtZCawAk"}

`

// The two-frame function call of newer models, as quoted in
// envoyproxy/ai-gateway#2399 (args and signature filled in, CRLF endings
// as Vertex sends them per nyroway/nyro#265).
const streamSplitCall = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_current_weather\",\"args\":{\"location\":\"Boston\"}},\"thoughtSignature\":\"c2lnLTE=\"},{\"functionCall\":{\"name\":\"get_time\",\"args\":{\"tz\":\"EST\"}}}]}}],\"usageMetadata\":{\"trafficType\":\"ON_DEMAND\"}}\r\n\r\n" +
	"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":107,\"candidatesTokenCount\":31,\"thoughtsTokenCount\":148,\"totalTokenCount\":286,\"trafficType\":\"ON_DEMAND\"}}\r\n\r\n"

// mock-responses/googleai/streaming-failure-prompt-blocked-safety.txt (ratings abridged)
const streamBlockedLate = `data: {"candidates": [{"content": {"parts": [{"text": "text1"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 7},"modelVersion": "gemini-2.0-flash"}

data: {"candidates": [{"content": {"parts": [{"text": "text2"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 7},"modelVersion": "gemini-2.0-flash"}

data: {"promptFeedback": {"blockReason": "SAFETY","safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH","probability": "HIGH"}]}}
`

// mock-responses/googleai/streaming-success-empty-parts.txt (abridged): a
// frame whose content has no parts, and an image part this API cannot carry.
const streamEmptyParts = `data: {"candidates": [{"content": {"parts": [{"text": "Here's a"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 16,"candidatesTokenCount": 4,"totalTokenCount": 20},"modelVersion": "gemini-2.5-flash-image-preview","responseId": "kLewaKa5ONqI-8YP-c_NuAQ"}

data: {"candidates": [{"content": {"role": "model"}}],"usageMetadata": {"promptTokenCount": 16,"candidatesTokenCount": 17,"totalTokenCount": 33},"modelVersion": "gemini-2.5-flash-image-preview","responseId": "kLewaKa5ONqI-8YP-c_NuAQ"}

data: {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png","data": "iVBORw0KGgo="}}],"role": "model"},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 16,"candidatesTokenCount": 1307,"totalTokenCount": 1323},"modelVersion": "gemini-2.5-flash-image-preview","responseId": "kLewaKa5ONqI-8YP-c_NuAQ"}

`

func testStream(r io.Reader, includeUsage bool, n int) *stream {
	return &stream{body: io.NopCloser(r), r: sse.NewReader(r),
		t: newTranslator("gemini-2.5-flash", 1700000000, includeUsage, n, "chatcmpl-fallback", seqIDs(), "k")}
}

// run translates body read through r, returning the chunks and how the
// stream ended ("EOF" or the error).
func run(body string, wrap func(io.Reader) io.Reader, includeUsage bool, n int) ([]string, string) {
	s := testStream(wrap(strings.NewReader(body)), includeUsage, n)
	var out []string
	for {
		d, err := s.Next()
		if err == io.EOF {
			return out, "EOF"
		}
		if err != nil {
			return out, err.Error()
		}
		out = append(out, string(d))
	}
}

func plain(r io.Reader) io.Reader { return r }

const chunkHead = `"id":"chatcmpl-fallback","object":"chat.completion.chunk","created":1700000000,"model":"gemini-2.5-flash"`

func TestStreamGolden(t *testing.T) {
	sigID := withSignature("call_000000000000000000000001", "CiIBVKhc7vB+vaaq6rA/KC79Ts7iXagIOA4EBOyBFDpl+pxPCmcBVKhc7g==")
	head := func(id string) string {
		return `"id":"` + id + `","object":"chat.completion.chunk","created":1700000000,"model":"gemini-2.5-flash"`
	}
	for _, tc := range []struct {
		name         string
		body         string
		includeUsage bool
		want         []string
		end          string
	}{
		{"basic reply with include_usage", streamBasic, true, []string{
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":"The"},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":" capital of Wyoming"},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":" is **Cheyenne**.\n"},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
			`{` + chunkHead + `,"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":10,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		}, "EOF"},
		{"basic reply without include_usage", streamBasic, false, []string{
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":"The"},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":" capital of Wyoming"},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":" is **Cheyenne**.\n"},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
		}, "EOF"},
		{"thoughts then a signed call", streamThinkingCall, true, []string{
			`{` + head("48SHaPHpHKbG-8YPtZCawAk") + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + head("48SHaPHpHKbG-8YPtZCawAk") + `,"choices":[{"index":0,"delta":{"reasoning_content":"**Calculating the Days**\n\nI need the current date."},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + head("48SHaPHpHKbG-8YPtZCawAk") + `,"choices":[{"index":0,"delta":{"reasoning_content":"**Determining the Approach**\n\nI'll call now()."},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + head("48SHaPHpHKbG-8YPtZCawAk") + `,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"` + sigID + `","type":"function","function":{"name":"now","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + head("48SHaPHpHKbG-8YPtZCawAk") + `,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}`,
			`{` + head("48SHaPHpHKbG-8YPtZCawAk") + `,"choices":[],"usage":{"prompt_tokens":38,"completion_tokens":174,"total_tokens":212,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":168}}}`,
		}, "EOF"},
		{"calls, then a trailing frame with the finish", streamSplitCall, false, []string{
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"` + withSignature("call_000000000000000000000001", "c2lnLTE=") + `","type":"function","function":{"name":"get_current_weather","arguments":"{\"location\":\"Boston\"}"}}]},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_000000000000000000000002","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"EST\"}"}}]},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}`,
		}, "EOF"},
		{"blocked after text", streamBlockedLate, true, []string{
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":"text1"},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":"text2"},"logprobs":null,"finish_reason":null}],"usage":null}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"content_filter"}],"usage":null}`,
			`{` + chunkHead + `,"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":0,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		}, "EOF"},
		{"empty parts and an image part", streamEmptyParts, false, []string{
			`{` + head("kLewaKa5ONqI-8YP-c_NuAQ") + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
			`{` + head("kLewaKa5ONqI-8YP-c_NuAQ") + `,"choices":[{"index":0,"delta":{"content":"Here's a"},"logprobs":null,"finish_reason":null}]}`,
			`{` + head("kLewaKa5ONqI-8YP-c_NuAQ") + `,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
		}, "EOF"},
		{"truncated: no finishReason", strings.Join(strings.SplitAfterN(streamBasic, "\n\n", 3)[:2], ""), false, []string{
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":"The"},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":" capital of Wyoming"},"logprobs":null,"finish_reason":null}]}`,
		}, "502 server_error (stream_truncated): the vendor's stream ended before it was complete"},
		{"empty body", "", false, nil, "502 server_error (stream_truncated): the vendor's stream ended before it was complete"},
		{"error frame (google.rpc.Status, as Gemini's error bodies)", "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"}}]}\n\n" +
			"data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again later.\",\"status\":\"UNAVAILABLE\"}}\n\n", false, []string{
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
			`{` + chunkHead + `,"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}`,
		}, "503 service_unavailable (unavailable): The model is overloaded. Please try again later."},
		{"malformed call as the first frame", "data: {\"candidates\":[{\"finishReason\":\"MALFORMED_FUNCTION_CALL\",\"index\":0}]}\n\n", false, nil,
			"502 server_error (malformed_function_call): the model produced an invalid function call (Gemini finishReason MALFORMED_FUNCTION_CALL)"},
		{"blocked prompt as the first frame (vercel/ai#4235)", "data: {\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},\"usageMetadata\":{\"promptTokenCount\":12559,\"totalTokenCount\":12559}}\n\n", true, nil,
			"400 invalid_request_error (content_filter): the prompt was blocked by the vendor's content filter (Gemini blockReason PROHIBITED_CONTENT)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, end := run(tc.body, plain, tc.includeUsage, 1)
			if end != tc.end {
				t.Errorf("ended with %q, want %q", end, tc.end)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d chunks, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("chunk %d:\n got %s\nwant %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestStreamCandidates: with n > 1 each candidate is its own choice, and the
// stream ends once every one has finished.
func TestStreamCandidates(t *testing.T) {
	body := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}],\"role\":\"model\"},\"index\":0},{\"content\":{\"parts\":[{\"text\":\"B\"}],\"role\":\"model\"},\"index\":1}]}\n\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}]}\n\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}],\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\",\"index\":1}]}\n\n"
	got, end := run(body, plain, false, 2)
	if end != "EOF" {
		t.Fatal(end)
	}
	text := map[float64]string{}
	finish := map[float64]any{}
	for _, c := range got {
		var m M
		json.Unmarshal([]byte(c), &m)
		ch := dig(m, "choices", 0).(M)
		i := ch["index"].(float64)
		if s, ok := dig(ch, "delta", "content").(string); ok {
			text[i] += s
		}
		if ch["finish_reason"] != nil {
			finish[i] = ch["finish_reason"]
		}
	}
	if text[0] != "Aa" || text[1] != "Bb" || finish[0] != "stop" || finish[1] != "length" {
		t.Errorf("text %v finish %v", text, finish)
	}
}

// TestStreamEverySplit feeds the upstream bytes in two reads split at every
// boundary, and one byte at a time: the output never changes.
func TestStreamEverySplit(t *testing.T) {
	crlf := strings.ReplaceAll(streamThinkingCall, "\n", "\r\n")
	for name, body := range map[string]string{"basic": streamBasic, "thinking crlf": crlf, "split call": streamSplitCall, "blocked late": streamBlockedLate} {
		want, wantEnd := run(body, plain, true, 1)
		check := func(how string, wrap func(io.Reader) io.Reader) {
			got, end := run(body, wrap, true, 1)
			if end != wantEnd || strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("%s, %s: output differs:\n%s\n%s\nwant\n%s\n%s", name, how, strings.Join(got, "\n"), end, strings.Join(want, "\n"), wantEnd)
			}
		}
		for i := 0; i <= len(body); i++ {
			check("split at "+strconv.Itoa(i), func(io.Reader) io.Reader {
				return io.MultiReader(strings.NewReader(body[:i]), strings.NewReader(body[i:]))
			})
		}
		check("one byte at a time", iotest.OneByteReader)
	}
}

// FuzzStream: whatever the upstream sends, the stream ends (io.EOF only
// after every choice finished), every chunk is a chat.completion.chunk,
// tool call indexes count up from 0 per choice, and nothing follows a
// choice's finish_reason.
func FuzzStream(f *testing.F) {
	for _, s := range []string{streamBasic, streamThinkingCall, streamSplitCall, streamBlockedLate, streamEmptyParts,
		"data: {\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n", "data: [DONE]\n\n", "data: {\n\n", ": keepalive\r\n\r\n"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, includeUsage bool) {
		s := testStream(bytes.NewReader(body), includeUsage, 1)
		tools := map[float64]float64{}
		finished := map[float64]bool{}
		usages := 0
		for i := 0; ; i++ {
			if i > 10*len(body)+10 {
				t.Fatal("the stream does not end")
			}
			d, err := s.Next()
			if err == io.EOF {
				if len(finished) == 0 {
					t.Fatal("clean end without any finish_reason")
				}
				if includeUsage && usages != 1 {
					t.Fatalf("%d usage chunks", usages)
				}
				return
			}
			if err != nil {
				var e *openai.Error
				if !errors.As(err, &e) || e.Status < 400 {
					t.Fatalf("error %v (%T)", err, err)
				}
				return
			}
			var c struct {
				Object  string          `json:"object"`
				Usage   json.RawMessage `json:"usage"`
				Choices []struct {
					Index        float64 `json:"index"`
					FinishReason *string `json:"finish_reason"`
					Delta        struct {
						ToolCalls []struct {
							Index *float64 `json:"index"`
							ID    string   `json:"id"`
						} `json:"tool_calls"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(d, &c); err != nil || c.Object != "chat.completion.chunk" {
				t.Fatalf("bad chunk %s", d)
			}
			if len(c.Usage) > 0 && string(c.Usage) != "null" {
				usages++
			}
			for _, ch := range c.Choices {
				if finished[ch.Index] {
					t.Fatalf("chunk after the finish of choice %v: %s", ch.Index, d)
				}
				for _, tc := range ch.Delta.ToolCalls {
					if tc.Index == nil || *tc.Index != tools[ch.Index] || tc.ID == "" {
						t.Fatalf("tool call index %v, want %v: %s", tc.Index, tools[ch.Index], d)
					}
					tools[ch.Index]++
				}
				if ch.FinishReason != nil {
					finished[ch.Index] = true
				}
			}
		}
	})
}
