package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/genrouter/genrouter/internal/openai"
)

// chatRequest is OpenAI's chat completion request: every field the
// translation reads. Fields Anthropic has no equivalent for (seed,
// logprobs, penalties, ...) are not decoded and so not sent.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Tools               []chatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	User                string          `json:"user"`
	Metadata            map[string]any  `json:"metadata"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	ReasoningEffort string `json:"reasoning_effort"`
	N               *int   `json:"n"`
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    content        `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls"`
	ToolCallID string         `json:"tool_call_id"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// content is a message's content: a string, an array of parts, or null.
type content struct {
	text    string
	parts   []part
	isParts bool
}

func (c *content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*c = content{}
		return nil
	case b[0] == '[':
		c.isParts = true
		return json.Unmarshal(b, &c.parts)
	case b[0] == '"':
		return json.Unmarshal(b, &c.text)
	}
	return errors.New("content must be a string, an array of content parts or null")
}

// part is one element of a content array, any of OpenAI's part types.
type part struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	File *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	} `json:"file"`
	// CacheControl is Anthropic's prompt-caching marker, which some
	// OpenAI-format clients put on parts; it is passed on as is.
	CacheControl json.RawMessage `json:"cache_control"`
}

// The Messages API request, as documented in Anthropic's API reference.
type msgRequest struct {
	Model         string        `json:"model"`
	MaxTokens     int           `json:"max_tokens"`
	System        any           `json:"system,omitempty"` // a string or text blocks
	Messages      []turn        `json:"messages"`
	Tools         []tool        `json:"tools,omitempty"`
	ToolChoice    *toolChoice   `json:"tool_choice,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	Metadata      *metadata     `json:"metadata,omitempty"`
	Thinking      *thinking     `json:"thinking,omitempty"`
	OutputConfig  *outputConfig `json:"output_config,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
}

type turn struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is one content block of a request message.
type block struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	Source       *source         `json:"source,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      any             `json:"content,omitempty"` // tool_result: a string or blocks
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type tool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type metadata struct {
	UserID string `json:"user_id"`
}

type thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens"`
}

type outputConfig struct {
	Format outputFormat `json:"format"`
}

type outputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// thinkingBudgets maps reasoning_effort to budget_tokens. Anthropic's
// minimum budget is 1024.
var thinkingBudgets = map[string]int{
	"minimal": 1024,
	"low":     1024,
	"medium":  2048,
	"high":    4096,
	"xhigh":   8192,
}

// emptySchema is the input_schema of a function declared without
// parameters: Anthropic requires one.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// translateRequest turns an OpenAI chat request into a Messages API body.
// It returns the body and the model it asks for; a request that cannot be
// expressed for Anthropic gets a 400 naming the offending path.
func translateRequest(body []byte, model string, stream bool, defaultMax int) ([]byte, string, *openai.Error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, "", openai.DecodeError(err)
	}
	if model == "" {
		model = in.Model
	}
	out := msgRequest{Model: model, Stream: stream, Temperature: in.Temperature, TopP: in.TopP}
	if in.N != nil && *in.N > 1 {
		return nil, "", bad("n", "unsupported_value", "Anthropic returns one choice per request: n must be 1")
	}
	if t := out.Temperature; t != nil && *t > 1 {
		// OpenAI's range is 0..2, Anthropic's 0..1.
		one := 1.0
		out.Temperature = &one
	}

	var system []block
	for i := range in.Messages {
		m := &in.Messages[i]
		p := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			bs, e := textBlocks(&m.Content, p)
			if e != nil {
				return nil, "", e
			}
			system = append(system, bs...)
		case "user":
			bs, e := userBlocks(&m.Content, p)
			if e != nil {
				return nil, "", e
			}
			out.add("user", bs)
		case "assistant":
			bs, e := assistantBlocks(m, p)
			if e != nil {
				return nil, "", e
			}
			out.add("assistant", bs)
		case "tool":
			b, e := toolResult(m, p)
			if e != nil {
				return nil, "", e
			}
			out.add("user", []block{b})
		default:
			return nil, "", bad(p+".role", "unsupported_value",
				fmt.Sprintf("role %q cannot be sent to Anthropic: use system, developer, user, assistant or tool", m.Role))
		}
	}
	out.System = systemPrompt(system)

	if e := out.setTools(&in); e != nil {
		return nil, "", e
	}
	stops, e := stopSequences(in.Stop)
	if e != nil {
		return nil, "", e
	}
	out.StopSequences = stops

	if in.User != "" {
		out.Metadata = &metadata{UserID: in.User}
	} else if id, ok := in.Metadata["user_id"].(string); ok && id != "" {
		out.Metadata = &metadata{UserID: id}
	}
	if rf := in.ResponseFormat; rf != nil && rf.Type == "json_schema" && rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0 {
		out.OutputConfig = &outputConfig{Format: outputFormat{Type: "json_schema", Schema: rf.JSONSchema.Schema}}
	}

	limit := in.MaxCompletionTokens
	if limit == nil {
		limit = in.MaxTokens
	}
	if e := out.setLimits(limit, in.ReasoningEffort, defaultMax); e != nil {
		return nil, "", e
	}
	b, err := encode(&out)
	if err != nil {
		return nil, "", openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "invalid_value", "",
			"the request could not be translated for Anthropic: "+err.Error())
	}
	return b, model, nil
}

