package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func collect(t *testing.T, r io.Reader) []Event {
	t.Helper()
	sr := NewReader(r)
	var out []Event
	for {
		ev, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, Event{Name: ev.Name, Data: append([]byte(nil), ev.Data...)})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // "name|data"
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"|a", "|b"}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"|a", "|b"}},
		{"no space after colon", "data:a\n\n", []string{"|a"}},
		{"multi-line data", "data: a\ndata: b\n\n", []string{"|a\nb"}},
		{"comments and unknown fields", ": keepalive\nid: 7\nretry: 10\ndata: x\n\n", []string{"|x"}},
		{"event names", "event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\n", []string{"message_start|{}", "ping|{}"}},
		{"event name does not leak", "event: a\ndata: 1\n\ndata: 2\n\n", []string{"a|1", "|2"}},
		{"last event without blank line", "data: a\n\ndata: [DONE]", []string{"|a", "|[DONE]"}},
		{"extra blank lines", "\n\n\ndata: a\n\n\n\n", []string{"|a"}},
		{"empty", "", nil},
		{"long line", "data: " + strings.Repeat("x", 100000) + "\n\n", []string{"|" + strings.Repeat("x", 100000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got := collect(t, r)
				if len(got) != len(tt.want) {
					t.Fatalf("got %d events, want %d: %q", len(got), len(tt.want), got)
				}
				for i, ev := range got {
					if s := ev.Name + "|" + string(ev.Data); s != tt.want[i] {
						t.Errorf("event %d = %q, want %q", i, s, tt.want[i])
					}
				}
			}
		})
	}
}

// Splitting the input at every possible point must not change the events.
func TestReaderEverySplit(t *testing.T) {
	in := "data: {\"a\":1}\r\n\r\n: c\n\nevent: e\ndata: x\ndata: y\n\ndata: [DONE]\n\n"
	want := collect(t, strings.NewReader(in))
	for i := 0; i <= len(in); i++ {
		got := collect(t, io.MultiReader(strings.NewReader(in[:i]), strings.NewReader(in[i:])))
		if len(got) != len(want) {
			t.Fatalf("split %d: %d events, want %d", i, len(got), len(want))
		}
		for j := range got {
			if got[j].Name != want[j].Name || string(got[j].Data) != string(want[j].Data) {
				t.Fatalf("split %d event %d: %q, want %q", i, j, got[j], want[j])
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add("data: a\r\n\r\nevent: x\ndata: b\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		whole := collect(t, strings.NewReader(in))
		bytewise := collect(t, iotest.OneByteReader(strings.NewReader(in)))
		if len(whole) != len(bytewise) {
			t.Fatalf("%d events whole, %d byte by byte", len(whole), len(bytewise))
		}
		for i := range whole {
			if whole[i].Name != bytewise[i].Name || string(whole[i].Data) != string(bytewise[i].Data) {
				t.Fatalf("event %d differs", i)
			}
		}
	})
}

// A line without end is cut off at MaxEvent, not read into memory forever.
func TestReaderTooLong(t *testing.T) {
	r := NewReader(io.MultiReader(strings.NewReader("data: "), strings.NewReader(strings.Repeat("x", MaxEvent+10))))
	if _, err := r.Next(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}

// Pending counts only a whole buffered data event, not a comment.
func TestPending(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"data: a\n\ndata: b\n\n", true},
		{"data: a\n\n: keep-alive\n\n", false},
		{"data: a\n\ndata: b", false},
	} {
		r := NewReader(strings.NewReader(tc.in))
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if got := r.Pending(); got != tc.want {
			t.Errorf("%q: Pending = %v, want %v", tc.in, got, tc.want)
		}
	}
}
