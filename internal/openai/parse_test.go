package openai

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var parseSeeds = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x","detail":"low"}}]}],"max_tokens":5,"n":1}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
	`{"model":"m","tool_choice":null,"tools":null,"messages":null,"stream_options":null,"max_tokens":null}`,
	`{"model":"m\u00e9","messages":[{"role":"user","content":"\"esc\"\n"}],"unknown":{"deep":[1,2,{"model":"x"}]}}`,
	`{"model":5}`, `{"messages":{}}`, `{"max_tokens":1.5}`, `{"stream":"yes"}`, `[1]`, `{`, `null`, `{"model":"a","model":"b"}`,
	`{"messages":[null,{"role":"user","content":[null,{"type":"text"}]}]}`,
}

// The fast parser and encoding/json must agree on every input: same
// request, or both an error.
func TestParseChatMatchesEncodingJSON(t *testing.T) {
	for _, s := range parseSeeds {
		checkParse(t, []byte(s))
	}
}

func checkParse(t *testing.T, b []byte) {
	t.Helper()
	var want ChatRequest
	wantErr := json.Unmarshal(b, &want)
	got, err := ParseChat(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, encoding/json %v", b, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(*got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", b, *got, want)
	}
}

func FuzzParseChat(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkParse(t, []byte(s)) })
}

func BenchmarkParseChat(b *testing.B) {
	body := []byte(`{"model":"my-alias","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about gateways, please, and keep it short."}],"temperature":0.7,"max_tokens":128}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

// Hundreds of thousands of keys parse (in well under a second): with the
// quadratic duplicate check this took hours and let one request hold a
// core; a regression shows as this test hanging.
func TestParseChatManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"model":"m","messages":[{"role":"user","content":"hi"}]`)
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(&b, `,"k%d":0`, i)
	}
	b.WriteString("}")
	if _, err := ParseChat([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
}
