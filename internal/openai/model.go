package openai

import (
	"encoding/json"
	"errors"

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
