package anthropic

import (
	"encoding/json"
	"fmt"
)

// Event is one server-sent event of Anthropic's stream: `event: Name` and
// `data: Data`.
type Event struct {
	Name string
	Data []byte
}

// AppendSSE appends the event in text/event-stream framing.
func (e Event) AppendSSE(b []byte) []byte {
	b = append(b, "event: "...)
	b = append(b, e.Name...)
	b = append(b, "\ndata: "...)
	b = append(b, e.Data...)
	return append(b, "\n\n"...)
}

// Stream translates an OpenAI chat.completion.chunk stream into Anthropic's
// event stream, one chunk at a time:
//
//	message_start
//	content_block_start, ping (after the first block only), content_block_delta…, content_block_stop
//	… one block per run of thinking (thinking_delta), text (text_delta) or
//	  tool call (tool_use with input_json_delta), indexes 0, 1, 2… in order
//	message_delta (stop_reason, stop_sequence, usage), message_stop
//
// Each OpenAI tool call index gets its own tool_use block, numbered in the
// order the calls first appear. A block is closed when the next one opens
// (Anthropic streams one block at a time); a vendor that interleaves the
// argument fragments of parallel calls still has every fragment delivered
// to its own block's index, so no input is lost.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	model string
	stops []string

	started, finished bool
	next              int    // the next block's index
	open              int    // the open block's index, -1 for none
	openKind          string // "text", "thinking" or "tool_use"
	pinged            bool

	tools   map[int]*toolState // by OpenAI tool call index
	last    *toolState         // the latest call (for vendors that omit index)
	sawTool bool
	refusal bool
	finish  string
	matched json.RawMessage
	usage   *Usage
}

type toolState struct {
	id, name string
	block    int // -1 until its block started
	pending  []byte
}

// NewStream starts a translation for the model the client asked for and
// the request's stop sequences.
func NewStream(model string, stops []string) *Stream {
	return &Stream{model: model, stops: stops, open: -1, tools: map[int]*toolState{}}
}

// Chunk translates one OpenAI chunk (the JSON of one data: line) into the
// events to send, possibly none. The first chunk always yields
// message_start. An error means the chunk was not a chunk at all.
func (s *Stream) Chunk(data []byte) ([]Event, error) {
	var c chatCompletion
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("the vendor sent a stream chunk that is not valid JSON: %w", err)
	}
	var evs []Event
	if !s.started {
		evs = s.start(c.ID, c.Usage)
	}
	if c.Usage != nil {
		u := c.Usage.usage()
		s.usage = &u
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // Anthropic has one answer; n > 1 is never asked for
		}
		d := &ch.Delta
		if r := d.reasoning(); r != "" {
			evs = s.delta(evs, "thinking", marshal(thinkingDelta{Type: "thinking_delta", Thinking: r}))
		}
		if t := text(d.Content); t != "" {
			evs = s.delta(evs, "text", marshal(textDelta{Type: "text_delta", Text: t}))
		}
		if d.Refusal != nil && *d.Refusal != "" {
			s.refusal = true
			evs = s.delta(evs, "text", marshal(textDelta{Type: "text_delta", Text: *d.Refusal}))
		}
		for k := range d.ToolCalls {
			evs = s.toolCall(evs, &d.ToolCalls[k])
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finish = *ch.FinishReason
			s.matched = ch.StopReason
			evs = s.close(evs)
		}
	}
	return evs, nil
}

// Finish ends a stream the vendor completed: the open block is closed,
// then message_delta and message_stop. It yields nothing the second time.
func (s *Stream) Finish() []Event {
	if s.finished {
		return nil
	}
	var evs []Event
	if !s.started {
		evs = s.start("", nil)
	}
	evs = s.close(evs)
	s.finished = true
	reason, seq := stopReason(s.finish, s.sawTool, s.refusal, s.matched, s.stops)
	md := messageDelta{Type: "message_delta"}
	md.Delta.StopReason, md.Delta.StopSequence = reason, seq
	if s.usage != nil {
		md.Usage = s.usage
	} else {
		md.Usage = outputOnly{}
	}
	return append(evs, Event{"message_delta", marshal(md)}, Event{"message_stop", []byte(`{"type":"message_stop"}`)})
}

