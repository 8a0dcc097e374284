package limit

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The same behaviour is required of every backend: these cases run on Memory, on Redis over
// miniredis, and on Redis over a real redis-server when GENROUTER_TEST_REDIS_URL is set.

type backendFactory func(t *testing.T, now func() time.Time) Limiter

type harness struct {
	t     *testing.T
	ctx   context.Context
	lim   Limiter
	clock *fakeClock
}

func (h *harness) acquire(subject string, l Limits, est int64) (*Ticket, *Denial) {
	h.t.Helper()
	tk, d, err := h.lim.Acquire(h.ctx, subject, l, est)
	if err != nil {
		h.t.Fatalf("Acquire(%s): %v", subject, err)
	}
	if (tk == nil) == (d == nil) {
		h.t.Fatalf("Acquire(%s): ticket %v, denial %v: want exactly one", subject, tk, d)
	}
	return tk, d
}

func (h *harness) mustAcquire(subject string, l Limits, est int64) *Ticket {
	h.t.Helper()
	tk, d := h.acquire(subject, l, est)
	if d != nil {
		h.t.Fatalf("Acquire(%s): denied %s (retry %v), want admitted", subject, d.Reason, d.RetryAfter)
	}
	return tk
}

func (h *harness) mustDeny(subject string, l Limits, est int64, reason string, retry time.Duration) *Denial {
	h.t.Helper()
	_, d := h.acquire(subject, l, est)
	if d == nil {
		h.t.Fatalf("Acquire(%s): admitted, want denied %s", subject, reason)
	}
	if d.Reason != reason {
		h.t.Fatalf("Acquire(%s): reason %q, want %q", subject, d.Reason, reason)
	}
	if retry >= 0 && d.RetryAfter != retry {
		h.t.Fatalf("Acquire(%s): RetryAfter %v, want %v", subject, d.RetryAfter, retry)
	}
	return d
}

func checkHeaders(t *testing.T, what string, got Headers, want Headers) {
	t.Helper()
	if got != want {
		t.Fatalf("%s headers:\n got %+v\nwant %+v", what, got, want)
	}
}

