package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// Validate checks what the gateway must guarantee before forwarding: a model,
// messages, well-formed tools, and tool messages that answer real tool calls.
// The param of a returned error names the offending path.
func (r *ChatRequest) Validate() *Error {
	if r.Model == "" {
		return invalid("model", "missing_required_parameter", "you must provide a model parameter")
	}
	if len(r.Messages) == 0 {
		return invalid("messages", "missing_required_parameter", "messages must be a non-empty array")
	}
	issued := map[string]bool{}
	for i := range r.Messages {
		m := &r.Messages[i]
		switch {
		case m.Role == "":
			return invalid(fmt.Sprintf("messages[%d].role", i), "missing_required_parameter", "each message needs a role")
		case !roles[m.Role]:
			return invalid(fmt.Sprintf("messages[%d].role", i), "invalid_value",
				fmt.Sprintf("invalid role %q: expected one of system, developer, user, assistant, tool", m.Role))
		}
		for j, tc := range m.ToolCalls {
			if tc.ID == "" {
				return invalid(fmt.Sprintf("messages[%d].tool_calls[%d].id", i, j), "missing_required_parameter", "each tool call needs an id")
			}
			issued[tc.ID] = true
		}
		if m.Role == "tool" {
			p := fmt.Sprintf("messages[%d].tool_call_id", i)
			if m.ToolCallID == "" {
				return invalid(p, "missing_required_parameter", "a tool message needs a tool_call_id")
			}
			if !issued[m.ToolCallID] {
				return invalid(p, "invalid_value", fmt.Sprintf(
					"tool_call_id %q does not answer any tool call made earlier in the conversation", m.ToolCallID))
			}
		}
	}
	names := make(map[string]bool, len(r.Tools))
	for i, t := range r.Tools {
		p := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" {
			return invalid(p+".type", "invalid_value", fmt.Sprintf("tool type %q is not supported: expected \"function\"", t.Type))
		}
		if t.Function == nil {
			return invalid(p+".function", "missing_required_parameter", "a function tool needs a function object")
		}
		if !validToolName(t.Function.Name) {
			return invalid(p+".function.name", "invalid_value", fmt.Sprintf(
				"invalid function name %q: it must match ^[a-zA-Z0-9_-]{1,64}$", t.Function.Name))
		}
		if names[t.Function.Name] {
			return invalid(p+".function.name", "invalid_value", fmt.Sprintf("function name %q is declared twice", t.Function.Name))
		}
		names[t.Function.Name] = true
		if params := bytes.TrimSpace(t.Function.Parameters); len(params) > 0 && params[0] != '{' {
			return invalid(p+".function.parameters", "invalid_value", "parameters must be a JSON Schema object")
		}
	}
	return r.validateToolChoice(names)
}

func (r *ChatRequest) validateToolChoice(names map[string]bool) *Error {
	tc := bytes.TrimSpace(r.ToolChoice)
	if len(tc) == 0 || string(tc) == "null" {
		return nil
	}
	if tc[0] == '"' {
		var s string
		json.Unmarshal(tc, &s)
		switch s {
		case "none", "auto":
			return nil
		case "required":
			if len(names) == 0 {
				return invalid("tool_choice", "invalid_value", `tool_choice "required" needs at least one tool in tools`)
			}
			return nil
		}
		return invalid("tool_choice", "invalid_value", fmt.Sprintf("invalid tool_choice %q: expected none, auto, required or a named function", s))
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(tc, &named); err != nil || named.Type != "function" {
		return invalid("tool_choice", "invalid_value", `tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	if !names[named.Function.Name] {
		return invalid("tool_choice.function.name", "invalid_value",
			fmt.Sprintf("tool_choice names function %q, which is not in tools", named.Function.Name))
	}
	return nil
}

func validToolName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func invalid(param, code, msg string) *Error {
	return NewError(http.StatusBadRequest, TypeInvalidRequest, code, param, msg)
}

// DecodeError turns a JSON decoding failure into the client-facing 400.
func DecodeError(err error) *Error {
	msg := err.Error()
	var ute *json.UnmarshalTypeError
	if ok := asType(err, &ute); ok && ute.Field != "" {
		return invalid(ute.Field, "invalid_type", fmt.Sprintf("invalid type for %s: expected %s", ute.Field, ute.Type))
	}
	msg = strings.TrimPrefix(msg, "json: ")
	return invalid("", "invalid_json", "We could not parse the JSON body of your request: "+msg)
}