// add appends blocks as a turn of role, merging into the previous turn when
// it has the same role: Anthropic wants user and assistant to alternate, so
// consecutive tool results become one user turn. In a user turn tool_result
// blocks go before any other block, as Anthropic requires.
func (r *msgRequest) add(role string, bs []block) {
	if len(bs) == 0 {
		return
	}
	n := len(r.Messages)
	if n == 0 || r.Messages[n-1].Role != role {
		r.Messages = append(r.Messages, turn{Role: role, Content: bs})
		return
	}
	t := &r.Messages[n-1]
	for _, b := range bs {
		if b.Type != "tool_result" {
			t.Content = append(t.Content, b)
			continue
		}
		at := 0
		for at < len(t.Content) && t.Content[at].Type == "tool_result" {
			at++
		}
		t.Content = append(t.Content, block{})
		copy(t.Content[at+1:], t.Content[at:])
		t.Content[at] = b
	}
}

// systemPrompt is the system parameter: a string, or text blocks when a
// part carries cache_control.
func systemPrompt(bs []block) any {
	if len(bs) == 0 {
		return nil
	}
	texts := make([]string, len(bs))
	for i, b := range bs {
		if len(b.CacheControl) > 0 {
			return bs
		}
		texts[i] = b.Text
	}
	return strings.Join(texts, "\n\n")
}

// textBlocks reads content that may only hold text (system messages).
func textBlocks(c *content, p string) ([]block, *openai.Error) {
	if !c.isParts {
		return textBlock(c.text, nil), nil
	}
	var out []block
	for j, pt := range c.parts {
		switch pt.Type {
		case "text":
			out = append(out, textBlock(pt.Text, pt.CacheControl)...)
		default:
			return nil, bad(fmt.Sprintf("%s.content[%d].type", p, j), "unsupported_value",
				fmt.Sprintf("a system message can only hold text parts, not %q", pt.Type))
		}
	}
	return out, nil
}

func textBlock(s string, cc json.RawMessage) []block {
	if s == "" {
		// Anthropic rejects empty text blocks.
		return nil
	}
	return []block{{Type: "text", Text: s, CacheControl: cc}}
}

// userBlocks translates user content: text, images and files.
func userBlocks(c *content, p string) ([]block, *openai.Error) {
	if !c.isParts {
		return textBlock(c.text, nil), nil
	}
	out := make([]block, 0, len(c.parts))
	for j := range c.parts {
		pt := &c.parts[j]
		pp := fmt.Sprintf("%s.content[%d]", p, j)
		switch pt.Type {
		case "text":
			out = append(out, textBlock(pt.Text, pt.CacheControl)...)
		case "refusal":
			out = append(out, textBlock(pt.Refusal, pt.CacheControl)...)
		case "image_url":
			if pt.ImageURL == nil {
				return nil, bad(pp+".image_url", "missing_required_parameter", "an image_url part needs an image_url object")
			}
			src, e := imageSource(pt.ImageURL.URL, pp+".image_url.url")
			if e != nil {
				return nil, e
			}
			out = append(out, block{Type: "image", Source: src, CacheControl: pt.CacheControl})
		case "file":
			b, e := fileBlock(pt, pp+".file")
			if e != nil {
				return nil, e
			}
			out = append(out, b)
		case "input_audio":
			return nil, bad(pp+".type", "unsupported_value", "Anthropic does not accept audio input")
		default:
			return nil, bad(pp+".type", "unsupported_value", fmt.Sprintf("content part type %q is not supported", pt.Type))
		}
	}
	return out, nil
}

