package openai

import (
	"bytes"
	"encoding/json"
)

// ChatRequest is the part of a chat completion request the gateway reads.
// The request itself travels upstream as the client's bytes, so fields not
// named here pass through untouched.
type ChatRequest struct {
	Model         string          `json:"model"`
	Messages      []Message       `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *StreamOptions  `json:"stream_options,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    json.RawMessage `json:"tool_choice,omitempty"`
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	N             *int            `json:"n,omitempty"`
}

// StreamOptions is OpenAI's stream_options object.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// IncludeUsage reports whether the client asked for a usage chunk.
func (r *ChatRequest) IncludeUsage() bool {
	return r.Stream && r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// Message is one chat message.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// Content is a message's content: a plain string or a list of parts.
type Content struct {
	Text  string
	Parts []Part
	// IsParts tells the two forms apart ("" vs []).
	IsParts bool
	Null    bool
}

// UnmarshalJSON accepts a string, an array of parts or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = Content{}
	switch {
	case len(b) == 0 || string(b) == "null":
		c.Null = true
		return nil
	case b[0] == '[':
		c.IsParts = true
		return json.Unmarshal(b, &c.Parts)
	default:
		return json.Unmarshal(b, &c.Text)
	}
}

// MarshalJSON writes the content back in the form it came in.
func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.IsParts:
		return json.Marshal(c.Parts)
	case c.Null:
		return []byte("null"), nil
	default:
		return json.Marshal(c.Text)
	}
}

// String concatenates the text of the content.
func (c Content) String() string {
	if !c.IsParts {
		return c.Text
	}
	var s []byte
	for _, p := range c.Parts {
		if p.Type == "text" {
			if len(s) > 0 {
				s = append(s, '\n')
			}
			s = append(s, p.Text...)
		}
	}
	return string(s)
}

// Part is one element of a content array.
type Part struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is an image_url part's payload.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ToolCall is a tool call an assistant made.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names a function and carries its JSON arguments as a string.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Tool is a tool the model may call.
type Tool struct {
	Type     string       `json:"type"`
	Function *FunctionDef `json:"function,omitempty"`
}

// FunctionDef declares a function tool.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Needs lists the model capabilities a request depends on.
type Needs struct {
	Tools, Images, Streaming, Audio bool
}

// Needs reports what the request requires of the model serving it.
func (r *ChatRequest) Needs() Needs {
	n := Needs{Tools: len(r.Tools) > 0, Streaming: r.Stream}
	for i := range r.Messages {
		for _, p := range r.Messages[i].Content.Parts {
			switch p.Type {
			case "image_url":
				n.Images = true
			case "input_audio", "audio_url":
				n.Audio = true
			}
		}
	}
	return n
}

// LastUserText is the text of the last user message, or "".
func (r *ChatRequest) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content.String()
		}
	}
	return ""
}
