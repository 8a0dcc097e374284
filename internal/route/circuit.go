package route

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/config"
)

// Why a circuit is open.
const (
	ReasonFailures    = "failures"     // too many transient failures
	ReasonRateLimited = "rate_limited" // the vendor said 429 or reported nothing remaining
	ReasonAuth        = "auth"         // 401/402/403: the key is refused
)

// circuit is the health of one credential or one combination: closed
// (usable), open until a moment (skipped), then half-open (one trial
// request decides). Selection reads it lock-free; outcomes take the lock.
type circuit struct {
	openUntil atomic.Int64 // unix nanos; 0 when closed
	trial     atomic.Bool  // a half-open trial request is in flight
	inFlight  atomic.Int64
	ewmaTTFB  atomic.Int64 // nanoseconds; 0 when never measured

	mu          sync.Mutex
	consecutive int
	buckets     [12]bucket // the sliding failure-rate window
	cooldown    time.Duration
	reason      string
	// limitedUntil is when the last wait a vendor gave (429, a reset)
	// ends, unix nanos: a failure cooldown on top of it may change the
	// reason shown, but a probe may not end it.
	limitedUntil int64
	lastError    string
	lastErrorAt  time.Time

	// limits holds a credential's local rpm/tpm/concurrency (nil: none);
	// a reload may swap it while requests run.
	limits atomic.Pointer[localLimits]
}

type bucket struct {
	start     int64 // unix nanos of the bucket's slot
	ok, fails int
}

// usable reports whether the circuit admits a request now without
// claiming anything: closed, or half-open with no trial in flight.
func (c *circuit) usable(now int64) bool {
	until := c.openUntil.Load()
	return until == 0 || (now >= until && !c.trial.Load())
}

// claim takes the half-open trial slot if the circuit is half-open. It
// returns false if another request took it first.
func (c *circuit) claim(now int64) (ok, trial bool) {
	until := c.openUntil.Load()
	if until == 0 {
		return true, false
	}
	if now < until {
		return false, false
	}
	if !c.trial.CompareAndSwap(false, true) {
		return false, false
	}
	if c.openUntil.Load() > now {
		// A cooldown began between the load and the CAS (open clears
		// trial before this CAS could run): the slot is not ours.
		c.trial.Store(false)
		return false, false
	}
	return true, true
}

// release gives back a trial slot that was not used (the request went
// nowhere), so the next request can try.
func (c *circuit) release(trial bool) {
	if trial {
		c.trial.Store(false)
	}
}

// State is a circuit's state as shown by /health.
type State struct {
	State     string        `json:"state"` // closed, open, half_open
	Reason    string        `json:"reason,omitempty"`
	Cooldown  time.Duration `json:"-"`
	LastError string        `json:"last_error,omitempty"`
	InFlight  int64         `json:"in_flight"`
}

func (c *circuit) state(now time.Time) State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := State{State: "closed", LastError: c.lastError, InFlight: c.inFlight.Load()}
	if until := c.openUntil.Load(); until != 0 {
		s.Reason = c.reason
		if left := time.Duration(until - now.UnixNano()); left > 0 {
			s.State, s.Cooldown = "open", left
		} else {
			s.State = "half_open"
		}
	}
	return s
}

// success records a request that worked. It closes a half-open circuit (its
// trial, or any request once the cooldown is over), but not one still open:
// such a request was sent before the circuit opened, and its answer says
// nothing about the failures or the vendor's Retry-After that opened it.
func (c *circuit) success(cfg *config.Circuit, now time.Time) { c.succeed(cfg, now, false) }

// probeSuccess records an active health check that worked: the key is
// known to work now, so the circuit closes even while it is open, unless
// it is open for a wait the vendor gave (rate_limited).
func (c *circuit) probeSuccess(cfg *config.Circuit, now time.Time) { c.succeed(cfg, now, true) }

