package openai

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/tidwall/gjson"
)

func asType[T error](err error, target *T) bool { return errors.As(err, target) }

// Quote returns s as a JSON string literal.
func Quote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// ModelSpan finds the top-level "model" string value in a JSON object:
// body[start:end] is its literal (quotes included). ok is false when there
// is none. Locating it without decoding keeps the rewrite cheap.
func ModelSpan(body []byte) (start, end int, ok bool) {
	r := gjson.GetBytes(body, "model")
	if r.Type != gjson.String || r.Index <= 0 {
		return 0, 0, false
	}
	return r.Index, r.Index + len(r.Raw), true
}

// SetModel returns body with its top-level "model" replaced by the JSON
// string literal quoted. Every other byte is kept. A body without a model
// field is returned as is.
func SetModel(body, quoted []byte) []byte {
	start, end, ok := ModelSpan(body)
	if !ok || string(body[start:end]) == string(quoted) {
		return body
	}
	out := make([]byte, 0, len(body)-(end-start)+len(quoted))
	out = append(out, body[:start]...)
	out = append(out, quoted...)
	return append(out, body[end:]...)
}

// AppendWithModel appends body to dst with its model replaced, without an
// intermediate copy: the streaming path uses it once per chunk.
func AppendWithModel(dst, body, quoted []byte) []byte {
	start, end, ok := ModelSpan(body)
	if !ok {
		return append(dst, body...)
	}
	dst = append(dst, body[:start]...)
	dst = append(dst, quoted...)
	return append(dst, body[end:]...)
}

// Spliced is a body with its model replaced, kept as three parts so it can
// be written out without copying the body.
type Spliced struct{ Head, Model, Tail []byte }

// Splice locates body's top-level model; without one, Head is the body.
func Splice(body, quoted []byte) Spliced {
	start, end, ok := ModelSpan(body)
	if !ok {
		return Spliced{Head: body}
	}
	return Spliced{Head: body[:start], Model: quoted, Tail: body[end:]}
}

// Len is the length of the spliced body.
func (s Spliced) Len() int { return len(s.Head) + len(s.Model) + len(s.Tail) }

// WriteTo writes the parts in order.
func (s Spliced) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, p := range [...][]byte{s.Head, s.Model, s.Tail} {
		if len(p) == 0 {
			continue
		}
		n, err := w.Write(p)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
