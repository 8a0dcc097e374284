package fake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// anthropicWire renders Anthropic's Messages API (POST /v1/messages) as
// the API documentation, the official SDKs' test fixtures and published
// recordings show it (see vendor-wire-formats.md): x-api-key auth, a
// required anthropic-version header and max_tokens, compact bodies,
// {"type":"error","error":{…},"request_id"} errors, and a stream of named
// SSE events (message_start … message_stop) instead of data-only chunks.
//
// Requests are mapped onto the shared chatRequest, so answers are the same
// as every other flavour's: "Hello from anthropic/<model> via <key>. …".
type anthropicWire struct{}

func (anthropicWire) prefix() string { return "/v1" }

func (anthropicWire) apiKey(r *http.Request) string {
	return strings.TrimSpace(r.Header.Get("x-api-key"))
}

func (anthropicWire) modelName(m string) string { return m }

func (anthropicWire) defaultModels() []string {
	return []string{"claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"}
}

func (anthropicWire) contentType(stream bool) string {
	if stream {
		return "text/event-stream; charset=utf-8"
	}
	return "application/json"
}

func anthropicRequestID(c *call) string {
	return "req_011C" + alnumOf(20, "anthropic-req", strconv.FormatInt(c.seq, 10))
}

func (anthropicWire) headers(h http.Header, c *call, status int) {
	h.Set("request-id", anthropicRequestID(c))
	h.Set("anthropic-organization-id", "0b5a7e3c-7d43-4c38-9d0e-6f1f4c2a9e11")
	remaining := "49"
	if status == http.StatusTooManyRequests {
		remaining = "0"
	}
	h.Set("anthropic-ratelimit-requests-limit", "50")
	h.Set("anthropic-ratelimit-requests-remaining", remaining)
}

// anthropicError is Anthropic's error body.
func anthropicError(c *call, typ, message string) obj {
	return obj{{"type", "error"}, {"error", obj{{"type", typ}, {"message", message}}}, {"request_id", anthropicRequestID(c)}}
}

// Anthropic's messages, as quoted in SDK issues and the API docs; those
// marked inferred were not seen verbatim.
const (
	anthropicNoKeyMsg   = "x-api-key header is required"
	anthropicBadKeyMsg  = "invalid x-api-key"
	anthropicVersionMsg = "anthropic-version: header is required"
	anthropicToolUseMsg = "messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
	anthropicOrphanMsg  = "messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
)

func (anthropicWire) errorFor(c *call, f failure) (int, any, string) {
	switch f.kind {
	case failNoKey:
		return 401, anthropicError(c, "authentication_error", anthropicNoKeyMsg), ""
	case failBadKey:
		return 401, anthropicError(c, "authentication_error", anthropicBadKeyMsg), ""
	case failBadJSON:
		// The prefix is quoted in claude-code issues; the detail is inferred.
		return 400, anthropicError(c, "invalid_request_error", "The request body is not valid JSON: expected value at line 1 column 1"), ""
	case failInvalid:
		return 400, anthropicError(c, "invalid_request_error", f.arg), ""
	case failNoModel, failNoSuchModel:
		return 404, anthropicError(c, "not_found_error", "model: "+f.arg), ""
	case failNoRoute:
		return 404, anthropicError(c, "not_found_error", "Not Found"), "" // inferred
	}
	status, typ, msg := anthropicStatusError(c, f.status)
	return status, anthropicError(c, typ, msg), ""
}

