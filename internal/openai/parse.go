package openai

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// ParseChat decodes a chat completion request. It walks the JSON once
// with gjson, which is several times faster than encoding/json for the
// few fields the gateway reads; anything unexpected (a wrong type, a
// number that is not an int, invalid JSON) falls back to encoding/json,
// whose result and error messages are the reference. FuzzParseChat holds
// the two to the same answers.
func ParseChat(body []byte) (*ChatRequest, error) {
	var r ChatRequest
	if fastChat(body, &r) {
		return &r, nil
	}
	r = ChatRequest{}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// fastChat fills r and reports whether it could do so unambiguously.
func fastChat(body []byte, r *ChatRequest) bool {
	// encoding/json turns invalid UTF-8 into U+FFFD; gjson keeps the bytes.
	// gjson's validator recurses once per level of nesting: a body too deep
	// goes to encoding/json, whose iterative scanner refuses it.
	if TooDeep(body) || !gjson.ValidBytes(body) || !utf8.Valid(body) {
		return false
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return false
	}
	return fields(root, chatFields, func(k string, v gjson.Result) bool {
		switch k {
		case "model":
			return str(v, &r.Model)
		case "messages":
			return messages(v, r)
		case "stream":
			return boolean(v, &r.Stream)
		case "stream_options":
			switch {
			case v.Type == gjson.Null:
				r.StreamOptions = nil
				return true
			case v.IsObject():
				r.StreamOptions = &StreamOptions{}
				return fields(v, streamOptionFields, func(_ string, v gjson.Result) bool {
					return boolean(v, &r.StreamOptions.IncludeUsage)
				})
			}
			return false
		case "tools":
			return tools(v, r)
		case "tool_choice":
			r.ToolChoice = json.RawMessage(v.Raw) // null included, as encoding/json keeps it
			return true
		case "max_tokens":
			return optInt(v, &r.MaxTokens)
		case "n":
			return optInt(v, &r.N)
		}
		return true
	})
}

// The fields read at each level; every other key is passed over.
var (
	chatFields         = []string{"model", "messages", "stream", "stream_options", "tools", "tool_choice", "max_tokens", "n"}
	streamOptionFields = []string{"include_usage"}
	messageFields      = []string{"role", "name", "tool_call_id", "content", "tool_calls"}
	partFields         = []string{"type", "text", "image_url"}
	imageURLFields     = []string{"url", "detail"}
	toolCallFields     = []string{"index", "id", "type", "function"}
	functionCallFields = []string{"name", "arguments"}
	toolFields         = []string{"type", "function"}
	functionDefFields  = []string{"name", "description", "parameters", "strict"}
)

// fields walks an object's members and calls set for each key in names.
// It reports false, sending the request to encoding/json, on a repeated
// key (encoding/json merges those), on a key that matches a name only
// case-insensitively (encoding/json would take it), or when set does.
func fields(v gjson.Result, names []string, set func(k string, v gjson.Result) bool) bool {
	ok := true
	var buf [8]string // the usual object fits: one allocation, not one per growth
	seen := keys{seen: buf[:0]}
	v.ForEach(func(k, val gjson.Result) bool {
		switch {
		case !seen.first(k.Str):
			ok = false
		case slices.Contains(names, k.Str):
			ok = set(k.Str, val)
		default:
			ok = !folds(k.Str, names...)
		}
		return ok
	})
	return ok
}

// array walks an array, calling each for every element that is an object
// and counting a null element as a zero value (as encoding/json does).
// Anything else in the array is for encoding/json to refuse.
func array(v gjson.Result, each func(elem gjson.Result, null bool) bool) bool {
	ok := true
	v.ForEach(func(_, e gjson.Result) bool {
		switch {
		case e.IsObject():
			ok = each(e, false)
		case e.Type == gjson.Null:
			ok = each(e, true)
		default:
			ok = false
		}
		return ok
	})
	return ok
}

func str(v gjson.Result, dst *string) bool {
	switch v.Type {
	case gjson.String:
		*dst = v.Str
		return true
	case gjson.Null:
		return true // encoding/json leaves the field as it was
	}
	return false
}

func boolean(v gjson.Result, dst *bool) bool {
	switch v.Type {
	case gjson.True, gjson.False:
		*dst = v.Type == gjson.True
		return true
	case gjson.Null:
		return true
	}
	return false
}

func optBool(v gjson.Result, dst **bool) bool {
	switch v.Type {
	case gjson.Null:
		*dst = nil
		return true
	case gjson.True, gjson.False:
		b := v.Type == gjson.True
		*dst = &b
		return true
	}
	return false
}

func optInt(v gjson.Result, dst **int) bool {
	switch v.Type {
	case gjson.Null:
		*dst = nil
		return true
	case gjson.Number:
		n, err := strconv.ParseInt(v.Raw, 10, strconv.IntSize)
		if err != nil {
			return false // 1.5, 1e3: let encoding/json judge
		}
		i := int(n)
		*dst = &i
		return true
	}
	return false
}

func messages(v gjson.Result, r *ChatRequest) bool {
	if v.Type == gjson.Null {
		r.Messages = nil
		return true
	}
	if !v.IsArray() {
		return false
	}
	r.Messages = make([]Message, 0, 4)
	return array(v, func(mv gjson.Result, null bool) bool {
		var m Message
		ok := null || fields(mv, messageFields, func(k string, v gjson.Result) bool {
			switch k {
			case "role":
				return str(v, &m.Role)
			case "name":
				return str(v, &m.Name)
			case "tool_call_id":
				return str(v, &m.ToolCallID)
			case "content":
				return content(v, &m.Content)
			case "tool_calls":
				return toolCalls(v, &m.ToolCalls)
			}
			return true
		})
		r.Messages = append(r.Messages, m)
		return ok
	})
}

func content(v gjson.Result, c *Content) bool {
	switch {
	case v.Type == gjson.Null:
		*c = Content{Null: true}
		return true
	case v.Type == gjson.String:
		*c = Content{Text: v.Str}
		return true
	case !v.IsArray():
		return false
	}
	*c = Content{IsParts: true, Parts: []Part{}}
	return array(v, func(pv gjson.Result, null bool) bool {
		var p Part
		ok := null || fields(pv, partFields, func(k string, v gjson.Result) bool {
			switch k {
			case "type":
				return str(v, &p.Type)
			case "text":
				return str(v, &p.Text)
			case "image_url":
				switch {
				case v.Type == gjson.Null:
					p.ImageURL = nil
					return true
				case v.IsObject():
					p.ImageURL = &ImageURL{}
					return fields(v, imageURLFields, func(k string, v gjson.Result) bool {
						if k == "url" {
							return str(v, &p.ImageURL.URL)
						}
						return str(v, &p.ImageURL.Detail)
					})
				}
				return false
			}
			return true
		})
		c.Parts = append(c.Parts, p)
		return ok
	})
}

func toolCalls(v gjson.Result, dst *[]ToolCall) bool {
	if v.Type == gjson.Null {
		*dst = nil
		return true
	}
	if !v.IsArray() {
		return false
	}
	out := []ToolCall{}
	ok := array(v, func(tv gjson.Result, null bool) bool {
		var tc ToolCall
		ok := null || fields(tv, toolCallFields, func(k string, v gjson.Result) bool {
			switch k {
			case "index":
				return optInt(v, &tc.Index)
			case "id":
				return str(v, &tc.ID)
			case "type":
				return str(v, &tc.Type)
			case "function":
				if v.Type == gjson.Null {
					return true
				}
				return v.IsObject() && fields(v, functionCallFields, func(k string, v gjson.Result) bool {
					if k == "name" {
						return str(v, &tc.Function.Name)
					}
					return str(v, &tc.Function.Arguments)
				})
			}
			return true
		})
		out = append(out, tc)
		return ok
	})
	*dst = out
	return ok
}

func tools(v gjson.Result, r *ChatRequest) bool {
	if v.Type == gjson.Null {
		r.Tools = nil
		return true
	}
	if !v.IsArray() {
		return false
	}
	r.Tools = []Tool{}
	return array(v, func(tv gjson.Result, null bool) bool {
		var t Tool
		ok := null || fields(tv, toolFields, func(k string, v gjson.Result) bool {
			if k == "type" {
				return str(v, &t.Type)
			}
			switch {
			case v.Type == gjson.Null:
				t.Function = nil
				return true
			case v.IsObject():
				t.Function = &FunctionDef{}
				return fields(v, functionDefFields, func(k string, v gjson.Result) bool {
					switch k {
					case "name":
						return str(v, &t.Function.Name)
					case "description":
						return str(v, &t.Function.Description)
					case "parameters":
						t.Function.Parameters = json.RawMessage(v.Raw)
						return true
					}
					return optBool(v, &t.Function.Strict)
				})
			}
			return false
		})
		r.Tools = append(r.Tools, t)
		return ok
	})
}

// folds reports whether k would match one of names case-insensitively, as
// encoding/json matches keys; such a key sends the request to the slow,
// reference path rather than being ignored.
func folds(k string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// keys remembers the keys of one JSON object, to spot repeats: a short
// list for the usual handful, a map past that so a body with thousands of
// keys costs linear time, not quadratic.
type keys struct {
	seen []string
	m    map[string]struct{}
}

func (k *keys) first(key string) bool {
	if k.m != nil {
		if _, dup := k.m[key]; dup {
			return false
		}
		k.m[key] = struct{}{}
		return true
	}
	for _, s := range k.seen {
		if s == key {
			return false
		}
	}
	k.seen = append(k.seen, key)
	if len(k.seen) > 16 {
		k.m = make(map[string]struct{}, 2*len(k.seen))
		for _, s := range k.seen {
			k.m[s] = struct{}{}
		}
		k.seen = nil
	}
	return true
}

// MaxDepth is the deepest nesting of arrays and objects a request body may
// have: encoding/json's own limit, far beyond anything a real request uses.
const MaxDepth = 10000

// TooDeep reports whether JSON nests arrays and objects more than MaxDepth
// levels deep. gjson's validator and walkers recurse once per level, so a
// body of nothing but "[" (max_body_bytes of them) would overflow the
// goroutine stack: a fatal error, not a panic, that ends the process. It
// must run before gjson sees a client's body. It allocates nothing, and a
// body with few brackets costs two vectorised counts.
func TooDeep(b []byte) bool {
	// Each level takes a byte: a body this short cannot nest too deep, and
	// most requests are (no scan at all on the hot path).
	if len(b) <= MaxDepth || bytes.Count(b, []byte{'['})+bytes.Count(b, []byte{'{'}) <= MaxDepth {
		return false
	}
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped character, a quote included
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > MaxDepth {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}
