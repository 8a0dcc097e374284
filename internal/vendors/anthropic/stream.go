package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/sse"
)

// stream translates Anthropic's event stream (message_start, content
// blocks, message_delta, message_stop) into OpenAI chat.completion.chunk
// objects, one event at a time, never buffering the stream.
type stream struct {
	body         io.ReadCloser
	r            *sse.Reader
	key          string
	model        string
	includeUsage bool
	created      int64

	prefix []byte // {"id":…,"object":…,"created":…,"model":…  of every chunk
	out    []byte // the chunk handed out, reused
	ev     event

	tools    []toolBlock // tool_use blocks seen, in order
	usage    usage
	finished bool // the chunk with finish_reason went out
	stopped  bool // message_stop arrived
	usageOut bool // the usage chunk went out
	err      error
}

// toolBlock ties an Anthropic content block to the OpenAI tool call index
// it streams as: tool calls count 0, 1, 2… whatever blocks come between.
// args records whether any argument text went out for it.
type toolBlock struct {
	block, index int
	args         bool
}

// event is any Anthropic stream event; each type fills its own fields.
type event struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message struct {
		ID    string `json:"id"`
		Usage usage  `json:"usage"`
	} `json:"message"`
	ContentBlock contentBlock `json:"content_block"`
	Delta        struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage usage        `json:"usage"`
	Error *errorObject `json:"error"`
}

func newStream(body io.ReadCloser, model string, includeUsage bool, key string, created int64) *stream {
	return &stream{body: body, r: sse.NewReader(body), model: model, includeUsage: includeUsage,
		key: key, created: created, out: make([]byte, 0, 512)}
}

func (s *stream) Close() error { return s.body.Close() }

// Usage implements vendors.UsageReporter: Anthropic reports usage in
// message_start and message_delta whatever the client asked for.
func (s *stream) Usage() []byte {
	if s.usage == (usage{}) {
		return nil
	}
	b, _ := json.Marshal(s.usage.toOpenAI())
	return b
}

// Next returns the next chunk, io.EOF after message_stop (and the usage
// chunk, when asked for), or the error that broke the stream.
func (s *stream) Next() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		if s.stopped {
			if s.includeUsage && !s.usageOut {
				s.usageOut = true
				return s.usageChunk(), nil
			}
			s.err = io.EOF
			return nil, io.EOF
		}
		ev, err := s.r.Next()
		if err != nil {
			s.err = readError(err)
			return nil, s.err
		}
		out, err := s.handle(ev)
		if err != nil {
			s.err = err
			return nil, err
		}
		if out != nil {
			return out, nil
		}
	}
}

