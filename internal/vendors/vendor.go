// Package vendors defines what an upstream adapter does: take a request in
// OpenAI's wire format, send it to one vendor with one credential, and hand
// back OpenAI's wire format. One subpackage per wire protocol.
package vendors

import (
	"context"
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"
)

// Adapter speaks one vendor's protocol. Implementations are safe for
// concurrent use and hold one tuned http.Client for their vendor.
type Adapter interface {
	// Chat sends a chat completion. A non-nil error is an *openai.Error
	// (the vendor's error, normalised) or a transport failure.
	Chat(ctx context.Context, c *Call) (*Result, error)
	// Embed sends an embeddings request.
	Embed(ctx context.Context, c *Call) (*Result, error)
}

// Call is one attempt against one combination.
type Call struct {
	Key   string // the credential; never logged
	Model string // the model the vendor is asked for
	// Body is the client's JSON with "model" already set to Model.
	Body []byte
	// Chat is the parsed request (nil for embeddings); adapters that
	// translate read it, pass-through adapters only forward Body.
	Chat *openai.ChatRequest
	// Stream and IncludeUsage restate what Chat says, for quick access.
	Stream       bool
	IncludeUsage bool
	// Header carries client headers worth passing upstream (traceparent).
	Header http.Header
}

// Result is a successful upstream answer in OpenAI's format.
type Result struct {
	// Body is the whole response for non-streaming calls.
	Body []byte
	// Stream yields chat.completion.chunk objects for streaming calls.
	Stream Stream
	// Header holds upstream headers the gateway may surface.
	Header http.Header
}

// Prober is implemented by adapters that can check a credential cheaply
// (listing models, say) for active health checks.
type Prober interface {
	Probe(ctx context.Context, key string) error
}

// Stream yields one SSE data payload (a JSON chunk, without "data: ") per
// call to Next. Next returns io.EOF after the vendor's end of stream, and any
// other error when the stream broke: a stream never ends silently. The slice
// is valid only until the next call.
type Stream interface {
	Next() ([]byte, error)
	Close() error
}

// Pender is implemented by streams that can tell whether their next event
// has already arrived; the relay then writes it before flushing.
type Pender interface {
	Pending() bool
}

// UsageReporter is implemented by streams that learn the answer's usage
// whether or not the client asked for it (stream_options.include_usage):
// the gateway then counts the tokens (log, usage rows, token limits,
// budgets) without sending the client a usage it did not ask for.
type UsageReporter interface {
	// Usage is the usage seen so far as OpenAI's usage object (JSON), or
	// nil when the vendor reported none.
	Usage() []byte
}
