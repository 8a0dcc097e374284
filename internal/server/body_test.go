package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// rawPost writes a request head announcing the whole body, then the body
// in parts with a pause before each, and returns the answer.
func rawPost(t *testing.T, base string, body string, parts []string, pause time.Duration) (*http.Response, string) {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/v1")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	for _, p := range parts {
		time.Sleep(pause)
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A body that comes after its head (a slow client, a proxy that splits the
// writes) is read whole; one that stops short gets a 408 once the body
// timeout passes, as an OpenAI-shaped error.
func TestRequestBodyAfterHeadAndTimeout(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{Keys: map[string]string{"sk-test-1": "key-one"}})
	srv, err := New(configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"sk-test-1"}, "served-model")), Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv.bodyTimeout = 300 * time.Millisecond
	g := startGatewayWith(t, srv)
	body := `{"model":"m","messages":[{"role":"user","content":"hello"}]}`

	resp, got := rawPost(t, g.URL, body, []string{body[:10], body[10:]}, 50*time.Millisecond)
	if resp.StatusCode != http.StatusOK || !strings.Contains(got, `"chat.completion"`) {
		t.Fatalf("body sent after its head: %d %s", resp.StatusCode, got)
	}

	start := time.Now()
	resp, got = rawPost(t, g.URL, body, []string{body[:10]}, 0)
	var e struct {
		Error struct{ Message, Type, Code string }
	}
	if err := json.Unmarshal([]byte(got), &e); err != nil || resp.StatusCode != http.StatusRequestTimeout || e.Error.Code != "body_read_timeout" {
		t.Fatalf("body that stops short: %d %s", resp.StatusCode, got)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("answered after %v with a 300ms body timeout", d)
	}
}
