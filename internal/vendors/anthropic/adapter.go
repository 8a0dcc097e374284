// Package anthropic is the adapter for Anthropic's Messages API: it serves
// OpenAI chat completions by translating the request to POST /v1/messages and
// the answer (a message, or its SSE event stream) back to OpenAI's format.
package anthropic

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
)

// Options configure an Adapter.
type Options struct {
	BaseURL string // e.g. https://api.anthropic.com/v1, no trailing slash
	// Version is the anthropic-version header (default 2023-06-01).
	Version string
	// Headers are sent with every request, e.g. anthropic-beta.
	Headers map[string]string
	// Client is the HTTP client; nil means one tuned for LLM traffic.
	Client    *http.Client
	UserAgent string
	// DefaultMaxTokens is max_tokens when the client sets none (Anthropic
	// requires it); default 4096.
	DefaultMaxTokens int
}

// Adapter sends OpenAI-format chat requests to Anthropic's Messages API.
// It is safe for concurrent use.
type Adapter struct {
	messagesURL string
	version     string
	headers     http.Header
	client      *http.Client
	userAgent   string
	maxTokens   int
	now         func() time.Time
}

// New builds an adapter.
func New(o Options) *Adapter {
	c := o.Client
	if c == nil {
		c = &http.Client{Transport: vendors.NewTransport()}
	}
	a := &Adapter{
		messagesURL: strings.TrimSuffix(o.BaseURL, "/") + "/messages",
		version:     o.Version,
		headers:     http.Header{},
		client:      c,
		userAgent:   o.UserAgent,
		maxTokens:   o.DefaultMaxTokens,
		now:         time.Now,
	}
	if a.version == "" {
		a.version = "2023-06-01"
	}
	if a.userAgent == "" {
		a.userAgent = "genrouter"
	}
	if a.maxTokens <= 0 {
		a.maxTokens = 4096
	}
	for k, v := range o.Headers {
		a.headers.Set(k, v)
	}
	return a
}

// Chat implements vendors.Adapter.
func (a *Adapter) Chat(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	body, model, e := translateRequest(c.Body, c.Model, c.Stream, a.maxTokens)
	if e != nil {
		return nil, e
	}
	resp, err := a.post(ctx, c, body)
	if err != nil {
		return nil, err
	}
	created := a.now().Unix()
	if !c.Stream {
		raw, err := vendors.ReadBody(resp)
		if err != nil {
			return nil, err
		}
		out, e := translateResponse(raw, model, created)
		if e != nil {
			return nil, e
		}
		return &vendors.Result{Body: out, Header: rateLimitHeaders(resp.Header, time.Now())}, nil
	}
	s := newStream(resp.Body, model, c.IncludeUsage, c.Key, created)
	return &vendors.Result{Stream: s, Header: rateLimitHeaders(resp.Header, time.Now())}, nil
}

// Embed implements vendors.Adapter: Anthropic has no embeddings endpoint.
func (a *Adapter) Embed(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	return nil, openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "unsupported_endpoint", "",
		"Anthropic has no embeddings API: route embeddings to another vendor")
}

// post sends body to the messages endpoint and returns a 2xx response, or
// the vendor's error normalised to OpenAI's shape.
func (a *Adapter) post(ctx context.Context, c *vendors.Call, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.messagesURL, bytes.NewReader(body))
	if err != nil {
		return nil, openai.NewError(http.StatusInternalServerError, openai.TypeServer, "bad_upstream_url", "",
			"could not build the upstream request: "+err.Error())
	}
	h := req.Header
	for k, v := range a.headers {
		h[k] = v
	}
	for k, v := range c.Header {
		h[k] = v
	}
	h.Set("X-Api-Key", c.Key)
	h.Set("Anthropic-Version", a.version)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", a.userAgent)
	if c.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	return vendors.Send(ctx, a.client, req, func(status int, h http.Header, b []byte) error {
		return upstreamError(status, h, b, c.Key)
	})
}

// rateLimitHeaders adds OpenAI's x-ratelimit-remaining/reset-* names for
// Anthropic's anthropic-ratelimit-*-remaining/-reset (an RFC 3339 time),
// so the router skips a credential with nothing left until its reset,
// whatever the vendor.
func rateLimitHeaders(h http.Header, now time.Time) http.Header {
	for _, kind := range [...]string{"requests", "tokens"} {
		rem := h.Get("Anthropic-Ratelimit-" + kind + "-Remaining")
		if rem == "" {
			continue
		}
		h.Set("X-Ratelimit-Remaining-"+kind, rem)
		if t, err := time.Parse(time.RFC3339, h.Get("Anthropic-Ratelimit-"+kind+"-Reset")); err == nil && t.After(now) {
			h.Set("X-Ratelimit-Reset-"+kind, t.Sub(now).Round(time.Millisecond).String())
		}
	}
	return h
}
