package route

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
)

func combos(n int) []*Combination {
	out := make([]*Combination, n)
	clock := new(atomic.Uint64) // a pool's round_robin clock
	for i := range out {
		out[i] = &Combination{ID: i, Weight: 1, Priority: 1, cred: &circuit{}, combo: &circuit{}, rrClock: clock}
	}
	return out
}

func TestStrategies(t *testing.T) {
	t.Run("weighted follows weights", func(t *testing.T) {
		cs := combos(2)
		cs[1].Weight = 3
		n := map[int]int{}
		for i := 0; i < 8000; i++ {
			n[Weighted{}.Select(cs).ID]++
		}
		if r := float64(n[1]) / float64(n[0]); r < 2.6 || r > 3.4 {
			t.Errorf("ratio %.2f, want about 3", r)
		}
	})
	t.Run("round robin cycles", func(t *testing.T) {
		cs := combos(3)
		rr := &RoundRobin{}
		for i := 0; i < 9; i++ {
			if got := rr.Select(cs).ID; got != i%3 {
				t.Fatalf("pick %d = %d", i, got)
			}
		}
	})
	t.Run("least busy", func(t *testing.T) {
		cs := combos(3)
		cs[0].combo.inFlight.Store(5)
		cs[1].combo.inFlight.Store(1)
		cs[2].combo.inFlight.Store(3)
		for i := 0; i < 50; i++ {
			if got := (LeastBusy{}).Select(cs).ID; got != 1 {
				t.Fatalf("picked %d", got)
			}
		}
	})
	t.Run("least latency prefers the faster of two", func(t *testing.T) {
		cs := combos(2)
		cs[0].combo.ewmaTTFB.Store(int64(300 * time.Millisecond))
		cs[1].combo.ewmaTTFB.Store(int64(20 * time.Millisecond))
		for i := 0; i < 50; i++ {
			if got := (LeastLatency{}).Select(cs).ID; got != 1 {
				t.Fatalf("picked %d", got)
			}
		}
	})
	t.Run("priority uses the best tier", func(t *testing.T) {
		cs := combos(4)
		cs[0].Priority, cs[1].Priority = 2, 2
		seen := map[int]bool{}
		for i := 0; i < 200; i++ {
			seen[(Priority{}).Select(cs).ID] = true
		}
		if seen[0] || seen[1] || !seen[2] || !seen[3] {
			t.Errorf("picked %v, want only tier 1 (2 and 3), evenly", seen)
		}
		if got := (Priority{}).Select(cs[:2]).ID; got > 1 {
			t.Errorf("tier 2 alone: %d", got)
		}
	})
	for _, name := range config.Strategies {
		if _, err := NewSelector(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCircuit(t *testing.T) {
	cfg := &config.Circuit{Failures: 3, FailureRate: 0.5, MinRequests: 10, Window: time.Minute,
		Cooldown: time.Second, MaxCooldown: 4 * time.Second}
	now := time.Unix(1000, 0)
	c := &circuit{}
	for i := 0; i < 2; i++ {
		c.failure(cfg, now, "x")
	}
	if !c.usable(now.UnixNano()) {
		t.Fatal("open after 2 of 3 failures")
	}
	c.failure(cfg, now, "x")
	if c.usable(now.UnixNano()) {
		t.Fatal("closed after 3 consecutive failures")
	}
	later := now.Add(1100 * time.Millisecond).UnixNano()
	ok, trial := c.claim(later)
	if !ok || !trial {
		t.Fatal("no half-open trial after the cooldown")
	}
	if ok2, _ := c.claim(later); ok2 || c.usable(later) {
		t.Fatal("a second request got through while the trial runs")
	}
	c.failure(cfg, time.Unix(0, later), "x") // the trial failed: cooldown doubles
	if c.usable(later + int64(1500*time.Millisecond)) {
		t.Fatal("cooldown did not double after a failed trial")
	}
	again := later + int64(2100*time.Millisecond)
	if ok, trial := c.claim(again); !ok || !trial {
		t.Fatal("no trial after the doubled cooldown")
	}
	c.success(cfg, time.Unix(0, again))
	if st := c.state(time.Unix(0, again)); st.State != "closed" || !c.usable(again) {
		t.Fatalf("trial success left it %s", st.State)
	}
	// The failure rate opens it too, without consecutive failures.
	r := &circuit{}
	for i := 0; i < 12; i++ {
		if i%2 == 0 {
			r.success(cfg, now)
		} else {
			r.failure(cfg, now, "x")
		}
	}
	if r.usable(now.UnixNano()) {
		t.Error("a 50% failure rate over 12 requests left it closed")
	}
	// A vendor's Retry-After is exact and never shortened.
	rl := &circuit{}
	rl.coolDown(cfg, now, 20*time.Second, ReasonRateLimited, "vendor_rate_limited")
	rl.coolDown(cfg, now, 5*time.Second, ReasonRateLimited, "vendor_rate_limited")
	if rl.usable(now.Add(19*time.Second).UnixNano()) || !rl.usable(now.Add(21*time.Second).UnixNano()) {
		t.Error("rate-limit cooldown not the vendor's 20s")
	}
}

func TestLocalLimits(t *testing.T) {
	l := newLocalLimits(3, 0, 2)
	now := time.Unix(5000, 0)
	if !l.take(now, 10) || !l.take(now, 10) {
		t.Fatal("first two refused")
	}
	if l.take(now, 10) {
		t.Fatal("concurrency 2 allowed a third")
	}
	l.done(now, now, 10, 12)
	if !l.take(now, 10) {
		t.Fatal("slot not released")
	}
	l.done(now, now, 10, 0)
	if l.take(now, 10) {
		t.Fatal("rpm 3 allowed a fourth request in the minute")
	}
	if ok, wait := l.allows(now, 1); ok || wait <= 0 || wait > time.Minute {
		t.Fatalf("allows = %v, %v", ok, wait)
	}
	if !l.take(now.Add(61*time.Second), 10) {
		t.Fatal("the window did not slide")
	}
}
