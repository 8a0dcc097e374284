package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/genrouter/genrouter/internal/openai"
)

// chatRequest is the whole OpenAI chat request as this adapter translates
// it. Fields Gemini has no counterpart for (user, logit_bias, store,
// parallel_tool_calls, ...) are not read.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []message       `json:"messages"`
	Tools               []openaiTool    `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	Seed                *int64          `json:"seed"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	ResponseFormat      *responseFormat `json:"response_format"`
	ReasoningEffort     string          `json:"reasoning_effort"`
}

type message struct {
	Role       string            `json:"role"`
	Content    json.RawMessage   `json:"content"`
	Name       string            `json:"name"`
	ToolCalls  []openai.ToolCall `json:"tool_calls"`
	ToolCallID string            `json:"tool_call_id"`
}

type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
	File *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
	} `json:"file"`
}

type openaiTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// skipSignature is the thoughtSignature Google documents for function calls
// the model did not produce itself (a conversation begun on another vendor,
// a hand-built history): Gemini 3 refuses a function call without any
// signature, and accepts this one in its place.
const skipSignature = "skip_thought_signature_validator"

// buildRequest translates an OpenAI chat request into a generateContent
// request for model. Errors are client errors (400) naming the field.
func buildRequest(req *chatRequest, model string) (*generateRequest, *openai.Error) {
	out := &generateRequest{}
	names := map[string]string{} // tool call id -> function name
	add := func(role string, parts []part) {
		if len(parts) == 0 {
			return
		}
		// Gemini wants turns to alternate: consecutive turns of one role
		// (parallel tool results, a tool result then the user's words)
		// become one.
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			return
		}
		out.Contents = append(out.Contents, content{Role: role, Parts: parts})
	}
	for i, m := range req.Messages {
		p := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			text, e := textOf(m.Content, p+".content")
			if e != nil {
				return nil, e
			}
			if text != "" {
				if out.SystemInstruction == nil {
					out.SystemInstruction = &content{}
				}
				out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, part{Text: strPtr(text)})
			}
		case "user":
			parts, e := userParts(m.Content, p+".content")
			if e != nil {
				return nil, e
			}
			add("user", parts)
		case "assistant":
			parts, e := assistantParts(m, p, names, needsSignatures(model))
			if e != nil {
				return nil, e
			}
			add("model", parts)
		case "tool", "function":
			name := m.Name
			if m.Role == "function" && name == "" {
				return nil, invalid(p+".name", "a function message needs the name of its function")
			}
			if m.Role == "tool" {
				var ok bool
				if name, ok = names[m.ToolCallID]; !ok {
					return nil, invalid(p+".tool_call_id", fmt.Sprintf(
						"tool_call_id %q does not answer any tool call made earlier in the conversation", m.ToolCallID))
				}
			}
			text, e := textOf(m.Content, p+".content")
			if e != nil {
				return nil, e
			}
			add("user", []part{{FunctionResponse: &functionResponse{Name: name, Response: toolResponse(text)}}})
		default:
			return nil, invalid(p+".role", fmt.Sprintf("invalid role %q: expected one of system, developer, user, assistant, tool", m.Role))
		}
	}
	if out.Contents == nil {
		out.Contents = []content{}
	}

	decls, e := declarations(req.Tools)
	if e != nil {
		return nil, e
	}
	if len(decls) > 0 {
		out.Tools = []tool{{FunctionDeclarations: decls}}
		if out.ToolConfig, e = toolChoice(req.ToolChoice); e != nil {
			return nil, e
		}
	}
	if out.GenerationConfig, e = genConfig(req, model); e != nil {
		return nil, e
	}
	return out, nil
}

