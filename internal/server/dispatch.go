package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/media"
	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/tracing"
	"github.com/genrouter/genrouter/internal/vendors"
)

// job is one client request on its way to a vendor.
type job struct {
	body         []byte              // the client's JSON
	chat         *openai.ChatRequest // nil for embeddings
	stream       bool
	includeUsage bool
	embed        bool
	media        bool // has images, files or audio for the media layer
}

// answer is a vendor's answer that has started: a whole body, or a stream
// with its first event already read (failover ends at the first byte).
type answer struct {
	lease  *route.Lease
	body   []byte
	stream vendors.Stream
	first  []byte // the stream's first event; nil if it ended at once
	header http.Header
	idle   time.Duration
}

// limits are the timeouts of one request: the configured ones, lowered by
// request headers but never raised past them.
func limits(r *http.Request, t config.Timeouts) config.Timeouts {
	lower := func(h string, cur time.Duration) time.Duration {
		v := r.Header.Get(h)
		if v == "" {
			return cur
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			if s, ferr := strconv.ParseFloat(v, 64); ferr == nil {
				d = time.Duration(s * float64(time.Second))
			}
		}
		if d > 0 && d < cur {
			return d
		}
		return cur
	}
	t.Total = lower("X-Genrouter-Timeout", t.Total)
	t.FirstByte = lower("X-Genrouter-First-Byte-Timeout", t.FirstByte)
	t.StreamIdle = lower("X-Genrouter-Stream-Idle-Timeout", t.StreamIdle)
	return t
}

// dispatch runs the failover loop for j and returns the answer that
// started. Headers saying what served it (or how many attempts failed) are
// set on w either way.
func (s *Server) dispatch(ctx context.Context, st *state, w http.ResponseWriter, q route.Query, j *job, t config.Timeouts, x *exchange) (*answer, error) {
	var ans answer
	ans.idle = t.StreamIdle
	est := int64(len(j.body)/4) + 256    // rough: ~4 bytes a token, plus some answer
	var prepared map[media.Target][]byte // one media pass per kind of vendor
	var send func(actx context.Context, c *route.Combination, vc *vendors.Call) error
	attempt := 0
	call := func(actx context.Context, c *route.Combination, arm func()) error {
		body := j.body
		if j.media {
			t := st.targets[c.Vendor.Name]
			t.Audio = c.Model.Audio
			b, ok := prepared[t]
			if !ok {
				var err error
				// The request's context, not the attempt's: a slow download
				// is not the vendor's first byte being late.
				if b, err = st.media.Process(ctx, j.body, t); err != nil {
					return route.Abort(err)
				}
				if prepared == nil {
					prepared = map[media.Target][]byte{}
				}
				prepared[t] = b
			}
			body = b
		}
		vc := &vendors.Call{Key: c.Key, Model: c.Model.Name, Body: openai.SetModel(body, c.QuotedModel()),
			Chat: j.chat, Stream: j.stream, IncludeUsage: j.includeUsage}
		s.metrics.Selected(c.Vendor.Name, c.Credential, c.Model.Name)
		x.endVoidedAttempt()
		attempt++
		actx, span := s.tracer.StartAttempt(actx, tracing.Attempt{Operation: x.op, Vendor: c.Vendor.Name,
			VendorType: c.Vendor.Type, Credential: c.Credential, Model: c.Model.Name, Number: attempt})
		if s.tracer != nil {
			vc.Header = http.Header{}
			tracing.Inject(actx, vc.Header) // W3C traceparent continues upstream
		}
		arm()
		start := time.Now()
		err := send(actx, c, vc)
		x.upstream += time.Since(start)
		if err != nil && actx.Err() != nil {
			if cause := context.Cause(actx); cause != nil {
				err = cause // a first-byte timeout says more than "canceled"
			}
		}
		outcome := metrics.AttemptOutcome(err)
		s.metrics.Attempt(c.Vendor.Name, c.Credential, c.Model.Name, outcome)
		if err == nil && span.IsRecording() {
			x.attemptSpan = span // ended with the tokens once the answer is delivered
		} else {
			tracing.EndAttempt(span, tracing.AttemptEnd{Outcome: outcome, Status: statusOf(err)})
		}
		return err
	}
	send = func(actx context.Context, c *route.Combination, vc *vendors.Call) error {
		var res *vendors.Result
		var err error
		if j.embed {
			res, err = c.Vendor.Adapter.Embed(actx, vc)
		} else {
			res, err = c.Vendor.Adapter.Chat(actx, vc)
		}
		if err != nil {
			return err
		}
		ans.header = res.Header
		if res.Stream == nil {
			ans.body, ans.stream, ans.first = res.Body, nil, nil
			return nil
		}
		first, err := res.Stream.Next()
		if err != nil && err != io.EOF {
			res.Stream.Close()
			return err
		}
		if ans.stream != nil {
			ans.stream.Close() // from an attempt the first-byte timer voided
		}
		ans.body, ans.stream, ans.first = nil, res.Stream, first
		return nil
	}
	lease, attempts, err := st.router.Do(ctx, q, est, t.FirstByte, call)
	x.attempts = attempts
	// Every routed answer says how many attempts it took, "0" for the
	// immediate one when every combination was cooling down.
	w.Header()["X-Genrouter-Attempts"] = attemptsHeader(attempts)
	if err != nil {
		x.endVoidedAttempt()
		if ans.stream != nil {
			ans.stream.Close()
		}
		return nil, err
	}
	ans.lease = lease
	lease.ClientIdle = t.StreamIdle < st.cfg.Routing.Timeouts.StreamIdle
	x.combo = lease.Combo
	x.fallback = lease.Fallback != ""
	st.router.ObserveHeaders(lease.Combo, ans.header) // after Do recorded the success
	setServedBy(w, lease.Combo)
	if lease.Fallback != "" {
		w.Header().Set("X-Genrouter-Fallback", lease.Fallback)
	}
	return &ans, nil
}

