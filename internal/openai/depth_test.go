package openai

import (
	"bytes"
	"strings"
	"testing"
)

// A body nested past MaxDepth is refused as invalid JSON, without
// recursing per level (8 MiB of "[" used to overflow the goroutine stack
// inside gjson's validator: a fatal error, not a recoverable panic).
func TestParseChatRefusesDeepNesting(t *testing.T) {
	for _, body := range [][]byte{
		append([]byte(`{"model":"m","messages":`), bytes.Repeat([]byte("["), 16<<20)...),
		[]byte(`{"model":"m","messages":[],"x":` + strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1) + "}"),
	} {
		r, err := ParseChat(body)
		if err == nil {
			t.Fatalf("%d bytes nested: parsed %+v", len(body), r)
		}
		if e := DecodeError(err); e.Status != 400 || e.Code == nil || *e.Code != "invalid_json" {
			t.Errorf("%d bytes nested: %+v", len(body), e)
		}
	}
}

func TestTooDeep(t *testing.T) {
	open, close := strings.Repeat("[", MaxDepth), strings.Repeat("]", MaxDepth)
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"a":[1,2,{"b":[]}]}`, false},
		{open + close, false}, // exactly the limit
		{"[" + open + close + "]", true},
		{"[" + open, true}, // unterminated counts as it goes
		// Brackets inside strings, escaped quotes included, are text.
		{`["` + open + `"]`, false},
		{`["\"` + open + `"]`, false},
		{`["\\"` + strings.Repeat(",[", MaxDepth) + `]`, true},
		// Many brackets side by side are not depth.
		{"[" + strings.Repeat("[],", 3*MaxDepth) + "[]]", false},
	} {
		if got := TooDeep([]byte(c.body)); got != c.want {
			t.Errorf("TooDeep(%.40q… %d bytes) = %v, want %v", c.body, len(c.body), got, c.want)
		}
	}
}
