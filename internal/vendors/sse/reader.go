// Package sse reads Server-Sent Events from an upstream body one event at a
// time, without buffering the stream: each event is handed on as soon as its
// terminating blank line arrives.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Event is one dispatched event. Data is only valid until the next call.
type Event struct {
	Name string // the "event:" field, "" when absent
	Data []byte // "data:" lines joined by '\n'
}

// Reader parses the text/event-stream format. It accepts LF and CRLF line
// endings (Gemini ends frames with CRLF).
type Reader struct {
	br   *bufio.Reader
	data []byte
	line []byte
	name []byte
	ev   Event
}

// NewReader reads events from r.
func NewReader(r io.Reader) *Reader {
	// Small: most events fit, longer lines are assembled in r.line, and
	// every open stream holds one of these while idle.
	return &Reader{br: bufio.NewReaderSize(r, 1<<10)}
}

// Pending reports whether a whole further data event is already
// buffered, so the relay can write it before flushing (one flush for a
// burst, not one per event, with no added latency). Comments and other
// fields do not count: the event after them may be a long way off.
func (r *Reader) Pending() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	i := bytes.Index(b, []byte("data:"))
	if i < 0 || (i > 0 && b[i-1] != '\n') {
		return false
	}
	rest := b[i:]
	return bytes.Contains(rest, []byte("\n\n")) || bytes.Contains(rest, []byte("\r\n\r\n"))
}

// Next returns the next event, and io.EOF once the input is used up. A last
// event whose blank line never came is still returned: whether the stream
// ended properly is the protocol's call (OpenAI's [DONE], Anthropic's
// message_stop), not the framing's.
func (r *Reader) Next() (*Event, error) {
	r.data = r.data[:0]
	r.name = r.name[:0]
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && (hasData || len(r.name) > 0) {
				// A last event without its blank line: servers that
				// close right after "data: [DONE]" do this.
				return r.dispatch(), nil
			}
			return nil, err
		}
		if len(line) == 0 {
			if !hasData {
				r.name = r.name[:0]
				continue
			}
			return r.dispatch(), nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
			if len(r.data) > MaxEvent {
				return nil, ErrTooLong
			}
		case "event":
			r.name = append(r.name[:0], value...)
		}
	}
}

func (r *Reader) dispatch() *Event {
	r.ev = Event{Name: string(r.name), Data: r.data}
	return &r.ev
}

// MaxEvent bounds one line and one event: a vendor sending more without
// an end is broken (or hostile), and must not grow memory without limit.
const MaxEvent = 16 << 20

// ErrTooLong reports a line or event over MaxEvent.
var ErrTooLong = errors.New("sse: event too long")

// readLine returns one line without its terminator. The slice is valid until
// the next call.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.line = append(r.line, chunk...)
		if len(r.line) > MaxEvent {
			return nil, ErrTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(r.line) > 0 {
				return trimEOL(r.line), nil
			}
			return nil, err
		}
		return trimEOL(r.line), nil
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
