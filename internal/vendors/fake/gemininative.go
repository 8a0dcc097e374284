package fake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// geminiNativeWire renders Gemini's native API under /v1beta:
// models/{model}:generateContent, :streamGenerateContent (SSE with
// alt=sse, else a streamed JSON array), :batchEmbedContents, GET models and
// models/{model}. Shapes follow /work/shared/vendor-wire-formats.md
// ("Gemini native") and the recorded payloads it cites, chiefly
// FirebaseExtended/vertexai-sdk-test-data mock-responses/googleai/.
//
// Requests are parsed strictly, as Google parses them: an unknown field
// anywhere (an OpenAI field, a JSON Schema keyword Gemini's Schema lacks
// such as additionalProperties or $ref) is a 400, so an adapter that
// forgets to translate something fails here as it would against Gemini.
// Unlike Google, snake_case field names are not accepted.
//
// Answers come from the shared decide (reply.go), so text and tool-call
// choices match the other flavours. User text containing "malformed"
// finishes with MALFORMED_FUNCTION_CALL, "unsafe" with SAFETY after part
// of the text, and "blocked" gets promptFeedback.blockReason SAFETY and
// no candidates. generationConfig.maxOutputTokens below the answer's
// length finishes with MAX_TOKENS; thinkingConfig.includeThoughts adds a
// thought summary part.
//
// The request's stream-ness is in its URL, which ServeHTTP does not read:
// Recorded.Stream is false for streamGenerateContent, and a Fault with a
// Status answers a stream with that HTTP error even when CutAfter,
// StallAfter or ErrorEventAfter are set. Set ErrorEventAfter without Status
// for an in-stream error (it is then 500 INTERNAL).
type geminiNativeWire struct{}

const nativePrefix = "/v1beta"

func (geminiNativeWire) prefix() string { return nativePrefix }

// apiKey reads x-goog-api-key or, failing that, ?key= (both work on the
// real API: docker/compose-for-agents#114, CloudLLM-ai/cloudllm#5).
func (geminiNativeWire) apiKey(r *http.Request) string {
	if k := strings.TrimSpace(r.Header.Get("x-goog-api-key")); k != "" {
		return k
	}
	return r.URL.Query().Get("key")
}

func (geminiNativeWire) modelName(m string) string { return strings.TrimPrefix(m, "models/") }

func (geminiNativeWire) defaultModels() []string {
	return []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-flash-preview", "gemini-embedding-001"}
}

func (geminiNativeWire) contentType(stream bool) string {
	if stream {
		return "text/event-stream"
	}
	return "application/json; charset=UTF-8"
}

func (geminiNativeWire) headers(h http.Header, c *call, status int) {
	h.Set("Server", "scaffolding on HTTPServer2")
	h.Set("Vary", "Origin, X-Origin, Referer")
}

// modelFromPath reads {model} from /v1beta/models/{model}[:method].
func (geminiNativeWire) modelFromPath(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, nativePrefix+"/models/")
	if !ok {
		return ""
	}
	m, _, _ := strings.Cut(rest, ":")
	return m
}

func nativeError(code int, message string, details ...any) (int, any, string) {
	return code, googleError(code, message, details...), "  "
}

func nativeModelNotFound(model string) string {
	// As in mock-responses/googleai/unary-failure-unknown-model.txt, for v1beta.
	return "models/" + strings.TrimPrefix(model, "models/") +
		" is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
}

