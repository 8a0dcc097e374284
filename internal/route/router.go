package route

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/openai"
)

// Abort wraps an error that ends the request at once: it is the request's
// own fault (a refused image URL, an unreadable document), found before
// anything reached the vendor, so no circuit is charged and no other
// combination is tried.
func Abort(err error) error { return abortError{err} }

type abortError struct{ err error }

func (a abortError) Error() string { return a.err.Error() }
func (a abortError) Unwrap() error { return a.err }

// Causes of cancellation the router and server set on request contexts.
var (
	ErrFirstByteTimeout  = errors.New("no first byte from the vendor in time")
	ErrStreamIdleTimeout = errors.New("the vendor's stream went silent for too long")
	ErrTotalTimeout      = errors.New("the request took longer than its total timeout")
)

// Router runs requests over the pool: it picks a combination, calls it,
// and on failure moves on to another one, keeping circuits up to date.
type Router struct {
	Pool     *Pool
	cfg      config.Routing
	def      Selector
	perModel map[string]Selector
	health   *Health // for sharing cooldowns; may be nil
}

// shareCooldown tells other replicas a credential is cooling down.
func (r *Router) shareCooldown(c *Combination, d time.Duration, reason string) {
	if r.health != nil && r.health.OnCooldown != nil {
		r.health.OnCooldown(c.CredID, time.Now().Add(d), reason)
	}
}

