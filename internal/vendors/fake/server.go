// Package fake is a fake LLM vendor for tests: a real HTTP server on
// loopback that speaks one vendor's wire format faithfully, quirks included,
// so the gateway's normalisation is tested against what vendors really send
// (see /work/shared/vendor-wire-formats.md for the sources).
//
// Answers are deterministic and say who served them, every request is
// recorded, and faults (errors, delays, hangs, broken streams) can be
// injected per request.
package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Flavor selects which vendor the server impersonates.
type Flavor string

const (
	OpenAI       Flavor = "openai"        // paths under /v1
	GeminiCompat Flavor = "gemini-compat" // paths under /v1beta/openai
	Anthropic    Flavor = "anthropic"     // POST /v1/messages
	GeminiNative Flavor = "gemini-native" // /v1beta/models/{model}:generateContent
)

// Options tune a Server. The zero value is usable.
type Options struct {
	// Keys maps accepted API keys to names reported back in answers and
	// Recorded.KeyName. Nil accepts any non-empty key (named by AnyKeyName).
	Keys map[string]string
	// Models, when non-empty, is the vendor's catalogue: other models get
	// the vendor's 404. It is also what GET {base}/models lists.
	Models []string
	// Chunks is how many content chunks a streamed text answer has
	// (default 4).
	Chunks int
	// ChunkGap is the pause between stream events (default 0).
	ChunkGap time.Duration
	// CRLF ends SSE lines with \r\n instead of \n, as some Gemini endpoints
	// do, to exercise the gateway's SSE parser.
	CRLF bool
	// MultilineData spreads each stream event's JSON over several data:
	// lines (indented, one line each), which SSE receivers must join with
	// newlines; servers that pretty-print do this.
	MultilineData bool
	// Keepalive sends an SSE comment (": ping") before every stream event,
	// as proxies and some vendors do to keep idle connections open.
	Keepalive bool
	// SpacedJSON writes stream events with a space after every ':' and ','
	// between tokens, as Python's json.dumps does by default (servers
	// built on it send that).
	SpacedJSON bool
	// FloatEmbeddings answers embeddings as float arrays whatever
	// encoding_format says, as OpenAI-compatible servers that do not
	// implement base64 do (Ollama's /v1/embeddings: ollama/ollama#6934).
	FloatEmbeddings bool
}

// Recorded is one request as the server received it.
type Recorded struct {
	Method, Path string
	Query        string // raw query string
	Header       http.Header
	Body         []byte
	Model        string // "model" from the body (or the id of GET models/{id})
	KeyName      string // name of the accepted key; "" when auth failed
	Stream       bool   // "stream": true in the body
}

// Fault changes how one request is answered. Fields combine: Delay runs
// first, then Hang, then Status or the normal answer.
type Fault struct {
	// Status answers with the vendor's own error body for this status. For
	// a streaming request with CutAfter or ErrorEventAfter set, the stream
	// is sent instead and Status only picks the in-stream error (default 500).
	Status     int
	RetryAfter string        // sets the Retry-After header
	Delay      time.Duration // wait before answering; aborts when the client leaves
	Hang       bool          // never answer; wait until the client goes away
	// CutAfter closes the connection abruptly (no terminating chunk, no
	// [DONE]) after this many stream events. Streaming only.
	CutAfter int
	// ErrorEventAfter sends `data: {"error":{...}}` after this many stream
	// events and ends the stream without [DONE]. Streaming only.
	ErrorEventAfter int
	// StallAfter goes silent after this many stream events, keeping the
	// connection open until the client leaves. Streaming only.
	StallAfter int
	// Headers are set on the response (rate-limit headers and the like).
	Headers map[string]string
}

// Server is the fake vendor. It is an http.Handler and safe for concurrent
// use.
type Server struct {
	flavor Flavor
	opts   Options
	d      dialect

	seq    atomic.Int64
	active atomic.Int64

	mu       sync.Mutex
	reqs     []Recorded
	fault    func(*Recorded) *Fault
	canceled int
	changed  chan struct{} // closed and replaced whenever canceled grows

	hs        *httptest.Server
	done      chan struct{} // closed by Close: stops waiting handlers
	closeOnce sync.Once
}

// New returns a Server for flavor. It panics on an unknown flavor.
func New(flavor Flavor, opts Options) *Server {
	var d dialect
	switch flavor {
	case OpenAI:
		d = openaiWire{}
	case GeminiCompat:
		d = geminiCompatWire{}
	case Azure:
		d = azureWire{}
	case Anthropic:
		d = anthropicWire{}
	case GeminiNative:
		d = geminiNativeWire{}
	default:
		panic(fmt.Sprintf("fake: unknown flavor %q", flavor))
	}
	if opts.Chunks <= 0 {
		opts.Chunks = 4
	}
	return &Server{flavor: flavor, opts: opts, d: d, changed: make(chan struct{}), done: make(chan struct{})}
}

