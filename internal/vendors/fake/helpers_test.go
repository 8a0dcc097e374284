package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const testKey = "sk-test-0123456789abcdefghijklmnop"

func testOpts() Options {
	return Options{Keys: map[string]string{testKey: "alpha"}}
}

// client is an HTTP client with its own transport, closed with the test so
// no idle connection outlives it.
func client(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type reply struct {
	status int
	header http.Header
	body   []byte
	err    error // reading the body failed (connection cut)
}

// post sends body (a string or anything JSON-encodable) to base+path.
func post(t testing.TB, s *Server, path, key string, body any) reply {
	t.Helper()
	return send(t, context.Background(), s, http.MethodPost, path, key, body)
}

func send(t testing.TB, ctx context.Context, s *Server, method, path, key string, body any) reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client(t).Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// M is a decoded JSON object.
type M = map[string]any

func decode(t testing.TB, b []byte) M {
	t.Helper()
	var m M
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

// events splits an SSE body into its data payloads. It fails on anything
// but "data: " lines separated by blank lines using eol.
func events(t testing.TB, body []byte, eol string) []string {
	t.Helper()
	s := string(body)
	if !strings.HasSuffix(s, eol+eol) && s != "" {
		t.Fatalf("stream does not end with a blank line: %q", tail(s))
	}
	var out []string
	for _, frame := range strings.Split(strings.TrimSuffix(s, eol+eol), eol+eol) {
		if frame == "" {
			continue
		}
		data, ok := strings.CutPrefix(frame, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("bad SSE frame %q", frame)
		}
		out = append(out, data)
	}
	return out
}

func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

// chunks decodes every payload except a final [DONE] and reports whether
// [DONE] was there.
func chunks(t testing.TB, evs []string) ([]M, bool) {
	t.Helper()
	done := len(evs) > 0 && evs[len(evs)-1] == "[DONE]"
	if done {
		evs = evs[:len(evs)-1]
	}
	out := make([]M, len(evs))
	for i, e := range evs {
		out[i] = decode(t, []byte(e))
	}
	return out, done
}

// path digs into decoded JSON: keys for objects, ints for arrays.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(M)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func has(m any, key string) bool {
	o, ok := m.(M)
	if !ok {
		return false
	}
	_, ok = o[key]
	return ok
}

func userChat(model, text string) M {
	return M{"model": model, "messages": []any{M{"role": "user", "content": text}}}
}

var weatherTool = M{"type": "function", "function": M{
	"name": "get_weather",
	"parameters": M{
		"type": "object",
		"properties": M{
			"city":   M{"type": "string"},
			"days":   M{"type": "integer"},
			"metric": M{"type": []any{"boolean", "null"}},
			"extra":  M{"type": "object"},
		},
		"required": []any{"city", "days", "metric", "extra"},
	},
}}

var timeTool = M{"type": "function", "function": M{"name": "get_time", "parameters": M{"type": "object", "properties": M{}}}}