// imageSource turns an image URL into an image source: data: URLs become
// base64 sources, http(s) URLs url sources.
func imageSource(u, p string) (*source, *openai.Error) {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return &source{Type: "url", URL: u}, nil
	}
	media, data, ok := parseDataURL(u)
	if !ok {
		return nil, bad(p, "invalid_value", "an image URL must be an http(s) URL or a base64 data: URL")
	}
	return &source{Type: "base64", MediaType: media, Data: data}, nil
}

// parseDataURL splits data:<media>;base64,<data>.
func parseDataURL(u string) (media, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	media, ok = strings.CutSuffix(meta, ";base64")
	if !ok || media == "" {
		return "", "", false
	}
	return media, data, true
}

// fileBlock turns a file part into a document block: PDFs as base64,
// plain text as a text source.
func fileBlock(pt *part, p string) (block, *openai.Error) {
	f := pt.File
	switch {
	case f == nil:
		return block{}, bad(p, "missing_required_parameter", "a file part needs a file object")
	case f.FileData == "":
		return block{}, bad(p+".file_id", "unsupported_value", "Anthropic cannot read OpenAI file ids: send the file as file_data")
	}
	media, data, ok := parseDataURL(f.FileData)
	if !ok {
		// OpenAI also accepts bare base64; its files are PDFs.
		media, data = "application/pdf", f.FileData
	}
	src := &source{Type: "base64", MediaType: media, Data: data}
	switch {
	case media == "application/pdf":
	case media == "text/plain":
		text, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return block{}, bad(p+".file_data", "invalid_value", "file_data is not valid base64")
		}
		src = &source{Type: "text", MediaType: media, Data: string(text)}
	default:
		return block{}, bad(p+".file_data", "unsupported_value",
			fmt.Sprintf("Anthropic accepts PDF and plain-text documents, not %q", media))
	}
	return block{Type: "document", Source: src, CacheControl: pt.CacheControl}, nil
}