// anthropicStatusError is the error type and a typical message for an
// injected status, per the status table of Anthropic's "Errors" page.
func anthropicStatusError(c *call, status int) (int, string, string) {
	switch status {
	case 400:
		return status, "invalid_request_error", "prompt is too long: 215089 tokens > 200000 maximum"
	case 401:
		return status, "authentication_error", anthropicBadKeyMsg
	case 403:
		return status, "permission_error", "Your API key does not have permission to use the specified resource."
	case 404:
		return status, "not_found_error", "model: " + c.rec.Model
	case 413:
		return status, "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case 429:
		// Abridged from the message quoted in SDK issues.
		return status, "rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later."
	case 500:
		return status, "api_error", "Internal server error"
	case 529:
		return status, "overloaded_error", "Overloaded"
	}
	if status >= 500 {
		return status, "api_error", http.StatusText(status)
	}
	return status, "invalid_request_error", http.StatusText(status)
}

// streamError is the data of the in-stream error event; the API docs'
// example carries no request_id.
func (anthropicWire) streamError(c *call, status int) any {
	_, typ, msg := anthropicStatusError(c, status)
	return obj{{"type", "error"}, {"error", obj{{"type", typ}, {"message", msg}}}}
}

// Anthropic has no embeddings endpoint; route never gets here.
func (anthropicWire) embeddings(c *call, req *embedRequest, vecs [][]float32, tokens int) any {
	return anthropicError(c, "not_found_error", "Not Found")
}

// modelList is GET /v1/models: {data, has_more, first_id, last_id}.
func (w anthropicWire) modelList(names []string) any {
	data := make([]any, len(names))
	for i, n := range names {
		data[i] = w.model(n)
	}
	var first, last any
	if len(names) > 0 {
		first, last = names[0], names[len(names)-1]
	}
	return obj{{"data", data}, {"has_more", false}, {"first_id", first}, {"last_id", last}}
}

func (anthropicWire) model(name string) any {
	return obj{{"type", "model"}, {"id", name}, {"display_name", name}, {"created_at", "2025-09-29T00:00:00Z"}}
}

// route serves every path itself: Anthropic has no /chat/completions.
func (anthropicWire) route(s *Server, c *call) bool {
	p, ok := strings.CutPrefix(c.r.URL.Path, "/v1")
	switch {
	case ok && p == "/messages" && c.r.Method == http.MethodPost:
		s.anthropicMessages(c)
	case ok && p == "/models" && c.r.Method == http.MethodGet:
		s.listModels(c)
	case ok && strings.HasPrefix(p, "/models/") && c.r.Method == http.MethodGet:
		s.getModel(c, strings.TrimPrefix(p, "/models/"))
	default:
		c.fail(failure{kind: failNoRoute, arg: c.r.Method + " " + c.r.URL.Path})
	}
	return true
}

