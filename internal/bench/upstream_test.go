package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestUpstreamAnswers(t *testing.T) {
	srv := httptest.NewServer(NewUpstream(UpstreamOptions{Chunks: 5}))
	defer srv.Close()
	url := srv.URL + "/v1/chat/completions"

	resp, err := http.Post(url, "application/json", strings.NewReader(`{"model":"my-model","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v struct {
		Model   string
		Object  string
		Choices []struct{ Message struct{ Content string } }
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	if v.Model != "my-model" || v.Object != "chat.completion" || len(v.Choices) != 1 || resp.ContentLength != int64(len(b)) {
		t.Fatalf("answer %+v, content-length %d of %d", v, resp.ContentLength, len(b))
	}

	resp, err = http.Post(url, "application/json", strings.NewReader(`{"model":"m2","stream":true,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
	if len(events) != 6 || events[5] != "data: [DONE]" {
		t.Fatalf("%d events:\n%s", len(events), b)
	}
	for i, e := range events[:5] {
		var c struct {
			Model   string
			Choices []struct {
				Delta        map[string]any
				FinishReason *string `json:"finish_reason"`
			}
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(e, "data: ")), &c); err != nil || c.Model != "m2" || len(c.Choices) != 1 {
			t.Fatalf("event %d: %v %q", i, err, e)
		}
		if last := c.Choices[0].FinishReason != nil; last != (i == 4) {
			t.Errorf("event %d: finish_reason %v", i, c.Choices[0].FinishReason)
		}
	}
	if _, err := readStream(bytes.NewReader(b), make([]byte, 100), time.Now(), 6); err != nil {
		t.Fatalf("the load generator rejects the upstream's stream: %v", err)
	}

	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET: status %d", resp.StatusCode)
	}
}

// The gap field holds a stream open after its first event until the
// client leaves.
func TestUpstreamGapOverride(t *testing.T) {
	srv := httptest.NewServer(NewUpstream(UpstreamOptions{Chunks: 3}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"bench_gap_ms":60000}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, err := resp.Body.Read(buf)
	if err != nil || !bytes.HasPrefix(buf[:n], []byte("data: {")) {
		t.Fatalf("first event: %q %v", buf[:n], err)
	}
	got := make(chan struct{})
	go func() { resp.Body.Read(buf); close(got) }()
	select {
	case <-got:
		t.Fatal("the second event came despite the gap")
	case <-time.After(200 * time.Millisecond):
	}
}
