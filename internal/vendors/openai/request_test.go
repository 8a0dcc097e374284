package openai

import (
	"context"
	"io"
	"net/http"
	"testing"
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
