package openai

import (
	"encoding/json"
	"strconv"

	"github.com/genrouter/genrouter/internal/vendors"
)

// geminiStream turns Gemini's OpenAI-compatible stream into OpenAI's exact
// format. Gemini's deviations break the official SDKs:
//   - streamed tool_calls carry no integer index;
//   - a tool-call stream ends with finish_reason "stop";
//   - usage rides on the last content chunk instead of a final chunk with
//     choices: [] (and arrives even when the client did not ask for it);
//   - finish_reason is absent, not null, on non-final chunks, and role is
//     repeated on every delta.
type geminiStream struct {
	src          vendors.Stream
	includeUsage bool
	choices      map[int]*choiceState
	queued       []byte // a usage chunk to hand out on the next call
	out          []byte
	usage        []byte // the latest usage Gemini sent, kept for the gateway
}

type choiceState struct {
	tools    int  // tool calls seen so far: the next index
	roleSent bool // the first delta carried the role
}

func newGeminiStream(src vendors.Stream, includeUsage bool) *geminiStream {
	return &geminiStream{src: src, includeUsage: includeUsage, choices: map[int]*choiceState{}}
}

func (s *geminiStream) Close() error { return s.src.Close() }

// Usage implements vendors.UsageReporter: Gemini sends usage even when the
// client did not ask for it, and the gateway still has to count it.
func (s *geminiStream) Usage() []byte { return s.usage }

// Pending implements vendors.Pender: only a queued usage chunk is certain
// to come next; a buffered upstream event may be one that is dropped.
func (s *geminiStream) Pending() bool { return s.queued != nil }

func (s *geminiStream) Next() ([]byte, error) {
	if s.queued != nil {
		s.out, s.queued = s.queued, nil
		return s.out, nil
	}
	for {
		d, err := s.src.Next()
		if err != nil {
			return nil, err
		}
		out, ok := s.normalise(d)
		if ok {
			s.out = out
			return out, nil
		}
	}
}

// normalise rewrites one chunk. ok is false when the chunk carries nothing
// the client asked for (a usage-only chunk without include_usage).
func (s *geminiStream) normalise(d []byte) (out []byte, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(d, &m); err != nil {
		return d, true // not ours to judge; pass it on
	}
	var choices []map[string]json.RawMessage
	json.Unmarshal(m["choices"], &choices)
	if choices != nil {
		kept := choices[:0]
		for _, c := range choices {
			if c != nil { // a null choice says nothing; writing into it would panic
				s.fixChoice(c)
				kept = append(kept, c)
			}
		}
		m["choices"], _ = json.Marshal(kept)
	}
	usage, hasUsage := m["usage"]
	if hasUsage && string(usage) == "null" {
		hasUsage = false
	}
	if hasUsage {
		s.usage = append(s.usage[:0], usage...) // counted even when not sent on
	}
	switch {
	case hasUsage && len(choices) > 0:
		if s.includeUsage {
			m["usage"] = json.RawMessage("null")
			s.queued = usageChunk(m, usage)
		} else {
			delete(m, "usage")
		}
	case hasUsage: // already a usage-only chunk
		if !s.includeUsage {
			return nil, false
		}
	case s.includeUsage:
		m["usage"] = json.RawMessage("null")
	default:
		delete(m, "usage")
	}
	out, err := json.Marshal(m)
	if err != nil {
		return d, true
	}
	return out, true
}

func (s *geminiStream) fixChoice(c map[string]json.RawMessage) {
	idx, _ := strconv.Atoi(string(c["index"]))
	st := s.choices[idx]
	if st == nil {
		st = &choiceState{}
		s.choices[idx] = st
	}
	if _, ok := c["index"]; !ok {
		c["index"] = json.RawMessage(strconv.Itoa(idx))
	}
	var delta map[string]json.RawMessage
	if json.Unmarshal(c["delta"], &delta) == nil && delta != nil {
		if _, ok := delta["role"]; ok {
			if st.roleSent {
				delete(delta, "role")
			}
			st.roleSent = true
		}
		var calls []map[string]json.RawMessage
		if json.Unmarshal(delta["tool_calls"], &calls) == nil && len(calls) > 0 {
			kept := calls[:0]
			for _, tc := range calls {
				if tc == nil {
					continue
				}
				if _, ok := tc["index"]; !ok {
					tc["index"] = json.RawMessage(strconv.Itoa(st.tools))
					st.tools++
				}
				kept = append(kept, tc)
			}
			delta["tool_calls"], _ = json.Marshal(kept)
		}
		c["delta"], _ = json.Marshal(delta)
	}
	fr, ok := c["finish_reason"]
	switch {
	case !ok:
		c["finish_reason"] = json.RawMessage("null")
	case string(fr) == `"stop"` && st.tools > 0:
		c["finish_reason"] = json.RawMessage(`"tool_calls"`)
	}
	if _, ok := c["logprobs"]; !ok {
		c["logprobs"] = json.RawMessage("null")
	}
}

// usageChunk is OpenAI's final chunk: the same id, object, created and model
// as the stream, choices: [] and the usage.
func usageChunk(m map[string]json.RawMessage, usage json.RawMessage) []byte {
	u := map[string]json.RawMessage{"choices": json.RawMessage("[]"), "usage": usage}
	for _, k := range []string{"id", "object", "created", "model"} {
		if v, ok := m[k]; ok {
			u[k] = v
		}
	}
	b, _ := json.Marshal(u)
	return b
}