func readError(err error) error {
	switch {
	case err == io.EOF:
		return openai.NewError(http.StatusBadGateway, openai.TypeServer, "stream_truncated",
			"", "the vendor's stream ended before it was complete")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return openai.NewError(http.StatusBadGateway, openai.TypeServer, "stream_broken",
		"", "the vendor's stream broke: "+err.Error())
}

// handle translates one event; a nil chunk means the event has nothing for
// the client (ping, block stops, signatures, empty fragments).
func (s *stream) handle(ev *sse.Event) ([]byte, error) {
	if len(bytes.TrimSpace(ev.Data)) == 0 {
		return nil, nil
	}
	s.ev = event{}
	if err := json.Unmarshal(ev.Data, &s.ev); err != nil {
		return nil, openai.NewError(http.StatusBadGateway, openai.TypeServer, "stream_broken",
			"", "the vendor sent an event that is not JSON")
	}
	e := &s.ev
	typ := e.Type
	if typ == "" {
		typ = ev.Name
	}
	switch typ {
	case "message_start":
		s.usage = e.Message.Usage
		s.setPrefix(e.Message.ID)
		return s.end(append(s.begin(), `{"role":"assistant","content":""}`...), ""), nil
	case "content_block_start":
		cb := &e.ContentBlock
		switch cb.Type {
		case "tool_use":
			i := len(s.tools)
			s.tools = append(s.tools, toolBlock{block: e.Index, index: i})
			b := append(s.begin(), `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"id":`...)
			b = appendString(b, cb.ID)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = appendString(b, cb.Name)
			b = append(b, `,"arguments":""}}]}`...)
			return s.end(b, ""), nil
		case "text":
			return s.field("content", cb.Text), nil
		case "thinking":
			return s.field("reasoning_content", cb.Thinking), nil
		}
	case "content_block_delta":
		switch e.Delta.Type {
		case "text_delta":
			return s.field("content", e.Delta.Text), nil
		case "thinking_delta":
			return s.field("reasoning_content", e.Delta.Thinking), nil
		case "input_json_delta":
			i, ok := s.toolIndex(e.Index)
			if !ok || e.Delta.PartialJSON == "" {
				return nil, nil
			}
			s.tools[i].args = true
			b := append(s.begin(), `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"function":{"arguments":`...)
			b = appendString(b, e.Delta.PartialJSON)
			b = append(b, `}}]}`...)
			return s.end(b, ""), nil
		}
	case "content_block_stop":
		// A tool called without arguments streams only an empty
		// partial_json: the client must still get "{}", as OpenAI sends
		// and as the non-streamed answer says, not "" (which no JSON
		// parser takes, and which a client would echo back next turn).
		if i, ok := s.toolIndex(e.Index); ok && !s.tools[i].args {
			s.tools[i].args = true
			b := append(s.begin(), `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"function":{"arguments":"{}"}}]}`...)
			return s.end(b, ""), nil
		}
	case "message_delta":
		// message_delta usage is cumulative; newer API versions restate
		// the input counts there too.
		u := e.Usage
		s.usage.OutputTokens = u.OutputTokens
		if u.InputTokens > 0 || u.CacheReadInputTokens > 0 || u.CacheCreationInputTokens > 0 {
			s.usage.InputTokens, s.usage.CacheReadInputTokens, s.usage.CacheCreationInputTokens =
				u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens
		}
		if e.Delta.StopReason != "" && !s.finished {
			s.finished = true
			return s.end(append(s.begin(), `{}`...), finishReason(e.Delta.StopReason)), nil
		}
	case "message_stop":
		s.stopped = true
		if !s.finished {
			s.finished = true
			return s.end(append(s.begin(), `{}`...), "stop"), nil
		}
	case "error":
		o := e.Error
		if o == nil {
			o = &errorObject{Type: "api_error"}
		}
		oe := o.toOpenAI(0)
		oe.Message = vendors.ScrubKey(oe.Message, s.key)
		return nil, oe
	}
	return nil, nil
}

func (s *stream) toolIndex(block int) (int, bool) {
	for _, t := range s.tools {
		if t.block == block {
			return t.index, true
		}
	}
	return 0, false
}

func (s *stream) setPrefix(id string) {
	b := append(s.prefix[:0], `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, s.created, 10)
	b = append(b, `,"model":`...)
	s.prefix = appendString(b, s.model)
}

// begin starts a chunk, up to its delta.
func (s *stream) begin() []byte {
	if s.prefix == nil {
		s.setPrefix("") // no message_start: still a well-formed chunk
	}
	b := append(s.out[:0], s.prefix...)
	return append(b, `,"choices":[{"index":0,"delta":`...)
}

// end closes a chunk begun by begin.
func (s *stream) end(b []byte, finish string) []byte {
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, finish)
	}
	b = append(b, "}]"...)
	if s.includeUsage {
		b = append(b, `,"usage":null`...)
	}
	s.out = append(b, '}')
	return s.out
}

// field is a chunk whose delta is {name: text}, or nil for empty text.
func (s *stream) field(name, text string) []byte {
	if text == "" {
		return nil
	}
	b := append(s.begin(), `{"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	b = appendString(b, text)
	return s.end(append(b, '}'), "")
}

// usageChunk is OpenAI's last chunk with include_usage: choices: [] and
// the usage of the whole answer.
func (s *stream) usageChunk() []byte {
	if s.prefix == nil {
		s.setPrefix("")
	}
	u := s.usage.toOpenAI()
	b := append(s.out[:0], s.prefix...)
	b = append(b, `,"choices":[],"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokensDetails.CachedTokens), 10)
	b = append(b, `,"cache_write_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokensDetails.CacheWriteTokens), 10)
	s.out = append(b, "}}}"...)
	return s.out
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript source: escape as
			// encoding/json does.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
