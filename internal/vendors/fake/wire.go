package fake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
)

// obj is a JSON object that keeps its key order, so OpenAI bodies come out
// in OpenAI's order and a nil value is written as null rather than dropped.
type obj []field

type field struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshal(f.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: vendors send '<' as is.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func marshalIndent(v any, indent string) ([]byte, error) {
	b, err := marshal(v)
	if err != nil || indent == "" {
		return b, err
	}
	var out bytes.Buffer
	err = json.Indent(&out, b, "", indent)
	return out.Bytes(), err
}

func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func digest(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		io.WriteString(h, p)
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// hexOf is n hex digits derived from parts.
func hexOf(n int, parts ...string) string {
	return hex.EncodeToString(digest(parts...))[:n]
}

// alnumOf is n base-62 characters derived from parts, the alphabet of
// OpenAI's ids.
func alnumOf(n int, parts ...string) string {
	return baseOf(n, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", parts...)
}

// digitsOf is n decimal digits derived from parts.
func digitsOf(n int, parts ...string) string {
	return baseOf(n, "0123456789", parts...)
}

func baseOf(n int, alphabet string, parts ...string) string {
	var out []byte
	base := big.NewInt(int64(len(alphabet)))
	for round := 0; len(out) < n; round++ {
		x := new(big.Int).SetBytes(digest(append(parts, fmt.Sprint(round))...))
		m := new(big.Int)
		for i := 0; i < 40 && len(out) < n; i++ {
			x.DivMod(x, base, m)
			out = append(out, alphabet[m.Int64()])
		}
	}
	return string(out)
}

// stream writes SSE events (data: <json>, or data: [DONE] at the end),
// flushing each, honouring ChunkGap, stream faults and the client leaving.
func (c *call) stream(events []any) {
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
	send := func(data []byte) bool {
		if c.ctx.Err() != nil {
			c.cancel()
			return false
		}
		frame := c.frame(nil, "", data, eol)
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
	for i := 0; i <= len(events); i++ {
		if f != nil && f.CutAfter > 0 && i == min(f.CutAfter, len(events)) {
			c.cut(rc)
			return
		}
		if f != nil && f.StallAfter > 0 && i == min(f.StallAfter, len(events)) {
			c.wait(-1) // go silent until the client leaves
			return
		}
		if f != nil && f.ErrorEventAfter > 0 && i == min(f.ErrorEventAfter, len(events)) {
			status := f.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			b, _ := marshal(c.s.d.streamError(c, status))
			send(b)
			return
		}
		if i == len(events) {
			send([]byte("[DONE]"))
			return
		}
		if i > 0 && !c.wait(c.s.opts.ChunkGap) {
			return
		}
		b, err := marshal(events[i])
		if err != nil {
			panic(fmt.Sprintf("fake: marshal: %v", err))
		}
		if !send(b) {
			return
		}
	}
}

// frame appends one SSE event: an optional keepalive comment, the event
// name when not empty, and data on one data: line, or indented over several
// with Options.MultilineData.
func (c *call) frame(b []byte, name string, data []byte, eol string) []byte {
	if c.s.opts.Keepalive {
		b = append(append(b, ": ping"...), eol...)
	}
	if name != "" {
		b = append(append(append(b, "event: "...), name...), eol...)
	}
	if c.s.opts.SpacedJSON {
		data = spaced(data)
	}
	if c.s.opts.MultilineData {
		var ind bytes.Buffer
		if json.Indent(&ind, data, "", "  ") == nil {
			data = ind.Bytes()
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			b = append(append(append(b, "data: "...), line...), eol...)
		}
		return append(b, eol...)
	}
	return append(append(append(b, "data: "...), data...), eol+eol...)
}

// spaced puts a space after each ':' and ',' of JSON outside strings.
func spaced(data []byte) []byte {
	out := make([]byte, 0, len(data)+len(data)/8)
	inString, escaped := false, false
	for _, ch := range data {
		out = append(out, ch)
		switch {
		case escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case ch == '"':
			inString = !inString
		case !inString && (ch == ':' || ch == ','):
			out = append(out, ' ')
		}
	}
	return out
}

// cut drops the connection mid-stream, with no terminating chunk, as a
// vendor or proxy that dies does.
func (c *call) cut(rc *http.ResponseController) {
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream
	}
	conn.Close()
}
