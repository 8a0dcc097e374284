// Package mock is an in-process vendor that answers deterministically:
// text, streams, tool calls and embeddings, with no network and no key. It
// makes a zero-config gateway answer at once, and its answers say plainly
// that they are mocked.
package mock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
)

// Adapter is the mock vendor.
type Adapter struct {
	seq atomic.Uint64 // makes ids unique per process
}

// New returns a mock vendor.
func New() *Adapter { return &Adapter{} }

type message struct {
	Role      string            `json:"role,omitempty"`
	Content   *string           `json:"content"`
	ToolCalls []openai.ToolCall `json:"tool_calls,omitempty"`
	Refusal   *string           `json:"refusal"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// answer is what the mock decided to say.
type answer struct {
	text   string
	calls  []openai.ToolCall
	finish string
	usage  usage
}

func (a *Adapter) decide(r *openai.ChatRequest) answer {
	var ans answer
	last := r.Messages[len(r.Messages)-1]
	switch {
	case last.Role == "tool":
		ans.text = "Mock answer using the tool result: " + truncate(last.Content.String(), 200)
	case len(r.Tools) > 0 && string(r.ToolChoice) != `"none"`:
		ans.calls = a.toolCalls(r)
	default:
		ans.text = "This is a mock response from genrouter (no vendor is configured). You said: " +
			truncate(r.LastUserText(), 200)
	}
	ans.finish = "stop"
	if len(ans.calls) > 0 {
		ans.finish = "tool_calls"
	}
	if r.MaxTokens != nil && *r.MaxTokens > 0 && ans.calls == nil {
		if words := strings.Fields(ans.text); len(words) > *r.MaxTokens {
			ans.text, ans.finish = strings.Join(words[:*r.MaxTokens], " "), "length"
		}
	}
	prompt := 0
	for _, m := range r.Messages {
		prompt += tokens(m.Content.String())
	}
	out := tokens(ans.text)
	for _, c := range ans.calls {
		out += tokens(c.Function.Arguments) + 1
	}
	ans.usage = usage{PromptTokens: prompt, CompletionTokens: out, TotalTokens: prompt + out}
	return ans
}

// toolCalls calls the named tool, or the first one, with arguments built
// from the required properties of its schema.
func (a *Adapter) toolCalls(r *openai.ChatRequest) []openai.ToolCall {
	tool := r.Tools[0].Function
	var named struct {
		Function struct{ Name string } `json:"function"`
	}
	if json.Unmarshal(r.ToolChoice, &named) == nil && named.Function.Name != "" {
		for _, t := range r.Tools {
			if t.Function.Name == named.Function.Name {
				tool = t.Function
			}
		}
	}
	return []openai.ToolCall{{
		ID:       fmt.Sprintf("call_mock%06d", a.seq.Add(1)),
		Type:     "function",
		Function: openai.FunctionCall{Name: tool.Name, Arguments: exampleArgs(tool.Parameters)},
	}}
}

func exampleArgs(schema json.RawMessage) string {
	var s struct {
		Properties map[string]struct {
			Type any   `json:"type"`
			Enum []any `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	json.Unmarshal(schema, &s)
	args := map[string]any{}
	for _, name := range s.Required {
		p := s.Properties[name]
		switch {
		case len(p.Enum) > 0:
			args[name] = p.Enum[0]
		case p.Type == "number" || p.Type == "integer":
			args[name] = 1
		case p.Type == "boolean":
			args[name] = true
		case p.Type == "array":
			args[name] = []any{}
		case p.Type == "object":
			args[name] = map[string]any{}
		default:
			args[name] = "mock"
		}
	}
	b, _ := json.Marshal(args)
	return string(b)
}