func (geminiNativeWire) errorFor(c *call, f failure) (int, any, string) {
	switch f.kind {
	case failNoKey:
		// Inferred: Google's answer to a call with no credential at all.
		return nativeError(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
	case failBadKey, failBadJSON:
		// The compat endpoint's bodies, which are Google's own, without
		// the array around them (bad key:
		// mock-responses/googleai/unary-failure-api-key.txt).
		status, body, _ := geminiCompatWire{}.errorFor(c, f)
		return status, body.([]any)[0], "  "
	case failInvalid:
		return nativeError(400, f.arg)
	case failNoModel, failNoSuchModel:
		return nativeError(404, nativeModelNotFound(f.arg))
	case failNoRoute:
		return nativeError(404, "Method not found.")
	}
	status, body := nativeStatusError(c, f.status)
	return status, body, "  "
}

// nativeStatusError is Gemini's error body for an injected status. 429 is
// RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail: its retryDelay is
// the Fault's RetryAfter when numeric, else 17s. The others are the
// compat flavour's bodies, unwrapped from their array.
func nativeStatusError(c *call, status int) (int, any) {
	if status == http.StatusTooManyRequests {
		delay := "17s"
		if ra := c.w.Header().Get("Retry-After"); allDigits.MatchString(ra) {
			delay = ra + "s"
		}
		return 429, googleError(429, "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
			obj{{"@type", "type.googleapis.com/google.rpc.Help"}, {"links", []any{obj{{"description", "Learn more about Gemini API quotas"}, {"url", "https://ai.google.dev/gemini-api/docs/rate-limits"}}}}},
			obj{{"@type", "type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", delay}})
	}
	if status == http.StatusNotFound {
		return 404, googleError(404, nativeModelNotFound(c.rec.Model))
	}
	code, body, _ := geminiStatusError(c, status)
	return code, body.([]any)[0]
}

func (geminiNativeWire) streamError(c *call, status int) any {
	_, body := nativeStatusError(c, status)
	return body
}

// route serves every path under /v1beta; anything unknown is Google's 404.
func (w geminiNativeWire) route(s *Server, c *call) bool {
	p, ok := strings.CutPrefix(c.r.URL.Path, nativePrefix)
	rest, isModel := strings.CutPrefix(p, "/models/")
	switch {
	case !ok:
	case p == "/models" && c.r.Method == http.MethodGet:
		s.listModels(c)
		return true
	case isModel && c.r.Method == http.MethodGet && !strings.Contains(rest, ":"):
		s.getModel(c, rest)
		return true
	case isModel && c.r.Method == http.MethodPost:
		model, method, _ := strings.Cut(rest, ":")
		switch method {
		case "generateContent":
			w.generate(s, c, model, false, false)
			return true
		case "streamGenerateContent":
			w.generate(s, c, model, true, c.r.URL.Query().Get("alt") == "sse")
			return true
		case "batchEmbedContents":
			w.batchEmbed(s, c, model)
			return true
		}
	}
	c.fail(failure{kind: failNoRoute, arg: c.r.Method + " " + c.r.URL.Path})
	return true
}

// GeminiRequest is a generateContent request as the Gemini-native fake
// parses it. Model and Stream come from the URL.
type GeminiRequest struct {
	Model  string `json:"-"`
	Stream bool   `json:"-"`

	Contents          []GeminiContent         `json:"contents"`
	SystemInstruction *GeminiContent          `json:"systemInstruction,omitempty"`
	Tools             []GeminiTool            `json:"tools,omitempty"`
	ToolConfig        *GeminiToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *GeminiGenerationConfig `json:"generationConfig,omitempty"`
	SafetySettings    []json.RawMessage       `json:"safetySettings,omitempty"`
	CachedContent     string                  `json:"cachedContent,omitempty"`
}

// GeminiContent is one turn.
type GeminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []GeminiPart `json:"parts"`
}

// GeminiPart is one part of a turn.
type GeminiPart struct {
	Text             *string                 `json:"text,omitempty"`
	Thought          bool                    `json:"thought,omitempty"`
	ThoughtSignature string                  `json:"thoughtSignature,omitempty"`
	InlineData       *GeminiBlob             `json:"inlineData,omitempty"`
	FileData         *GeminiFileData         `json:"fileData,omitempty"`
	FunctionCall     *GeminiFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *GeminiFunctionResponse `json:"functionResponse,omitempty"`
}

// GeminiBlob is inline data.
type GeminiBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// GeminiFileData references a file by URI.
type GeminiFileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// GeminiFunctionCall is a call the model made.
type GeminiFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// GeminiFunctionResponse is a function's result.
type GeminiFunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// GeminiTool holds function declarations (other tools are accepted and
// ignored).
type GeminiTool struct {
	FunctionDeclarations  []GeminiFunctionDeclaration `json:"functionDeclarations,omitempty"`
	GoogleSearch          json.RawMessage             `json:"googleSearch,omitempty"`
	CodeExecution         json.RawMessage             `json:"codeExecution,omitempty"`
	URLContext            json.RawMessage             `json:"urlContext,omitempty"`
	GoogleSearchRetrieval json.RawMessage             `json:"googleSearchRetrieval,omitempty"`
}