// Start serves a new Server on 127.0.0.1 only and closes it when the test
// ends.
func Start(t testing.TB, flavor Flavor, opts Options) *Server {
	t.Helper()
	s := New(flavor, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake: listen: %v", err)
	}
	hs := httptest.NewUnstartedServer(s)
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	s.hs = hs
	t.Cleanup(s.Close)
	return s
}

// Close stops the server started by Start, ending hanging and streaming
// handlers first so that it cannot block. Safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.hs != nil {
			s.hs.CloseClientConnections()
			s.hs.Close()
		}
	})
}

// URL is the base URL a gateway is configured with, e.g.
// "http://127.0.0.1:PORT/v1". It is "" for a Server not made by Start.
func (s *Server) URL() string {
	if s.hs == nil {
		return ""
	}
	return s.hs.URL + s.d.prefix()
}

// Flavor reports which vendor the server impersonates.
func (s *Server) Flavor() Flavor { return s.flavor }

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.reqs))
	copy(out, s.reqs)
	return out
}

// Reset forgets recorded requests and cancellations and clears the fault.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
	s.canceled = 0
	s.fault = nil
}

// Canceled is how many requests saw the client go away before their answer
// was finished.
func (s *Server) Canceled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

// WaitCanceled waits until Canceled() >= n or timeout passes, and reports
// whether it got there. Cancellation is noticed asynchronously, so tests
// should wait rather than read Canceled once.
func (s *Server) WaitCanceled(n int, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		got, ch := s.canceled, s.changed
		s.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return false
		}
	}
}

// Active is how many requests are being handled right now; 0 once the
// gateway has let go of every upstream call.
func (s *Server) Active() int { return int(s.active.Load()) }

// SetFault installs f, called for every request after auth; a non-nil
// result is applied to that request. Nil clears it.
func (s *Server) SetFault(f func(r *Recorded) *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

func (s *Server) noteCanceled() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canceled++
	close(s.changed)
	s.changed = make(chan struct{})
}

// maxBody bounds what the fake reads; tests never need more.
const maxBody = 32 << 20

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.active.Add(1)
	defer s.active.Add(-1)

	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	c := &call{s: s, w: w, r: r, ctx: r.Context(), body: body, start: time.Now(), seq: s.seq.Add(1)}
	c.rec = Recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body,
	}
	var peek struct {
		Model  any `json:"model"`
		Stream any `json:"stream"`
	}
	if json.Unmarshal(body, &peek) == nil {
		c.rec.Model, _ = peek.Model.(string)
		c.rec.Stream, _ = peek.Stream.(bool)
	}
	if id, ok := strings.CutPrefix(r.URL.Path, s.d.prefix()+"/models/"); ok && r.Method == http.MethodGet {
		c.rec.Model = id
	}
	if pm, ok := s.d.(pathModeler); ok {
		if m := pm.modelFromPath(r); m != "" {
			c.rec.Model = m
		}
	}
	if strings.Contains(r.URL.Path, ":streamGenerateContent") {
		c.rec.Stream = true // Gemini says "stream" in the path, not the body
	}
	c.key = s.d.apiKey(r)
	name, authed := s.keyName(c.key)
	if authed {
		c.rec.KeyName = name
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, c.rec)
	faultFn := s.fault
	s.mu.Unlock()

	switch {
	case c.key == "":
		c.fail(failure{kind: failNoKey})
		return
	case !authed:
		c.fail(failure{kind: failBadKey})
		return
	}

	if faultFn != nil {
		rec := c.rec
		c.fault = faultFn(&rec)
	}
	if f := c.fault; f != nil {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		for k, v := range f.Headers {
			w.Header().Set(k, v)
		}
		if f.Delay > 0 && !c.wait(f.Delay) {
			return
		}
		if f.Hang {
			c.wait(-1)
			return
		}
		if f.Status != 0 && !c.streamFault() {
			c.fail(failure{kind: failStatus, status: f.Status})
			return
		}
	}
	s.route(c)
}

func (s *Server) route(c *call) {
	if nr, ok := s.d.(nativeRouter); ok && nr.route(s, c) {
		return
	}
	p := strings.TrimPrefix(c.r.URL.Path, s.d.prefix())
	if p != c.r.URL.Path {
		switch {
		case p == "/chat/completions" && c.r.Method == http.MethodPost:
			s.chat(c)
			return
		case p == "/embeddings" && c.r.Method == http.MethodPost:
			s.embeddings(c)
			return
		case p == "/models" && c.r.Method == http.MethodGet:
			s.listModels(c)
			return
		case strings.HasPrefix(p, "/models/") && c.r.Method == http.MethodGet:
			s.getModel(c, strings.TrimPrefix(p, "/models/"))
			return
		}
	}
	c.fail(failure{kind: failNoRoute, arg: c.r.Method + " " + c.r.URL.Path})
}

// keyName says whether key is accepted and under which name.
func (s *Server) keyName(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	if s.opts.Keys == nil {
		return AnyKeyName(key), true
	}
	n, ok := s.opts.Keys[key]
	return n, ok
}

