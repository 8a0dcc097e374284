package anthropic

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/genrouter/genrouter/internal/openai"
)

// ParseRequest decodes and checks a Messages request. Errors are 400s
// whose messages name the offending field the way Anthropic's do.
func ParseRequest(body []byte) (*Request, *openai.Error) {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return nil, invalid("The request body is not valid JSON: %s", strings.TrimPrefix(fmt.Sprint(err), "json: "))
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' {
		return nil, invalid("The request body must be a JSON object")
	}
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return &r, invalid("%s: Input should be %s", ute.Field, kindOf(ute.Type))
		}
		return &r, invalid("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if e := r.check(); e != nil {
		return &r, e
	}
	return &r, nil
}

func kindOf(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a valid string"
	case reflect.Bool:
		return "a valid boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a valid integer"
	case reflect.Float32, reflect.Float64:
		return "a valid number"
	case reflect.Slice, reflect.Array:
		return "a valid list"
	}
	return "a valid dictionary"
}

// check enforces what Anthropic requires and the gateway relies on.
func (r *Request) check() *openai.Error {
	switch {
	case r.Model == "":
		return invalid("model: Field required")
	case r.MaxTokens == nil:
		return invalid("max_tokens: Field required")
	case *r.MaxTokens < 1:
		return invalid("max_tokens: Input should be greater than or equal to 1")
	case r.Messages == nil:
		return invalid("messages: Field required")
	case len(r.Messages) == 0:
		return invalid("messages: at least one message is required")
	}
	if r.System.IsBlocks {
		for j, b := range r.System.Blocks {
			if b.Type != "text" {
				return invalid("system.%d.type: Input should be 'text'", j)
			}
		}
	}
	for i, m := range r.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return invalid("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if !m.Content.Set {
			return invalid("messages.%d.content: Field required", i)
		}
	}
	return nil
}

