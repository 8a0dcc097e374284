// Package openai is the adapter for vendors that speak OpenAI's HTTP API:
// OpenAI itself and Gemini's OpenAI-compatible endpoint, whose deviations
// from OpenAI's format are normalised here so clients never see them.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/sse"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Dialect says whose flavour of the OpenAI API the vendor speaks.
type Dialect int

const (
	DialectOpenAI Dialect = iota
	// DialectGemini is Gemini's OpenAI-compatible endpoint.
	DialectGemini
	// DialectAzure is Azure OpenAI: a deployment per model in the URL,
	// api-version in the query, the key in an api-key header.
	DialectAzure
)

// Options configure an Adapter.
type Options struct {
	BaseURL   string // e.g. https://api.openai.com/v1, no trailing slash
	Dialect   Dialect
	Client    *http.Client // nil: a client tuned for LLM traffic
	UserAgent string
	// Headers are sent on every request (a vendor's extra headers).
	Headers map[string]string
	// APIVersion and Deployments are Azure's (DialectAzure only).
	APIVersion  string
	Deployments map[string]string
	// StreamUsage asks the vendor for usage on every stream
	// (stream_options.include_usage), so the gateway can count tokens; a
	// client that did not ask still gets no usage.
	StreamUsage bool
	// LocalBase64 asks the vendor for float embeddings and encodes them as
	// base64 here when the client asked for base64: OpenAI-compatible
	// servers ignore encoding_format (Ollama) or refuse base64 (older
	// vLLM and llama.cpp). Gemini's endpoint always gets this.
	LocalBase64 bool
}

// Adapter sends OpenAI-format requests to one vendor.
type Adapter struct {
	chatURL, embedURL string
	modelsURL         string
	headers           map[string]string
	dialect           Dialect
	client            *http.Client
	userAgent         string
	// Azure: base URL, version and deployments build the URL per model.
	base, apiVersion string
	deployments      map[string]string
	uaHeader         []string
	authCache        sync.Map // key → its Authorization (or api-key) value
	// chatURL and embedURL parsed once: parsing them per request was a
	// visible share of building it. Never modified (transports only read).
	chatU, embedU *url.URL
	streamUsage   bool
	localBase64   bool
}

// New builds an adapter.
func New(o Options) *Adapter {
	c := o.Client
	if c == nil {
		c = &http.Client{Transport: vendors.NewTransport()}
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "genrouter"
	}
	a := &Adapter{
		chatURL:   o.BaseURL + "/chat/completions",
		modelsURL: o.BaseURL + "/models",
		headers:   o.Headers,
		embedURL:  o.BaseURL + "/embeddings",
		dialect:   o.Dialect,
		client:    c,
		userAgent: ua,

		base:        o.BaseURL,
		apiVersion:  o.APIVersion,
		deployments: o.Deployments,
		uaHeader:    []string{ua},
		streamUsage: o.StreamUsage && o.Dialect != DialectGemini, // Gemini sends it unasked
		localBase64: o.LocalBase64 || o.Dialect == DialectGemini,
	}
	// A base URL that does not parse keeps the per-request parse, which
	// reports the error where it always did.
	a.chatU, a.embedU = parseTarget(a.chatURL), parseTarget(a.embedURL)
	return a
}

// parseTarget parses a fixed upstream URL as http.NewRequest would (an
// empty port dropped from the host), or returns nil.
func parseTarget(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	u.Host = strings.TrimSuffix(u.Host, ":")
	return u
}

// url is where an operation goes: fixed for OpenAI, per deployment for
// Azure (the deployment defaults to the model's name).
func (a *Adapter) url(op, model string) string {
	if a.dialect != DialectAzure {
		if op == "chat" {
			return a.chatURL
		}
		return a.embedURL
	}
	dep := a.deployments[model]
	if dep == "" {
		dep = model
	}
	path := "/chat/completions"
	if op == "embeddings" {
		path = "/embeddings"
	}
	return a.base + "/openai/deployments/" + url.PathEscape(dep) + path + "?api-version=" + url.QueryEscape(a.apiVersion)
}

