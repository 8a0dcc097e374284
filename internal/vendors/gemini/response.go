package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"
)

// OpenAI's chat.completion, as this adapter writes it.
type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   usage    `json:"usage"`
}

type choice struct {
	Index        int         `json:"index"`
	Message      respMessage `json:"message"`
	Logprobs     any         `json:"logprobs"`
	FinishReason string      `json:"finish_reason"`
}

type respMessage struct {
	Role             string            `json:"role"`
	Content          *string           `json:"content"`
	ReasoningContent *string           `json:"reasoning_content,omitempty"`
	ToolCalls        []openai.ToolCall `json:"tool_calls,omitempty"`
	Refusal          *string           `json:"refusal"`
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// toUsage maps usageMetadata: thinking tokens are completion tokens, as
// OpenAI counts reasoning tokens, and are also reported as such.
func toUsage(m *usageMetadata) usage {
	var u usage
	if m == nil {
		return u
	}
	u.PromptTokens = m.PromptTokenCount
	u.CompletionTokens = m.CandidatesTokenCount + m.ThoughtsTokenCount
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	u.PromptTokensDetails.CachedTokens = m.CachedContentTokenCount
	u.CompletionTokensDetails.ReasoningTokens = m.ThoughtsTokenCount
	return u
}

// filtered are the finish reasons that mean a filter stopped the answer
// (Candidate.FinishReason in the Gemini API reference).
var filtered = map[string]bool{
	"SAFETY": true, "RECITATION": true, "BLOCKLIST": true, "PROHIBITED_CONTENT": true, "SPII": true,
	"IMAGE_SAFETY": true, "IMAGE_PROHIBITED_CONTENT": true, "IMAGE_RECITATION": true,
}

// finishReason maps Gemini's finishReason for a candidate that made calls
// (or not). A malformed or unexpected function call is an error, never an
// empty success: the model failed to answer.
func finishReason(reason, message string, calls bool) (string, *openai.Error) {
	switch {
	case reason == "MALFORMED_FUNCTION_CALL" || reason == "UNEXPECTED_TOOL_CALL":
		msg := "the model produced an invalid function call (Gemini finishReason " + reason + ")"
		if message != "" {
			msg += ": " + message
		}
		return "", openai.NewError(http.StatusBadGateway, openai.TypeServer, "malformed_function_call", "", msg)
	case reason == "MAX_TOKENS":
		return "length", nil
	case filtered[reason]:
		return "content_filter", nil
	case calls:
		// Gemini has no tool-call finish reason: STOP it is.
		return "tool_calls", nil
	}
	return "stop", nil // STOP, and OTHER, LANGUAGE and reasons yet unknown
}

// blockedError is the answer to a response without candidates: the prompt
// was blocked (promptFeedback.blockReason) or, without feedback, nothing
// came back at all.
func blockedError(pf *promptFeedback) *openai.Error {
	if pf == nil {
		return badGateway("empty_response", "the vendor answered without any candidate")
	}
	msg := "the prompt was blocked by the vendor's content filter"
	if pf.BlockReason != "" {
		msg += " (Gemini blockReason " + pf.BlockReason + ")"
	}
	if pf.BlockReasonMessage != "" {
		msg += ": " + pf.BlockReasonMessage
	}
	return openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "content_filter", "", msg)
}

// toolCall renders a functionCall part as an OpenAI tool call whose id
// carries the part's thoughtSignature.
func toolCall(p part, newID func() string) openai.ToolCall {
	return openai.ToolCall{
		ID:       withSignature(newID(), p.ThoughtSignature),
		Type:     "function",
		Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: argsText(p.FunctionCall.Args)},
	}
}

// argsText is a functionCall's args as OpenAI's arguments string.
func argsText(args json.RawMessage) string {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, args) != nil {
		return "{}"
	}
	return b.String()
}

// toCompletion translates a whole generateContent answer.
// fallbackID is the id when Gemini sends no responseId.
func toCompletion(body []byte, model string, created int64, fallbackID string, newID func() string, key string) ([]byte, error) {
	var r generateResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badGateway("upstream_malformed", "the vendor's answer is not the JSON it should be: "+err.Error())
	}
	if len(bytes.TrimSpace(r.Error)) > 0 && string(bytes.TrimSpace(r.Error)) != "null" {
		return nil, streamError(r.Error, key)
	}
	if len(r.Candidates) == 0 {
		return nil, blockedError(r.PromptFeedback)
	}
	out := completion{ID: r.ResponseID, Object: "chat.completion", Created: created, Model: model, Usage: toUsage(r.UsageMetadata)}
	if out.ID == "" {
		out.ID = fallbackID
	}
	for _, c := range r.Candidates {
		var text, reasoning bytes.Buffer
		hasText := false
		var calls []openai.ToolCall
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					calls = append(calls, toolCall(p, newID))
				case p.Text != nil && p.Thought:
					reasoning.WriteString(*p.Text)
				case p.Text != nil:
					text.WriteString(*p.Text)
					hasText = true
				}
			}
		}
		fr, e := finishReason(c.FinishReason, c.FinishMessage, len(calls) > 0)
		if e != nil {
			return nil, e
		}
		msg := respMessage{Role: "assistant", ToolCalls: calls}
		if hasText || len(calls) == 0 {
			msg.Content = strPtr(text.String())
		}
		if reasoning.Len() > 0 {
			msg.ReasoningContent = strPtr(reasoning.String())
		}
		out.Choices = append(out.Choices, choice{Index: c.Index, Message: msg, FinishReason: fr})
	}
	return marshal(out)
}
