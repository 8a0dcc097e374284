package gemini

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors/sse"
)

// Gemini streams (streamGenerateContent?alt=sse) are SSE frames, each a
// whole GenerateContentResponse, with no [DONE]: frames before the last
// have no finishReason and partial usageMetadata; the last has the
// finishReason and the full usage (FirebaseExtended/vertexai-sdk-test-data
// mock-responses/googleai/streaming-success-*.txt). Newer models send a
// function call in a frame of its own and then a trailing frame with
// parts [{"text":""}] and the finishReason (envoyproxy/ai-gateway#2399).
//
// translator turns those frames into OpenAI's chunks exactly: a first
// delta {role, content:""} per choice, content and reasoning_content
// deltas, one tool_calls delta per function call with its own index and
// the whole arguments, an empty delta with the finish_reason, and with
// include_usage "usage": null on every chunk and a last chunk with
// choices: [] and the usage.
type translator struct {
	id, model    string
	fallbackID   string // the id when Gemini sends no responseId
	created      int64
	includeUsage bool
	want         int // candidates asked for (n)
	newID        func() string
	key          string

	choices  map[int]*choiceState
	finished int
	usage    *usageMetadata
	started  bool // a chunk has been queued, so errors can no longer be HTTP errors
	done     bool

	out [][]byte
}

type choiceState struct {
	tools    int // function calls so far: the next tool_calls index
	finished bool
}

func newTranslator(model string, created int64, includeUsage bool, want int, fallbackID string, newID func() string, key string) *translator {
	return &translator{model: model, created: created, includeUsage: includeUsage, want: max(1, want),
		fallbackID: fallbackID, newID: newID, key: key, choices: map[int]*choiceState{}}
}

// OpenAI's chat.completion.chunk.
type chunk struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []chunkChoice   `json:"choices"`
	Usage   json.RawMessage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int     `json:"index"`
	Delta        delta   `json:"delta"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type delta struct {
	Role             string            `json:"role,omitempty"`
	Content          *string           `json:"content,omitempty"`
	ReasoningContent *string           `json:"reasoning_content,omitempty"`
	ToolCalls        []openai.ToolCall `json:"tool_calls,omitempty"`
}

func (t *translator) emit(choices []chunkChoice, u *usage) {
	c := chunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model, Choices: choices}
	if t.includeUsage {
		c.Usage = json.RawMessage("null")
		if u != nil {
			c.Usage, _ = marshal(u)
		}
	}
	b, _ := marshal(c)
	t.out = append(t.out, b)
	t.started = true
}

func (t *translator) emitDelta(index int, d delta) {
	t.emit([]chunkChoice{{Index: index, Delta: d}}, nil)
}

// choice returns the state of choice index, opening it with the role
// delta the first time.
func (t *translator) choice(index int) *choiceState {
	st := t.choices[index]
	if st == nil {
		st = &choiceState{}
		t.choices[index] = st
		t.emitDelta(index, delta{Role: "assistant", Content: strPtr("")})
	}
	return st
}

// feed translates one frame. An error ends the stream: before any chunk
// it becomes the HTTP answer, after one it is reported in-band.
func (t *translator) feed(data []byte) error {
	var r generateResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return badGateway("stream_malformed", "the vendor sent a stream event that is not the JSON it should be")
	}
	if e := bytes.TrimSpace(r.Error); len(e) > 0 && string(e) != "null" {
		return streamError(e, t.key)
	}
	// Errors first, so that nothing of a failed frame is sent.
	for _, c := range r.Candidates {
		if _, e := finishReason(c.FinishReason, c.FinishMessage, false); e != nil {
			return e
		}
	}
	if t.id == "" {
		t.id = r.ResponseID
		if t.id == "" {
			t.id = t.fallbackID
		}
	}
	if r.UsageMetadata != nil {
		t.usage = r.UsageMetadata
	}
	if len(r.Candidates) == 0 && r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		if !t.started {
			return blockedError(r.PromptFeedback)
		}
		// Blocked after the answer began: end every open choice there.
		for _, i := range slices.Sorted(maps.Keys(t.choices)) {
			if st := t.choices[i]; !st.finished {
				t.finish(i, st, "content_filter")
			}
		}
		t.end()
		return nil
	}
	for _, c := range r.Candidates {
		st := t.choice(c.Index)
		if st.finished {
			continue // nothing may follow a choice's finish_reason
		}
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					tc := toolCall(p, t.newID)
					idx := st.tools
					tc.Index = &idx
					st.tools++
					t.emitDelta(c.Index, delta{ToolCalls: []openai.ToolCall{tc}})
				case p.Text != nil && *p.Text != "" && p.Thought:
					t.emitDelta(c.Index, delta{ReasoningContent: p.Text})
				case p.Text != nil && *p.Text != "":
					t.emitDelta(c.Index, delta{Content: p.Text})
				}
			}
		}
		if c.FinishReason != "" {
			fr, _ := finishReason(c.FinishReason, c.FinishMessage, st.tools > 0)
			t.finish(c.Index, st, fr)
		}
	}
	if t.finished >= t.want && t.allFinished() {
		t.end()
	}
	return nil
}

func (t *translator) finish(index int, st *choiceState, reason string) {
	st.finished = true
	t.finished++
	t.emit([]chunkChoice{{Index: index, Delta: delta{}, FinishReason: &reason}}, nil)
}

func (t *translator) allFinished() bool {
	for _, st := range t.choices {
		if !st.finished {
			return false
		}
	}
	return len(t.choices) > 0
}

// end closes the stream: the usage chunk if asked for, then io.EOF.
func (t *translator) end() {
	if t.done {
		return
	}
	t.done = true
	if t.includeUsage {
		u := toUsage(t.usage)
		t.emit([]chunkChoice{}, &u)
	}
}

// eof handles the end of the upstream body: fine after every choice
// finished, a broken stream otherwise.
func (t *translator) eof() error {
	if t.done {
		return nil
	}
	if t.finished > 0 && t.allFinished() {
		t.end()
		return nil
	}
	return badGateway("stream_truncated", "the vendor's stream ended before it was complete")
}

// stream is a vendors.Stream over a Gemini SSE body.
type stream struct {
	body io.ReadCloser
	r    *sse.Reader
	t    *translator
	err  error
}

func (s *stream) Next() ([]byte, error) {
	for {
		if len(s.t.out) > 0 {
			d := s.t.out[0]
			s.t.out = s.t.out[1:]
			return d, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		if s.t.done {
			s.err = io.EOF
			continue
		}
		ev, err := s.r.Next()
		switch {
		case err == io.EOF:
			s.err = s.t.eof()
		case err != nil:
			s.err = badGateway("stream_broken", "the vendor's stream broke: "+err.Error())
		default:
			if d := bytes.TrimSpace(ev.Data); len(d) > 0 {
				s.err = s.t.feed(d)
			}
		}
	}
}

func (s *stream) Close() error { return s.body.Close() }

// Usage implements vendors.UsageReporter: every Gemini frame carries
// usageMetadata, asked for or not.
func (s *stream) Usage() []byte {
	if s.t.usage == nil {
		return nil
	}
	b, _ := marshal(toUsage(s.t.usage))
	return b
}
