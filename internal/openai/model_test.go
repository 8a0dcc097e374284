package openai

import (
	"strings"
	"testing"
)

func TestSetModel(t *testing.T) {
	tests := []struct{ name, in, model, want string }{
		{"simple", `{"model":"a","x":1}`, "b", `{"model":"b","x":1}`},
		{"keeps unknown fields and spacing", `{ "z": {"model":"nested"}, "model" : "a" , "weird":[1,2]}`, "gpt-4o",
			`{ "z": {"model":"nested"}, "model" : "gpt-4o" , "weird":[1,2]}`},
		{"escapes", `{"model":"a"}`, `we"ird`, `{"model":"we\"ird"}`},
		{"no model", `{"x":1}`, "b", `{"x":1}`},
		{"model not a string", `{"model":5}`, "b", `{"model":5}`},
		{"escaped original", `{"model":"a\"b","n":1}`, "c", `{"model":"c","n":1}`},
		{"unchanged", `{"model":"same"}`, "same", `{"model":"same"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SetModel([]byte(tt.in), Quote(tt.model))
			if string(got) != tt.want {
				t.Errorf("SetModel = %s, want %s", got, tt.want)
			}
			if got := AppendWithModel([]byte("data: "), []byte(tt.in), Quote(tt.model)); string(got) != "data: "+tt.want {
				t.Errorf("AppendWithModel = %s", got)
			}
		})
	}
}

func BenchmarkSetModelChunk(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}`)
	q := Quote("my-alias")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		buf = AppendWithModel(buf[:0], chunk, q)
	}
}

func TestSplice(t *testing.T) {
	for _, in := range []string{`{"model":"a","x":1}`, `{"x":1}`, `{"x":{"model":"n"},"model":"a"}`} {
		sp := Splice([]byte(in), Quote("bb"))
		var b strings.Builder
		sp.WriteTo(&b)
		if want := string(SetModel([]byte(in), Quote("bb"))); b.String() != want || sp.Len() != len(want) {
			t.Errorf("Splice(%s) = %s (len %d), want %s", in, b.String(), sp.Len(), want)
		}
	}
}
