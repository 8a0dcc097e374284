package gemini

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/openai"
)

// seqIDs makes tool call ids deterministic: call_000…001, call_000…002, …
func seqIDs() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("call_%024d", n)
	}
}

// Signature from FirebaseExtended/vertexai-sdk-test-data
// mock-responses/googleai/unary-success-thinking-function-call-thought-summary-signature.json,
// shortened (the real one is 1.9 KB of the same base64).
const fixtureSig = "CtQOAVSoXO74PmYr9AFurEIJNTAtfagOIxtRA5FcMPow3t+9ZhbhilokxHpmxmgnjFgyuOV/VCoF1mwTRcWrqItOVgV8sOR1NmRi9ENW/B7uWJTh0hMHsHPy62KwaDG1hJNFs+MXhPkGE7JFD7pzrlVAi6ZitQfr3vEKHqCnE9/uWk+EUebwNOO1Ej1AhDXeMgGbSHqNK+7FQqgnrzy6WVIEKCUBAqDvvb5VXXSYkYP+AvuM9/4PluCHrVeB4bYt4LKc1HVAZtKOH4+k4cNG7+Z9qoGVke/ua528n6KnnoRJRKXikLlkAhbDDFCEbCEjJFr0NPEImX8dYyiUjCcdIWHj6FdRUInYPov02SlqoaE5cI1BhZkvW5kaQoNPfq5nS5gQ/y9HJAouMsy83yAI8G1qjzNICeaw5hsZTg89Z9x7gF+LJrGOxAOSefoV7MhQFtzj+pHVEhRCfzkDKgiPPHTL29FGBxI+FuCI+kF4VONQJnF+sqK57XuGysgyqODw/kJJSwxp9ihqzlfuKAK4QYeLURf2yroFEVujWN6n36hwqIsYpKNfQrbzXJbkV8xgZlKBvmzBfmt9ycFrBzeU+8SNCLYdV2GReaK4bt/fX2SHTpmqhwAvqRArZ1Cdat+yozn1KA8+nGH9SMnfUP2qn0Kj28fzbG0AsP8nZgVlXdOXCVkeUUSUqtRQEMQOSXzqidJbg5KUAQnadsuJ1deTZwBJv1YWCU2lisW/k6vlB2M05OoUaC7L4vx12+Fx3D+e04Hd3vaVj8HE2q5xAseDiCPmuXPulNVByGdVlUdczc6hJ0eFwbZtV33nWSqUPts9XeY6RMfWqabmUg/qY/npD1fhszlqWG5hkuzUv8q4BuGLniFHz6hXmbr274aO++6+cxMEiRwgpZBLGxFukELIQ2HKtUTcdTe+2Q6J2BcznmsK7h31fcp6lyZlzPjZ6/glBczy0xxhQJyVtcfuDPsPwfRCEIKkNlrYPGNW/Edtp/nU6avZ3Dq9g18Dmlrhw1NffqP98lUt1xj1K+TM1Pa0IltSatI5hf/y4O6wRv/EeAIck6imZyJmWEhxO6SBbBy5Cmo7rh83wyRNr8NNHzJoE1/dMRhz9LnygekZsCxQqT+MOmQZsA5pu7O3ZnxFajCRPTSii8OVcseGK65/riQ1zwIJoM/K5//KnvE/GtFtbdn7wBmOU/XaglYaApIlZioxioy4qAzbM8T5kijXGj7E0AFkLsM3XC3hdhehNwNHwbaEicZW7ubnMJmlZi+AfZq+tMkiPG898Xxm+ZUSkcLQy4fsufKQWiQ1Xa960/dd/iQnF2dYSaMKiKCRw9OZt3+gnroziayEgsFei2m6urGJCTII3D3HBxLnMbuZyg2PzZeaYKAigsxb5MSx8ULz1/+dYQFkpIGMzUHz/gs2IVAvEy0NUS/K8agKP1HRNq8KLOqWrmBR07OOjClOI3EtHnEMY5QIi7NqRDl7H9QFHYaJE9ed2p94oepq8gXaP2/HrJrV/Nbe5puge+qbc8vvYPKWLi9EWOQ/avBFGD3kh5rlPnX/MNybIUf4GViIjnLykQS31Wt2V+E0gY5OFqPwVHLamQMEuQ+fNpb/w9goEk4Br5ZDvVNXri7CMWXYvv8/6hPzJLwPsiAd9hYvdbUQ4EGyOT3zdtVuz8nD7Npo7dG3BFCw9FMh1ebh2IhRSkWgSgvPrh099tc7pLOqM1/tu3FxLWu4rYIJjf76IS8gcu+Wd3xJcOjPtDzOMbay6gNKuJiUzAu/ue9fUP7WwCE8WZmzX8qvKdNMyY/YnDF1pemTjcF3oxixipAsTPOUdxkkjrxAOT7NEXq9pFPGpN4ZEBRx6aq+vXovp3nQu9jSnTBNdBpDkG8/Gc4r3IYQJP0rWa9ya8eKRicUElrAUn2J5dvQBwAZVFfMKurtRshZoI5eN71Q9EhLcls4EM8Yxb+7Tg7ERkV1dpztGqMEBqwmfcnfq7a4nN88Sx89qSzyE/qzdVnE8giE7di8h0DtE+Y3bH8y+58T7iPymS+BWDBk9Sjm40QRi2yINVQYqLot+2tUER5AzbbwylLixObauJUFa8Y99mbzKR41M1myKSofnfZ3nmjsr1TcC9fL/Q01fyTM7q7oORP2yvLGFzf0yeJ9CgtH6zcBc5x7X7bCn5KnEcMiN8RTumDOHOzxwPj2xflWGC/HjCSRRLymFWoDWh8bhajylMzLsWb7NBWyP4HGKel21YJ43RhjwcALr363V1XjoIbhZlI8eWH1fFsDxUoEf06XUL/mbrjV0LHeqHHabKG054Xb6TcH0unO1lwGk/KuSzj7dQTZ44EahkGfoQQi8cElnwsOhQfnsoCrpFh4+Vxyrqa1IEGpX3Apv+qp+IL9sUYViKFbYyslfbpxxCdK9UkRM8BHB28UBlrCb4rbzpCt1eZvFZ+5ERB5PAutjZ5U4yP9ca6tg2eJw7a1aQzMTaa20acqLL8AgwXDPHYhBUvGlQbIC1+Zdw=="