var conformance = []struct {
	name string
	run  func(h *harness)
}{
	{"rpm exact with headers and retry-after", func(h *harness) {
		l := Limits{RPM: 5}
		for i := range 5 {
			tk := h.mustAcquire("k", l, 0)
			checkHeaders(h.t, "ticket", tk.Headers(), Headers{
				LimitRequests: 5, RemainingRequests: int64(4 - i), ResetRequests: time.Duration(i+1) * 12 * time.Second,
			})
			tk.Done(h.ctx, 0, 0)
		}
		d := h.mustDeny("k", l, 0, ReasonRPM, 12*time.Second)
		checkHeaders(h.t, "denial", d.Headers, Headers{LimitRequests: 5, RemainingRequests: 0, ResetRequests: time.Minute})
		h.clock.Add(12*time.Second - time.Millisecond)
		h.mustDeny("k", l, 0, ReasonRPM, time.Millisecond)
		h.clock.Add(time.Millisecond)
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0)
		h.mustDeny("k", l, 0, ReasonRPM, 12*time.Second)
		h.clock.Add(time.Minute)
		for range 5 {
			h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0)
		}
		h.mustDeny("k", l, 0, ReasonRPM, 12*time.Second)
		// Subjects are independent.
		h.mustAcquire("other", l, 0).Done(h.ctx, 0, 0)
	}},
	{"rpm exact when 60s/N is not whole", func(h *harness) {
		l := Limits{RPM: 7}
		for range 7 {
			h.mustAcquire("k", l, 0)
		}
		h.mustDeny("k", l, 0, ReasonRPM, 8572*time.Millisecond) // ceil(60000/7)
	}},
	{"tpm counts the estimate then corrects it", func(h *harness) {
		l := Limits{TPM: 1000}
		a := h.mustAcquire("k", l, 600)
		checkHeaders(h.t, "a", a.Headers(), Headers{LimitTokens: 1000, RemainingTokens: 400, ResetTokens: 36 * time.Second})
		// 600+500 > 1000: wait until 100 tokens drained, 100 * 60ms.
		h.mustDeny("k", l, 500, ReasonTPM, 6*time.Second)
		a.Done(h.ctx, 100, 0) // refund 500
		b := h.mustAcquire("k", l, 500)
		checkHeaders(h.t, "b", b.Headers(), Headers{LimitTokens: 1000, RemainingTokens: 400, ResetTokens: 36 * time.Second})
		b.Done(h.ctx, 900, 0) // 400 more than estimated: 100+900 = 1000
		hd, err := h.lim.Headers(h.ctx, "k", l)
		if err != nil {
			h.t.Fatal(err)
		}
		checkHeaders(h.t, "after correction", hd, Headers{LimitTokens: 1000, RemainingTokens: 0, ResetTokens: time.Minute})
		h.mustDeny("k", l, 1, ReasonTPM, 60*time.Millisecond)
		h.mustDeny("k", l, 0, ReasonTPM, 60*time.Millisecond) // no estimate still needs a token
		h.clock.Add(time.Minute)
		// Unknown usage (-1): the estimate stands.
		c := h.mustAcquire("k", l, 300)
		c.Done(h.ctx, -1, 0)
		hd, _ = h.lim.Headers(h.ctx, "k", l)
		checkHeaders(h.t, "estimate kept", hd, Headers{LimitTokens: 1000, RemainingTokens: 700, ResetTokens: 18 * time.Second})
	}},
	{"tpm estimate above the limit waits for a full bucket", func(h *harness) {
		l := Limits{TPM: 1000}
		h.mustAcquire("k", l, 10).Done(h.ctx, 10, 0)
		h.mustDeny("k", l, 5000, ReasonTPM, 600*time.Millisecond)
		h.clock.Add(600 * time.Millisecond)
		tk := h.mustAcquire("k", l, 5000)
		tk.Done(h.ctx, 3000, 0) // 2000 over capacity: two minutes of debt
		h.clock.Add(time.Minute)
		h.mustDeny("k", l, 1, ReasonTPM, time.Minute+60*time.Millisecond)
	}},
	{"a denial counts nothing", func(h *harness) {
		l := Limits{RPM: 10, TPM: 100}
		h.mustAcquire("k", l, 100)
		d := h.mustDeny("k", l, 50, ReasonTPM, 30*time.Second)
		if d.Headers.RemainingRequests != 9 {
			h.t.Fatalf("remaining requests %d after a denial, want 9", d.Headers.RemainingRequests)
		}
		for range 5 {
			h.mustDeny("k", l, 50, ReasonTPM, 30*time.Second)
		}
		h.clock.Add(30 * time.Second)
		tk := h.mustAcquire("k", l, 50)
		if got := tk.Headers().RemainingRequests; got != 9 { // the first drained in 6s
			h.t.Fatalf("remaining requests %d, want 9", got)
		}
	}},
	{"parallel slots are released by Done, once", func(h *harness) {
		l := Limits{MaxParallel: 2}
		a := h.mustAcquire("k", l, 0)
		b := h.mustAcquire("k", l, 0)
		h.mustDeny("k", l, 0, ReasonParallel, time.Second)
		a.Done(h.ctx, 0, 0)
		a.Done(h.ctx, 0, 0) // idempotent: must not free b's slot
		c := h.mustAcquire("k", l, 0)
		h.mustDeny("k", l, 0, ReasonParallel, time.Second)
		b.Done(h.ctx, 0, 0)
		c.Done(h.ctx, 0, 0)
		h.mustAcquire("k", l, 0)
		h.mustAcquire("k", l, 0)
		h.mustDeny("k", l, 0, ReasonParallel, time.Second)
	}},
	{"parallel slot released even when the request context is cancelled", func(h *harness) {
		l := Limits{MaxParallel: 1}
		ctx, cancel := context.WithCancel(h.ctx)
		tk, _, err := h.lim.Acquire(ctx, "k", l, 0)
		if err != nil || tk == nil {
			h.t.Fatalf("Acquire: %v %v", tk, err)
		}
		cancel()
		tk.Done(ctx, 0, 0)
		h.mustAcquire("k", l, 0)
	}},
	{"daily budget resets at 00:00 UTC", func(h *harness) {
		// The clock is at 23:00 UTC.
		l := Limits{BudgetDaily: 1}
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0.6)
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0.4) // exactly 1.0: spend adds up exactly
		d := h.mustDeny("k", l, 0, ReasonBudgetDaily, time.Hour)
		if d.Code() != "budget_exceeded" || d.Status() != http.StatusTooManyRequests {
			h.t.Fatalf("code %q status %d", d.Code(), d.Status())
		}
		h.clock.Add(59 * time.Minute)
		h.mustDeny("k", l, 0, ReasonBudgetDaily, time.Minute)
		h.clock.Add(time.Minute)
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0.99)
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0.5) // the last one may overshoot
		h.mustDeny("k", l, 0, ReasonBudgetDaily, 24*time.Hour)
	}},
	{"monthly budget resets on the 1st, daily at midnight", func(h *harness) {
		// The clock is at 23:00 UTC, the day before the last day of the month.
		l := Limits{BudgetDaily: 1.5, BudgetMonthly: 2}
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 1.2)
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0.3)
		h.mustDeny("k", l, 0, ReasonBudgetDaily, time.Hour)
		h.clock.Add(time.Hour) // the last day of the month
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 0.5)
		h.mustDeny("k", l, 0, ReasonBudgetMonthly, 24*time.Hour)
		h.clock.Add(24 * time.Hour) // the 1st
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 1.5)
		h.mustDeny("k", l, 0, ReasonBudgetDaily, 24*time.Hour)
	}},
	{"rpm and budget: first reason, longest wait", func(h *harness) {
		l := Limits{RPM: 1, BudgetMonthly: 1}
		h.mustAcquire("k", l, 0).Done(h.ctx, 0, 1)
		// Monthly budget (25h to the 1st) and rpm (60s) both refuse.
		h.mustDeny("k", l, 0, ReasonBudgetMonthly, 25*time.Hour)
	}},
	{"headers peek counts nothing", func(h *harness) {
		l := Limits{RPM: 3, TPM: 300}
		for range 10 {
			hd, err := h.lim.Headers(h.ctx, "k", l)
			if err != nil {
				h.t.Fatal(err)
			}
			checkHeaders(h.t, "peek", hd, Headers{LimitRequests: 3, RemainingRequests: 3, LimitTokens: 300, RemainingTokens: 300})
		}
		for range 3 {
			h.mustAcquire("k", l, 100)
		}
		h.mustDeny("k", l, 0, ReasonRPM, 20*time.Second)
		hd, _ := h.lim.Headers(h.ctx, "k", l)
		checkHeaders(h.t, "full", hd, Headers{LimitRequests: 3, ResetRequests: time.Minute, LimitTokens: 300, ResetTokens: time.Minute})
		h.clock.Add(30 * time.Second)
		hd, _ = h.lim.Headers(h.ctx, "k", l)
		checkHeaders(h.t, "half", hd, Headers{LimitRequests: 3, RemainingRequests: 1, ResetRequests: 30 * time.Second, LimitTokens: 300, RemainingTokens: 150, ResetTokens: 30 * time.Second})
	}},
	{"unlimited subjects cost nothing", func(h *harness) {
		for range 1000 {
			tk := h.mustAcquire("k", Limits{}, 1e6)
			if tk.Headers() != (Headers{}) {
				h.t.Fatalf("headers %+v", tk.Headers())
			}
			tk.Done(h.ctx, 1e6, 100)
			tk.Done(h.ctx, 1e6, 100)
		}
	}},
	{"concurrent requests: exactly the limit passes", func(h *harness) {
		l := Limits{RPM: 100, MaxParallel: 1000}
		var ok, denied atomic.Int64
		var wg sync.WaitGroup
		for range 160 {
			wg.Go(func() {
				tk, d, err := h.lim.Acquire(h.ctx, "k", l, 0)
				switch {
				case err != nil:
					h.t.Error(err)
				case d != nil:
					denied.Add(1)
				default:
					ok.Add(1)
					tk.Done(h.ctx, 0, 0)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 100 || denied.Load() != 60 {
			h.t.Fatalf("admitted %d, denied %d: want 100 and 60 (%+v)", ok.Load(), denied.Load(), h.lim.Health())
		}
	}},
}

func runConformance(t *testing.T, newLim backendFactory) {
	for _, tc := range conformance {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock(testBase())
			h := &harness{t: t, ctx: context.Background(), lim: newLim(t, clock.Now), clock: clock}
			tc.run(h)
			if st := h.lim.Health(); !st.OK || st.Degraded {
				t.Fatalf("the backend degraded during the test: %+v", st)
			}
		})
	}
}

var cooldownCases = []struct {
	name string
	run  func(t *testing.T, c Cooldowns, clock *fakeClock)
}{
	{"set get all expire clear", func(t *testing.T, c Cooldowns, clock *fakeClock) {
		ctx := context.Background()
		now := clock.Now()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(c.Set(ctx, "openai/0", now.Add(30*time.Second), "rate_limited"))
		must(c.Set(ctx, "openai/1", now.Add(90*time.Second), "server_error"))
		must(c.Set(ctx, "gemini/0", now.Add(-time.Second), "past")) // already over: nothing
		got, err := c.Get(ctx, []string{"openai/0", "openai/1", "gemini/0", "nope"})
		must(err)
		if len(got) != 2 || !got["openai/0"].Equal(now.Add(30*time.Second)) || !got["openai/1"].Equal(now.Add(90*time.Second)) {
			t.Fatalf("Get: %v", got)
		}
		all, err := c.All(ctx)
		must(err)
		if len(all) != 2 || all["openai/1"].Reason != "server_error" {
			t.Fatalf("All: %v", all)
		}
		clock.Add(31 * time.Second)
		got, _ = c.Get(ctx, []string{"openai/0", "openai/1"})
		if len(got) != 1 || got["openai/1"].IsZero() {
			t.Fatalf("after 31s: %v", got)
		}
		must(c.Set(ctx, "openai/1", time.Time{}, "")) // cleared: its trial request worked
		got, _ = c.Get(ctx, []string{"openai/0", "openai/1"})
		all, _ = c.All(ctx)
		if len(got) != 0 || len(all) != 0 {
			t.Fatalf("after clear: %v %v", got, all)
		}
		must(c.Set(ctx, "openai/0", clock.Now().Add(time.Minute), "a"))
		must(c.Set(ctx, "openai/0", clock.Now().Add(10*time.Second), "b")) // last write wins
		all, _ = c.All(ctx)
		if cd := all["openai/0"]; !cd.Until.Equal(clock.Now().Add(10*time.Second)) || cd.Reason != "b" {
			t.Fatalf("last write: %v", all)
		}
	}},
}

func runCooldownConformance(t *testing.T, newCool func(t *testing.T, now func() time.Time) Cooldowns) {
	for _, tc := range cooldownCases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock(testBase())
			tc.run(t, newCool(t, clock.Now), clock)
		})
	}
}