// The OpenAI chat request the gateway dispatches. Only fields with a
// meaning for the Anthropic request are written.
type chatRequest struct {
	Model             string         `json:"model"`
	Messages          []chatMessage  `json:"messages"`
	MaxTokens         int64          `json:"max_tokens"`
	Temperature       *float64       `json:"temperature,omitempty"`
	TopP              *float64       `json:"top_p,omitempty"`
	Stop              []string       `json:"stop,omitempty"`
	Stream            bool           `json:"stream,omitempty"`
	StreamOptions     *streamOptions `json:"stream_options,omitempty"`
	Tools             []chatTool     `json:"tools,omitempty"`
	ToolChoice        any            `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool          `json:"parallel_tool_calls,omitempty"`
	User              string         `json:"user,omitempty"`
	ReasoningEffort   string         `json:"reasoning_effort,omitempty"`
	ResponseFormat    any            `json:"response_format,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"` // string, []chatPart or nil (null)
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatPart struct {
	Type     string    `json:"type"`
	Text     *string   `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
	File     *file     `json:"file,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

type file struct {
	Filename string `json:"filename,omitempty"`
	FileData string `json:"file_data"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatTool struct {
	Type     string      `json:"type"`
	Function functionDef `json:"function"`
}

type functionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

type namedChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// emptySchema is the parameters of a tool declared without input_schema.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

func textPart(s string) chatPart { return chatPart{Type: "text", Text: &s} }

// ToOpenAI translates the request into an OpenAI chat completion request
// body. Streams always ask for usage: Anthropic's message_delta carries it.
// What cannot be expressed for an OpenAI-format vendor is a 400 naming the
// field, never a silent drop, except for what carries no meaning outside
// Anthropic: thinking blocks (their signatures only verify there),
// cache_control, top_k, and the request fields Request does not name.
func (r *Request) ToOpenAI() ([]byte, *openai.Error) {
	if e := r.check(); e != nil { // a Request not made by ParseRequest
		return nil, e
	}
	out := chatRequest{Model: r.Model, MaxTokens: *r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP,
		Stop: r.StopSequences, Stream: r.Stream}
	if r.Stream {
		out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if r.Metadata != nil {
		out.User = endUser(r.Metadata.UserID)
	}
	if sys := r.System.joined("\n\n"); sys != "" {
		out.Messages = append(out.Messages, chatMessage{Role: "system", Content: sys})
	}
	issued := map[string]bool{}
	for i := range r.Messages {
		var msgs []chatMessage
		var e *openai.Error
		if r.Messages[i].Role == "user" {
			msgs, e = userMessages(i, &r.Messages[i], issued)
		} else {
			msgs, e = assistantMessage(i, &r.Messages[i], issued, i == len(r.Messages)-1)
		}
		if e != nil {
			return nil, e
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, invalid("tools.%d.type: tool type %q is not supported by this gateway: only custom tools (name, description, input_schema) can be served by every vendor", i, t.Type)
		}
		params := bytes.TrimSpace(t.InputSchema)
		if len(params) == 0 || string(params) == "null" {
			params = emptySchema
		}
		out.Tools = append(out.Tools, chatTool{Type: "function",
			Function: functionDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if e := r.toolChoice(&out); e != nil {
		return nil, e
	}
	out.ReasoningEffort = r.effort()
	if oc := r.OutputConfig; oc != nil && oc.Format != nil && oc.Format.Type == "json_schema" {
		out.ResponseFormat = map[string]any{"type": "json_schema",
			"json_schema": map[string]any{"name": "response", "schema": oc.Format.Schema}}
	}
	return marshal(out), nil
}

// endUser is metadata.user_id as OpenAI's user. OpenAI refuses a user
// longer than 64 characters (and OpenRouter above 128), while Claude Code
// sends ids of about 150 (maximhq/bifrost PR #1000,
// ujisati/claude-code-provider-proxy PR #11): a long id is replaced by its
// SHA-256, which stays one stable id per end user.
func endUser(id string) string {
	if len(id) <= 64 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (r *Request) toolChoice(out *chatRequest) *openai.Error {
	tc := r.ToolChoice
	if tc == nil || len(r.Tools) == 0 && (tc.Type == "auto" || tc.Type == "none") {
		// OpenAI refuses tool_choice without tools; auto and none say
		// nothing then.
		return nil
	}
	switch tc.Type {
	case "auto":
		out.ToolChoice = "auto"
	case "any":
		out.ToolChoice = "required"
	case "none":
		out.ToolChoice = "none"
	case "tool":
		if tc.Name == "" {
			return invalid("tool_choice.name: Field required")
		}
		var n namedChoice
		n.Type, n.Function.Name = "function", tc.Name
		out.ToolChoice = n
	default:
		return invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if tc.DisableParallelToolUse && len(r.Tools) > 0 && tc.Type != "none" {
		f := false
		out.ParallelToolCalls = &f
	}
	return nil
}

// effort maps Anthropic's thinking configuration to OpenAI's
// reasoning_effort: output_config.effort when given, else the thinking
// budget (the inverse of the outbound adapter's effort → budget table:
// ≤1024 low, ≤2048 medium, more high). Adaptive thinking leaves the choice
// to the model, and disabled thinking asks for nothing.
func (r *Request) effort() string {
	if oc := r.OutputConfig; oc != nil && oc.Effort != "" {
		switch oc.Effort {
		case "max":
			return "xhigh"
		default:
			return oc.Effort // low, medium, high, xhigh: OpenAI's own words
		}
	}
	if t := r.Thinking; t != nil && t.Type == "enabled" {
		switch {
		case t.BudgetTokens <= 1024:
			return "low"
		case t.BudgetTokens <= 2048:
			return "medium"
		default:
			return "high"
		}
	}
	return ""
}

// joined is the text of a string or of text blocks, joined by sep.
func (c *Content) joined(sep string) string {
	if !c.IsBlocks {
		return c.Text
	}
	var parts []string
	for _, b := range c.Blocks {
		if b.Type == "text" && b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, sep)
}

var emptyContent = "messages.%d: all messages must have non-empty content except for the optional final assistant message"

// userMessages turns one user turn into OpenAI messages: its tool_result
// blocks become tool messages (first, as OpenAI wants them right after the
// assistant's tool calls), everything else one user message.
func userMessages(i int, m *Message, issued map[string]bool) ([]chatMessage, *openai.Error) {
	if !m.Content.IsBlocks {
		if m.Content.Text == "" {
			return nil, invalid(emptyContent, i)
		}
		return []chatMessage{{Role: "user", Content: m.Content.Text}}, nil
	}
	var tools []chatMessage
	var parts []chatPart
	for j := range m.Content.Blocks {
		b := &m.Content.Blocks[j]
		path := fmt.Sprintf("messages.%d.content.%d", i, j)
		switch b.Type {
		case "text":
			if b.Text != "" { // Anthropic refuses empty text blocks; OpenAI vendors may too
				parts = append(parts, textPart(b.Text))
			}
		case "image":
			p, e := imagePart(b.Source, path)
			if e != nil {
				return nil, e
			}
			parts = append(parts, p)
		case "document":
			ps, e := documentParts(b, path)
			if e != nil {
				return nil, e
			}
			parts = append(parts, ps...)
		case "tool_result":
			if b.ToolUseID == "" {
				return nil, invalid("%s.tool_use_id: Field required", path)
			}
			if !issued[b.ToolUseID] {
				return nil, invalid("%s: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in an earlier assistant message.", path, b.ToolUseID)
			}
			text, extra, e := toolResultContent(b, path)
			if e != nil {
				return nil, e
			}
			tools = append(tools, chatMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: text})
			parts = append(parts, extra...) // images a tool returned: OpenAI tool messages hold text only
		case "thinking", "redacted_thinking":
			// Only meaningful to Anthropic (signed); nothing to forward.
		default:
			return nil, invalid("%s.type: content block type %q is not supported by this gateway in user messages", path, b.Type)
		}
	}
	if len(tools) == 0 && len(parts) == 0 {
		return nil, invalid(emptyContent, i)
	}
	out := tools
	switch {
	case len(parts) == 1 && parts[0].Type == "text":
		out = append(out, chatMessage{Role: "user", Content: *parts[0].Text})
	case len(parts) > 0:
		out = append(out, chatMessage{Role: "user", Content: parts})
	}
	return out, nil
}

// toolResultContent flattens a tool_result's content to the text of an
// OpenAI tool message; images in it come back as parts for the user
// message that follows. is_error has no OpenAI field, so it is said in the
// text.
func toolResultContent(b *Block, path string) (string, []chatPart, *openai.Error) {
	var texts []string
	var extra []chatPart
	if c := b.Content; c != nil {
		if !c.IsBlocks {
			texts = append(texts, c.Text)
		}
		for k := range c.Blocks {
			cb := &c.Blocks[k]
			p := fmt.Sprintf("%s.content.%d", path, k)
			switch cb.Type {
			case "text":
				texts = append(texts, cb.Text)
			case "image":
				part, e := imagePart(cb.Source, p)
				if e != nil {
					return "", nil, e
				}
				extra = append(extra, part)
			case "document":
				ps, e := documentParts(cb, p)
				if e != nil {
					return "", nil, e
				}
				for _, dp := range ps {
					if dp.Type == "text" {
						texts = append(texts, *dp.Text)
					} else {
						extra = append(extra, dp)
					}
				}
			default:
				return "", nil, invalid("%s.type: content block type %q is not supported by this gateway in tool results", p, cb.Type)
			}
		}
	}
	text := strings.Join(texts, "\n")
	if b.IsError {
		text = "Error: " + text
	}
	return text, extra, nil
}

func imagePart(s *Source, path string) (chatPart, *openai.Error) {
	if s == nil {
		return chatPart{}, invalid("%s.source: Field required", path)
	}
	switch s.Type {
	case "base64":
		if s.MediaType == "" || s.Data == "" {
			return chatPart{}, invalid("%s.source: a base64 image needs media_type and data", path)
		}
		return chatPart{Type: "image_url", ImageURL: &imageURL{URL: "data:" + s.MediaType + ";base64," + s.Data}}, nil
	case "url":
		if s.URL == "" {
			return chatPart{}, invalid("%s.source.url: Field required", path)
		}
		return chatPart{Type: "image_url", ImageURL: &imageURL{URL: s.URL}}, nil
	}
	return chatPart{}, invalid("%s.source.type: image source type %q is not supported by this gateway: use base64 or url", path, s.Type)
}

// documentParts: a base64 document (a PDF) becomes an OpenAI file part, a
// plain-text or content document its text. URL and Files API sources
// would need fetching the gateway does not do here.
func documentParts(b *Block, path string) ([]chatPart, *openai.Error) {
	s := b.Source
	if s == nil {
		return nil, invalid("%s.source: Field required", path)
	}
	var head string
	if b.Title != "" {
		head = b.Title + "\n\n"
	}
	switch s.Type {
	case "base64":
		if s.MediaType == "" || s.Data == "" {
			return nil, invalid("%s.source: a base64 document needs media_type and data", path)
		}
		name := b.Title
		if name == "" {
			name = "document" + extOf(s.MediaType)
		}
		return []chatPart{{Type: "file", File: &file{Filename: name, FileData: "data:" + s.MediaType + ";base64," + s.Data}}}, nil
	case "text":
		return []chatPart{textPart(head + s.Data)}, nil
	case "content":
		if s.Content == nil {
			return nil, invalid("%s.source.content: Field required", path)
		}
		var parts []chatPart
		if !s.Content.IsBlocks {
			return []chatPart{textPart(head + s.Content.Text)}, nil
		}
		for k := range s.Content.Blocks {
			cb := &s.Content.Blocks[k]
			p := fmt.Sprintf("%s.source.content.%d", path, k)
			switch cb.Type {
			case "text":
				parts = append(parts, textPart(cb.Text))
			case "image":
				part, e := imagePart(cb.Source, p)
				if e != nil {
					return nil, e
				}
				parts = append(parts, part)
			default:
				return nil, invalid("%s.type: Input should be 'text' or 'image'", p)
			}
		}
		if head != "" && len(parts) > 0 && parts[0].Type == "text" {
			parts[0] = textPart(head + *parts[0].Text)
		}
		return parts, nil
	}
	return nil, invalid("%s.source.type: document source type %q is not supported by this gateway: use base64, text or content", path, s.Type)
}

func extOf(mediaType string) string {
	switch mediaType {
	case "application/pdf":
		return ".pdf"
	case "text/plain":
		return ".txt"
	}
	return ""
}

// assistantMessage turns an assistant turn into one OpenAI message: text
// blocks joined, tool_use blocks as tool_calls, thinking dropped. An empty
// final assistant turn (a prefill with nothing in it) is left out.
func assistantMessage(i int, m *Message, issued map[string]bool, last bool) ([]chatMessage, *openai.Error) {
	if !m.Content.IsBlocks {
		if m.Content.Text == "" {
			if last {
				return nil, nil
			}
			return nil, invalid(emptyContent, i)
		}
		return []chatMessage{{Role: "assistant", Content: m.Content.Text}}, nil
	}
	var texts []string
	var calls []chatToolCall
	for j := range m.Content.Blocks {
		b := &m.Content.Blocks[j]
		path := fmt.Sprintf("messages.%d.content.%d", i, j)
		switch b.Type {
		case "text":
			if b.Text != "" {
				texts = append(texts, b.Text)
			}
		case "tool_use":
			if b.ID == "" {
				return nil, invalid("%s.id: Field required", path)
			}
			if b.Name == "" {
				return nil, invalid("%s.name: Field required", path)
			}
			args, e := arguments(b.Input, path)
			if e != nil {
				return nil, e
			}
			issued[b.ID] = true
			calls = append(calls, chatToolCall{ID: b.ID, Type: "function", Function: chatFunction{Name: b.Name, Arguments: args}})
		case "thinking", "redacted_thinking":
			// Signed reasoning only Anthropic can verify: dropped.
		default:
			return nil, invalid("%s.type: content block type %q is not supported by this gateway in assistant messages", path, b.Type)
		}
	}
	msg := chatMessage{Role: "assistant", ToolCalls: calls}
	if text := strings.Join(texts, "\n\n"); text != "" {
		msg.Content = text
	} else if len(calls) == 0 {
		if last {
			return nil, nil
		}
		msg.Content = ""
	}
	return []chatMessage{msg}, nil
}

// arguments is a tool_use input as OpenAI's arguments string: compact JSON
// of an object ({} when absent).
func arguments(input json.RawMessage, path string) (string, *openai.Error) {
	in := bytes.TrimSpace(input)
	if len(in) == 0 || string(in) == "null" {
		return "{}", nil
	}
	if in[0] != '{' {
		return "", invalid("%s.input: Input should be a valid dictionary", path)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, in); err != nil {
		return "", invalid("%s.input: %v", path, err)
	}
	return b.String(), nil
}

var openaiPath = regexp.MustCompile(`^tools\[(\d+)\]\.function\.(name|parameters)$`)

// FromValidation restates an error of openai.ChatRequest.Validate, which
// names OpenAI's fields, in terms of the Anthropic request where the two
// line up (tools keep their indexes), else by its message alone.
func FromValidation(e *openai.Error) *openai.Error {
	msg := e.Message
	if e.Param != nil {
		if m := openaiPath.FindStringSubmatch(*e.Param); m != nil {
			field := map[string]string{"name": "name", "parameters": "input_schema"}[m[2]]
			msg = fmt.Sprintf("tools.%s.%s: %s", m[1], field, msg)
		} else if strings.HasPrefix(*e.Param, "tool_choice") {
			msg = "tool_choice: " + msg
		}
	}
	out := *e
	out.Message = msg
	out.Type = ErrorType(e.Status)
	return &out
}
