package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// UpstreamOptions configure the fake upstream.
type UpstreamOptions struct {
	Listen string        // 127.0.0.1:PORT
	TTFB   time.Duration // wait before the answer's first byte
	Chunks int           // SSE data events per stream, before [DONE]
	Gap    time.Duration // between stream events
}

// The answers are prebuilt: the only per-request part is the model name,
// spliced between a prefix and a suffix, so the upstream costs as little
// CPU as possible and the gateway's share of the machine is what we see.
var (
	respPre  = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"`)
	respPost = []byte(`","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is the benchmark upstream answering.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18},"service_tier":"default","system_fingerprint":"fp_bench"}`)

	chunkPre   = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"`)
	chunkFirst = []byte(`","service_tier":"default","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	chunkMid   = []byte(`","service_tier":"default","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	chunkLast  = []byte(`","service_tier":"default","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n")
	sseDone    = []byte("data: [DONE]\n\n")

	hdrJSON    = []string{"application/json"}
	hdrSSE     = []string{"text/event-stream"}
	hdrNoCache = []string{"no-cache"}
)

// gapField in a request body overrides the gap between events for that
// stream: the idle-streams scenario uses it to keep streams open.
const gapField = "bench_gap_ms"

// Quoted keys, built once so the scans allocate nothing.
var (
	keyModel  = []byte(`"model"`)
	keyStream = []byte(`"stream"`)
	keyGap    = []byte(`"` + gapField + `"`)
)

type upstream struct {
	o    UpstreamOptions
	bufs sync.Pool
}

// NewUpstream returns the fake upstream's handler (exported for tests).
func NewUpstream(o UpstreamOptions) http.Handler {
	if o.Chunks < 1 {
		o.Chunks = 1
	}
	return &upstream{o: o}
}

// RunUpstream serves the fake upstream on o.Listen until ctx ends.
func RunUpstream(ctx context.Context, o UpstreamOptions) error {
	return serve(ctx, o.Listen, NewUpstream(o))
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/chat/completions") {
		http.Error(w, `{"error":{"message":"the bench upstream only serves POST /v1/chat/completions","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	bp, _ := u.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 4096)
		bp = &b
	}
	defer u.bufs.Put(bp)
	body, err := readAll(r.Body, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		return
	}
	model := jsonString(body, keyModel)
	if model == nil {
		http.Error(w, `{"error":{"message":"no model","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	stream := jsonTrue(body, keyStream)
	gap := u.o.Gap
	if v, ok := jsonInt(body, keyGap); ok {
		gap = time.Duration(v) * time.Millisecond
	}
	ctx := r.Context()
	if !wait(ctx, u.o.TTFB) {
		return
	}
	h := w.Header()
	if !stream {
		// Written in one go before returning: net/http then sets
		// Content-Length itself.
		h["Content-Type"] = hdrJSON
		w.Write(respPre)
		w.Write(model)
		w.Write(respPost)
		return
	}
	h["Content-Type"] = hdrSSE
	h["Cache-Control"] = hdrNoCache
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	n := u.o.Chunks
	for i := 0; i < n; i++ {
		if i > 0 && !wait(ctx, gap) {
			return
		}
		post := chunkMid
		switch {
		case i == 0:
			post = chunkFirst
		case i == n-1:
			post = chunkLast
		}
		w.Write(chunkPre)
		w.Write(model)
		if _, err := w.Write(post); err != nil {
			return
		}
		// Vendors flush every token; so does this, so the relay sees
		// one event per read as it would in production.
		if f != nil {
			f.Flush()
		}
	}
	w.Write(sseDone)
}

// wait sleeps for d unless ctx ends first; false means it ended.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// readAll appends r to b.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// jsonValue finds "key": (quotedKey includes the quotes) in a JSON body and returns what follows the
// colon. A byte scan, not a parse: enough for the bodies this benchmark
// sends, and allocation-free.
func jsonValue(body, quotedKey []byte) []byte {
	for off := 0; ; {
		i := bytes.Index(body[off:], quotedKey)
		if i < 0 {
			return nil
		}
		rest := bytes.TrimLeft(body[off+i+len(quotedKey):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			return bytes.TrimLeft(rest[1:], " \t\r\n")
		}
		off += i + 1
	}
}

// jsonString returns the raw (still escaped) contents of a string value.
func jsonString(body, quotedKey []byte) []byte {
	v := jsonValue(body, quotedKey)
	if len(v) == 0 || v[0] != '"' {
		return nil
	}
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return v[1:i]
		}
	}
	return nil
}

func jsonTrue(body, quotedKey []byte) bool {
	return bytes.HasPrefix(jsonValue(body, quotedKey), []byte("true"))
}

func jsonInt(body, quotedKey []byte) (int64, bool) {
	v := jsonValue(body, quotedKey)
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v[:end]), 10, 64)
	return n, err == nil
}

// serve runs h on a loopback address until ctx ends.
func serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
