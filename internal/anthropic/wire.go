// Package anthropic speaks Anthropic's Messages API on the gateway's inbound
// side, so that Anthropic SDK clients and agent tools can use every vendor:
// a Messages request becomes the OpenAI chat request the router dispatches,
// and the OpenAI answer (whole, or streamed chunk by chunk) becomes an
// Anthropic message or event stream again. The outbound direction (Anthropic
// as a vendor) is internal/vendors/anthropic.
//
// Everything here is pure: bytes in, bytes out, no I/O. The shapes follow
// Anthropic's documentation and official SDKs:
//   - request: https://platform.claude.com/docs/en/api/messages and
//     MessageNewParams in github.com/anthropics/anthropic-sdk-go/v2 (message.go)
//   - response and stream: https://platform.claude.com/docs/en/api/messages-streaming
//     and the recorded streams tests/lib/fixtures/basic_response.txt and
//     tool_use_response.txt of github.com/anthropics/anthropic-sdk-typescript
//   - errors: https://platform.claude.com/docs/en/api/errors
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Request is the part of a Messages API request the gateway understands.
// Fields with no counterpart anywhere else (service_tier, container,
// cache_control, ...) are accepted and ignored.
type Request struct {
	Model         string        `json:"model"`
	MaxTokens     *int64        `json:"max_tokens"`
	System        Content       `json:"system"` // a string or text blocks
	Messages      []Message     `json:"messages"`
	Tools         []Tool        `json:"tools"`
	ToolChoice    *ToolChoice   `json:"tool_choice"`
	StopSequences []string      `json:"stop_sequences"`
	Temperature   *float64      `json:"temperature"`
	TopP          *float64      `json:"top_p"`
	TopK          *int64        `json:"top_k"` // no OpenAI equivalent: dropped
	Metadata      *Metadata     `json:"metadata"`
	Stream        bool          `json:"stream"`
	Thinking      *Thinking     `json:"thinking"`
	OutputConfig  *OutputConfig `json:"output_config"`
}

// Message is one turn of the conversation.
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Content is a string or an array of content blocks ("a string is shorthand
// for an array of one text block", per the API reference).
type Content struct {
	Text     string
	Blocks   []Block
	IsBlocks bool
	Set      bool // present and not null
}

// UnmarshalJSON accepts a string, an array of blocks or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = Content{}
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '[':
		c.Set, c.IsBlocks = true, true
		return json.Unmarshal(b, &c.Blocks)
	case b[0] == '"':
		c.Set = true
		return json.Unmarshal(b, &c.Text)
	}
	return errors.New("content must be a string or an array of content blocks")
}

// Block is any content block a request may carry; each type reads its own
// fields: text, image, document, tool_use, tool_result, thinking,
// redacted_thinking.
type Block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Source    *Source         `json:"source"`      // image, document
	Title     string          `json:"title"`       // document
	Context   string          `json:"context"`     // document
	ID        string          `json:"id"`          // tool_use
	Name      string          `json:"name"`        // tool_use
	Input     json.RawMessage `json:"input"`       // tool_use
	ToolUseID string          `json:"tool_use_id"` // tool_result
	Content   *Content        `json:"content"`     // tool_result: a string or blocks
	IsError   bool            `json:"is_error"`    // tool_result
	Thinking  string          `json:"thinking"`    // thinking
	Signature string          `json:"signature"`   // thinking
	Data      string          `json:"data"`        // redacted_thinking
}

// UnmarshalJSON decodes the fields of the block types the gateway knows
// and only the type of others, which are then refused by name rather than
// by whatever field of theirs happens not to fit.
func (b *Block) UnmarshalJSON(data []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return err
	}
	switch head.Type {
	case "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking":
		type plain Block
		return json.Unmarshal(data, (*plain)(b))
	}
	*b = Block{Type: head.Type}
	return nil
}

// Source is where an image's or a document's bytes come from.
type Source struct {
	Type      string   `json:"type"` // base64, url, text, content, file
	MediaType string   `json:"media_type"`
	Data      string   `json:"data"`
	URL       string   `json:"url"`
	FileID    string   `json:"file_id"`
	Content   *Content `json:"content"` // type content
}

// Tool is a tool definition. Only custom tools (type absent or "custom")
// can be served by any vendor; Anthropic's server tools cannot.
type Tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// ToolChoice is {"type": auto|any|tool|none, "name", "disable_parallel_tool_use"}.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// Metadata is the request's metadata object.
type Metadata struct {
	UserID string `json:"user_id"`
}

// Thinking is the thinking configuration: enabled (with budget_tokens),
// adaptive or disabled.
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens"`
}

// OutputConfig carries effort and a structured output format.
type OutputConfig struct {
	Effort string `json:"effort"`
	Format *struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	} `json:"format"`
}

// Usage is Anthropic's usage object. input_tokens excludes what was read
// from (or written to) the prompt cache: the three add up to the prompt.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// message is a whole response, in the API reference's field order.
type message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []any   `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type toolUseBlock struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// marshal is json.Marshal without HTML escaping, as the vendors write JSON.
func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic("anthropic: marshal: " + err.Error()) // only our own types get here
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