// Golden translations of recorded generateContent answers into OpenAI's
// chat.completion. Each upstream body is a fixture from
// FirebaseExtended/vertexai-sdk-test-data (path given), or a published
// recording where noted.
func TestToCompletion(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"basic reply (mock-responses/googleai/unary-success-basic-reply-short.txt)", `{
  "candidates": [{"content": {"parts": [{"text": "Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n"}], "role": "model"},
    "finishReason": "STOP", "avgLogprobs": -0.048741644079034981}],
  "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 22, "totalTokenCount": 29,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}], "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 22}]},
  "modelVersion": "gemini-2.0-flash"}`,
			`{"id":"chatcmpl-fallback","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n","refusal":null},
			    "logprobs":null,"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":7,"completion_tokens":22,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`},
		{"thought summary and signed call (mock-responses/googleai/unary-success-thinking-function-call-thought-summary-signature.json, abridged)", `{
  "candidates": [{"content": {"parts": [
      {"text": "**Thinking Through the New Year's Eve Calculation**\n\nOkay, so the user wants to know how many days until New Year's Eve.", "thought": true},
      {"functionCall": {"name": "now", "args": {}}, "thoughtSignature": "` + fixtureSig + `"}], "role": "model"},
    "finishReason": "STOP", "index": 0}],
  "usageMetadata": {"promptTokenCount": 38, "candidatesTokenCount": 8, "totalTokenCount": 547,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 38}], "thoughtsTokenCount": 501},
  "modelVersion": "gemini-2.5-pro", "responseId": "38CHaLjMG6TujrEPtvTiuQk"}`,
			`{"id":"38CHaLjMG6TujrEPtvTiuQk","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			  "choices":[{"index":0,"message":{"role":"assistant","content":null,
			    "reasoning_content":"**Thinking Through the New Year's Eve Calculation**\n\nOkay, so the user wants to know how many days until New Year's Eve.",
			    "tool_calls":[{"id":"` + withSignature("call_000000000000000000000001", fixtureSig) + `","type":"function","function":{"name":"now","arguments":"{}"}}],
			    "refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":38,"completion_tokens":509,"total_tokens":547,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":501}}}`},
		{"parallel calls, no usage (mock-responses/vertexai/unary-success-function-call-different-parallel-calls.json)", `{
  "candidates": [{"content": {"parts": [
      {"functionCall": {"name": "sum", "args": {"y": 1, "x": 2}}},
      {"functionCall": {"name": "multiply", "args": {"y": 3, "x": 4}}},
      {"functionCall": {"name": "subtract", "args": {"y": 5, "x": 6}}}], "role": "model"},
    "finishReason": "STOP", "index": 0}]}`,
			`{"id":"chatcmpl-fallback","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			  "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
			    {"id":"call_000000000000000000000001","type":"function","function":{"name":"sum","arguments":"{\"y\":1,\"x\":2}"}},
			    {"id":"call_000000000000000000000002","type":"function","function":{"name":"multiply","arguments":"{\"y\":3,\"x\":4}"}},
			    {"id":"call_000000000000000000000003","type":"function","function":{"name":"subtract","arguments":"{\"y\":5,\"x\":6}"}}],
			    "refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`},
		{"implicit caching (mock-responses/vertexai/unary-success-implicit-caching.json)", `{
  "candidates": [{"content": {"parts": [{"text": "Red Riding Hood is looking for **directions** in the forest."}], "role": "model"}, "finishReason": "STOP", "index": 0}],
  "usageMetadata": {"promptTokenCount": 12013, "candidatesTokenCount": 15, "totalTokenCount": 12101, "cachedContentTokenCount": 11243,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12013}], "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 11243}], "thoughtsTokenCount": 73},
  "modelVersion": "gemini-2.5-flash"}`,
			`{"id":"chatcmpl-fallback","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"Red Riding Hood is looking for **directions** in the forest.","refusal":null},
			    "logprobs":null,"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":12013,"completion_tokens":88,"total_tokens":12101,"prompt_tokens_details":{"cached_tokens":11243},"completion_tokens_details":{"reasoning_tokens":73}}}`},
		{"safety finish (mock-responses/googleai/unary-failure-finish-reason-safety.txt, abridged)", `{
  "candidates": [{"content": {"parts": [{"text": "Safety error incoming in 5, 4, 3, 2..."}], "role": "model"}, "finishReason": "SAFETY",
    "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]}],
  "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 20, "totalTokenCount": 27}, "modelVersion": "gemini-2.0-flash"}`,
			`{"id":"chatcmpl-fallback","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"Safety error incoming in 5, 4, 3, 2...","refusal":null},
			    "logprobs":null,"finish_reason":"content_filter"}],
			  "usage":{"prompt_tokens":7,"completion_tokens":20,"total_tokens":27,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`},
		{"two candidates, max tokens (shape per Candidate.index and FinishReason MAX_TOKENS in the API reference)", `{
  "candidates": [{"content": {"parts": [{"text": "A"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 0},
    {"content": {"parts": [{"text": "B"}, {"text": "C"}], "role": "model"}, "finishReason": "STOP", "index": 1}],
  "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 3, "totalTokenCount": 4}, "responseId": "r1"}`,
			`{"id":"r1","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"A","refusal":null},"logprobs":null,"finish_reason":"length"},
			    {"index":1,"message":{"role":"assistant","content":"BC","refusal":null},"logprobs":null,"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := toCompletion([]byte(tc.body), "gemini-2.5-flash", 1700000000, "chatcmpl-fallback", seqIDs(), "k")
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, decodeRaw(t, out), tc.want)
		})
	}
}

func decodeRaw(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}

// TestToCompletionSignatureRoundTrip: the signature comes back intact from
// the id OpenAI clients echo.
func TestToCompletionSignatureRoundTrip(t *testing.T) {
	body := `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"now","args":{}},"thoughtSignature":"` + fixtureSig + `"}],"role":"model"},"finishReason":"STOP"}]}`
	out, err := toCompletion([]byte(body), "m", 1, "x", newCallID, "k")
	if err != nil {
		t.Fatal(err)
	}
	id := dig(decodeRaw(t, out), "choices", 0, "message", "tool_calls", 0, "id").(string)
	if signatureFromID(id) != fixtureSig {
		t.Fatalf("signature lost in %q", id)
	}
}

func TestToCompletionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"malformed function call (finishReason per the API reference; finishMessage inferred)",
			`{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL","finishMessage":"Malformed function call: print(x(","index":0}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}`,
			502, "malformed_function_call", "Malformed function call: print(x("},
		{"unexpected tool call", `{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"finishReason":"UNEXPECTED_TOOL_CALL"}]}`,
			502, "malformed_function_call", "UNEXPECTED_TOOL_CALL"},
		{"prompt blocked (body recorded in vercel/ai#4235)",
			`{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":12559,"totalTokenCount":12559},"modelVersion":"gemini-1.5-flash-002"}`,
			400, "content_filter", "PROHIBITED_CONTENT"},
		{"feedback only (mock-responses/googleai/unary-failure-only-prompt-feedback.json)",
			`{"candidates":[],"promptFeedback":{"blockReasonMessage":"Message"},"modelVersion":"gemini-2.0-flash"}`,
			400, "content_filter", ": Message"},
		{"no candidates at all", `{"modelVersion":"gemini-2.0-flash"}`, 502, "empty_response", "without any candidate"},
		{"error object in a 200", `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			503, "unavailable", "overloaded"},
		{"not JSON", `<html>`, 502, "upstream_malformed", "not the JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := toCompletion([]byte(tc.body), "m", 1, "x", seqIDs(), "k")
			e, ok := err.(*openai.Error)
			if !ok || e.Status != tc.status || e.Code == nil || *e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