// Chat implements vendors.Adapter.
func (a *Adapter) Chat(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ans := a.decide(c.Chat)
	id := fmt.Sprintf("chatcmpl-mock%06d", a.seq.Add(1))
	created := time.Now().Unix()
	if c.Stream {
		return &vendors.Result{Stream: &stream{chunks: chunks(id, created, c.Model, ans, c.IncludeUsage)}}, nil
	}
	msg := message{Role: "assistant", ToolCalls: ans.calls}
	if ans.calls == nil {
		msg.Content = &ans.text
	}
	body, err := json.Marshal(map[string]any{
		"id": id, "object": "chat.completion", "created": created, "model": c.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": ans.finish}},
		"usage":   ans.usage, "system_fingerprint": "fp_mock",
	})
	if err != nil {
		return nil, fmt.Errorf("mock: %w", err)
	}
	return &vendors.Result{Body: body}, nil
}

// chunks lays out a stream exactly as OpenAI does: a role chunk, content
// pieces, a finish chunk, then (if asked) a usage chunk with no choices.
func chunks(id string, created int64, model string, ans answer, includeUsage bool) [][]byte {
	var out [][]byte
	add := func(delta any, finish any) {
		c := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_mock",
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if includeUsage {
			c["usage"] = nil
		}
		b, _ := json.Marshal(c)
		out = append(out, b)
	}
	add(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil)
	for _, w := range strings.SplitAfter(ans.text, " ") {
		if w != "" {
			add(map[string]any{"content": w}, nil)
		}
	}
	for i, tc := range ans.calls {
		add(map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Function.Name, "arguments": ""}}}}, nil)
		args := tc.Function.Arguments
		for len(args) > 0 {
			n := min(8, len(args))
			add(map[string]any{"tool_calls": []any{map[string]any{
				"index": i, "function": map[string]any{"arguments": args[:n]}}}}, nil)
			args = args[n:]
		}
	}
	add(map[string]any{}, ans.finish)
	if includeUsage {
		b, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_mock", "choices": []any{}, "usage": ans.usage,
		})
		out = append(out, b)
	}
	return out
}

type stream struct {
	chunks [][]byte
	i      int
}

func (s *stream) Next() ([]byte, error) {
	if s.i >= len(s.chunks) {
		return nil, io.EOF
	}
	s.i++
	return s.chunks[s.i-1], nil
}

func (s *stream) Close() error { return nil }

// Embed implements vendors.Adapter: a deterministic unit vector per input.
func (a *Adapter) Embed(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	var req struct {
		Input          json.RawMessage `json:"input"`
		Dimensions     int             `json:"dimensions"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if err := json.Unmarshal(c.Body, &req); err != nil {
		return nil, fmt.Errorf("mock: %w", err)
	}
	inputs := embeddingInputs(req.Input)
	dims := req.Dimensions
	if dims <= 0 {
		dims = 16
	}
	data := make([]any, len(inputs))
	total := 0
	for i, in := range inputs {
		v := vector(in, dims)
		total += tokens(in)
		var emb any = v
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	body, err := json.Marshal(map[string]any{
		"object": "list", "data": data, "model": c.Model,
		"usage": map[string]int{"prompt_tokens": total, "total_tokens": total},
	})
	if err != nil {
		return nil, fmt.Errorf("mock: %w", err)
	}
	return &vendors.Result{Body: body}, nil
}

func embeddingInputs(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []json.RawMessage
	json.Unmarshal(raw, &many)
	out := make([]string, len(many))
	for i, m := range many {
		if json.Unmarshal(m, &out[i]) != nil {
			out[i] = string(m) // token arrays: embed their text form
		}
	}
	return out
}

func vector(s string, dims int) []float32 {
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d:%s", i, s)
		v[i] = float32(h.Sum64()%2001)/1000 - 1
		norm += float64(v[i]) * float64(v[i])
	}
	if norm > 0 {
		n := float32(math.Sqrt(norm))
		for i := range v {
			v[i] /= n
		}
	}
	return v
}

// tokens is a rough count: about four characters a token, at least one.
func tokens(s string) int { return max(1, (len(s)+3)/4) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