// assistantParts is an assistant message as model parts: its text, then a
// functionCall per tool call, each with the thoughtSignature its id carries.
func assistantParts(m message, p string, names map[string]string, signed bool) ([]part, *openai.Error) {
	text, e := textOf(m.Content, p+".content")
	if e != nil {
		return nil, e
	}
	var parts []part
	if text != "" {
		parts = append(parts, part{Text: strPtr(text)})
	}
	first, anySig := -1, false
	for j, tc := range m.ToolCalls {
		args, e := callArgs(tc.Function.Arguments, fmt.Sprintf("%s.tool_calls[%d].function.arguments", p, j))
		if e != nil {
			return nil, e
		}
		names[tc.ID] = tc.Function.Name
		sig := signatureFromID(tc.ID)
		anySig = anySig || sig != ""
		if first < 0 {
			first = len(parts)
		}
		parts = append(parts, part{FunctionCall: &functionCall{Name: tc.Function.Name, Args: args}, ThoughtSignature: sig})
	}
	if signed && first >= 0 && !anySig {
		parts[first].ThoughtSignature = skipSignature
	}
	return parts, nil
}

// needsSignatures reports whether model validates thought signatures on
// function calls: Gemini 3 and later do, the 1.x and 2.x families and
// Gemma do not.
func needsSignatures(model string) bool {
	m := strings.ToLower(model)
	return !strings.Contains(m, "gemini-1") && !strings.Contains(m, "gemini-2") && !strings.Contains(m, "gemma")
}

// callArgs parses a tool call's arguments string: Gemini takes the
// arguments as a JSON object, not as text.
func callArgs(s, p string) (json.RawMessage, *openai.Error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid([]byte(s)) {
		var v any
		err := json.Unmarshal([]byte(s), &v)
		return nil, invalid(p, "the arguments of a tool call must be valid JSON, Gemini needs them parsed: "+
			strings.TrimPrefix(err.Error(), "json: "))
	}
	if s[0] != '{' {
		return nil, invalid(p, "the arguments of a tool call must be a JSON object")
	}
	var b bytes.Buffer
	json.Compact(&b, []byte(s))
	return b.Bytes(), nil
}

// toolResponse is a tool result as Gemini's functionResponse.response,
// which must be an object: a JSON object result is passed as is, anything
// else is wrapped as {"content": text}.
func toolResponse(text string) json.RawMessage {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		var b bytes.Buffer
		json.Compact(&b, []byte(t))
		return b.Bytes()
	}
	b, _ := marshal(map[string]string{"content": text})
	return b
}

// decodeContent decodes message content: a string, an array of parts, or
// null.
func decodeContent(raw json.RawMessage, p string) (text string, list []contentPart, isList bool, e *openai.Error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil, false, nil
	case raw[0] == '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return "", nil, false, invalid(p, "content must be a string or an array of content parts")
		}
		return "", list, true, nil
	default:
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", nil, false, invalid(p, "content must be a string or an array of content parts")
		}
		return text, nil, false, nil
	}
}

// textOf is the text of content that may only hold text (system, tool
// and assistant messages).
func textOf(raw json.RawMessage, p string) (string, *openai.Error) {
	text, list, isList, e := decodeContent(raw, p)
	if e != nil || !isList {
		return text, e
	}
	var b strings.Builder
	for j, cp := range list {
		switch cp.Type {
		case "text":
			b.WriteString(cp.Text)
		case "refusal":
			b.WriteString(cp.Refusal)
		default:
			return "", invalid(fmt.Sprintf("%s[%d].type", p, j), fmt.Sprintf("content part type %q is not allowed here: expected text", cp.Type))
		}
	}
	return b.String(), nil
}