// GeminiFunctionDeclaration declares a function.
type GeminiFunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           *GeminiSchema   `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
	Response             *GeminiSchema   `json:"response,omitempty"`
}

// GeminiSchema is Gemini's Schema: exactly the fields of
// protos.google.ai.generativelanguage.v1beta.ISchema, so that anything
// else is refused.
type GeminiSchema struct {
	Type             string                   `json:"type,omitempty"`
	Format           string                   `json:"format,omitempty"`
	Title            string                   `json:"title,omitempty"`
	Description      string                   `json:"description,omitempty"`
	Nullable         *bool                    `json:"nullable,omitempty"`
	Enum             []string                 `json:"enum,omitempty"`
	Properties       map[string]*GeminiSchema `json:"properties,omitempty"`
	Required         []string                 `json:"required,omitempty"`
	PropertyOrdering []string                 `json:"propertyOrdering,omitempty"`
	Items            *GeminiSchema            `json:"items,omitempty"`
	AnyOf            []*GeminiSchema          `json:"anyOf,omitempty"`
	Minimum          *float64                 `json:"minimum,omitempty"`
	Maximum          *float64                 `json:"maximum,omitempty"`
	MinLength        json.RawMessage          `json:"minLength,omitempty"`
	MaxLength        json.RawMessage          `json:"maxLength,omitempty"`
	MinItems         json.RawMessage          `json:"minItems,omitempty"`
	MaxItems         json.RawMessage          `json:"maxItems,omitempty"`
	MinProperties    json.RawMessage          `json:"minProperties,omitempty"`
	MaxProperties    json.RawMessage          `json:"maxProperties,omitempty"`
	Pattern          string                   `json:"pattern,omitempty"`
	Example          json.RawMessage          `json:"example,omitempty"`
	Default          json.RawMessage          `json:"default,omitempty"`
}

// GeminiToolConfig is toolConfig.
type GeminiToolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode,omitempty"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig,omitempty"`
}

// GeminiGenerationConfig is generationConfig.
type GeminiGenerationConfig struct {
	StopSequences      []string              `json:"stopSequences,omitempty"`
	ResponseMimeType   string                `json:"responseMimeType,omitempty"`
	ResponseSchema     *GeminiSchema         `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage       `json:"responseJsonSchema,omitempty"`
	ResponseModalities []string              `json:"responseModalities,omitempty"`
	CandidateCount     *int                  `json:"candidateCount,omitempty"`
	MaxOutputTokens    *int                  `json:"maxOutputTokens,omitempty"`
	Temperature        *float64              `json:"temperature,omitempty"`
	TopP               *float64              `json:"topP,omitempty"`
	TopK               *int                  `json:"topK,omitempty"`
	Seed               *int64                `json:"seed,omitempty"`
	PresencePenalty    *float64              `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64              `json:"frequencyPenalty,omitempty"`
	ResponseLogprobs   *bool                 `json:"responseLogprobs,omitempty"`
	Logprobs           *int                  `json:"logprobs,omitempty"`
	ThinkingConfig     *GeminiThinkingConfig `json:"thinkingConfig,omitempty"`
}