// Chat implements vendors.Adapter.
func (a *Adapter) Chat(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	body, hide := c.Body, false
	if c.Stream && !c.IncludeUsage && a.streamUsage {
		if b, err := askUsage(body); err == nil {
			body, hide = b, true
		}
	}
	resp, err := a.post(ctx, a.url("chat", c.Model), c, body)
	if err != nil {
		return nil, err
	}
	if !c.Stream {
		body, err := vendors.ReadBody(resp)
		if err != nil {
			return nil, err
		}
		return &vendors.Result{Body: body, Header: resp.Header}, nil
	}
	var s vendors.Stream = &stream{body: resp.Body, r: sse.NewReader(resp.Body), key: c.Key,
		skipEmpty: a.dialect == DialectAzure, hideUsage: hide}
	if a.dialect == DialectGemini {
		s = newGeminiStream(s, c.IncludeUsage)
	}
	return &vendors.Result{Stream: s, Header: resp.Header}, nil
}

// Embed implements vendors.Adapter.
func (a *Adapter) Embed(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	body, wantBase64 := c.Body, false
	if a.localBase64 {
		// Gemini (and some OpenAI-compatible servers) answer floats
		// whatever encoding_format says, so ask for floats and encode
		// them as OpenAI would.
		body, wantBase64 = stripBase64(body)
	}
	if a.dialect == DialectGemini {
		if in := gjson.GetBytes(body, "input"); in.IsArray() {
			if items := in.Array(); len(items) > geminiEmbedBatchLimit && items[0].Type == gjson.String {
				return a.embedBatches(ctx, c, body, items, wantBase64)
			}
		}
	}
	resp, err := a.post(ctx, a.url("embeddings", c.Model), c, body)
	if err != nil {
		return nil, err
	}
	out, err := vendors.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	if wantBase64 {
		out = floatsToBase64(out)
	}
	return &vendors.Result{Body: out, Header: resp.Header}, nil
}

// post sends body and returns a 2xx response, or the vendor's error
// normalised to OpenAI's shape.
func (a *Adapter) post(ctx context.Context, target string, c *vendors.Call, body []byte) (*http.Response, error) {
	var u *url.URL
	switch target {
	case a.chatURL:
		u = a.chatU
	case a.embedURL:
		u = a.embedU
	}
	req, err := newPost(ctx, target, u, body)
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	// Shared, never-modified value slices: setting a header then costs no
	// allocation (Header.Set would make a one-element slice each time).
	h := req.Header
	a.auth(h, c.Key)
	h["Content-Type"] = hdrJSON
	h["User-Agent"] = a.uaHeader
	if c.Stream {
		h["Accept"] = hdrSSE
	} else {
		h["Accept"] = hdrJSON
	}
	for k, v := range a.headers {
		h.Set(k, v)
	}
	for k, v := range c.Header {
		h[k] = v
	}
	return vendors.Send(ctx, a.client, req, func(status int, h http.Header, b []byte) error {
		return upstreamError(status, h, b, c.Key)
	})
}

// newPost is http.NewRequestWithContext for a POST of body to target, with
// target already parsed as u when u is not nil.
func newPost(ctx context.Context, target string, u *url.URL, body []byte) (*http.Request, error) {
	if u == nil {
		return http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.URL, req.Host = u, u.Host
	return req, nil
}

// auth puts the key where the vendor wants it. Keyless servers (a local
// Ollama) get no Authorization header at all.
func (a *Adapter) auth(h http.Header, key string) {
	switch {
	case key == "":
	case a.dialect == DialectAzure:
		h["Api-Key"] = a.authValue(key, "")
	default:
		h["Authorization"] = a.authValue(key, "Bearer ")
	}
}

// authValue returns the header value for a key, built once per key.
func (a *Adapter) authValue(key, prefix string) []string {
	if v, ok := a.authCache.Load(key); ok {
		return v.([]string)
	}
	v := []string{prefix + key}
	a.authCache.Store(key, v)
	return v
}

var (
	hdrJSON = []string{"application/json"}
	hdrSSE  = []string{"text/event-stream"}
)

// Probe implements vendors.Prober: listing models is cheap and needs a
// working key.
func (a *Adapter) Probe(ctx context.Context, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.modelsURL, nil)
	if err != nil {
		return fmt.Errorf("build probe: %w", err)
	}
	a.auth(req.Header, key)
	req.Header.Set("User-Agent", a.userAgent)
	for k, v := range a.headers {
		req.Header.Set(k, v)
	}
	return vendors.Probe(ctx, a.client, req, func(status int, h http.Header, b []byte) error {
		return upstreamError(status, h, b, key)
	})
}

// CloseIdleConnections lets go of pooled connections (after a reload
// retired this adapter).
func (a *Adapter) CloseIdleConnections() { a.client.CloseIdleConnections() }

