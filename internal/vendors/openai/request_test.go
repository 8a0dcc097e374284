package openai

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/vendors/sse"
)

// A request built on a URL parsed once goes where, and with the Host, that
// http.NewRequest's own parsing would give.
func TestNewPostMatchesNewRequest(t *testing.T) {
	for _, base := range []string{
		"https://api.openai.com/v1", "http://127.0.0.1:8000/v1", "http://host:/v1",
		"http://[::1]:8080/openai/v1", "http://user:pw@example.com/v1?x=1",
	} {
		target := base + "/chat/completions"
		want, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := newPost(context.Background(), target, parseTarget(target), []byte(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if got.URL.String() != want.URL.String() || got.Host != want.Host || got.Method != http.MethodPost {
			t.Errorf("%s: %s %s (Host %q), want %s (Host %q)", target, got.Method, got.URL, got.Host, want.URL, want.Host)
		}
		if b, _ := io.ReadAll(got.Body); string(b) != `{"a":1}` || got.ContentLength != 7 || got.GetBody == nil {
			t.Errorf("%s: body %q, length %d", target, b, got.ContentLength)
		}
	}
}

// askUsage sets include_usage and keeps every other byte and option,
// whatever stream_options held before.
func TestAskUsage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"model":"m","stream":true}`, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}`,
			`{"model":"m","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`},
		{`{"model":"m","stream":true,"stream_options":{"include_usage":false}}`,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"m","stream":true,"stream_options":null}`, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"m", "stream": true, "x": [1, 2]}`, `{"model":"m", "stream": true, "x": [1, 2],"stream_options":{"include_usage":true}}`},
	} {
		got, err := askUsage([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("askUsage(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// A stream hiding usage the client did not ask for keeps it for the
// gateway and relays every chunk without it: the usage chunk is dropped,
// "usage":null fields and usage riding on a content chunk are cut out.
func TestStreamHidesUsage(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want "" means the chunk is dropped
		usage          string
	}{
		{"null field", `{"id":"c","choices":[{"index":0}],"usage":null}`, `{"id":"c","choices":[{"index":0}]}`, ""},
		{"null field first", `{"usage":null,"id":"c","choices":[]}`, `{"id":"c","choices":[]}`, ""},
		{"spaced null", `{"id":"c", "usage": null , "choices":[{"index":0}]}`, `{"id":"c" , "choices":[{"index":0}]}`, ""},
		{"usage chunk", `{"id":"c","choices":[],"usage":{"prompt_tokens":3}}`, "", `{"prompt_tokens":3}`},
		{"usage on content", `{"id":"c","choices":[{"index":0}],"usage":{"prompt_tokens":4},"x":1}`,
			`{"id":"c","choices":[{"index":0}],"x":1}`, `{"prompt_tokens":4}`},
		{"usage in content only", `{"id":"c","choices":[{"delta":{"content":"\"usage\":{}"}}]}`,
			`{"id":"c","choices":[{"delta":{"content":"\"usage\":{}"}}]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "data: " + tc.in + "\n\ndata: [DONE]\n\n"
			s := &stream{body: io.NopCloser(strings.NewReader(body)), r: sse.NewReader(strings.NewReader(body)), hideUsage: true}
			d, err := s.Next()
			switch {
			case tc.want == "" && err != io.EOF:
				t.Errorf("chunk %s relayed (%v), want it dropped", d, err)
			case tc.want != "" && (err != nil || string(d) != tc.want):
				t.Errorf("got %s, %v; want %s", d, err, tc.want)
			}
			if string(s.Usage()) != tc.usage {
				t.Errorf("usage %s, want %q", s.Usage(), tc.usage)
			}
		})
	}
}