// endVoidedAttempt ends the span of an answer the router voided (it came
// as the first-byte timer fired): that attempt did not serve.
func (x *exchange) endVoidedAttempt() {
	if x.attemptSpan != nil {
		tracing.EndAttempt(x.attemptSpan, tracing.AttemptEnd{Outcome: errclass.VendorTimeout})
		x.attemptSpan = nil
	}
}

// endServingAttempt ends the span of the attempt that served, with the
// tokens its answer reported; class is the request's (a stream that broke
// is the vendor's failure).
func (x *exchange) endServingAttempt(class string) {
	if x.attemptSpan == nil {
		return
	}
	end := tracing.AttemptEnd{Outcome: metrics.OutcomeSuccess, PromptTokens: x.promptTok,
		CompletionTokens: x.complTok, CachedTokens: x.cachedTok}
	if strings.HasPrefix(class, "vendor_") {
		end.Outcome = class
	}
	tracing.EndAttempt(x.attemptSpan, end)
	x.attemptSpan = nil
}

// statusOf is an error's HTTP status, for spans.
func statusOf(err error) int {
	var e *openai.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// failDispatch reports a dispatch error: nothing when the client left.
func (x *exchange) failDispatch(w http.ResponseWriter, ctx context.Context, err error) {
	x.failDispatchAs(w, ctx, err, x.fail)
}

// failDispatchAs is failDispatch answering through fail (x.fail, or
// x.failAnthropic for the Anthropic shape).
func (x *exchange) failDispatchAs(w http.ResponseWriter, ctx context.Context, err error, fail func(http.ResponseWriter, *openai.Error)) {
	x.fromDispatch = true
	var e *openai.Error
	if !errors.As(err, &e) {
		if ctx.Err() != nil {
			x.clientGone = true
			return
		}
		e = asAPIError(err)
	}
	fail(w, e)
}

// withTotal bounds the request by its total timeout; the cause tells a
// timeout apart from a client that left.
func withTotal(r *http.Request, t config.Timeouts) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(r.Context(), t.Total, route.ErrTotalTimeout)
}

// attemptsHeader avoids an allocation for the usual small counts.
func attemptsHeader(n int) []string {
	if n < len(smallCounts) {
		return smallCounts[n]
	}
	return []string{strconv.Itoa(n)}
}

var smallCounts = [...][]string{{"0"}, {"1"}, {"2"}, {"3"}, {"4"}, {"5"}, {"6"}, {"7"}, {"8"}, {"9"}}
