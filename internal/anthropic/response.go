package anthropic

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
)

// The parts of an OpenAI chat completion (and of its chunks) the
// translation reads. reasoning_content (DeepSeek, vLLM, the gateway's
// Anthropic adapter) and reasoning (OpenRouter, newer vLLM) both carry
// the model's thinking.
type chatCompletion struct {
	ID      string       `json:"id"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      chatOutput      `json:"message"`
	Delta        chatOutput      `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	StopReason   json.RawMessage `json:"stop_reason"` // vLLM: the stop string that matched
}

type chatOutput struct {
	Content          json.RawMessage `json:"content"` // string, null or text parts
	ReasoningContent json.RawMessage `json:"reasoning_content"`
	Reasoning        json.RawMessage `json:"reasoning"`
	Refusal          *string         `json:"refusal"`
	ToolCalls        []outToolCall   `json:"tool_calls"`
}

type outToolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// usage converts OpenAI's counts. OpenAI's prompt_tokens include the
// cached ones; Anthropic's input_tokens do not (input + cache read + cache
// creation is the prompt), so the cached tokens move over.
func (u *chatUsage) usage() Usage {
	var cached int64
	if u.PromptTokensDetails != nil {
		cached = u.PromptTokensDetails.CachedTokens
	}
	return Usage{InputTokens: max(0, u.PromptTokens-cached), CacheReadInputTokens: cached, OutputTokens: u.CompletionTokens}
}

// text reads a string (or null, or an array of text parts) field.
func text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" || p.Type == "output_text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func (o *chatOutput) reasoning() string {
	if s := text(o.ReasoningContent); s != "" {
		return s
	}
	return text(o.Reasoning)
}

// stopReason maps OpenAI's finish_reason to Anthropic's stop_reason (and
// stop_sequence). Tool calls mean tool_use whatever the vendor said (some,
// like Gemini's compatible endpoint, say "stop"), unless the output was cut
// short. OpenAI does not say which stop sequence matched; vLLM does, in
// stop_reason, and that is honoured when it is one the client asked for.
func stopReason(finish string, tools, refusal bool, matched json.RawMessage, stops []string) (reason string, seq *string) {
	switch {
	case finish == "length":
		return "max_tokens", nil
	case finish == "content_filter" || refusal:
		return "refusal", nil
	case tools || finish == "tool_calls" || finish == "function_call":
		return "tool_use", nil
	}
	var s string
	if len(matched) > 0 && json.Unmarshal(matched, &s) == nil && s != "" && slices.Contains(stops, s) {
		return "stop_sequence", &s
	}
	return "end_turn", nil
}

// MessageID derives an Anthropic message id ("msg_…") from the vendor's
// response id, so logs on both sides can be matched; a missing one gets a
// random id. An id that already is one (a Claude vendor's, which the
// Anthropic adapter keeps) stays as it is, not "msg_msg_…".
func MessageID(vendorID string) string {
	id := strings.TrimPrefix(strings.TrimPrefix(vendorID, "chatcmpl-"), "msg_")
	var b strings.Builder
	b.WriteString("msg_")
	for _, c := range id {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteRune(c)
		}
	}
	if b.Len() == len("msg_") {
		b.WriteString(randomID())
	}
	return b.String()
}

func randomID() string {
	var r [12]byte
	u1, u2 := rand.Uint64(), rand.Uint32()
	for i := 0; i < 8; i++ {
		r[i] = byte(u1 >> (8 * i))
	}
	for i := 0; i < 4; i++ {
		r[8+i] = byte(u2 >> (8 * i))
	}
	return hex.EncodeToString(r[:])
}

// toolInput is a tool call's arguments as the tool_use input object. An
// empty string is {}; arguments that are not a JSON object (a model that
// broke its JSON) become {} as well, as the official SDKs do with input cut
// short, since input must be an object.
func toolInput(args string) json.RawMessage {
	a := bytes.TrimSpace([]byte(args))
	if len(a) == 0 || a[0] != '{' || !json.Valid(a) {
		return json.RawMessage("{}")
	}
	var b bytes.Buffer
	json.Compact(&b, a)
	return b.Bytes()
}

// ErrNoChoices is returned for a completion without a choice to translate.
var ErrNoChoices = errors.New("the vendor's answer has no choices")

// MessageFromOpenAI translates a whole OpenAI chat completion into an
// Anthropic message for the model the client asked for. stops are the
// request's stop_sequences.
func MessageFromOpenAI(body []byte, model string, stops []string) ([]byte, error) {
	var c chatCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	if len(c.Choices) == 0 {
		return nil, ErrNoChoices
	}
	ch := &c.Choices[0]
	for i := range c.Choices {
		if c.Choices[i].Index == 0 {
			ch = &c.Choices[i]
			break
		}
	}
	m := message{ID: MessageID(c.ID), Type: "message", Role: "assistant", Model: model, Content: []any{}}
	out := &ch.Message
	if r := out.reasoning(); r != "" {
		m.Content = append(m.Content, thinkingBlock{Type: "thinking", Thinking: r})
	}
	t := text(out.Content)
	refusal := false
	if t == "" && out.Refusal != nil && *out.Refusal != "" {
		t, refusal = *out.Refusal, true
	}
	if t != "" {
		m.Content = append(m.Content, textBlock{Type: "text", Text: t})
	}
	for _, tc := range out.ToolCalls {
		id := tc.ID
		if id == "" {
			id = "toolu_" + randomID()
		}
		m.Content = append(m.Content, toolUseBlock{Type: "tool_use", ID: id, Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
	}
	finish := ""
	if ch.FinishReason != nil {
		finish = *ch.FinishReason
	}
	reason, seq := stopReason(finish, len(out.ToolCalls) > 0, refusal, ch.StopReason, stops)
	m.StopReason, m.StopSequence = &reason, seq
	if c.Usage != nil {
		m.Usage = c.Usage.usage()
	}
	return marshal(m), nil
}
