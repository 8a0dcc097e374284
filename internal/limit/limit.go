package limit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Limits are the limits of one subject (a virtual key id, or a client IP for unauthenticated
// deployments). A zero field means unlimited.
type Limits struct {
	RPM         int     // requests per minute (GCRA, burst = RPM)
	TPM         int     // tokens per minute (GCRA, burst = TPM)
	MaxParallel int     // requests in flight at once
	BudgetDaily float64 // spend per UTC calendar day, in the price table's currency
	// BudgetMonthly is the spend per UTC calendar month.
	BudgetMonthly float64
}

// Unlimited reports whether no limit at all is set: Acquire then neither counts nor stores anything.
func (l Limits) Unlimited() bool {
	return l.RPM <= 0 && l.TPM <= 0 && l.MaxParallel <= 0 && !l.tracksSpend()
}

// tracksSpend reports whether spend is accounted for the subject: only when a budget is set, so
// that subjects without budgets (client IPs) cost no memory beyond their one-minute windows.
func (l Limits) tracksSpend() bool { return l.BudgetDaily > 0 || l.BudgetMonthly > 0 }

// Denial reasons.
const (
	ReasonRPM           = "rpm"
	ReasonTPM           = "tpm"
	ReasonParallel      = "parallel"
	ReasonBudgetDaily   = "budget_daily"
	ReasonBudgetMonthly = "budget_monthly"
	// ReasonUnavailable: the shared backend (Redis) is unreachable and FailMode is "closed".
	ReasonUnavailable = "unavailable"
)

// Denial says why a request was refused. Nothing was counted for it.
type Denial struct {
	Reason     string        // one of the Reason* constants
	RetryAfter time.Duration // when a retry can succeed (for "parallel": a guess, 1s)
	Headers    Headers       // the subject's x-ratelimit-* values, as they stand (nothing counted)
}

// Error makes a Denial usable as an error; the text is suitable for an API error message.
func (d *Denial) Error() string { return d.Message() }

// Message is a human-readable explanation, e.g. "Rate limit reached: 100 requests per minute".
func (d *Denial) Message() string {
	retry := FormatReset(d.RetryAfter)
	switch d.Reason {
	case ReasonRPM:
		return fmt.Sprintf("Rate limit reached: %d requests per minute. Retry after %s.", d.Headers.LimitRequests, retry)
	case ReasonTPM:
		return fmt.Sprintf("Rate limit reached: %d tokens per minute. Retry after %s.", d.Headers.LimitTokens, retry)
	case ReasonParallel:
		return "Too many requests in flight for this key. Retry when one finishes."
	case ReasonBudgetDaily:
		return "Daily budget exceeded. It resets at 00:00 UTC, in " + retry + "."
	case ReasonBudgetMonthly:
		return "Monthly budget exceeded. It resets on the 1st at 00:00 UTC, in " + retry + "."
	case ReasonUnavailable:
		return "Rate limiting backend unavailable (Redis unreachable, fail mode closed). Retry after " + retry + "."
	}
	return "Request refused by limits: " + d.Reason
}

// Code is the OpenAI-style error code for the denial: "rate_limit_exceeded",
// "budget_exceeded" or "limiter_unavailable".
func (d *Denial) Code() string {
	switch d.Reason {
	case ReasonBudgetDaily, ReasonBudgetMonthly:
		return "budget_exceeded"
	case ReasonUnavailable:
		return "limiter_unavailable"
	}
	return "rate_limit_exceeded"
}

// Status is the HTTP status to answer with: 429, or 503 for ReasonUnavailable.
func (d *Denial) Status() int {
	if d.Reason == ReasonUnavailable {
		return http.StatusServiceUnavailable
	}
	return http.StatusTooManyRequests
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1 (the Retry-After value).
func (d *Denial) RetryAfterSeconds() int64 {
	s := int64((d.RetryAfter + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// SetHeaders writes Retry-After (seconds), retry-after-ms and the x-ratelimit-* headers.
func (d *Denial) SetHeaders(h http.Header) {
	h.Set("Retry-After", strconv.FormatInt(d.RetryAfterSeconds(), 10))
	ms := d.RetryAfter.Milliseconds()
	if d.RetryAfter%time.Millisecond != 0 {
		ms++
	}
	h.Set("Retry-After-Ms", strconv.FormatInt(ms, 10))
	d.Headers.Set(h)
}

// Headers are the values of OpenAI's rate-limit headers for one subject. A zero limit means
// that limit is not set, and its headers are not written.
type Headers struct {
	LimitRequests     int64
	RemainingRequests int64
	ResetRequests     time.Duration // until the request window is back to full
	LimitTokens       int64
	RemainingTokens   int64
	ResetTokens       time.Duration // until the token window is back to full
}

// Header names, as OpenAI sends them.
const (
	HeaderLimitRequests     = "x-ratelimit-limit-requests"
	HeaderRemainingRequests = "x-ratelimit-remaining-requests"
	HeaderResetRequests     = "x-ratelimit-reset-requests"
	HeaderLimitTokens       = "x-ratelimit-limit-tokens"
	HeaderRemainingTokens   = "x-ratelimit-remaining-tokens"
	HeaderResetTokens       = "x-ratelimit-reset-tokens"
)

// Set writes the x-ratelimit-* headers for the limits that are set.
func (h Headers) Set(dst http.Header) {
	h.Each(func(name, value string) { dst.Set(name, value) })
}

// Each calls fn for every header to send (name in OpenAI's lower case).
func (h Headers) Each(fn func(name, value string)) {
	if h.LimitRequests > 0 {
		fn(HeaderLimitRequests, strconv.FormatInt(h.LimitRequests, 10))
		fn(HeaderRemainingRequests, strconv.FormatInt(h.RemainingRequests, 10))
		fn(HeaderResetRequests, FormatReset(h.ResetRequests))
	}
	if h.LimitTokens > 0 {
		fn(HeaderLimitTokens, strconv.FormatInt(h.LimitTokens, 10))
		fn(HeaderRemainingTokens, strconv.FormatInt(h.RemainingTokens, 10))
		fn(HeaderResetTokens, FormatReset(h.ResetTokens))
	}
}

// FormatReset formats a duration the way OpenAI's x-ratelimit-reset-* headers do: "1s",
// "6m0s", "120ms", "1.5s" (Go's Duration syntax, rounded up to the millisecond; "0s" for none).
func FormatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
	return d.String()
}

// Ticket is one admitted request. Done must be called exactly when the request ends, success
// or failure; later calls do nothing.
type Ticket struct {
	owner    releaser
	subject  string
	rpm, tpm int64 // the limits Done needs
	est      int64 // tokens counted at Acquire (the estimate, clamped to TPM)
	lr, lk   int64 // memory backend: the levels right after Acquire, for Headers
	hdr      *Headers
	ent      *entry // memory backend
	id       string // redis backend: member in the in-flight set ("" when MaxParallel is 0)
	done     atomic.Bool
	spend    bool // the subject has a budget: cost is accounted
	local    bool // redis backend: acquired on the local fallback while Redis was down
}

type releaser interface {
	release(ctx context.Context, t *Ticket, actualTokens int64, cost float64)
}

// unlimitedTicket is handed out for subjects without any limit; Done on it does nothing.
var unlimitedTicket = &Ticket{}

// Done releases the parallel slot, corrects the token count from the estimate to
// actualTokens (pass a negative value when usage is unknown: the estimate then stands) and adds
// cost to the subject's spend. It is idempotent and safe on a nil Ticket. It does not give up
// when ctx is cancelled (a request's context usually is, by the time it ends).
func (t *Ticket) Done(ctx context.Context, actualTokens int64, cost float64) {
	if t == nil || t.owner == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	t.owner.release(ctx, t, actualTokens, cost)
}

// Headers are the x-ratelimit-* values right after this request was counted.
func (t *Ticket) Headers() Headers {
	if t == nil {
		return Headers{}
	}
	if t.hdr != nil {
		return *t.hdr
	}
	return makeHeaders(Limits{RPM: int(t.rpm), TPM: int(t.tpm)}, t.lr, t.lk)
}

// Limiter checks and counts requests against Limits.
type Limiter interface {
	// Acquire atomically checks every limit and, if all pass, counts one request, estTokens
	// tokens and one parallel slot. On denial it counts nothing. The error is only ever the
	// caller's context error; backend trouble is handled per the fail mode.
	Acquire(ctx context.Context, subject string, l Limits, estTokens int64) (*Ticket, *Denial, error)
	// Headers reports the subject's rate-limit header values without counting anything.
	Headers(ctx context.Context, subject string, l Limits) (Headers, error)
	// Health reports the backend's state.
	Health() Status
	// Close stops background work (the Redis limiter's probe/lease loop). It does not close
	// the Redis client, which belongs to the caller.
	Close() error
}

// SpendSeeder is implemented by limiters that keep spend only in process (Memory): a new
// process seeds each budgeted subject from the usage log, so that a restart does not give every
// key its day's and month's budget again.
type SpendSeeder interface {
	// SeedSpend raises the subject's spend in the UTC day and month containing at to at least
	// day and month (in the price table's currency).
	SeedSpend(subject string, at time.Time, day, month float64)
}

var _ SpendSeeder = (*Memory)(nil)

// Status is a limiter's health, for /health.
type Status struct {
	Backend  string `json:"backend"`             // "memory" or "redis"
	OK       bool   `json:"ok"`                  // the backend answers
	FailMode string `json:"fail_mode,omitempty"` // redis: "open" or "closed"
	// Degraded: Redis is unreachable; requests are served by the local limiter (fail open) or
	// refused (fail closed) since DegradedSince.
	Degraded      bool      `json:"degraded"`
	DegradedSince time.Time `json:"degraded_since,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	// PendingSpend is the number of per-subject spend batches recorded while Redis was down and
	// not yet written back.
	PendingSpend int `json:"pending_spend,omitempty"`
	// LostUpdates counts Done calls whose spend could not be written and may or may not have
	// reached Redis (a timeout): they are not retried, so spend is never counted twice.
	LostUpdates int64 `json:"lost_updates,omitempty"`
}

// Cooldown is a credential's cooldown.
type Cooldown struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
}

// Cooldowns are vendor-credential cooldowns shared by the replicas (issue 3's circuit state).
type Cooldowns interface {
	// Set puts the credential in cooldown until the given time, replacing any earlier value
	// (last write wins). A zero or past until clears it.
	Set(ctx context.Context, credentialID string, until time.Time, reason string) error
	// Get returns the cooldowns still active among ids (ids not cooling down are absent).
	Get(ctx context.Context, ids []string) (map[string]time.Time, error)
	// All returns every active cooldown with its reason (for /health).
	All(ctx context.Context) (map[string]Cooldown, error)
}

// ---- shared arithmetic ------------------------------------------------------------------

// Rate limits are GCRA, kept as a leaky-bucket level in integer units so that the memory and
// the Redis (Lua, float64) implementations compute exactly the same thing: one request or one
// token adds windowMs to the level, the level drains by `limit` per millisecond, and a request
// fits while level + cost <= limit*windowMs. So a limit of N per minute admits a burst of N and
// then one more every 60s/N (capacity refills continuously, as OpenAI's limits do).
const windowMs = 60_000

// nanoUnits converts money to integer units of 1e-9 so that spend adds up exactly, in Go and in
// Redis (INCRBY).
func nanoUnits(v float64) int64 {
	if !(v > 0) {
		return 0
	}
	if v >= 9e9 {
		return math.MaxInt64 / 2
	}
	return int64(math.Round(v * 1e9))
}

// leak drains a level by dt milliseconds at limit per millisecond.
func leak(level, dt, limit int64) int64 {
	if limit <= 0 || level <= 0 {
		return 0
	}
	if dt <= 0 {
		return level
	}
	if dt >= (level+limit-1)/limit {
		return 0
	}
	return level - dt*limit
}

// fits reports whether n units fit in a bucket of limit at level, and if not, the wait in ms.
func fits(level, n, limit int64) (bool, int64) {
	over := level + n*windowMs - limit*windowMs
	if over <= 0 {
		return true, 0
	}
	return false, (over + limit - 1) / limit
}

func remaining(level, limit int64) int64 {
	r := (limit*windowMs - level) / windowMs
	if r < 0 {
		return 0
	}
	return r
}

// resetMs is the time until the bucket is empty again.
func resetMs(level, limit int64) int64 {
	if limit <= 0 || level <= 0 {
		return 0
	}
	return (level + limit - 1) / limit
}

func clampEst(est int64, l Limits) int64 {
	if est < 0 {
		est = 0
	}
	if l.TPM > 0 && est > int64(l.TPM) {
		// A request larger than the whole TPM would never fit: it is admitted when the bucket is
		// full, and its real usage then puts the subject in debt.
		est = int64(l.TPM)
	}
	return est
}

func makeHeaders(l Limits, lr, lk int64) Headers {
	var h Headers
	if l.RPM > 0 {
		rpm := int64(l.RPM)
		h.LimitRequests = rpm
		h.RemainingRequests = remaining(lr, rpm)
		h.ResetRequests = time.Duration(resetMs(lr, rpm)) * time.Millisecond
	}
	if l.TPM > 0 {
		tpm := int64(l.TPM)
		h.LimitTokens = tpm
		h.RemainingTokens = remaining(lk, tpm)
		h.ResetTokens = time.Duration(resetMs(lk, tpm)) * time.Millisecond
	}
	return h
}

// ---- UTC calendar periods ----------------------------------------------------------------

type periods struct {
	day        int64 // days since the Unix epoch (UTC)
	dayStart   int64 // ms
	dayEnd     int64 // ms, exclusive
	month      int64 // year*12 + month-1
	monthEnd   int64 // ms, exclusive
	dayName    string
	monthName  string
	dayExpire  int64 // ms: when a day's Redis spend key may go (a day after its end)
	monthExpir int64
}

type periodCache struct{ p atomic.Pointer[periods] }

func (c *periodCache) at(nowMs int64) *periods {
	if p := c.p.Load(); p != nil && nowMs >= p.dayStart && nowMs < p.dayEnd {
		return p
	}
	p := computePeriods(nowMs)
	c.p.Store(p)
	return p
}

func computePeriods(nowMs int64) *periods {
	day := floorDiv(nowMs, 86_400_000)
	t := time.UnixMilli(nowMs).UTC()
	y, m, _ := t.Date()
	dayStart := day * 86_400_000
	monthEnd := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	return &periods{
		day:        day,
		dayStart:   dayStart,
		dayEnd:     dayStart + 86_400_000,
		month:      int64(y)*12 + int64(m) - 1,
		monthEnd:   monthEnd,
		dayName:    t.Format("20060102"),
		monthName:  t.Format("200601"),
		dayExpire:  dayStart + 2*86_400_000,
		monthExpir: monthEnd + 86_400_000,
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