// userParts is user content as Gemini parts: text, and media as inline
// data or file references.
func userParts(raw json.RawMessage, p string) ([]part, *openai.Error) {
	text, list, isList, e := decodeContent(raw, p)
	if e != nil {
		return nil, e
	}
	if !isList {
		if text == "" {
			return nil, nil
		}
		return []part{{Text: strPtr(text)}}, nil
	}
	var out []part
	for j, cp := range list {
		pp := fmt.Sprintf("%s[%d]", p, j)
		switch cp.Type {
		case "text":
			if cp.Text != "" {
				out = append(out, part{Text: strPtr(cp.Text)})
			}
		case "image_url":
			if cp.ImageURL == nil {
				return nil, invalid(pp+".image_url", "an image_url part needs an image_url object")
			}
			mp, e := mediaPart(cp.ImageURL.URL, pp+".image_url.url")
			if e != nil {
				return nil, e
			}
			out = append(out, mp)
		case "input_audio":
			if cp.InputAudio == nil || cp.InputAudio.Data == "" {
				return nil, invalid(pp+".input_audio", "an input_audio part needs data and format")
			}
			out = append(out, part{InlineData: &blob{MimeType: "audio/" + cp.InputAudio.Format, Data: cp.InputAudio.Data}})
		case "file":
			if cp.File == nil || !strings.HasPrefix(cp.File.FileData, "data:") {
				return nil, invalid(pp+".file", "Gemini takes files as file_data (a data: URL); file_id is not supported")
			}
			mp, e := mediaPart(cp.File.FileData, pp+".file.file_data")
			if e != nil {
				return nil, e
			}
			out = append(out, mp)
		default:
			return nil, invalid(pp+".type", fmt.Sprintf("content part type %q is not supported by this vendor", cp.Type))
		}
	}
	return out, nil
}

// mediaPart turns a data: URL into inline data, and an http(s) or gs: URL
// into a file reference with a MIME type guessed from its extension (the
// gateway's media layer may fetch and inline those first).
func mediaPart(u, p string) (part, *openai.Error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mime, isBase64 := strings.CutSuffix(meta, ";base64")
		mime, _, _ = strings.Cut(mime, ";")
		if !ok || mime == "" {
			return part{}, invalid(p, "a data: URL must name its media type, as in data:image/png;base64,...")
		}
		if isBase64 {
			data = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
					return -1
				}
				return r
			}, data)
		} else {
			raw, err := url.PathUnescape(data)
			if err != nil {
				return part{}, invalid(p, "the data: URL is not valid: "+err.Error())
			}
			data = base64.StdEncoding.EncodeToString([]byte(raw))
		}
		return part{InlineData: &blob{MimeType: mime, Data: data}}, nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "gs") {
		return part{}, invalid(p, "expected a data: URL or an http(s) URL")
	}
	return part{FileData: &fileData{FileURI: u, MimeType: mimeByExt[strings.ToLower(path.Ext(pu.Path))]}}, nil
}

var mimeByExt = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
	".gif": "image/gif", ".heic": "image/heic", ".heif": "image/heif", ".pdf": "application/pdf",
	".mp3": "audio/mp3", ".wav": "audio/wav", ".mp4": "video/mp4",
}