// stream reads an OpenAI-style SSE body until "data: [DONE]".
type stream struct {
	body io.ReadCloser
	r    *sse.Reader
	key  string
	done bool
	// skipEmpty drops Azure's content-filter chunks: choices [] and no
	// usage, sent before any content, which OpenAI never sends.
	skipEmpty bool
	buf       bytes.Buffer // a multi-line event, compacted
	// hideUsage: the gateway asked for usage the client did not. It is
	// kept for Usage and taken out of what the client gets: the usage
	// chunk dropped, "usage":null fields removed.
	hideUsage bool
	usage     []byte
	edited    []byte
}

func (s *stream) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	for {
		ev, err := s.r.Next()
		if err != nil {
			if err == io.EOF {
				return nil, openai.NewError(http.StatusBadGateway, openai.TypeServer, "stream_truncated",
					"", "the vendor's stream ended before it was complete")
			}
			return nil, openai.NewError(http.StatusBadGateway, openai.TypeServer, "stream_broken",
				"", "the vendor's stream broke: "+err.Error())
		}
		d := bytes.TrimSpace(ev.Data)
		if len(d) == 0 {
			continue
		}
		if bytes.IndexByte(d, '\n') >= 0 {
			// An event spread over several data: lines (pretty-printed
			// JSON) is one chunk: made one line again, it can be relayed
			// as a single data: line and read like every other.
			s.buf.Reset()
			if json.Compact(&s.buf, d) == nil {
				d = s.buf.Bytes()
			}
		}
		if string(d) == "[DONE]" {
			s.done = true
			return nil, io.EOF
		}
		if isErrorPayload(d) {
			s.done = true
			return nil, upstreamError(http.StatusBadGateway, nil, d, s.key)
		}
		if s.skipEmpty && bytes.Contains(d, []byte(`"choices":[]`)) && !bytes.Contains(d, []byte(`"usage":{`)) {
			continue
		}
		if s.hideUsage && bytes.Contains(d, []byte(`"usage"`)) {
			var keep bool
			if d, keep = s.takeUsage(d); !keep {
				continue
			}
		}
		return d, nil
	}
}

// takeUsage keeps a chunk's usage for Usage and returns the chunk without
// it; keep is false for the usage chunk itself (no choices left to send).
func (s *stream) takeUsage(d []byte) (out []byte, keep bool) {
	u := gjson.GetBytes(d, "usage")
	if !u.Exists() || u.Index <= 0 {
		return d, true
	}
	if u.IsObject() {
		s.usage = append(s.usage[:0], u.Raw...)
		if c := gjson.GetBytes(d, "choices"); !c.IsArray() || len(c.Array()) == 0 {
			return nil, false
		}
	}
	// Cut `"usage":…` with one comma next to it.
	start, end := bytes.LastIndex(d[:u.Index], []byte(`"usage"`)), u.Index+len(u.Raw)
	if start < 0 {
		return d, true
	}
	const space = " \t\r\n"
	if before := bytes.TrimRight(d[:start], space); len(before) > 0 && before[len(before)-1] == ',' {
		start = len(before) - 1
	} else if after := bytes.TrimLeft(d[end:], space); len(after) > 0 && after[0] == ',' {
		end = len(d) - len(after) + 1
	}
	s.edited = append(append(s.edited[:0], d[:start]...), d[end:]...)
	return s.edited, true
}

// Usage implements vendors.UsageReporter: the usage the gateway asked for
// on the client's behalf.
func (s *stream) Usage() []byte { return s.usage }

func (s *stream) Close() error { return s.body.Close() }

// Pending implements vendors.Pender. Azure's stream drops some events, and
// so does one hiding usage, so a buffered one may never reach the client:
// flush every time there.
func (s *stream) Pending() bool { return !s.skipEmpty && !s.hideUsage && s.r.Pending() }

// askUsage sets stream_options.include_usage in a chat request body,
// keeping every other byte and any other stream option.
func askUsage(body []byte) ([]byte, error) {
	if o := gjson.GetBytes(body, "stream_options"); o.Exists() && !o.IsObject() {
		b, err := sjson.SetRawBytes(body, "stream_options", []byte(`{"include_usage":true}`))
		return b, err
	}
	return sjson.SetRawBytes(body, "stream_options.include_usage", []byte("true"))
}

// isErrorPayload spots {"error":...} and Gemini's [{"error":...}] without
// parsing every chunk: chunks begin with "id" or "choices", errors with "error".
func isErrorPayload(d []byte) bool {
	d = bytes.TrimLeft(d, "[{ \t\r\n")
	return bytes.HasPrefix(d, []byte(`"error"`))
}