// anthropicRequest is the part of a Messages API request the fake reads.
type anthropicRequest struct {
	Model         string             `json:"model"`
	MaxTokens     *int               `json:"max_tokens"`
	Messages      []anthropicMessage `json:"messages"`
	System        json.RawMessage    `json:"system"`
	Stream        bool               `json:"stream"`
	StopSequences []string           `json:"stop_sequences"`
	Temperature   *float64           `json:"temperature"`
	Tools         []struct {
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
	} `json:"tool_choice"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

// anthropicBlocks reads message content: a string or an array of blocks.
func anthropicBlocks(raw json.RawMessage) []anthropicBlock {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []anthropicBlock{{Type: "text", Text: s}}
	}
	var bs []anthropicBlock
	json.Unmarshal(raw, &bs)
	return bs
}

// anthropicText is the text of a system prompt or tool_result content: a
// string or text blocks.
func anthropicText(raw json.RawMessage) string {
	var b strings.Builder
	for _, x := range anthropicBlocks(raw) {
		if x.Type == "text" {
			b.WriteString(x.Text)
		}
	}
	return b.String()
}

func invalidf(format string, args ...any) *failure {
	return &failure{kind: failInvalid, arg: fmt.Sprintf(format, args...)}
}

// validate applies the checks the real API makes that the gateway's
// translation could get wrong.
func (r *anthropicRequest) validate() *failure {
	switch {
	case r.Model == "":
		return invalidf("model: Field required")
	case r.MaxTokens == nil:
		return invalidf("max_tokens: Field required")
	case *r.MaxTokens < 1:
		return invalidf("max_tokens: Input should be greater than or equal to 1")
	case r.Messages == nil:
		return invalidf("messages: Field required")
	case len(r.Messages) == 0:
		return invalidf("messages: at least one message is required")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 1):
		return invalidf("temperature: Input should be less than or equal to 1")
	}
	if t := r.Thinking; t != nil && t.Type == "enabled" {
		switch {
		case t.BudgetTokens < 1024:
			return invalidf("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
		case *r.MaxTokens <= t.BudgetTokens:
			return invalidf("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
		case r.Temperature != nil && *r.Temperature != 1:
			return invalidf("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility")
		case r.ToolChoice != nil && (r.ToolChoice.Type == "any" || r.ToolChoice.Type == "tool"):
			return invalidf("Thinking may not be enabled when tool_choice forces tool use.")
		}
		// In a tool loop the last assistant turn must bring back its
		// signed thinking (the error quoted in OpenRouterTeam/ai-sdk-provider#162,
		// anomalyco/opencode#3077, deepset-ai/haystack-core-integrations#2146).
		for i := len(r.Messages) - 1; i >= 0; i-- {
			if r.Messages[i].Role != "assistant" {
				continue
			}
			bs := anthropicBlocks(r.Messages[i].Content)
			uses := false
			for _, b := range bs {
				uses = uses || b.Type == "tool_use"
			}
			if uses && bs[0].Type != "thinking" && bs[0].Type != "redacted_thinking" {
				return invalidf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. "+
					"When `thinking` is enabled, a final `assistant` message must start with a thinking block "+
					"(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "+
					"thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult "+
					"our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking", i, bs[0].Type)
			}
			break
		}
	}
	var pending []string // tool_use ids the next message must answer
	for i, m := range r.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return invalidf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		bs := anthropicBlocks(m.Content)
		if len(bs) == 0 && !(m.Role == "assistant" && i == len(r.Messages)-1) {
			return invalidf("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
		}
		answered := map[string]bool{}
		for j, b := range bs {
			switch {
			case b.Type == "text" && b.Text == "":
				return invalidf("messages: text content blocks must be non-empty")
			case b.Type == "tool_result":
				if m.Role != "user" || !contains(pending, b.ToolUseID) {
					return invalidf(anthropicOrphanMsg, i, j, b.ToolUseID)
				}
				answered[b.ToolUseID] = true
			}
		}
		var missing []string
		for _, id := range pending {
			if !answered[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return invalidf(anthropicToolUseMsg, i-1, strings.Join(missing, ", "))
		}
		pending = nil
		if m.Role == "assistant" {
			for _, b := range bs {
				if b.Type == "tool_use" {
					pending = append(pending, b.ID)
				}
			}
		}
	}
	if len(pending) > 0 {
		return invalidf(anthropicToolUseMsg, len(r.Messages)-1, strings.Join(pending, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// chatRequest maps the Messages request onto the shared OpenAI-shaped one
// that decide reads: tool_result blocks become tool messages, images
// image_url parts, tool_use blocks tool calls.
func (r *anthropicRequest) chatRequest() *chatRequest {
	q := &chatRequest{Model: r.Model, Stream: r.Stream}
	str := func(s string) json.RawMessage { b, _ := marshal(s); return b }
	if len(r.System) > 0 {
		q.Messages = append(q.Messages, chatMessage{Role: "system", Content: str(anthropicText(r.System))})
	}
	for _, m := range r.Messages {
		bs := anthropicBlocks(m.Content)
		var parts []any
		var text strings.Builder
		var calls []any
		for _, b := range bs {
			switch b.Type {
			case "text":
				parts = append(parts, obj{{"type", "text"}, {"text", b.Text}})
				text.WriteString(b.Text)
			case "image":
				parts = append(parts, obj{{"type", "image_url"}, {"image_url", obj{{"url", "data:,"}}}})
			case "tool_result":
				q.Messages = append(q.Messages, chatMessage{Role: "tool", Content: str(anthropicText(b.Content))})
			case "tool_use":
				calls = append(calls, obj{{"id", b.ID}, {"type", "function"},
					{"function", obj{{"name", b.Name}, {"arguments", compact(b.Input)}}}})
			}
		}
		switch {
		case m.Role == "user" && len(parts) > 0:
			p, _ := marshal(parts)
			q.Messages = append(q.Messages, chatMessage{Role: "user", Content: p})
		case m.Role == "assistant":
			cm := chatMessage{Role: "assistant", Content: str(text.String())}
			if len(calls) > 0 {
				cm.ToolCalls, _ = marshal(calls)
			}
			q.Messages = append(q.Messages, cm)
		}
	}
	if len(q.Messages) == 0 {
		q.Messages = []chatMessage{{Role: "user", Content: str("")}} // decide needs one
	}
	for _, t := range r.Tools {
		var ct chatTool
		ct.Type = "function"
		ct.Function.Name = t.Name
		ct.Function.Parameters = t.InputSchema
		q.Tools = append(q.Tools, ct)
	}
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "none":
			q.ToolChoice = str(tc.Type)
		case "any":
			q.ToolChoice = str("required")
		case "tool":
			q.ToolChoice, _ = marshal(obj{{"type", "function"}, {"function", obj{{"name", tc.Name}}}})
		}
		if tc.DisableParallelToolUse {
			no := false
			q.ParallelToolCalls = &no
		}
	}
	return q
}

// anthropicAnswer is the answer as Anthropic renders it.
type anthropicAnswer struct {
	*answer
	model        string
	thinking     string // with thinking enabled
	signature    string
	stopReason   string
	stopSequence any // the matched stop sequence, else nil
	output       int // usage.output_tokens
}

func (s *Server) anthropicMessages(c *call) {
	if c.r.Header.Get("anthropic-version") == "" {
		c.fail(failure{kind: failInvalid, arg: anthropicVersionMsg})
		return
	}
	var req anthropicRequest
	if f := parseBody(c.body, &req); f != nil {
		c.fail(*f)
		return
	}
	if f := req.validate(); f != nil {
		c.fail(*f)
		return
	}
	if !s.knownModel(req.Model) {
		c.fail(failure{kind: failNoModel, arg: req.Model})
		return
	}
	cr := req.chatRequest()
	a := &anthropicAnswer{answer: decide(s.flavor, c.rec.KeyName, cr), model: req.Model, stopReason: "end_turn"}
	if len(a.calls) > 0 {
		a.stopReason = "tool_use"
	}
	if len(a.calls) == 0 {
		// The earliest stop sequence ends the text; else max_tokens
		// (4 characters a token) may cut it.
		cut := -1
		for _, seq := range req.StopSequences {
			if i := strings.Index(a.text, seq); seq != "" && i >= 0 && (cut < 0 || i < cut) {
				cut, a.stopSequence = i, seq
			}
		}
		if cut >= 0 {
			a.text, a.stopReason = a.text[:cut], "stop_sequence"
			a.completion = max(1, utf8.RuneCountInString(a.text)/4)
		} else if *req.MaxTokens < a.completion {
			a.text = string([]rune(a.text)[:min(utf8.RuneCountInString(a.text), *req.MaxTokens*4)])
			a.completion, a.stopReason = *req.MaxTokens, "max_tokens"
		}
	}
	a.output = a.completion
	if t := req.Thinking; t != nil && t.Type == "enabled" {
		user, _ := lastUser(cr.Messages)
		a.thinking = "The user wrote: " + user + ". A short, friendly answer will do."
		a.signature = base64.StdEncoding.EncodeToString(digest("signature", a.thinking))
		a.output += max(1, utf8.RuneCountInString(a.thinking)/4)
	}
	if !req.Stream {
		c.writeJSON(200, anthropicMessageBody(c, a), "")
		return
	}
	c.anthropicStream(anthropicEvents(c, a))
}

func anthropicMsgID(c *call) string {
	return "msg_01" + alnumOf(22, "msg", strconv.FormatInt(c.seq, 10))
}

func anthropicToolID(tc toolCall) string { return "toolu_01" + alnumOf(22, "toolu", tc.seed) }

// anthropicToolInput is a call's arguments as the input object.
func anthropicToolInput(tc toolCall) json.RawMessage {
	if json.Valid([]byte(tc.args)) {
		return json.RawMessage(tc.args)
	}
	return json.RawMessage("{}")
}

func anthropicUsage(a *anthropicAnswer, output int) obj {
	return obj{{"input_tokens", a.prompt}, {"cache_creation_input_tokens", 0}, {"cache_read_input_tokens", 0},
		{"output_tokens", output}, {"service_tier", "standard"}}
}

// anthropicMessageBody is the non-stream answer, keys in the API's order.
func anthropicMessageBody(c *call, a *anthropicAnswer) obj {
	content := []any{}
	if a.thinking != "" {
		content = append(content, obj{{"type", "thinking"}, {"thinking", a.thinking}, {"signature", a.signature}})
	}
	if len(a.calls) == 0 {
		content = append(content, obj{{"type", "text"}, {"text", a.text}})
	}
	for _, tc := range a.calls {
		content = append(content, obj{{"type", "tool_use"}, {"id", anthropicToolID(tc)}, {"name", tc.name}, {"input", anthropicToolInput(tc)}})
	}
	return obj{
		{"id", anthropicMsgID(c)}, {"type", "message"}, {"role", "assistant"}, {"model", a.model},
		{"content", content}, {"stop_reason", a.stopReason}, {"stop_sequence", a.stopSequence},
		{"usage", anthropicUsage(a, a.output)},
	}
}

// sseEvent is one named SSE event. data is JSON-encoded, except rawJSON,
// which is written as is.
type sseEvent struct {
	name string
	data any
}

type rawJSON string

// anthropicEvents is the documented stream: message_start, each content
// block (content_block_start, deltas, content_block_stop) with a ping after
// the first block's start, message_delta, message_stop.
func anthropicEvents(c *call, a *anthropicAnswer) []sseEvent {
	n := c.s.opts.Chunks
	msg := obj{{"id", anthropicMsgID(c)}, {"type", "message"}, {"role", "assistant"}, {"model", a.model},
		{"content", []any{}}, {"stop_reason", nil}, {"stop_sequence", nil}, {"usage", anthropicUsage(a, 1)}}
	events := []sseEvent{{"message_start", obj{{"type", "message_start"}, {"message", msg}}}}
	index := 0
	block := func(start obj, deltas []obj) {
		events = append(events, sseEvent{"content_block_start", obj{{"type", "content_block_start"}, {"index", index}, {"content_block", start}}})
		if index == 0 {
			events = append(events, sseEvent{"ping", rawJSON(`{"type": "ping"}`)})
		}
		for _, d := range deltas {
			events = append(events, sseEvent{"content_block_delta", obj{{"type", "content_block_delta"}, {"index", index}, {"delta", d}}})
		}
		events = append(events, sseEvent{"content_block_stop", obj{{"type", "content_block_stop"}, {"index", index}}})
		index++
	}
	if a.thinking != "" {
		var ds []obj
		for _, p := range split(a.thinking, n) {
			ds = append(ds, obj{{"type", "thinking_delta"}, {"thinking", p}})
		}
		ds = append(ds, obj{{"type", "signature_delta"}, {"signature", a.signature}})
		block(obj{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}, ds)
	}
	if len(a.calls) == 0 {
		var ds []obj
		if a.text != "" {
			for _, p := range split(a.text, n) {
				ds = append(ds, obj{{"type", "text_delta"}, {"text", p}})
			}
		}
		block(obj{{"type", "text"}, {"text", ""}}, ds)
	}
	for _, tc := range a.calls {
		ds := []obj{{{"type", "input_json_delta"}, {"partial_json", ""}}}
		// A call without arguments streams only the empty partial_json,
		// as the real API does: the input stays the {} of the start.
		if in := compact(anthropicToolInput(tc)); in != "{}" {
			for _, p := range split(in, n) {
				ds = append(ds, obj{{"type", "input_json_delta"}, {"partial_json", p}})
			}
		}
		block(obj{{"type", "tool_use"}, {"id", anthropicToolID(tc)}, {"name", tc.name}, {"input", obj{}}}, ds)
	}
	events = append(events,
		sseEvent{"message_delta", obj{{"type", "message_delta"},
			{"delta", obj{{"stop_reason", a.stopReason}, {"stop_sequence", a.stopSequence}}},
			{"usage", obj{{"output_tokens", a.output}}}}},
		sseEvent{"message_stop", obj{{"type", "message_stop"}}})
	return events
}

// The dialect's OpenAI-shaped entry points are not reached (route serves
// every path); they render a plain answer for completeness.
func (anthropicWire) chat(c *call, req *chatRequest, a *answer) (any, string) {
	return anthropicMessageBody(c, plainAnthropic(req, a)), ""
}

func (anthropicWire) chatStream(c *call, req *chatRequest, a *answer) []any {
	evs := anthropicEvents(c, plainAnthropic(req, a))
	out := make([]any, len(evs))
	for i, e := range evs {
		out[i] = e.data
	}
	return out
}

func plainAnthropic(req *chatRequest, a *answer) *anthropicAnswer {
	x := &anthropicAnswer{answer: a, model: req.Model, stopReason: "end_turn", output: a.completion}
	if len(a.calls) > 0 {
		x.stopReason = "tool_use"
	}
	return x
}

// anthropicStream writes named events ("event: …" then "data: …"),
// flushing each, honouring ChunkGap, stream faults and the client leaving.
// Faults strike before message_stop at the latest, so a faulted stream is
// never complete.
func (c *call) anthropicStream(events []sseEvent) {
	eol := "\n"
	if c.s.opts.CRLF {
		eol = "\r\n"
	}
	c.writeHead(http.StatusOK, c.s.d.contentType(true))
	rc := http.NewResponseController(c.w)
	if rc.Flush() != nil {
		c.cancel()
		return
	}
	send := func(e sseEvent) bool {
		if c.ctx.Err() != nil {
			c.cancel()
			return false
		}
		var data []byte
		if r, ok := e.data.(rawJSON); ok {
			data = []byte(r)
		} else {
			var err error
			if data, err = marshal(e.data); err != nil {
				panic(fmt.Sprintf("fake: marshal: %v", err))
			}
		}
		frame := c.frame(nil, e.name, data, eol)
		if _, err := c.w.Write(frame); err != nil {
			c.cancel()
			return false
		}
		if rc.Flush() != nil {
			c.cancel()
			return false
		}
		return true
	}
	f := c.fault
	if !c.streamFault() {
		f = nil
	}
	last := len(events) - 1 // message_stop
	for i, e := range events {
		if f != nil && f.CutAfter > 0 && i == min(f.CutAfter, last) {
			c.cut(rc)
			return
		}
		if f != nil && f.StallAfter > 0 && i == min(f.StallAfter, last) {
			c.wait(-1) // go silent until the client leaves
			return
		}
		if f != nil && f.ErrorEventAfter > 0 && i == min(f.ErrorEventAfter, last) {
			status := f.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			send(sseEvent{"error", c.s.d.streamError(c, status)})
			return
		}
		if i > 0 && !c.wait(c.s.opts.ChunkGap) {
			return
		}
		if !send(e) {
			return
		}
	}
}