// declarations translates function tools, cleaning each parameters schema
// into Gemini's subset.
func declarations(tools []openaiTool) ([]functionDeclaration, *openai.Error) {
	var out []functionDeclaration
	for i, t := range tools {
		p := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" {
			return nil, invalid(p+".type", fmt.Sprintf("tool type %q is not supported: expected \"function\"", t.Type))
		}
		if t.Function == nil || t.Function.Name == "" {
			return nil, invalid(p+".function", "a function tool needs a function with a name")
		}
		d := functionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		if raw := bytes.TrimSpace(t.Function.Parameters); len(raw) > 0 && string(raw) != "null" {
			s, err := cleanSchema(raw)
			if err != nil {
				return nil, invalid(p+".function.parameters", "parameters must be a JSON Schema object: "+err.Error())
			}
			// Gemini refuses an object schema without properties
			// ("parameters.properties: should be non-empty for OBJECT
			// type", agno-agi/agno#2112): a function without parameters
			// simply has none.
			if _, hasProps := s["properties"]; hasProps || !isObjectType(s["type"]) {
				d.Parameters = s
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func isObjectType(t any) bool {
	s, _ := t.(string)
	return s == "" || strings.EqualFold(s, "object")
}

// toolChoice maps OpenAI's tool_choice onto functionCallingConfig.
func toolChoice(raw json.RawMessage) (*toolConfig, *openai.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			return &toolConfig{functionCallingConfig{Mode: "AUTO"}}, nil
		case "none":
			return &toolConfig{functionCallingConfig{Mode: "NONE"}}, nil
		case "required":
			return &toolConfig{functionCallingConfig{Mode: "ANY"}}, nil
		}
		return nil, invalid("tool_choice", fmt.Sprintf("invalid tool_choice %q: expected none, auto, required or a named function", s))
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function.Name == "" {
		return nil, invalid("tool_choice", `tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	return &toolConfig{functionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{named.Function.Name}}}, nil
}

// genConfig gathers the sampling and output settings; nil when the client
// set none.
func genConfig(req *chatRequest, model string) (*generationConfig, *openai.Error) {
	g := generationConfig{
		Temperature:      req.Temperature,
		TopP:             req.TopP,
		MaxOutputTokens:  req.MaxTokens,
		CandidateCount:   req.N,
		Seed:             req.Seed,
		PresencePenalty:  req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty,
	}
	if req.MaxCompletionTokens != nil {
		g.MaxOutputTokens = req.MaxCompletionTokens
	}
	if stop := bytes.TrimSpace(req.Stop); len(stop) > 0 && string(stop) != "null" {
		var one string
		if json.Unmarshal(stop, &one) == nil {
			g.StopSequences = []string{one}
		} else if json.Unmarshal(stop, &g.StopSequences) != nil {
			return nil, invalid("stop", "stop must be a string or an array of strings")
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			g.ResponseMimeType = "application/json"
		case "json_schema":
			g.ResponseMimeType = "application/json"
			if rf.JSONSchema == nil || len(bytes.TrimSpace(rf.JSONSchema.Schema)) == 0 {
				return nil, invalid("response_format.json_schema.schema", "a json_schema response format needs a schema")
			}
			s, err := cleanSchema(rf.JSONSchema.Schema)
			if err != nil {
				return nil, invalid("response_format.json_schema.schema", "the schema must be a JSON Schema object: "+err.Error())
			}
			g.ResponseSchema = s
		default:
			return nil, invalid("response_format.type", fmt.Sprintf("invalid response_format type %q: expected text, json_object or json_schema", rf.Type))
		}
	}
	tc, e := thinking(req.ReasoningEffort, model)
	if e != nil {
		return nil, e
	}
	g.ThinkingConfig = tc
	if g.StopSequences == nil && g.ResponseMimeType == "" && g.ResponseSchema == nil && g.CandidateCount == nil &&
		g.MaxOutputTokens == nil && g.Temperature == nil && g.TopP == nil && g.Seed == nil &&
		g.PresencePenalty == nil && g.FrequencyPenalty == nil && g.ThinkingConfig == nil {
		return nil, nil
	}
	return &g, nil
}

// thinking maps reasoning_effort onto thinkingConfig. Gemini 3 takes a
// thinkingLevel (low or high on every Gemini 3 model); earlier models a
// token budget, which Google's own OpenAI compatibility layer sets to 1K,
// 8K and 24K for low, medium and high, and to 0 for none
// (ai.google.dev/gemini-api/docs/openai). Thought summaries are asked for
// whenever thinking is, so they come back as reasoning_content.
func thinking(effort, model string) (*thinkingConfig, *openai.Error) {
	budgets := map[string]int{"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}
	if effort == "" {
		return nil, nil
	}
	budget, ok := budgets[effort]
	if !ok {
		return nil, invalid("reasoning_effort", fmt.Sprintf("invalid reasoning_effort %q: expected none, minimal, low, medium or high", effort))
	}
	tc := &thinkingConfig{IncludeThoughts: effort != "none"}
	if strings.Contains(strings.ToLower(model), "gemini-3") {
		tc.ThinkingLevel = "high"
		if budget <= 1024 {
			tc.ThinkingLevel = "low"
		}
		return tc, nil
	}
	tc.ThinkingBudget = &budget
	return tc, nil
}

func invalid(param, msg string) *openai.Error {
	return openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "invalid_value", param, msg)
}