// NewRouter wraps a pool with the routing config.
func NewRouter(p *Pool, cfg config.Routing, health ...*Health) (*Router, error) {
	def, err := NewSelector(cfg.Strategy)
	if err != nil {
		return nil, err
	}
	r := &Router{Pool: p, cfg: cfg, def: def, perModel: map[string]Selector{}}
	if len(health) > 0 {
		r.health = health[0]
	}
	for m, s := range cfg.PerModel {
		if r.perModel[m], err = NewSelector(s); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Config returns the routing config in force.
func (r *Router) Config() *config.Routing { return &r.cfg }

// CallFunc sends one attempt. It returns nil once the answer has started
// (a whole body, or a stream's first event), so failover ends there. It
// calls arm just before contacting the vendor: the first-byte timeout runs
// from then, so preparing the request (downloading an image) is not
// counted against the vendor.
type CallFunc func(ctx context.Context, c *Combination, arm func()) error

// Lease is a successful attempt whose answer is still being delivered. Its
// Done must be called when delivery ends.
type Lease struct {
	Combo    *Combination
	Attempts int
	Fallback string // the fallback model that served, if any

	ctx    context.Context
	cancel context.CancelCauseFunc
	r      *Router
	est    int64
	done   bool
	limits *localLimits // the one that counted this request
	taken  time.Time    // when it counted it
	// ClientIdle says the stream idle timeout was lowered by the client:
	// if it fires, the vendor is not to blame.
	ClientIdle bool
}

// Context is the attempt's context: cancel it (Cancel) to stop the
// upstream call, e.g. on a stream idle timeout.
func (l *Lease) Context() context.Context { return l.ctx }

// Cancel stops the upstream call with a cause.
func (l *Lease) Cancel(cause error) { l.cancel(cause) }

// Done ends the lease. err is a failure after the answer started (a
// broken stream), which counts against the combination; tokens corrects
// the local token estimate.
func (l *Lease) Done(err error, tokens int64) {
	if l.done {
		return
	}
	l.done = true
	now := time.Now()
	c := l.Combo
	c.cred.inFlight.Add(-1)
	c.combo.inFlight.Add(-1)
	l.limits.done(now, l.taken, l.est, tokens)
	idle := errors.Is(context.Cause(l.ctx), ErrStreamIdleTimeout)
	if err != nil && l.ctx.Err() == nil || idle && !l.ClientIdle {
		c.combo.failure(&l.r.cfg.Circuit, now, classOf(err))
	}
	l.cancel(context.Canceled)
}

// Do runs call until a combination answers, an error is the client's own,
// or attempts, candidates or time run out. The error it returns is an
// *openai.Error ready for the client, or the context's error when the
// client went away. attempts counts the calls made.
func (r *Router) Do(ctx context.Context, q Query, est int64, firstByte time.Duration, call CallFunc) (lease *Lease, attempts int, err error) {
	fallbacks := r.cfg.Fallbacks[q.Model]
	if len(q.AllowedModels) > 0 && len(fallbacks) > 0 {
		// A fallback the caller may not use is no fallback for it: a key
		// limited to a cheap model must not be served by a dear one.
		fallbacks = slices.DeleteFunc(slices.Clone(fallbacks), func(m string) bool { return !slices.Contains(q.AllowedModels, m) })
	}
	asked := q.Model
	var triedBuf [4]*Combination // most requests try one or two
	tried := triedSet(triedBuf[:0])
	var last *Combination
	var lastErr *openai.Error
	for mi := 0; mi <= len(fallbacks); mi++ {
		model := asked
		if mi > 0 {
			model = fallbacks[mi-1]
		}
		q.Model = model
		cands, e := r.Pool.Candidates(q)
		if e != nil {
			if mi == 0 {
				return nil, attempts, e
			}
			continue // a fallback nobody serves: try the next
		}
		sel := r.selector(asked)
		spins := 0
		for n := 0; n < r.cfg.Attempts; {
			if ctx.Err() != nil {
				return nil, attempts, r.ctxError(ctx)
			}
			now := time.Now()
			avail := available(cands, tried, now, est)
			if len(avail) == 0 {
				break // nothing usable now: fallbacks, or an immediate answer
			}
			next := avail
			if _, ok := sel.(Priority); ok {
				// Tiers come first: failover order applies within the
				// best tier that has a candidate left.
				next = bestTier(avail)
			}
			c, sl := r.pick(sel, preferred(next, last), now, est)
			if c == nil {
				if spins++; spins > 3 {
					break // every slot keeps going to concurrent requests
				}
				continue
			}
			if attempts > 0 {
				if err := sleep(ctx, r.backoff(attempts)); err != nil {
					r.release(c, sl, est)
					return nil, attempts, r.ctxError(ctx)
				}
			}
			attempts++
			n++
			tried = append(tried, c)
			last = c
			actx, cancel := context.WithCancelCause(ctx)
			// The timer and the answer race: whichever settles the attempt
			// first wins, so an answer that arrives as the timer fires is
			// either kept whole or counted as the timeout, never handed on
			// with its context already cancelled.
			var settled atomic.Bool
			timer := time.AfterFunc(time.Hour, func() {
				if settled.CompareAndSwap(false, true) {
					cancel(ErrFirstByteTimeout)
				}
			})
			timer.Stop() // armed by the call, once it has prepared the request
			start := time.Now()
			arm := func() {
				start = time.Now()
				timer.Reset(firstByte)
			}
			err := r.safeCall(call, actx, c, sl, est, arm)
			timer.Stop()
			if !settled.CompareAndSwap(false, true) && err == nil {
				err = ErrFirstByteTimeout // the caller releases the voided answer
			}
			if err == nil {
				c.cred.success(&r.cfg.Circuit, time.Now())
				c.combo.success(&r.cfg.Circuit, time.Now())
				c.combo.observeTTFB(time.Since(start))
				l := &Lease{Combo: c, Attempts: attempts, ctx: actx, cancel: cancel, r: r, est: est, limits: sl.limits, taken: sl.at}
				if mi > 0 {
					l.Fallback = model
				}
				return l, attempts, nil
			}
			cause := context.Cause(actx)
			cancel(context.Canceled)
			if ctx.Err() != nil {
				r.release(c, sl, est) // the client left: that says nothing about the vendor
				return nil, attempts, r.ctxError(ctx)
			}
			var ab abortError
			if errors.As(err, &ab) {
				r.release(c, sl, est) // the request's own fault: nothing about the vendor either
				return nil, attempts, ab.err
			}
			// A first-byte timeout the client lowered below the configured
			// one says nothing about the vendor's health.
			lowered := firstByte < r.cfg.Timeouts.FirstByte && errors.Is(cause, ErrFirstByteTimeout)
			apiErr := r.judge(c, err, cause, lowered)
			r.release(c, sl, est)
			lastErr = apiErr
			if !retryable(apiErr.Status) && !isAuth(apiErr.Status) {
				return nil, attempts, apiErr // the request itself is wrong
			}
		}
	}
	models := append([]string{asked}, fallbacks...) // only on failure
	if lastErr != nil {
		if lastErr.RetryAfter == "" {
			// Every candidate counts here, tried ones too: a credential
			// that just said 429 is exactly the one coming back soonest.
			if wait, _ := earliestAll(r, q, models, nil); wait > 0 {
				lastErr.RetryAfter = seconds(wait)
			}
		}
		return nil, attempts, lastErr
	}
	return nil, attempts, r.unavailable(q, models)
}

// triedSet holds the combinations a request has tried: a short slice, as
// requests try few, so no map is allocated per request.
type triedSet []*Combination

func (t triedSet) has(c *Combination) bool {
	for _, x := range t {
		if x == c {
			return true
		}
	}
	return false
}

// judge records a failed attempt on the circuits and returns the error to
// remember.
func (r *Router) judge(c *Combination, err, cause error, noCharge bool) *openai.Error {
	now := time.Now()
	cfg := &r.cfg.Circuit
	var e *openai.Error
	switch {
	case errors.Is(cause, ErrFirstByteTimeout):
		e = openai.NewError(http.StatusGatewayTimeout, openai.TypeServer, "upstream_timeout", "",
			"the vendor sent nothing within the first-byte timeout")
	case errors.As(err, &e):
	default:
		e = openai.NewError(http.StatusBadGateway, openai.TypeServer, "upstream_error", "", "the request to the vendor failed")
	}
	class := classOf(e)
	switch {
	case noCharge:
	case r.coolCredential(c, e, now):
	case retryable(e.Status):
		c.combo.failure(cfg, now, class)
		if e.Code != nil && (*e.Code == "upstream_unreachable" || *e.Code == "upstream_timeout") {
			c.cred.failure(cfg, now, class)
		}
	default:
		// The vendor answered; the request was at fault. That says the
		// combination works, which also settles a half-open trial.
		c.cred.success(cfg, now)
		c.combo.success(cfg, now)
	}
	return e
}

// ObserveHeaders reads OpenAI-style rate-limit headers of a successful
// answer: a credential with nothing remaining is skipped until its reset.
func (r *Router) ObserveHeaders(c *Combination, h http.Header) {
	if h == nil {
		return
	}
	// Canonical keys read straight from the map: this runs on every answer.
	for _, kind := range [...]struct{ remaining, reset string }{
		{"X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
		{"X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
	} {
		if first(h[kind.remaining]) != "0" {
			continue
		}
		d, err := time.ParseDuration(first(h[kind.reset]))
		if err != nil || d <= 0 {
			d = r.cfg.Circuit.RateLimitCooldown
		}
		c.cred.coolDown(&r.cfg.Circuit, time.Now(), d, ReasonRateLimited, "vendor_rate_limited")
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// pick selects a candidate and claims its slots (half-open trials, local
// limits, in-flight counts). It returns nil if every candidate was lost to
// a concurrent request.
func (r *Router) pick(sel Selector, avail []*Combination, now time.Time, est int64) (*Combination, slot) {
	for len(avail) > 0 {
		c := sel.Select(avail)
		if sl, ok := r.claim(c, now, est); ok {
			return c, sl
		}
		avail = without(avail, c)
	}
	return nil, slot{}
}

// slot says which half-open trials an attempt holds, and which local
// limits object counted it (a reload may swap the credential's).
type slot struct {
	cred, combo bool
	limits      *localLimits
	at          time.Time // when limits counted the attempt
}

// safeCall runs call; if it panics (a bug on a vendor's odd input), the
// attempt's slots are handed back before the panic goes on, so no counter
// or trial slot stays taken for good.
func (r *Router) safeCall(call CallFunc, ctx context.Context, c *Combination, sl slot, est int64, arm func()) (err error) {
	ok := false
	defer func() {
		if !ok {
			r.release(c, sl, est)
		}
	}()
	err = call(ctx, c, arm)
	ok = true
	return err
}

func (r *Router) claim(c *Combination, now time.Time, est int64) (slot, bool) {
	n := now.UnixNano()
	var sl slot
	var ok bool
	if ok, sl.cred = c.cred.claim(n); !ok {
		return slot{}, false
	}
	if ok, sl.combo = c.combo.claim(n); !ok {
		c.cred.release(sl.cred)
		return slot{}, false
	}
	sl.limits, sl.at = c.cred.limits.Load(), now
	if !sl.limits.take(now, est) {
		c.cred.release(sl.cred)
		c.combo.release(sl.combo)
		return slot{}, false
	}
	c.cred.inFlight.Add(1)
	c.combo.inFlight.Add(1)
	return sl, true
}

// release undoes claim for an attempt that ended before any answer. A
// trial whose outcome judge did not record (the client left, or only the
// other circuit was judged) is handed back for the next request.
func (r *Router) release(c *Combination, sl slot, est int64) {
	c.cred.inFlight.Add(-1)
	c.combo.inFlight.Add(-1)
	sl.limits.done(time.Now(), sl.at, est, 0)
	c.cred.release(sl.cred)
	c.combo.release(sl.combo)
}

func (r *Router) selector(model string) Selector {
	if s, ok := r.perModel[model]; ok {
		return s
	}
	return r.def
}

// backoff is exponential with full jitter: uniform in [0, min(cap, base·2ⁿ)).
func (r *Router) backoff(n int) time.Duration {
	d := float64(r.cfg.BackoffBase) * math.Pow(2, float64(n-1))
	d = math.Min(d, float64(r.cfg.BackoffCap))
	if d < 1 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

func (r *Router) ctxError(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), ErrTotalTimeout) {
		return openai.NewError(http.StatusGatewayTimeout, openai.TypeServer, "request_timeout", "",
			"the request did not complete within the gateway's total timeout")
	}
	return ctx.Err()
}

// unavailable is the immediate answer when every eligible combination is
// cooling down: 429 if they are all rate-limited, else 503, with
// Retry-After set to when the first one comes back.
func (r *Router) unavailable(q Query, models []string) *openai.Error {
	wait, allRateLimited := earliestAll(r, q, models, nil)
	status, code, msg := http.StatusServiceUnavailable, "no_healthy_upstream",
		"every combination that can serve this request is temporarily unavailable"
	if allRateLimited {
		status, code, msg = http.StatusTooManyRequests, "rate_limit_exceeded",
			"every credential that can serve this request is rate-limited"
	}
	e := openai.NewError(status, openai.TypeForStatus(status), code, "", msg)
	if wait > 0 {
		e.RetryAfter = seconds(wait)
	}
	return e
}

func earliestAll(r *Router, q Query, models []string, tried triedSet) (time.Duration, bool) {
	best, allRL := time.Duration(0), true
	for _, m := range models {
		q.Model = m
		cands, e := r.Pool.Candidates(q)
		if e != nil {
			continue
		}
		w, rl := earliest(cands, tried, time.Now(), 0)
		if w > 0 && (best == 0 || w < best) {
			best = w
		}
		allRL = allRL && rl
	}
	return best, allRL
}

// available filters the candidates that could take a request now.
func available(cands []*Combination, tried triedSet, now time.Time, est int64) []*Combination {
	n := now.UnixNano()
	all := true
	for _, c := range cands {
		if tried.has(c) || !c.cred.usable(n) || !c.combo.usable(n) {
			all = false
			break
		}
		if ok, _ := c.cred.limits.Load().allows(now, est); !ok {
			all = false
			break
		}
	}
	if all {
		return cands // the common case allocates nothing
	}
	var out []*Combination
	for _, c := range cands {
		if tried.has(c) || !c.cred.usable(n) || !c.combo.usable(n) {
			continue
		}
		if ok, _ := c.cred.limits.Load().allows(now, est); ok {
			out = append(out, c)
		}
	}
	return out
}

// earliest says how long until an untried candidate may be usable again,
// and whether every one is held back by rate limits (not failures).
func earliest(cands []*Combination, tried triedSet, now time.Time, est int64) (time.Duration, bool) {
	best, allRL := time.Duration(-1), true
	n := now.UnixNano()
	for _, c := range cands {
		if tried.has(c) {
			continue
		}
		var w time.Duration
		rl := false
		for _, ci := range []*circuit{c.cred, c.combo} {
			if until := ci.openUntil.Load(); until > n {
				if d := time.Duration(until - n); d > w {
					w = d
				}
				ci.mu.Lock()
				rl = rl || ci.reason == ReasonRateLimited
				ci.mu.Unlock()
			} else if until != 0 && ci.trial.Load() {
				w = max(w, 100*time.Millisecond) // a trial is deciding right now
			}
		}
		if ok, d := c.cred.limits.Load().allows(now, est); !ok {
			w, rl = max(w, d), true
		}
		if w == 0 {
			continue
		}
		allRL = allRL && rl
		if best < 0 || w < best {
			best = w
		}
	}
	if best < 0 {
		return 0, false
	}
	return best, allRL
}

// preferred narrows the candidates after a failure: first another
// credential of the same vendor and model, then another vendor serving
// the model, then anything eligible.
func preferred(avail []*Combination, last *Combination) []*Combination {
	if last == nil {
		return avail
	}
	var sameVendor, sameModel []*Combination
	for _, c := range avail {
		if c.Model.Name != last.Model.Name {
			continue
		}
		if c.Vendor == last.Vendor && c.Credential != last.Credential {
			sameVendor = append(sameVendor, c)
		} else if c.Vendor != last.Vendor {
			sameModel = append(sameModel, c)
		}
	}
	switch {
	case len(sameVendor) > 0:
		return sameVendor
	case len(sameModel) > 0:
		return sameModel
	}
	return avail
}

// bestTier keeps the candidates of the lowest priority number.
func bestTier(list []*Combination) []*Combination {
	best := list[0].Priority
	for _, c := range list[1:] {
		best = min(best, c.Priority)
	}
	for _, c := range list {
		if c.Priority != best {
			var out []*Combination
			for _, c := range list {
				if c.Priority == best {
					out = append(out, c)
				}
			}
			return out
		}
	}
	return list // one tier: nothing to allocate
}

func without(list []*Combination, c *Combination) []*Combination {
	out := make([]*Combination, 0, len(list)-1)
	for _, x := range list {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryable statuses are worth another combination; the others are the
// request's own fault (400, 404, 413, 422 ...).
func retryable(status int) bool {
	switch status {
	case 408, 429, 500, 502, 503, 504, 529:
		return true
	}
	return false
}

func isAuth(status int) bool { return status == 401 || status == 402 || status == 403 }

// classOf names an attempt's error for circuits (last_error) as the
// attempts metric names it; an error that is not the vendor's answer (a
// broken stream) is a broken stream.
func classOf(err error) string {
	var e *openai.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return errclass.Attempt(e)
	}
	return errclass.VendorStreamBroken
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// seconds renders a Retry-After value, rounding up so a client never
// comes back too early.
func seconds(d time.Duration) string {
	return fmt.Sprint(int64((d + time.Second - 1) / time.Second))
}

// RecordProbe feeds an active health check's result into the credential's
// circuit: a working key closes it, a refused one opens it.
func (r *Router) RecordProbe(c *Combination, err error) {
	now := time.Now()
	if err == nil {
		c.cred.probeSuccess(&r.cfg.Circuit, now)
		return
	}
	r.judgeCred(c, err, now)
}

func (r *Router) judgeCred(c *Combination, err error, now time.Time) {
	cfg := &r.cfg.Circuit
	var e *openai.Error
	if !errors.As(err, &e) {
		c.cred.failure(cfg, now, "vendor_unreachable")
		return
	}
	if !r.coolCredential(c, e, now) {
		c.cred.failure(cfg, now, classOf(e))
	}
}

// coolCredential rests a credential the vendor rate-limited (for its
// Retry-After) or refused (401/402/403), here and, through the health
// registry, on every replica. It reports whether e was such an answer.
func (r *Router) coolCredential(c *Combination, e *openai.Error, now time.Time) bool {
	cfg := &r.cfg.Circuit
	var d time.Duration
	var reason string
	switch {
	case e.Status == http.StatusTooManyRequests:
		if d = parseRetryAfter(e.RetryAfter); d <= 0 {
			d = cfg.RateLimitCooldown
		}
		reason = ReasonRateLimited
	case isAuth(e.Status):
		d, reason = cfg.AuthCooldown, ReasonAuth
	default:
		return false
	}
	c.cred.coolDown(cfg, now, d, reason, classOf(e))
	r.shareCooldown(c, d, reason)
	return true
}
