package openai

import (
	"encoding/json"
	"testing"
)

func TestValidate(t *testing.T) {
	const tools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	tests := []struct {
		name      string
		body      string
		wantParam string // "" means valid
	}{
		{"minimal", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, ""},
		{"parts content", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`, ""},
		{"no model", `{"messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"no messages", `{"model":"m"}`, "messages"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages"},
		{"null messages", `{"model":"m","messages":null}`, "messages"},
		{"no role", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role"},
		{"tools ok", `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tools + `}`, ""},
		{"tool without parameters", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, ""},
		{"tool bad type", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"retrieval"}]}`, "tools[0].type"},
		{"tool no function", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}`, "tools[0].function"},
		{"tool bad name", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get weather"}}]}`, "tools[0].function.name"},
		{"tool long name", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"` + string(make65()) + `"}}]}`, "tools[0].function.name"},
		{"tool duplicate", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"a"}}]}`, "tools[1].function.name"},
		{"tool params not object", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"a","parameters":"x"}}]}`, "tools[0].function.parameters"},
		{"tool_choice named ok", `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tools + `,"tool_choice":{"type":"function","function":{"name":"get_weather"}}}`, ""},
		{"tool_choice unknown", `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tools + `,"tool_choice":{"type":"function","function":{"name":"nope"}}}`, "tool_choice.function.name"},
		{"tool_choice bad string", `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tools + `,"tool_choice":"always"}`, "tool_choice"},
		{"tool_choice required without tools", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`, "tool_choice"},
		{"tool answer ok", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"17C"}]}`, ""},
		{"tool answer unknown id", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_2","content":"17C"}]}`, "messages[2].tool_call_id"},
		{"tool answer before call", `{"model":"m","messages":[{"role":"tool","tool_call_id":"call_1","content":"x"},{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_call_id"},
		{"tool answer missing id", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]}`, "messages[1].tool_call_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r ChatRequest
			if err := json.Unmarshal([]byte(tt.body), &r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			e := r.Validate()
			switch {
			case tt.wantParam == "" && e != nil:
				t.Fatalf("unexpected error: %v", e)
			case tt.wantParam != "" && e == nil:
				t.Fatalf("no error, want one on %s", tt.wantParam)
			case e != nil:
				if e.Status != 400 || e.Param == nil || *e.Param != tt.wantParam {
					t.Fatalf("error %v, param %v; want 400 on %s", e, e.Param, tt.wantParam)
				}
				var env struct {
					Error struct{ Message, Type string }
				}
				if json.Unmarshal(e.Body(), &env) != nil || env.Error.Message == "" || env.Error.Type != TypeInvalidRequest {
					t.Fatalf("body not OpenAI-shaped: %s", e.Body())
				}
			}
		})
	}
}

func make65() []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'a'
	}
	return b
}

func TestNeeds(t *testing.T) {
	var r ChatRequest
	json.Unmarshal([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}],"tools":[{"type":"function","function":{"name":"f"}}]}`), &r)
	if n := r.Needs(); !n.Tools || !n.Images || !n.Streaming {
		t.Fatalf("Needs = %+v, want all", n)
	}
	var plain ChatRequest
	json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`), &plain)
	if n := plain.Needs(); n.Tools || n.Images || n.Streaming {
		t.Fatalf("Needs = %+v, want none", n)
	}
}

func TestContentRoundTrip(t *testing.T) {
	for _, in := range []string{`"hi"`, `null`, `[{"type":"text","text":"a"}]`} {
		var c Content
		if err := json.Unmarshal([]byte(in), &c); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(c)
		if string(out) != in {
			t.Errorf("round trip %s -> %s", in, out)
		}
	}
}