// AnyKeyName is the name a key gets when Options.Keys is nil: stable and
// distinct per key without echoing the secret into answers.
func AnyKeyName(key string) string {
	return "key-" + hexOf(8, "key", key)
}

// models is the catalogue: Options.Models or the flavour's default.
func (s *Server) models() []string {
	if len(s.opts.Models) > 0 {
		return s.opts.Models
	}
	return s.d.defaultModels()
}

// knownModel reports whether a requested model is served. Without
// Options.Models every model is.
func (s *Server) knownModel(m string) bool {
	if len(s.opts.Models) == 0 {
		return true
	}
	m = s.d.modelName(m)
	for _, x := range s.opts.Models {
		if s.d.modelName(x) == m {
			return true
		}
	}
	return false
}

// call is one request being answered.
type call struct {
	s        *Server
	w        http.ResponseWriter
	r        *http.Request
	ctx      context.Context
	body     []byte
	rec      Recorded
	key      string
	seq      int64
	start    time.Time
	fault    *Fault
	canceled bool
}

// streamFault reports whether the fault breaks a stream rather than
// replacing the answer.
func (c *call) streamFault() bool {
	f := c.fault
	return f != nil && c.rec.Stream && (f.CutAfter > 0 || f.ErrorEventAfter > 0 || f.StallAfter > 0)
}

// cancel counts this request as abandoned by its client, once.
func (c *call) cancel() {
	if !c.canceled {
		c.canceled = true
		c.s.noteCanceled()
	}
}

// wait sleeps for d (forever when d < 0) and reports whether to go on: false
// when the client went away (counted) or the server is closing (not counted).
func (c *call) wait(d time.Duration) bool {
	if d == 0 {
		if c.ctx.Err() != nil {
			c.cancel()
			return false
		}
		return true
	}
	var tc <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-tc:
		return true
	case <-c.s.done:
		return false
	case <-c.ctx.Done():
		c.cancel()
		return false
	}
}

// writeHead sets the vendor's headers and the status.
func (c *call) writeHead(status int, contentType string) {
	h := c.w.Header()
	c.s.d.headers(h, c, status)
	if c.fault != nil {
		for k, v := range c.fault.Headers { // a test's headers win over the dialect's
			h.Set(k, v)
		}
	}
	h.Set("Content-Type", contentType)
	c.w.WriteHeader(status)
}

// writeJSON writes a whole JSON answer, indented when indent != "" (OpenAI
// pretty-prints its non-stream bodies).
func (c *call) writeJSON(status int, v any, indent string) {
	b, err := marshalIndent(v, indent)
	if err != nil {
		panic(fmt.Sprintf("fake: marshal: %v", err)) // a bug in the fake
	}
	c.writeHead(status, c.s.d.contentType(false))
	c.w.Write(append(b, '\n'))
}

// fail writes the vendor's error for f.
func (c *call) fail(f failure) {
	status, body, indent := c.s.d.errorFor(c, f)
	c.writeJSON(status, body, indent)
}

// failKind names the errors every vendor has its own body for.
type failKind int

const (
	failNoKey       failKind = iota + 1 // no credential
	failBadKey                          // credential not accepted
	failBadJSON                         // body is not JSON
	failInvalid                         // arg: message, param: the field
	failNoModel                         // arg: model asked for in a request body
	failNoSuchModel                     // arg: id in GET models/{id}
	failNoRoute                         // arg: "METHOD /path"
	failStatus                          // status: injected by a Fault
)

type failure struct {
	kind   failKind
	status int
	arg    string
	param  string
}

// dialect is one vendor's wire format. Shared logic (routing, auth,
// recording, faults, deciding the answer) lives in Server; a dialect only
// renders.
type dialect interface {
	prefix() string
	apiKey(r *http.Request) string
	headers(h http.Header, c *call, status int)
	contentType(stream bool) string
	errorFor(c *call, f failure) (status int, body any, indent string)
	streamError(c *call, status int) any
	chat(c *call, req *chatRequest, a *answer) (body any, indent string)
	chatStream(c *call, req *chatRequest, a *answer) []any
	embeddings(c *call, req *embedRequest, vecs [][]float32, tokens int) any
	modelList(names []string) any
	model(name string) any
	modelName(m string) string // how a model is named in the catalogue
	defaultModels() []string
}

// nativeRouter is implemented by dialects whose paths differ from OpenAI's
// (Anthropic's /v1/messages, Gemini's models/{m}:generateContent). route
// reports whether it handled the call; if not, OpenAI-style routing runs.
type nativeRouter interface {
	route(s *Server, c *call) bool
}

// pathModeler is implemented by dialects that carry the model in the URL
// path rather than the body, so Recorded.Model is right for them too.
type pathModeler interface {
	modelFromPath(r *http.Request) string
}

// bearer reads "Authorization: Bearer <key>".
func bearer(r *http.Request) string {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}
