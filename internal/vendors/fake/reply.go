package fake

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// chatRequest is the part of an OpenAI-format chat request the fake reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage       bool  `json:"include_usage"`
		IncludeObfuscation *bool `json:"include_obfuscation"`
	} `json:"stream_options"`
	Tools             []chatTool      `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
}

func (r *chatRequest) includeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

type chatMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// answer is what the model "says", before any vendor renders it.
type answer struct {
	text       string     // when calls is empty
	calls      []toolCall // tool calls instead of text
	prompt     int        // usage.prompt_tokens
	completion int        // usage.completion_tokens
}

type toolCall struct {
	name, args string
	seed       string // for deterministic, vendor-formatted ids
}

// parseBody decodes a JSON body into v and turns failures into the
// vendor's errors: unparsable JSON or a field of the wrong type.
func parseBody(body []byte, v any) *failure {
	if !json.Valid(body) {
		return &failure{kind: failBadJSON}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &failure{kind: failInvalid, param: te.Field,
				arg: fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", te.Field, te.Type, te.Value)}
		}
		return &failure{kind: failInvalid, arg: "Invalid request body: " + err.Error()}
	}
	return nil
}

func (s *Server) chat(c *call) {
	var req chatRequest
	if f := parseBody(c.body, &req); f != nil {
		c.fail(*f)
		return
	}
	switch {
	case req.Model == "":
		c.fail(failure{kind: failInvalid, arg: "you must provide a model parameter"})
		return
	case req.Messages == nil:
		c.fail(failure{kind: failInvalid, param: "messages", arg: "Missing required parameter: 'messages'."})
		return
	case len(req.Messages) == 0:
		c.fail(failure{kind: failInvalid, param: "messages",
			arg: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."})
		return
	case !s.knownModel(req.Model):
		c.fail(failure{kind: failNoModel, arg: req.Model})
		return
	}
	a := decide(s.flavor, c.rec.KeyName, &req)
	if !req.Stream {
		body, indent := s.d.chat(c, &req, a)
		c.writeJSON(200, body, indent)
		return
	}
	c.stream(s.d.chatStream(c, &req, a))
}

// decide builds the deterministic answer: tool calls when tools are on
// offer and the conversation is not answering one, else text naming who
// served it.
func decide(fl Flavor, keyName string, req *chatRequest) *answer {
	a := &answer{prompt: promptTokens(req)}
	userText, images := lastUser(req.Messages)
	last := req.Messages[len(req.Messages)-1]
	switch tools := functionTools(req.Tools); {
	case last.Role == "tool":
		// Every trailing tool message: parallel calls answer together.
		var results []string
		for i := len(req.Messages) - 1; i >= 0 && req.Messages[i].Role == "tool"; i-- {
			t, _ := contentText(req.Messages[i].Content)
			results = append([]string{t}, results...)
		}
		a.text = "Tool result: " + strings.Join(results, " | ")
	case len(tools) > 0 && choiceMode(req.ToolChoice) != "none":
		a.calls = pickCalls(req, tools, userText)
	default:
		a.text = fmt.Sprintf("Hello from %s/%s via %s. You said: %s", fl, req.Model, keyName, userText)
		if images > 0 {
			a.text += fmt.Sprintf(" (%d images)", images)
		}
	}
	n := utf8.RuneCountInString(a.text)
	for _, tc := range a.calls {
		n += len(tc.name) + len(tc.args)
	}
	a.completion = max(1, n/4)
	return a
}

// pickCalls chooses the tools to call: the one tool_choice names, else the
// first, or every tool when the user asks for "parallel".
func pickCalls(req *chatRequest, tools []chatTool, userText string) []toolCall {
	var chosen []chatTool
	if name := choiceName(req.ToolChoice); name != "" {
		t := chatTool{}
		t.Function.Name = name
		for _, x := range tools {
			if x.Function.Name == name {
				t = x
			}
		}
		chosen = []chatTool{t}
	} else if strings.Contains(userText, "parallel") && (req.ParallelToolCalls == nil || *req.ParallelToolCalls) {
		chosen = tools
	} else {
		chosen = tools[:1]
	}
	override, hasOverride := argsFromText(userText)
	calls := make([]toolCall, len(chosen))
	for i, t := range chosen {
		args := override
		if !hasOverride {
			args = argsFromSchema(t.Function.Parameters)
		}
		calls[i] = toolCall{name: t.Function.Name, args: args,
			seed: fmt.Sprintf("%s\x00%s\x00%s\x00%d", req.Model, userText, t.Function.Name, i)}
	}
	return calls
}

func functionTools(ts []chatTool) []chatTool {
	var out []chatTool
	for _, t := range ts {
		if (t.Type == "" || t.Type == "function") && t.Function.Name != "" {
			out = append(out, t)
		}
	}
	return out
}

// choiceMode is tool_choice when it is a string ("none", "auto",
// "required"), else "".
func choiceMode(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// choiceName is the function a tool_choice object forces, else "".
func choiceName(raw json.RawMessage) string {
	var o struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	json.Unmarshal(raw, &o)
	return o.Function.Name
}

// argsFromText finds "args=<json>" in the user's text: tests use it to
// dictate tool arguments.
func argsFromText(text string) (string, bool) {
	_, rest, ok := strings.Cut(text, "args=")
	if !ok {
		return "", false
	}
	var v json.RawMessage
	if json.NewDecoder(strings.NewReader(rest)).Decode(&v) != nil {
		return "", false
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return "", false
	}
	return b.String(), true
}

// argsFromSchema fills each required property with a fixed value of its
// type, in the order "required" lists them.
func argsFromSchema(raw json.RawMessage) string {
	var schema struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	json.Unmarshal(raw, &schema)
	var o obj
	for _, name := range schema.Required {
		var v any
		switch schemaType(schema.Properties[name].Type) {
		case "string":
			v = "x"
		case "number", "integer":
			v = 1
		case "boolean":
			v = true
		}
		o = append(o, field{name, v})
	}
	b, _ := marshal(o)
	return string(b)
}

// schemaType reads "type", which may be a list such as ["string","null"].
func schemaType(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	json.Unmarshal(raw, &list)
	for _, t := range list {
		if t != "null" {
			return t
		}
	}
	return ""
}

// contentText flattens message content, a string or an array of parts,
// into its text and the number of images.
func contentText(raw json.RawMessage) (string, int) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, 0
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &parts)
	var b strings.Builder
	images := 0
	for _, p := range parts {
		switch p.Type {
		case "text":
			b.WriteString(p.Text)
		case "image_url":
			images++
		}
	}
	return b.String(), images
}

// lastUser is the text and image count of the last user message.
func lastUser(ms []chatMessage) (string, int) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Role == "user" {
			return contentText(ms[i].Content)
		}
	}
	return "", 0
}

// promptTokens is a stand-in tokenizer: a quarter of the characters of
// every message's text and tool-call arguments.
func promptTokens(req *chatRequest) int {
	n := 0
	for _, m := range req.Messages {
		t, _ := contentText(m.Content)
		n += utf8.RuneCountInString(t)
		if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
			n += len(m.ToolCalls)
		}
	}
	return max(1, n/4)
}

// split cuts s into at most n pieces of near-equal rune counts.
func split(s string, n int) []string {
	r := []rune(s)
	n = max(1, min(n, len(r)))
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, string(r[i*len(r)/n:(i+1)*len(r)/n]))
	}
	return out
}

// embedRequest is the part of an embeddings request the fake reads.
type embedRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

func (s *Server) embeddings(c *call) {
	var req embedRequest
	if f := parseBody(c.body, &req); f != nil {
		c.fail(*f)
		return
	}
	if req.Model == "" {
		c.fail(failure{kind: failInvalid, arg: "you must provide a model parameter"})
		return
	}
	texts, ok := embedInputs(req.Input)
	if !ok {
		c.fail(failure{kind: failInvalid, param: "input", arg: "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."})
		return
	}
	if !s.knownModel(req.Model) {
		c.fail(failure{kind: failNoModel, arg: req.Model})
		return
	}
	if s.flavor == GeminiCompat && len(texts) > GeminiEmbedBatchLimit {
		c.fail(failure{kind: failInvalid, arg: geminiBatchTooLarge})
		return
	}
	if s.opts.FloatEmbeddings {
		req.EncodingFormat = ""
	}
	dim := req.Dimensions
	if dim <= 0 {
		dim = 8
	}
	vecs := make([][]float32, len(texts))
	chars := 0
	for i, t := range texts {
		vecs[i] = Vector(t, dim)
		chars += utf8.RuneCountInString(t)
	}
	c.writeJSON(200, s.d.embeddings(c, &req, vecs, max(1, chars/4)), "")
}

// embedInputs lists the items of "input": a string, strings, one token
// array, or token arrays. A token array counts as one item, its JSON as
// its text.
func embedInputs(raw json.RawMessage) ([]string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, true
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil || len(items) == 0 {
		return nil, false
	}
	var tokens []int
	if json.Unmarshal(raw, &tokens) == nil {
		return []string{compact(raw)}, true
	}
	out := make([]string, len(items))
	for i, it := range items {
		if json.Unmarshal(it, &out[i]) == nil {
			continue
		}
		if json.Unmarshal(it, &tokens) != nil {
			return nil, false
		}
		out[i] = compact(it)
	}
	return out, true
}

// Vector is the embedding the fake returns for text: dim values in
// [-1, 1] derived from a hash of text, so tests can compute the expected
// answer.
func Vector(text string, dim int) []float32 {
	h := sha256.Sum256([]byte(text))
	x := binary.LittleEndian.Uint64(h[:])
	v := make([]float32, dim)
	for i := range v {
		// splitmix64: a cheap, well-spread sequence from the seed.
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		v[i] = float32(float64(z>>11)/float64(1<<53)*2 - 1)
	}
	return v
}

// float32Bytes is OpenAI's base64 payload before encoding: little-endian
// float32s.
func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func (s *Server) listModels(c *call) {
	c.writeJSON(200, s.d.modelList(s.models()), "")
}

func (s *Server) getModel(c *call, id string) {
	want := s.d.modelName(id)
	for _, m := range s.models() {
		if s.d.modelName(m) == want {
			c.writeJSON(200, s.d.model(m), "")
			return
		}
	}
	c.fail(failure{kind: failNoSuchModel, arg: id})
}