// GeminiThinkingConfig is generationConfig.thinkingConfig.
type GeminiThinkingConfig struct {
	IncludeThoughts *bool  `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
}

// GeminiRequests returns the generateContent and streamGenerateContent
// requests received so far, parsed, in order: tests read the cleaned
// schemas and the echoed thought signatures from them.
func (s *Server) GeminiRequests() []GeminiRequest {
	var out []GeminiRequest
	for _, r := range s.Requests() {
		_, method, _ := strings.Cut(r.Path, ":")
		if method != "generateContent" && method != "streamGenerateContent" {
			continue
		}
		var g GeminiRequest
		json.Unmarshal(r.Body, &g)
		g.Model, g.Stream = r.Model, method == "streamGenerateContent"
		out = append(out, g)
	}
	return out
}

// parseStrict decodes body into v refusing unknown fields, with Google's
// wording.
func parseStrict(body []byte, v any) *failure {
	if !json.Valid(body) {
		return &failure{kind: failBadJSON}
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil {
		return nil
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &failure{kind: failInvalid, arg: "Invalid JSON payload received. Unknown name " + name + ": Cannot find field."}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &failure{kind: failInvalid, arg: fmt.Sprintf("Invalid value at '%s' (%s), %s", te.Field, te.Type, te.Value)}
	}
	return &failure{kind: failInvalid, arg: "Invalid JSON payload received. " + err.Error()}
}

// skipThoughtSignature is the signature Google documents for function
// calls the model did not make itself; Gemini accepts it in place of one.
const skipThoughtSignature = "skip_thought_signature_validator"

// GeminiThoughtSignature is the thoughtSignature the fake puts on the first
// function call of an answer calling name with args: base64 of 95 bytes
// derived from both, so that it can be checked when it comes back.
func GeminiThoughtSignature(name string, args []byte) string {
	canon := canonicalJSON(args)
	var b []byte
	for i := 0; len(b) < 95; i++ {
		b = append(b, digest("thought-signature", name, canon, strconv.Itoa(i))...)
	}
	return base64.StdEncoding.EncodeToString(b[:95])
}

// canonicalJSON re-encodes JSON with sorted keys, so that arguments
// re-serialised by a client still match.
func canonicalJSON(raw []byte) string {
	var v any
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &v) != nil {
		return "{}"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// validate checks what Gemini checks beyond the JSON's shape.
func (r *GeminiRequest) validate() *failure {
	bad := func(format string, a ...any) *failure {
		return &failure{kind: failInvalid, arg: "* " + fmt.Sprintf(format, a...) + "\n"}
	}
	if len(r.Contents) == 0 {
		return bad("GenerateContentRequest.contents: contents is not specified")
	}
	signed := !strings.Contains(r.Model, "gemini-1") && !strings.Contains(r.Model, "gemini-2")
	for i, c := range r.Contents {
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return &failure{kind: failInvalid, arg: "Please use a valid role: user, model."}
		}
		if len(c.Parts) == 0 {
			return bad("GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		firstCall := true
		for j, p := range c.Parts {
			if p.Text == nil && p.InlineData == nil && p.FileData == nil && p.FunctionCall == nil && p.FunctionResponse == nil {
				return bad("GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field", i, j)
			}
			if p.FunctionCall == nil {
				continue
			}
			// Inferred wording; the rules are from the thought-signatures
			// guide: a signature must come back unaltered, and Gemini 3
			// refuses a step's first function call without one.
			sig := p.ThoughtSignature
			switch {
			case sig == "" && firstCall && signed:
				return &failure{kind: failInvalid, arg: fmt.Sprintf("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", p.FunctionCall.Name, j+1)}
			case sig != "" && sig != skipThoughtSignature && sig != GeminiThoughtSignature(p.FunctionCall.Name, p.FunctionCall.Args):
				return &failure{kind: failInvalid, arg: "Corrupted thought signature."}
			}
			firstCall = false
		}
	}
	for i, t := range r.Tools {
		for j, d := range t.FunctionDeclarations {
			at := fmt.Sprintf("GenerateContentRequest.tools[%d].function_declarations[%d]", i, j)
			if d.Name == "" {
				return bad("%s.name: [FIELD_INVALID] Invalid function name. Must start with a letter or an underscore.", at)
			}
			if p := d.Parameters; p != nil {
				if strings.EqualFold(p.Type, "object") && len(p.Properties) == 0 {
					// agno-agi/agno#2112
					return bad("%s.parameters.properties: should be non-empty for OBJECT type", at)
				}
				if f := checkSchema(p, at+".parameters"); f != nil {
					return f
				}
			}
		}
	}
	if g := r.GenerationConfig; g != nil {
		if g.ResponseSchema != nil {
			if f := checkSchema(g.ResponseSchema, "GenerateContentRequest.generation_config.response_schema"); f != nil {
				return f
			}
		}
		if tc := g.ThinkingConfig; tc != nil && tc.ThinkingBudget != nil && tc.ThinkingLevel != "" {
			// Inferred wording (both at once is a 400 per the Gemini docs).
			return &failure{kind: failInvalid, arg: "You can only set only one of thinking budget and thinking level."}
		}
	}
	return nil
}

// checkSchema refuses what Gemini's Schema does not support beyond unknown
// keywords: string formats other than enum and date-time (Firebase AI
// Logic reference, SchemaShared.format) and enum on non-string types.
// Both messages are inferred.
func checkSchema(s *GeminiSchema, at string) *failure {
	if s == nil {
		return nil
	}
	isString := strings.EqualFold(s.Type, "string")
	if s.Format != "" && isString && s.Format != "enum" && s.Format != "date-time" {
		return &failure{kind: failInvalid, arg: fmt.Sprintf("* %s.format: only 'enum' and 'date-time' are supported for STRING type\n", at)}
	}
	if len(s.Enum) > 0 && s.Type != "" && !isString {
		return &failure{kind: failInvalid, arg: fmt.Sprintf("* %s.enum: only allowed for STRING type\n", at)}
	}
	for k, p := range s.Properties {
		if f := checkSchema(p, at+".properties["+k+"]"); f != nil {
			return f
		}
	}
	if f := checkSchema(s.Items, at+".items"); f != nil {
		return f
	}
	for i, a := range s.AnyOf {
		if f := checkSchema(a, fmt.Sprintf("%s.any_of[%d]", at, i)); f != nil {
			return f
		}
	}
	return nil
}

// toChat restates the request in the form decide reads.
func (r *GeminiRequest) toChat() *chatRequest {
	req := &chatRequest{Model: r.Model, Stream: r.Stream}
	if r.SystemInstruction != nil {
		req.Messages = append(req.Messages, chatMessage{Role: "system", Content: jsonString(partsText(r.SystemInstruction.Parts))})
	}
	for _, c := range r.Contents {
		if c.Role == "model" {
			m := chatMessage{Role: "assistant", Content: jsonString(partsText(c.Parts))}
			var calls []any
			for _, p := range c.Parts {
				if p.FunctionCall != nil {
					calls = append(calls, obj{{"name", p.FunctionCall.Name}, {"args", p.FunctionCall.Args}})
				}
			}
			if calls != nil {
				m.ToolCalls, _ = marshal(calls)
			}
			req.Messages = append(req.Messages, m)
			continue
		}
		var userParts []any
		for _, p := range c.Parts {
			switch {
			case p.FunctionResponse != nil:
				req.Messages = append(req.Messages, chatMessage{Role: "tool", Content: jsonString(responseText(p.FunctionResponse.Response))})
			case p.Text != nil:
				userParts = append(userParts, obj{{"type", "text"}, {"text", *p.Text}})
			case p.InlineData != nil || p.FileData != nil:
				userParts = append(userParts, obj{{"type", "image_url"}})
			}
		}
		if userParts != nil {
			b, _ := marshal(userParts)
			req.Messages = append(req.Messages, chatMessage{Role: "user", Content: b})
		}
	}
	for _, t := range r.Tools {
		for _, d := range t.FunctionDeclarations {
			ct := chatTool{Type: "function"}
			ct.Function.Name = d.Name
			if d.Parameters != nil {
				ct.Function.Parameters, _ = marshal(d.Parameters)
			}
			req.Tools = append(req.Tools, ct)
		}
	}
	if r.ToolConfig != nil && r.ToolConfig.FunctionCallingConfig != nil {
		fc := r.ToolConfig.FunctionCallingConfig
		switch {
		case fc.Mode == "NONE":
			req.ToolChoice = json.RawMessage(`"none"`)
		case fc.Mode == "ANY" && len(fc.AllowedFunctionNames) == 1:
			req.ToolChoice, _ = marshal(obj{{"type", "function"}, {"function", obj{{"name", fc.AllowedFunctionNames[0]}}}})
		case fc.Mode == "ANY":
			req.ToolChoice = json.RawMessage(`"required"`)
		}
	}
	return req
}

func jsonString(s string) json.RawMessage {
	b, _ := marshal(s)
	return b
}

func partsText(parts []GeminiPart) string {
	var b strings.Builder
	for _, p := range parts {
		if p.Text != nil && !p.Thought {
			b.WriteString(*p.Text)
		}
	}
	return b.String()
}

// responseText is a functionResponse.response as the tool's text: the
// string of a lone "content" key, else the JSON.
func responseText(raw json.RawMessage) string {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) == nil && len(o) == 1 {
		var s string
		if json.Unmarshal(o["content"], &s) == nil {
			return s
		}
	}
	return compact(raw)
}

// nativeAnswer is decide's answer with what only Gemini can say.
type nativeAnswer struct {
	*answer
	id, model     string
	finish        string // STOP, MAX_TOKENS, SAFETY, MALFORMED_FUNCTION_CALL
	finishMessage string
	blocked       bool
	thought       string
	thoughts      int // thoughtsTokenCount
	n             int // candidates
}

func (w geminiNativeWire) answerFor(c *call, g *GeminiRequest, req *chatRequest, a *answer) *nativeAnswer {
	na := &nativeAnswer{answer: a, id: alnumOf(23, "gemini-native", strconv.FormatInt(c.seq, 10)),
		model: strings.TrimPrefix(req.Model, "models/"), finish: "STOP", n: 1}
	userText, _ := lastUser(req.Messages)
	lower := strings.ToLower(userText)
	switch {
	case strings.Contains(lower, "blocked"):
		na.blocked = true
	case strings.Contains(lower, "malformed"):
		// The shape of a MALFORMED_FUNCTION_CALL candidate: no content, a
		// finishMessage quoting the bad call (wording inferred).
		na.finish = "MALFORMED_FUNCTION_CALL"
		na.finishMessage = "Malformed function call: print(default_api.get_weather(city=Paris"
		na.text, na.calls = "", nil
	case strings.Contains(lower, "unsafe"):
		// As in mock-responses/googleai/unary-failure-finish-reason-safety.txt:
		// some text, then finishReason SAFETY.
		na.finish = "SAFETY"
		na.calls = nil
		na.text = split(na.text, 2)[0]
	}
	if g == nil {
		return na
	}
	if gc := g.GenerationConfig; gc != nil {
		if gc.CandidateCount != nil && *gc.CandidateCount > 1 {
			na.n = *gc.CandidateCount
		}
		if m := gc.MaxOutputTokens; m != nil && *m > 0 && len(na.calls) == 0 && na.completion > *m && na.finish == "STOP" {
			na.text = string([]rune(na.text)[:min(utf8.RuneCountInString(na.text), *m*4)])
			na.completion, na.finish = *m, "MAX_TOKENS"
		}
		if tc := gc.ThinkingConfig; tc != nil && tc.IncludeThoughts != nil && *tc.IncludeThoughts {
			na.thought = "**Considering the request**\n\nThe user said: " + userText + "\n"
			na.thoughts = max(1, utf8.RuneCountInString(na.thought)/4)
		}
	}
	return na
}

func (na *nativeAnswer) usage(final bool) obj {
	details := []any{obj{{"modality", "TEXT"}, {"tokenCount", na.prompt}}}
	if !final {
		// Non-final frames: the prompt only (streaming-success-basic-reply-short.txt).
		return obj{{"promptTokenCount", na.prompt}, {"totalTokenCount", na.prompt + na.thoughts}, {"promptTokensDetails", details}}
	}
	out := na.completion * na.n
	if na.finish == "MALFORMED_FUNCTION_CALL" {
		out = 0
	}
	u := obj{{"promptTokenCount", na.prompt}, {"candidatesTokenCount", out},
		{"totalTokenCount", na.prompt + out + na.thoughts}, {"promptTokensDetails", details}}
	if na.thoughts > 0 {
		u = append(u, field{"thoughtsTokenCount", na.thoughts})
	}
	return u
}

// parts are the answer's parts: the thought summary, then the text or the
// function calls, the first call carrying the thought signature
// (unary-success-thinking-function-call-thought-summary-signature.json).
func (na *nativeAnswer) parts(thought bool) []any {
	var ps []any
	if thought && na.thought != "" {
		ps = append(ps, obj{{"text", na.thought}, {"thought", true}})
	}
	if len(na.calls) == 0 {
		return append(ps, obj{{"text", na.text}})
	}
	for i, tc := range na.calls {
		p := obj{{"functionCall", obj{{"name", tc.name}, {"args", json.RawMessage(tc.args)}}}}
		if i == 0 {
			p = append(p, field{"thoughtSignature", GeminiThoughtSignature(tc.name, []byte(tc.args))})
		}
		ps = append(ps, p)
	}
	return ps
}

// candidates renders one candidate per n with the given parts.
func (na *nativeAnswer) candidates(parts []any, final bool) []any {
	out := make([]any, na.n)
	for i := range out {
		c := obj{}
		if parts != nil {
			c = append(c, field{"content", obj{{"parts", parts}, {"role", "model"}}})
		}
		if final {
			c = append(c, field{"finishReason", na.finish})
			if na.finishMessage != "" {
				c = append(c, field{"finishMessage", na.finishMessage})
			}
		}
		out[i] = append(c, field{"index", i})
	}
	return out
}

func (na *nativeAnswer) envelope(head field, final bool) obj {
	return obj{head, {"usageMetadata", na.usage(final)}, {"modelVersion", na.model}, {"responseId", na.id}}
}

// blockedBody is a response to a blocked prompt: promptFeedback and no
// candidates (vercel/ai#4235; streaming-failure-prompt-blocked-safety.txt).
func (na *nativeAnswer) blockedBody() obj {
	return na.envelope(field{"promptFeedback", obj{{"blockReason", "SAFETY"}, {"safetyRatings", []any{
		obj{{"category", "HARM_CATEGORY_HATE_SPEECH"}, {"probability", "HIGH"}}}}}}, false)
}

// response is the whole answer (unary-success-basic-reply-short.txt).
func (na *nativeAnswer) response() obj {
	if na.blocked {
		return na.blockedBody()
	}
	var parts []any
	if na.finish != "MALFORMED_FUNCTION_CALL" {
		parts = na.parts(true)
	}
	return na.envelope(field{"candidates", na.candidates(parts, true)}, true)
}

// frames is the answer as stream frames: the thought summary, text pieces
// without finishReason and with partial usage, the last piece with the
// finishReason and full usage; function calls in one frame, then a
// trailing {"text":""} frame with the finishReason (envoyproxy/ai-gateway#2399).
func (na *nativeAnswer) frames(pieces int) []any {
	switch {
	case na.blocked:
		return []any{na.blockedBody()}
	case na.finish == "MALFORMED_FUNCTION_CALL":
		return []any{na.envelope(field{"candidates", na.candidates(nil, true)}, true)}
	}
	var fs []any
	frame := func(parts []any, final bool) {
		fs = append(fs, na.envelope(field{"candidates", na.candidates(parts, final)}, final))
	}
	if na.thought != "" {
		frame([]any{obj{{"text", na.thought}, {"thought", true}}}, false)
	}
	if len(na.calls) > 0 {
		frame(na.parts(false), false)
		frame([]any{obj{{"text", ""}}}, true)
		return fs
	}
	texts := split(na.text, pieces)
	for i, t := range texts {
		frame([]any{obj{{"text", t}}}, i == len(texts)-1)
	}
	return fs
}

// chat and chatStream serve the dialect interface; the native handler
// renders through the same nativeAnswer with the request's settings.
func (w geminiNativeWire) chat(c *call, req *chatRequest, a *answer) (any, string) {
	return w.answerFor(c, nil, req, a).response(), "  "
}

func (w geminiNativeWire) chatStream(c *call, req *chatRequest, a *answer) []any {
	return w.answerFor(c, nil, req, a).frames(c.s.opts.Chunks)
}

func (w geminiNativeWire) generate(s *Server, c *call, model string, stream, sse bool) {
	var g GeminiRequest
	if f := parseStrict(c.body, &g); f != nil {
		c.fail(*f)
		return
	}
	g.Model, g.Stream = w.modelName(model), stream
	if !s.knownModel(model) {
		c.fail(failure{kind: failNoModel, arg: model})
		return
	}
	if f := g.validate(); f != nil {
		c.fail(*f)
		return
	}
	req := g.toChat()
	na := w.answerFor(c, &g, req, decide(s.flavor, c.rec.KeyName, req))
	if !stream {
		c.writeJSON(http.StatusOK, na.response(), "  ")
		return
	}
	w.stream(c, na.frames(s.opts.Chunks), sse)
}

// stream writes frames as SSE data events (alt=sse; CRLF line ends with
// Options.CRLF) or as one JSON array streamed element by element, and no
// [DONE] either way. It honours ChunkGap, CutAfter, StallAfter,
// ErrorEventAfter and the client leaving.
func (w geminiNativeWire) stream(c *call, frames []any, sse bool) {
	eol := "\n"
	if c.s.opts.CRLF {
		eol = "\r\n"
	}
	ct := w.contentType(true)
	if !sse {
		ct = w.contentType(false)
	}
	c.writeHead(http.StatusOK, ct)
	rc := http.NewResponseController(c.w)
	if rc.Flush() != nil {
		c.cancel()
		return
	}
	sent := 0
	write := func(b []byte) bool {
		if c.ctx.Err() != nil {
			c.cancel()
			return false
		}
		if _, err := c.w.Write(b); err != nil || rc.Flush() != nil {
			c.cancel()
			return false
		}
		return true
	}
	send := func(data []byte) bool {
		var b []byte
		switch {
		case sse:
			b = c.frame(b, "", data, eol)
		case sent == 0:
			b = append(append(append(b, '['), data...), '\n')
		default: // the array form: [{…}\n,\r\n{…}\n]
			b = append(append(append(b, ",\r\n"...), data...), '\n')
		}
		sent++
		return write(b)
	}
	end := func() {
		if !sse {
			write([]byte("]"))
		}
	}
	f := c.fault
	if f != nil && f.CutAfter <= 0 && f.ErrorEventAfter <= 0 && f.StallAfter <= 0 {
		f = nil
	}
	for i := 0; i <= len(frames); i++ {
		if f != nil && f.CutAfter > 0 && i == min(f.CutAfter, len(frames)) {
			c.cut(rc)
			return
		}
		if f != nil && f.StallAfter > 0 && i == min(f.StallAfter, len(frames)) {
			c.wait(-1) // go silent until the client leaves
			return
		}
		if f != nil && f.ErrorEventAfter > 0 && i == min(f.ErrorEventAfter, len(frames)) {
			status := f.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			b, _ := marshal(w.streamError(c, status))
			if send(b) {
				end()
			}
			return
		}
		if i == len(frames) {
			end()
			return
		}
		if i > 0 && !c.wait(c.s.opts.ChunkGap) {
			return
		}
		b, err := marshal(frames[i])
		if err != nil {
			panic(fmt.Sprintf("fake: marshal: %v", err))
		}
		if !send(b) {
			return
		}
	}
}

// GeminiEmbedBatchLimit is how many inputs Gemini embeds in one request:
// batchEmbedContents, and the OpenAI-compatible /embeddings built on it,
// refuse more with 400 INVALID_ARGUMENT (recorded bodies in
// langchain-ai/langchainjs#4491 and geldata/gel#9032; the compat endpoint
// in StarTrail-org/LEANN PR #214).
const GeminiEmbedBatchLimit = 100

const geminiBatchTooLarge = "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"

// GeminiBatchEmbed is a batchEmbedContents request.
type GeminiBatchEmbed struct {
	Requests []struct {
		Model                string        `json:"model"`
		Content              GeminiContent `json:"content"`
		TaskType             string        `json:"taskType,omitempty"`
		Title                string        `json:"title,omitempty"`
		OutputDimensionality *int          `json:"outputDimensionality,omitempty"`
	} `json:"requests"`
}

// batchEmbed answers {"embeddings":[{"values":[…]}]} in request order
// (BatchEmbedContentsResponse), with Vector's values and no usage.
func (w geminiNativeWire) batchEmbed(s *Server, c *call, model string) {
	var req GeminiBatchEmbed
	if f := parseStrict(c.body, &req); f != nil {
		c.fail(*f)
		return
	}
	if !s.knownModel(model) {
		c.fail(failure{kind: failNoModel, arg: model})
		return
	}
	if len(req.Requests) == 0 {
		c.fail(failure{kind: failInvalid, arg: "* BatchEmbedContentsRequest.requests: at least one request is required\n"})
		return
	}
	if len(req.Requests) > GeminiEmbedBatchLimit {
		c.fail(failure{kind: failInvalid, arg: geminiBatchTooLarge})
		return
	}
	vecs := make([][]float32, len(req.Requests))
	for i, r := range req.Requests {
		if w.modelName(r.Model) != w.modelName(model) || !strings.HasPrefix(r.Model, "models/") {
			// Inferred wording: each request must name the URL's model.
			c.fail(failure{kind: failInvalid, arg: fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: the model must be models/%s, as in the URL\n", i, w.modelName(model))})
			return
		}
		dim := 8
		if r.OutputDimensionality != nil && *r.OutputDimensionality > 0 {
			dim = *r.OutputDimensionality
		}
		vecs[i] = Vector(partsText(r.Content.Parts), dim)
	}
	c.writeJSON(http.StatusOK, w.embeddings(c, nil, vecs, 0), "  ")
}

func (geminiNativeWire) embeddings(c *call, req *embedRequest, vecs [][]float32, tokens int) any {
	out := make([]any, len(vecs))
	for i, v := range vecs {
		out[i] = obj{{"values", v}}
	}
	return obj{{"embeddings", out}}
}

func (w geminiNativeWire) modelList(names []string) any {
	models := make([]any, len(names))
	for i, n := range names {
		models[i] = w.model(n)
	}
	return obj{{"models", models}}
}

// model is a Model resource (Gemini API reference, models.get).
func (w geminiNativeWire) model(name string) any {
	n := w.modelName(name)
	if strings.Contains(n, "embedding") {
		return obj{{"name", "models/" + n}, {"version", "001"}, {"displayName", n}, {"inputTokenLimit", 2048},
			{"outputTokenLimit", 1}, {"supportedGenerationMethods", []string{"embedContent", "batchEmbedContents"}}}
	}
	return obj{{"name", "models/" + n}, {"version", "001"}, {"displayName", n}, {"inputTokenLimit", 1048576},
		{"outputTokenLimit", 65536}, {"supportedGenerationMethods", []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"}},
		{"temperature", 1}, {"topP", 0.95}, {"topK", 64}, {"maxTemperature", 2}, {"thinking", true}}
}