func (c *circuit) succeed(cfg *config.Circuit, now time.Time, closeOpen bool) {
	if c.openUntil.Load() == 0 && !c.trial.Load() {
		// The common case: count and go, keeping the lock short.
		c.mu.Lock()
		c.consecutive = 0
		c.bucket(cfg, now).ok++
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.consecutive = 0
	c.bucket(cfg, now).ok++
	if n := now.UnixNano(); c.openUntil.Load() > n {
		switch {
		case !closeOpen:
			c.trial.Store(false) // no trial runs while open: a set flag is stale
			c.mu.Unlock()
			return
		case c.limitedUntil > n:
			// A probe lists models: that the key works says nothing about
			// the wait the vendor asked for (Retry-After, a reset), which
			// stands even under a longer failure cooldown it ends.
			c.openUntil.Store(c.limitedUntil)
			c.reason = ReasonRateLimited
			c.trial.Store(false)
			c.mu.Unlock()
			return
		}
	}
	c.cooldown = 0
	c.reason = ""
	c.openUntil.Store(0)
	c.trial.Store(false)
	c.mu.Unlock()
}

// failure records a transient failure and opens the circuit when the
// consecutive count or the failure rate says so, or when a trial failed.
func (c *circuit) failure(cfg *config.Circuit, now time.Time, class string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.consecutive++
	c.bucket(cfg, now).fails++
	c.lastError, c.lastErrorAt = class, now
	wasTrial := c.trial.Load()
	ok, fails := c.window(cfg, now)
	total := ok + fails
	if wasTrial || c.consecutive >= cfg.Failures ||
		(total >= cfg.MinRequests && float64(fails) >= cfg.FailureRate*float64(total)) {
		c.open(cfg, now, 0, ReasonFailures, wasTrial)
	}
}

// coolDown opens the circuit for at least d (a vendor's Retry-After, an
// auth failure's penalty), whatever its counts say.
func (c *circuit) coolDown(cfg *config.Circuit, now time.Time, d time.Duration, reason, class string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastError, c.lastErrorAt = class, now
	c.open(cfg, now, d, reason, c.trial.Load())
}

// open must be called with mu held. A failed trial doubles the cooldown.
func (c *circuit) open(cfg *config.Circuit, now time.Time, atLeast time.Duration, reason string, failedTrial bool) {
	switch {
	case c.cooldown == 0:
		c.cooldown = cfg.Cooldown
	case failedTrial:
		c.cooldown = min(2*c.cooldown, cfg.MaxCooldown)
	}
	d := c.cooldown
	if reason != ReasonFailures {
		d = atLeast // a vendor-given wait is exact, not our guess
	}
	until := now.Add(d).UnixNano()
	if reason == ReasonRateLimited {
		c.limitedUntil = max(c.limitedUntil, until)
	}
	if cur := c.openUntil.Load(); cur > until {
		until = cur // never shorten a cooldown already in force (nor change its reason)
	} else {
		c.reason = reason
	}
	c.openUntil.Store(until)
	c.trial.Store(false)
}

// bucket returns the window slot for now, recycling a stale one.
func (c *circuit) bucket(cfg *config.Circuit, now time.Time) *bucket {
	width := int64(cfg.Window) / int64(len(c.buckets))
	slot := now.UnixNano() / width
	b := &c.buckets[slot%int64(len(c.buckets))]
	if b.start != slot {
		*b = bucket{start: slot}
	}
	return b
}

func (c *circuit) window(cfg *config.Circuit, now time.Time) (ok, fails int) {
	width := int64(cfg.Window) / int64(len(c.buckets))
	slot := now.UnixNano() / width
	for _, b := range c.buckets {
		if slot-b.start < int64(len(c.buckets)) {
			ok += b.ok
			fails += b.fails
		}
	}
	return ok, fails
}

// observeTTFB folds a time to first byte into the moving average used by
// least_latency (alpha 0.2: recent enough, not jumpy).
func (c *circuit) observeTTFB(d time.Duration) {
	for {
		old := c.ewmaTTFB.Load()
		nv := int64(d)
		if old != 0 {
			nv = old + (int64(d)-old)/5
		}
		if c.ewmaTTFB.CompareAndSwap(old, nv) {
			return
		}
	}
}
