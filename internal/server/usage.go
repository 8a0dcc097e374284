package server

import (
	"context"
	"net/http"
	"time"

	"github.com/genrouter/genrouter/internal/store"
)

// price computes what a request cost from the model that served it and
// sets X-Genrouter-Cost (a header, or a trailer on streams).
func (s *Server) price(h http.Header, x *exchange) {
	if x.combo == nil || (x.promptTok == 0 && x.complTok == 0) {
		return
	}
	cost, ok := s.state.Load().prices.Cost(x.combo.Model.Name, x.promptTok, x.complTok, x.cachedTok)
	if !ok {
		return
	}
	x.cost = cost
	h.Set("X-Genrouter-Cost", formatCost(cost))
}

// settle ends a request's accounting: it releases the rate-limit ticket
// with the real token count and cost, and queues the usage row. Neither
// waits: the writer drops (and counts) rather than block.
func (s *Server) settle(r *http.Request, x *exchange, status int, d time.Duration, class string) {
	c := x.caller
	if c != nil && c.ticket != nil {
		// The request context may be gone; the accounting must not be.
		c.ticket.Done(context.WithoutCancel(r.Context()), x.promptTok+x.complTok, x.cost)
	}
	if s.opts.Usage == nil {
		return
	}
	u := store.Usage{
		Time: x.start, RequestID: x.id, ModelAsked: x.asked, Status: status,
		LatencyMs: ms(d), TTFBMs: ms(x.ttfb),
		PromptTokens: x.promptTok, CompletionTokens: x.complTok, CachedTokens: x.cachedTok,
		Cost: x.cost, Attempts: x.attempts, Stream: x.stream, ErrorClass: class,
	}
	if x.combo != nil {
		u.Vendor, u.Credential, u.ModelServed = x.combo.Vendor.Name, x.combo.Credential, x.combo.Model.Name
	}
	if c != nil && c.key != nil {
		u.KeyID = c.key.ID
	}
	s.opts.Usage.Enqueue(u)
}
