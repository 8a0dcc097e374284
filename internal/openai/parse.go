package openai

import (
	"encoding/json"
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
	if !gjson.ValidBytes(body) || !utf8.Valid(body) {
		return false
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return false
	}
	ok := true
	var seen1 keys
	root.ForEach(func(k, v gjson.Result) bool {
		if !seen1.first(k.Str) {
			ok = false // a repeated key: encoding/json merges, so let it decide
			return false
		}
		switch k.Str {
		case "model":
			ok = str(v, &r.Model)
		case "messages":
			ok = messages(v, r)
		case "stream":
			ok = boolean(v, &r.Stream)
		case "stream_options":
			switch {
			case v.Type == gjson.Null:
				r.StreamOptions = nil
			case v.IsObject():
				r.StreamOptions = &StreamOptions{}
				var seen2 keys
				v.ForEach(func(k, v gjson.Result) bool {
					if !seen2.first(k.Str) {
						ok = false // a repeated key: encoding/json merges, so let it decide
						return false
					}
					if k.Str == "include_usage" {
						ok = boolean(v, &r.StreamOptions.IncludeUsage)
					} else {
						ok = !folds(k.Str, "include_usage")
					}
					return ok
				})
			default:
				ok = false
			}
		case "tools":
			ok = tools(v, r)
		case "tool_choice":
			r.ToolChoice = json.RawMessage(v.Raw) // null included, as encoding/json keeps it
		case "max_tokens":
			ok = optInt(v, &r.MaxTokens)
		case "n":
			ok = optInt(v, &r.N)
		default:
			ok = !folds(k.Str, "model", "messages", "stream", "stream_options", "tools", "tool_choice", "max_tokens", "n")
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
	ok := true
	v.ForEach(func(_, mv gjson.Result) bool {
		var m Message
		if !mv.IsObject() {
			ok = mv.Type == gjson.Null // a null element decodes to a zero Message
			r.Messages = append(r.Messages, m)
			return ok
		}
		var seen3 keys
		mv.ForEach(func(k, v gjson.Result) bool {
			if !seen3.first(k.Str) {
				ok = false // a repeated key: encoding/json merges, so let it decide
				return false
			}
			switch k.Str {
			case "role":
				ok = str(v, &m.Role)
			case "name":
				ok = str(v, &m.Name)
			case "tool_call_id":
				ok = str(v, &m.ToolCallID)
			case "content":
				ok = content(v, &m.Content)
			case "tool_calls":
				ok = toolCalls(v, &m.ToolCalls)
			default:
				ok = !folds(k.Str, "role", "name", "tool_call_id", "content", "tool_calls")
			}
			return ok
		})
		r.Messages = append(r.Messages, m)
		return ok
	})
	return ok
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
	c.IsParts = true
	c.Parts = []Part{}
	ok := true
	v.ForEach(func(_, pv gjson.Result) bool {
		var p Part
		if !pv.IsObject() {
			ok = pv.Type == gjson.Null
			c.Parts = append(c.Parts, p)
			return ok
		}
		var seen4 keys
		pv.ForEach(func(k, v gjson.Result) bool {
			if !seen4.first(k.Str) {
				ok = false // a repeated key: encoding/json merges, so let it decide
				return false
			}
			switch k.Str {
			case "type":
				ok = str(v, &p.Type)
			case "text":
				ok = str(v, &p.Text)
			case "image_url":
				switch {
				case v.Type == gjson.Null:
					p.ImageURL = nil
				case v.IsObject():
					p.ImageURL = &ImageURL{}
					var seen5 keys
					v.ForEach(func(k, v gjson.Result) bool {
						if !seen5.first(k.Str) {
							ok = false // a repeated key: encoding/json merges, so let it decide
							return false
						}
						switch k.Str {
						case "url":
							ok = str(v, &p.ImageURL.URL)
						case "detail":
							ok = str(v, &p.ImageURL.Detail)
						default:
							ok = !folds(k.Str, "url", "detail")
						}
						return ok
					})
				default:
					ok = false
				}
			default:
				ok = !folds(k.Str, "type", "text", "image_url")
			}
			return ok
		})
		c.Parts = append(c.Parts, p)
		return ok
	})
	return ok
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
	ok := true
	v.ForEach(func(_, tv gjson.Result) bool {
		var tc ToolCall
		if !tv.IsObject() {
			ok = tv.Type == gjson.Null
			out = append(out, tc)
			return ok
		}
		var seen6 keys
		tv.ForEach(func(k, v gjson.Result) bool {
			if !seen6.first(k.Str) {
				ok = false // a repeated key: encoding/json merges, so let it decide
				return false
			}
			switch k.Str {
			case "index":
				ok = optInt(v, &tc.Index)
			case "id":
				ok = str(v, &tc.ID)
			case "type":
				ok = str(v, &tc.Type)
			case "function":
				if v.Type == gjson.Null {
					return true
				}
				if !v.IsObject() {
					ok = false
					return false
				}
				var seen7 keys
				v.ForEach(func(k, v gjson.Result) bool {
					if !seen7.first(k.Str) {
						ok = false // a repeated key: encoding/json merges, so let it decide
						return false
					}
					switch k.Str {
					case "name":
						ok = str(v, &tc.Function.Name)
					case "arguments":
						ok = str(v, &tc.Function.Arguments)
					default:
						ok = !folds(k.Str, "name", "arguments")
					}
					return ok
				})
			default:
				ok = !folds(k.Str, "index", "id", "type", "function")
			}
			return ok
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
	ok := true
	v.ForEach(func(_, tv gjson.Result) bool {
		var t Tool
		if !tv.IsObject() {
			ok = tv.Type == gjson.Null
			r.Tools = append(r.Tools, t)
			return ok
		}
		var seen8 keys
		tv.ForEach(func(k, v gjson.Result) bool {
			if !seen8.first(k.Str) {
				ok = false // a repeated key: encoding/json merges, so let it decide
				return false
			}
			switch k.Str {
			case "type":
				ok = str(v, &t.Type)
			case "function":
				switch {
				case v.Type == gjson.Null:
					t.Function = nil
				case v.IsObject():
					t.Function = &FunctionDef{}
					var seen9 keys
					v.ForEach(func(k, v gjson.Result) bool {
						if !seen9.first(k.Str) {
							ok = false // a repeated key: encoding/json merges, so let it decide
							return false
						}
						switch k.Str {
						case "name":
							ok = str(v, &t.Function.Name)
						case "description":
							ok = str(v, &t.Function.Description)
						case "parameters":
							t.Function.Parameters = json.RawMessage(v.Raw)
						case "strict":
							switch v.Type {
							case gjson.Null:
								t.Function.Strict = nil
							case gjson.True, gjson.False:
								b := v.Type == gjson.True
								t.Function.Strict = &b
							default:
								ok = false
							}
						default:
							ok = !folds(k.Str, "name", "description", "parameters", "strict")
						}
						return ok
					})
				default:
					ok = false
				}
			default:
				ok = !folds(k.Str, "type", "function")
			}
			return ok
		})
		r.Tools = append(r.Tools, t)
		return ok
	})
	return ok
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
