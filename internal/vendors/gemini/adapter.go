// Package gemini is the adapter for Gemini's native API
// (generativelanguage.googleapis.com/v1beta): it serves OpenAI chat
// completions from models/{model}:generateContent and
// :streamGenerateContent, and embeddings from :batchEmbedContents,
// translating requests, answers, streams and errors both ways.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/sse"
)

// Options configure an Adapter.
type Options struct {
	// BaseURL is the API root, e.g. https://generativelanguage.googleapis.com/v1beta,
	// without a trailing slash.
	BaseURL string
	// Headers are sent with every request (before the key, which wins).
	Headers map[string]string
	// Client nil means &http.Client{Transport: vendors.NewTransport()}.
	Client    *http.Client
	UserAgent string
}

// Adapter speaks Gemini's native API. It is safe for concurrent use.
type Adapter struct {
	base      string
	headers   map[string]string
	client    *http.Client
	userAgent string
	now       func() time.Time
	newID     func() string // tool call ids, "call_" + 24 alphanumerics
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
	return &Adapter{
		base:      strings.TrimSuffix(o.BaseURL, "/"),
		headers:   o.Headers,
		client:    c,
		userAgent: ua,
		now:       time.Now,
		newID:     newCallID,
	}
}

// resource is the model's resource name: "models/<m>", or the name as given
// when it already names a collection ("tunedModels/x").
func resource(model string) string {
	if strings.Contains(model, "/") {
		return model
	}
	return "models/" + model
}

// methodURL is {BaseURL}/models/{model}:{method}.
func (a *Adapter) methodURL(model, method string) string {
	segs := strings.Split(resource(model), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return a.base + "/" + strings.Join(segs, "/") + ":" + method
}

// Chat implements vendors.Adapter.
func (a *Adapter) Chat(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	var req chatRequest
	if err := json.Unmarshal(c.Body, &req); err != nil {
		return nil, openai.DecodeError(err)
	}
	g, e := buildRequest(&req, c.Model)
	if e != nil {
		return nil, e
	}
	body, err := marshal(g)
	if err != nil {
		return nil, fmt.Errorf("encode upstream request: %w", err)
	}
	u := a.methodURL(c.Model, "generateContent")
	if c.Stream {
		u = a.methodURL(c.Model, "streamGenerateContent") + "?alt=sse"
	}
	resp, err := a.post(ctx, u, c, body)
	if err != nil {
		return nil, err
	}
	if !c.Stream {
		b, err := vendors.ReadBody(resp)
		if err != nil {
			return nil, err
		}
		out, err := toCompletion(b, c.Model, a.now().Unix(), chunkID(), a.newID, c.Key)
		if err != nil {
			return nil, err
		}
		return &vendors.Result{Body: out, Header: resp.Header}, nil
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	t := newTranslator(c.Model, a.now().Unix(), c.IncludeUsage, n, chunkID(), a.newID, c.Key)
	return &vendors.Result{Stream: &stream{body: resp.Body, r: sse.NewReader(resp.Body), t: t}, Header: resp.Header}, nil
}

// post sends body and returns a 2xx response, or the vendor's error
// normalised to OpenAI's shape.
func (a *Adapter) post(ctx context.Context, u string, c *vendors.Call, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", a.userAgent)
	if c.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	for k, v := range c.Header {
		h[k] = v
	}
	for k, v := range a.headers {
		h.Set(k, v)
	}
	// The key travels in a header, never in the URL, so that it cannot
	// leak through logged URLs or error messages.
	h.Set("x-goog-api-key", c.Key)
	return vendors.Send(ctx, a.client, req, func(status int, h http.Header, b []byte) error {
		return upstreamError(status, h, b, c.Key)
	})
}

// chunkID is an OpenAI-style completion id, for answers without a responseId.
func chunkID() string { return "chatcmpl-" + randomAlnum(29) }

// Probe implements vendors.Prober: listing one model is cheap and needs a
// working key.
func (a *Adapter) Probe(ctx context.Context, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/models?pageSize=1", nil)
	if err != nil {
		return fmt.Errorf("build probe: %w", err)
	}
	req.Header.Set("User-Agent", a.userAgent)
	for k, v := range a.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("x-goog-api-key", key)
	return vendors.Probe(ctx, a.client, req, func(status int, h http.Header, b []byte) error {
		return upstreamError(status, h, b, key)
	})
}

// CloseIdleConnections lets go of pooled connections (after a reload
// retired this adapter).
func (a *Adapter) CloseIdleConnections() { a.client.CloseIdleConnections() }
