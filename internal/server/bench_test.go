package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/store"
	"github.com/genrouter/genrouter/internal/vendors"
)

// echoAdapter answers at once from memory, so the benchmarks below measure
// only the gateway: decode, validate, select, rewrite, encode, relay.
type echoAdapter struct{ body []byte }

func (e echoAdapter) Chat(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	if c.Stream {
		return &vendors.Result{Stream: &chunks{n: 20}}, nil
	}
	return &vendors.Result{Body: e.body}, nil
}

func (e echoAdapter) Embed(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	return &vendors.Result{Body: e.body}, nil
}

type chunks struct{ n, i int }

var chunk = []byte(`{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}`)

func (c *chunks) Next() ([]byte, error) {
	if c.i >= c.n {
		return nil, io.EOF
	}
	c.i++
	return chunk, nil
}
func (c *chunks) Close() error { return nil }

const benchBody = `{"model":"my-alias","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about gateways, please, and keep it short."}],"temperature":0.7,"max_tokens":128}`

var benchResp = []byte(`{"id":"chatcmpl-abc","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Requests pass through / a gate that asks for nothing / answers find their way","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":17,"total_tokens":48},"system_fingerprint":"fp_1"}`)

func benchServer(b *testing.B) http.Handler {
	cfg := configOf(config.UnknownModelsPool,
		vendorOf("a", config.TypeOpenAI, "http://unused.invalid", []string{"k1", "k2"}, "gpt-4o-mini", "gpt-4o"),
		vendorOf("b", config.TypeGemini, "http://unused.invalid", []string{"k3"}, "gemini-2.0-flash"))
	srv, err := New(cfg, Options{Adapter: func(config.Vendor) (vendors.Adapter, error) { return echoAdapter{benchResp}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	return srv.Handler()
}

// BenchmarkChatHandler is the whole non-streaming request path in process.
func BenchmarkChatHandler(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(benchBody))
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// BenchmarkChatHandlerStream relays a 20-chunk stream.
func BenchmarkChatHandlerStream(b *testing.B) {
	h := benchServer(b)
	body := strings.Replace(benchBody, `"max_tokens":128`, `"max_tokens":128,"stream":true`, 1)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkDecode is parsing and validating a request.
func BenchmarkDecode(b *testing.B) {
	body := []byte(benchBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := openai.ParseChat(body)
		if err != nil {
			b.Fatal(err)
		}
		if e := req.Validate(); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkEncode is putting the client's model into a response body.
func BenchmarkEncode(b *testing.B) {
	q := openai.Quote("my-alias")
	b.ReportAllocs()
	b.SetBytes(int64(len(benchResp)))
	for b.Loop() {
		openai.SetModel(benchResp, q)
	}
}

// benchWith is BenchmarkChatHandler with a usage writer in front of st.
func benchWith(b *testing.B, st store.UsageInserter) {
	cfg := configOf(config.UnknownModelsPool,
		vendorOf("a", config.TypeOpenAI, "http://unused.invalid", []string{"k1", "k2"}, "gpt-4o-mini", "gpt-4o"))
	var usage *store.Writer
	if st != nil {
		usage = store.NewWriter(st, store.WriterOptions{})
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			usage.Close(ctx)
		}()
	}
	srv, err := New(cfg, Options{Usage: usage,
		Adapter: func(config.Vendor) (vendors.Adapter, error) { return echoAdapter{benchResp}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(benchBody)))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// The three compare usage logging off, on (SQLite), and on with a database
// that never answers: the request path must not notice.
func BenchmarkUsageOff(b *testing.B) { benchWith(b, nil) }

func BenchmarkUsageSQLite(b *testing.B) {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	benchWith(b, st)
}

func BenchmarkUsageHungDB(b *testing.B) {
	h := &hangingStore{release: make(chan struct{})}
	defer close(h.release)
	benchWith(b, h)
}