func (s *Stream) start(vendorID string, u *chatUsage) []Event {
	s.started = true
	m := message{ID: MessageID(vendorID), Type: "message", Role: "assistant", Model: s.model, Content: []any{}}
	if u != nil {
		m.Usage = u.usage()
	}
	return []Event{{"message_start", marshal(struct {
		Type    string  `json:"type"`
		Message message `json:"message"`
	}{"message_start", m})}}
}

// delta sends a delta to the open block of kind, opening one first when
// the open block is of another kind.
func (s *Stream) delta(evs []Event, kind string, delta []byte) []Event {
	if s.open < 0 || s.openKind != kind {
		evs = s.close(evs)
		var block any
		switch kind {
		case "text":
			block = textBlock{Type: "text"}
		case "thinking":
			block = thinkingBlock{Type: "thinking"}
		}
		evs = s.startBlock(evs, kind, marshal(block))
	}
	return append(evs, deltaEvent(s.open, delta))
}

func (s *Stream) startBlock(evs []Event, kind string, block []byte) []Event {
	s.open, s.openKind = s.next, kind
	s.next++
	evs = append(evs, Event{"content_block_start", fmt.Appendf(nil,
		`{"type":"content_block_start","index":%d,"content_block":%s}`, s.open, block)})
	if !s.pinged {
		s.pinged = true
		evs = append(evs, Event{"ping", []byte(`{"type":"ping"}`)})
	}
	return evs
}

func (s *Stream) close(evs []Event) []Event {
	if s.open < 0 {
		return evs
	}
	evs = append(evs, Event{"content_block_stop", fmt.Appendf(nil, `{"type":"content_block_stop","index":%d}`, s.open)})
	s.open, s.openKind = -1, ""
	return evs
}

func deltaEvent(index int, delta []byte) Event {
	return Event{"content_block_delta", fmt.Appendf(nil, `{"type":"content_block_delta","index":%d,"delta":%s}`, index, delta)}
}

// toolCall handles one tool call fragment. A call's block starts once its
// name is known (the first fragment, from every vendor seen); arguments
// arriving before that are held back until then.
func (s *Stream) toolCall(evs []Event, tc *outToolCall) []Event {
	t := s.toolFor(tc)
	if tc.ID != "" && t.id == "" {
		t.id = tc.ID
	}
	if tc.Function.Name != "" && t.name == "" {
		t.name = tc.Function.Name
	}
	args := tc.Function.Arguments
	if t.block < 0 {
		t.pending = append(t.pending, args...)
		if t.name == "" {
			return evs
		}
		if t.id == "" {
			t.id = "toolu_" + randomID()
		}
		evs = s.close(evs)
		s.sawTool = true
		t.block = s.next
		evs = s.startBlock(evs, "tool_use", marshal(toolUseBlock{Type: "tool_use", ID: t.id, Name: t.name, Input: json.RawMessage("{}")}))
		args, t.pending = string(t.pending), nil
	}
	if args == "" {
		return evs
	}
	return append(evs, deltaEvent(t.block, marshal(jsonDelta{Type: "input_json_delta", PartialJSON: args})))
}

// toolFor finds the state of the call a fragment belongs to: by index, or
// for vendors that omit it, by id (a new id is a new call, no id the
// latest call).
func (s *Stream) toolFor(tc *outToolCall) *toolState {
	key := -1
	switch {
	case tc.Index != nil:
		key = *tc.Index
	case tc.ID != "" && (s.last == nil || s.last.id != tc.ID), s.last == nil:
		key = len(s.tools)
		for s.tools[key] != nil {
			key++
		}
	default:
		return s.last
	}
	t := s.tools[key]
	if t == nil {
		t = &toolState{block: -1}
		s.tools[key] = t
	}
	s.last = t
	return t
}

type textDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingDelta struct {
	Type     string `json:"type"`
	Thinking string `json:"thinking"`
}

type jsonDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

type messageDelta struct {
	Type  string `json:"type"`
	Delta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage any `json:"usage"`
}

// outputOnly is message_delta's usage when the vendor reported none.
type outputOnly struct {
	OutputTokens int64 `json:"output_tokens"`
}