// assistantBlocks translates an assistant turn: its text, then its tool
// calls as tool_use blocks whose input is the parsed arguments.
func assistantBlocks(m *chatMessage, p string) ([]block, *openai.Error) {
	var out []block
	if !m.Content.isParts {
		out = textBlock(m.Content.text, nil)
	} else {
		for j, pt := range m.Content.parts {
			switch pt.Type {
			case "text":
				out = append(out, textBlock(pt.Text, pt.CacheControl)...)
			case "refusal":
				out = append(out, textBlock(pt.Refusal, pt.CacheControl)...)
			default:
				return nil, bad(fmt.Sprintf("%s.content[%d].type", p, j), "unsupported_value",
					fmt.Sprintf("an assistant message can only hold text and refusal parts, not %q", pt.Type))
			}
		}
	}
	for j, tc := range m.ToolCalls {
		pp := fmt.Sprintf("%s.tool_calls[%d]", p, j)
		if tc.Type != "" && tc.Type != "function" {
			return nil, bad(pp+".type", "unsupported_value", fmt.Sprintf("tool call type %q is not supported", tc.Type))
		}
		input, ok := toolInput(tc.Function.Arguments)
		if !ok {
			return nil, bad(pp+".function.arguments", "invalid_value",
				"the arguments of "+pp+" are not a JSON object: Anthropic needs tool input as an object")
		}
		out = append(out, block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return out, nil
}

// toolInput parses tool call arguments, which must be a JSON object; empty
// arguments (a call without parameters) are {}.
func toolInput(args string) (json.RawMessage, bool) {
	a := strings.TrimSpace(args)
	if a == "" || a == "null" {
		return json.RawMessage("{}"), true
	}
	if a[0] != '{' || !json.Valid([]byte(a)) {
		return nil, false
	}
	return json.RawMessage(a), true
}

// toolResult translates a tool message into a tool_result block.
func toolResult(m *chatMessage, p string) (block, *openai.Error) {
	b := block{Type: "tool_result", ToolUseID: m.ToolCallID}
	if !m.Content.isParts {
		if m.Content.text != "" {
			b.Content = m.Content.text
		}
		return b, nil
	}
	bs, e := userBlocks(&m.Content, p)
	if e != nil {
		return b, e
	}
	for _, x := range bs {
		if x.Type == "document" {
			return b, bad(p+".content", "unsupported_value", "a tool result can hold text and images, not files")
		}
	}
	if len(bs) > 0 {
		b.Content = bs
	}
	return b, nil
}

// setTools translates tools, tool_choice and parallel_tool_calls.
func (r *msgRequest) setTools(in *chatRequest) *openai.Error {
	for i, t := range in.Tools {
		p := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" || t.Function == nil {
			return bad(p+".type", "unsupported_value", "only function tools can be sent to Anthropic")
		}
		schema := t.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
			schema = emptySchema
		}
		r.Tools = append(r.Tools, tool{Name: t.Function.Name, Description: t.Function.Description,
			InputSchema: schema, CacheControl: t.CacheControl})
	}
	if len(r.Tools) == 0 {
		return nil // tool_choice means nothing without tools
	}
	var tc *toolChoice
	if raw := bytes.TrimSpace(in.ToolChoice); len(raw) > 0 && string(raw) != "null" {
		var mode string
		var named struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		switch {
		case json.Unmarshal(raw, &mode) == nil:
			switch mode {
			case "auto":
				tc = &toolChoice{Type: "auto"}
			case "none":
				tc = &toolChoice{Type: "none"}
			case "required":
				tc = &toolChoice{Type: "any"}
			default:
				return bad("tool_choice", "invalid_value", fmt.Sprintf("tool_choice %q is not supported", mode))
			}
		case json.Unmarshal(raw, &named) == nil && named.Type == "function" && named.Function.Name != "":
			tc = &toolChoice{Type: "tool", Name: named.Function.Name}
		default:
			return bad("tool_choice", "unsupported_value",
				`tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
		}
	}
	if p := in.ParallelToolCalls; p != nil && !*p {
		if tc == nil {
			tc = &toolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	r.ToolChoice = tc
	return nil
}

// stopSequences reads stop: a string or an array of strings.
func stopSequences(raw json.RawMessage) ([]string, *openai.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, bad("stop", "invalid_type", "stop must be a string or an array of strings")
		}
		list = []string{s}
	} else if json.Unmarshal(raw, &list) != nil {
		return nil, bad("stop", "invalid_type", "stop must be a string or an array of strings")
	}
	out := list[:0]
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// setLimits sets max_tokens and, for reasoning_effort, the thinking
// budget. Anthropic's max_tokens covers thinking too and must exceed the
// budget, like OpenAI's max_completion_tokens covers reasoning: a client
// limit is kept and the budget fitted under it; without one the default
// output allowance comes on top of the budget.
func (r *msgRequest) setLimits(limit *int, effort string, defaultMax int) *openai.Error {
	if limit != nil && *limit < 1 {
		return bad("max_tokens", "invalid_value", "max_tokens must be at least 1")
	}
	budget := 0
	if effort != "" && effort != "none" {
		var ok bool
		if budget, ok = thinkingBudgets[effort]; !ok {
			return bad("reasoning_effort", "invalid_value",
				fmt.Sprintf("reasoning_effort %q is not supported: use none, minimal, low, medium, high or xhigh", effort))
		}
	}
	if tc := r.ToolChoice; tc != nil && (tc.Type == "any" || tc.Type == "tool") {
		// Anthropic cannot think while a tool is forced; the forced tool
		// is what the client needs most.
		budget = 0
	}
	if r.inToolLoop() {
		// While thinking, Anthropic wants the last assistant turn of a
		// tool loop to begin with its signed thinking block ("a final
		// `assistant` message must start with a thinking block ... To
		// avoid this requirement, disable `thinking`"). OpenAI clients
		// never send it back, so this turn goes without thinking.
		budget = 0
	}
	switch {
	case limit == nil:
		r.MaxTokens = defaultMax + budget
	default:
		r.MaxTokens = *limit
		budget = min(budget, *limit-1)
	}
	if budget >= 1024 {
		r.Thinking = &thinking{Type: "enabled", BudgetTokens: budget}
		// Anthropic rejects sampling parameters other than the defaults
		// while thinking; reasoning models behave the same on OpenAI.
		r.Temperature, r.TopP = nil, nil
	}
	return nil
}

// inToolLoop reports whether the last assistant turn called tools: the
// request answers them (or goes on after them), and that turn carries no
// thinking block, since the translation never writes one.
func (r *msgRequest) inToolLoop() bool {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role != "assistant" {
			continue
		}
		for _, b := range r.Messages[i].Content {
			if b.Type == "tool_use" {
				return true
			}
		}
		return false
	}
	return false
}

func bad(param, code, msg string) *openai.Error {
	return openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, code, param, msg)
}

// encode is json.Marshal without HTML escaping, which only inflates
// prompts that contain <, > or &.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
