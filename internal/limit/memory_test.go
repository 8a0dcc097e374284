package limit

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func newMemoryFactory(t *testing.T, now func() time.Time) Limiter { return NewMemory(WithClock(now)) }

func TestMemoryConformance(t *testing.T) { runConformance(t, newMemoryFactory) }

func TestMemoryCooldowns(t *testing.T) {
	runCooldownConformance(t, func(t *testing.T, now func() time.Time) Cooldowns {
		return NewMemoryCooldowns(WithClock(now))
	})
}

func TestMemoryAcquireDoneDoesNotAllocate(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	l := Limits{RPM: 1 << 30, TPM: 1 << 30, MaxParallel: 1 << 20, BudgetDaily: 1e6, BudgetMonthly: 1e6}
	m.Acquire(ctx, "warm", l, 10) // create the subject
	allocs := testing.AllocsPerRun(10_000, func() {
		tk, d, _ := m.Acquire(ctx, "warm", l, 100)
		if d != nil {
			t.Fatal(d.Reason)
		}
		_ = tk.Headers()
		tk.Done(ctx, 120, 0.001)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Acquire+Done, want 0", allocs)
	}
}

func TestMemoryIdleSubjectsExpire(t *testing.T) {
	clock := newFakeClock(testBase())
	m := NewMemory(WithClock(clock.Now), WithSweepInterval(time.Minute))
	ctx := context.Background()
	const n = 20_000
	var held []*Ticket
	for i := range n {
		l := Limits{RPM: 10, TPM: 1000}
		if i%1000 == 0 {
			l.BudgetMonthly = 10 // spend this month keeps the subject
		}
		tk := m.mustAcquire(t, fmt.Sprintf("ip-%d", i), l, 100)
		if i%1000 == 1 {
			held = append(held, tk) // in flight keeps the subject
			continue
		}
		tk.Done(ctx, 100, 0.01)
	}
	if got := m.size(); got != n {
		t.Fatalf("size %d, want %d", got, n)
	}
	// Windows drain within a minute; one sweep interval later every shard has been swept.
	clock.Add(time.Minute)
	for range numShards + 1 {
		clock.Add(time.Minute / numShards)
		m.mustAcquire(t, "probe", Limits{RPM: 1 << 20}, 0).Done(ctx, 0, 0)
	}
	if got, want := m.size(), 2*n/1000+1; got != want {
		t.Fatalf("after a sweep: %d subjects, want %d (budgeted, in flight, probe)", got, want)
	}
	for _, tk := range held {
		tk.Done(ctx, 0, 0)
	}
	// Next month the budgeted subjects go too.
	clock.Add(40 * 24 * time.Hour)
	for range numShards + 1 {
		clock.Add(time.Minute / numShards)
		m.mustAcquire(t, "probe", Limits{RPM: 1 << 20}, 0).Done(ctx, 0, 0)
	}
	if got := m.size(); got > 1 {
		t.Fatalf("next month: %d subjects left", got)
	}
}

func (m *Memory) mustAcquire(t *testing.T, subject string, l Limits, est int64) *Ticket {
	t.Helper()
	tk, d, err := m.Acquire(context.Background(), subject, l, est)
	if err != nil || d != nil {
		t.Fatalf("Acquire(%s): %v %v", subject, d, err)
	}
	return tk
}

func TestFormatReset(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{time.Second, "1s"},
		{6 * time.Minute, "6m0s"},
		{1500 * time.Millisecond, "1.5s"},
		{120 * time.Millisecond, "120ms"},
		{time.Microsecond, "1ms"},
		{8640 * time.Millisecond, "8.64s"},
		{90*time.Second + 500*time.Millisecond, "1m30.5s"},
	} {
		if got := FormatReset(tc.d); got != tc.want {
			t.Errorf("FormatReset(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestHeadersAndDenialHelpers(t *testing.T) {
	h := http.Header{}
	Headers{LimitRequests: 100, RemainingRequests: 99, ResetRequests: 600 * time.Millisecond,
		LimitTokens: 30000, RemainingTokens: 29000, ResetTokens: 2 * time.Second}.Set(h)
	want := map[string]string{
		"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "99", "x-ratelimit-reset-requests": "600ms",
		"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	h = http.Header{}
	Headers{LimitTokens: 10}.Set(h)
	if h.Get(HeaderLimitRequests) != "" || h.Get(HeaderRemainingTokens) != "0" || h.Get(HeaderResetTokens) != "0s" {
		t.Errorf("tokens only: %v", h)
	}

	for _, tc := range []struct {
		reason string
		retry  time.Duration
		status int
		code   string
		after  string
		ms     string
	}{
		{ReasonRPM, 600 * time.Millisecond, 429, "rate_limit_exceeded", "1", "600"},
		{ReasonTPM, 2500 * time.Millisecond, 429, "rate_limit_exceeded", "3", "2500"},
		{ReasonParallel, time.Second, 429, "rate_limit_exceeded", "1", "1000"},
		{ReasonBudgetDaily, time.Hour, 429, "budget_exceeded", "3600", "3600000"},
		{ReasonBudgetMonthly, 1500 * time.Microsecond, 429, "budget_exceeded", "1", "2"},
		{ReasonUnavailable, 2 * time.Second, 503, "limiter_unavailable", "2", "2000"},
	} {
		d := &Denial{Reason: tc.reason, RetryAfter: tc.retry, Headers: Headers{LimitRequests: 100}}
		h := http.Header{}
		d.SetHeaders(h)
		if d.Status() != tc.status || d.Code() != tc.code || h.Get("Retry-After") != tc.after ||
			h.Get("retry-after-ms") != tc.ms || h.Get(HeaderLimitRequests) != "100" || d.Error() == "" {
			t.Errorf("%s: status %d code %q Retry-After %q ms %q (%v) %q", tc.reason, d.Status(), d.Code(),
				h.Get("Retry-After"), h.Get("retry-after-ms"), h, d.Error())
		}
	}
}

func TestNilAndUnlimitedTickets(t *testing.T) {
	var tk *Ticket
	tk.Done(context.Background(), 1, 1)
	if tk.Headers() != (Headers{}) {
		t.Fatal("nil ticket headers")
	}
	unlimitedTicket.Done(context.Background(), 1, 1)
}

func TestPeriods(t *testing.T) {
	p := computePeriods(time.Date(2024, 2, 29, 13, 0, 0, 0, time.UTC).UnixMilli())
	if p.dayName != "20240229" || p.monthName != "202402" ||
		p.dayEnd != time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli() ||
		p.monthEnd != time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
		t.Fatalf("%+v", p)
	}
	p = computePeriods(time.Date(2024, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli())
	if p.monthEnd != time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() || p.month != 2024*12+11 {
		t.Fatalf("%+v", p)
	}
}
