package limit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// newTestRedis builds a limiter with its own client on addr, closed with the test.
func newTestRedis(t testing.TB, addr string, o RedisOptions) (*Redis, *redis.Client) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 300 * time.Millisecond
	}
	co, err := RedisClientOptions("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	// Many concurrent requests on a slow (-race) miniredis: let the limiter's Timeout decide.
	co.PoolTimeout = max(o.Timeout, time.Second)
	co.ReadTimeout, co.WriteTimeout = co.PoolTimeout, co.PoolTimeout
	client := redis.NewClient(co)
	if o.ProbeInterval == 0 {
		o.ProbeInterval = 100 * time.Millisecond
	}
	lim, err := NewRedis(client, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lim.Close()
		client.Close()
	})
	return lim, client
}

func newMiniredisFactory(t *testing.T, now func() time.Time) Limiter {
	mr := miniredis.RunT(t)
	// A generous timeout: under -race miniredis' Lua is slow, and a timeout would (rightly)
	// fail over to the local limiter.
	lim, _ := newTestRedis(t, mr.Addr(), RedisOptions{Now: now, Prefix: "t:", Timeout: 10 * time.Second})
	return lim
}

func TestRedisConformance(t *testing.T) { runConformance(t, newMiniredisFactory) }

func TestRedisCooldowns(t *testing.T) {
	runCooldownConformance(t, func(t *testing.T, now func() time.Time) Cooldowns {
		mr := miniredis.RunT(t)
		lim, _ := newTestRedis(t, mr.Addr(), RedisOptions{Now: now})
		return lim.Cooldowns()
	})
}

func TestRedisOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, o := range []RedisOptions{{FailMode: "sometimes"}, {Prefix: "a{b}"}} {
		if _, err := NewRedis(client, o); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
	if _, err := NewRedis(nil, RedisOptions{}); err == nil {
		t.Error("nil client: want an error")
	}
	o, err := RedisClientOptions("redis://127.0.0.1:6379/2")
	if err != nil || o.MaxRetries != -1 || !o.ContextTimeoutEnabled || o.DB != 2 || o.ReadTimeout != time.Second {
		t.Errorf("client options: %+v %v", o, err)
	}
}

// Every key the limiter writes expires on its own.
func TestRedisKeysExpire(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock(testBase())
	lim, _ := newTestRedis(t, mr.Addr(), RedisOptions{Now: clock.Now, Prefix: "x:"})
	ctx := context.Background()
	l := Limits{RPM: 10, TPM: 1000, MaxParallel: 2, BudgetDaily: 5, BudgetMonthly: 50}
	held, _, _ := lim.Acquire(ctx, "k", l, 100)
	tk, _, _ := lim.Acquire(ctx, "k", l, 100)
	tk.Done(ctx, 50, 0.5)
	lim.Cooldowns().Set(ctx, "cred", clock.Now().Add(time.Minute), "429")
	keys := mr.Keys()
	if len(keys) != 5 {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "x:") || mr.TTL(k) <= 0 {
			t.Errorf("key %s: ttl %v", k, mr.TTL(k))
		}
	}
	if got := mr.TTL("x:{k}:s"); got != 13*time.Second { // 2 requests at 10/min: 12s (150 tokens at 1000/min: 9s); +1s
		t.Errorf("state ttl %v", got)
	}
	held.Done(ctx, -1, 0)
}

// Scripts are loaded again after a SCRIPT FLUSH or a Redis restart (EVALSHA, then EVAL).
func TestRedisScriptFlush(t *testing.T) {
	mr := miniredis.RunT(t)
	lim, client := newTestRedis(t, mr.Addr(), RedisOptions{})
	ctx := context.Background()
	l := Limits{RPM: 3}
	for i := range 3 {
		if i == 1 {
			if err := client.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if tk, d, err := lim.Acquire(ctx, "k", l, 0); tk == nil {
			t.Fatalf("acquire %d: %v %v", i, d, err)
		}
	}
	if _, d, _ := lim.Acquire(ctx, "k", l, 0); d == nil || d.Reason != ReasonRPM {
		t.Fatalf("want rpm denial, got %v", d)
	}
	if !lim.Health().OK {
		t.Fatalf("health %+v", lim.Health())
	}
}

func TestRedisCancelledContext(t *testing.T) {
	mr := miniredis.RunT(t)
	lim, _ := newTestRedis(t, mr.Addr(), RedisOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := lim.Acquire(ctx, "k", Limits{RPM: 1}, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if !lim.Health().OK {
		t.Fatal("a caller's cancellation is not Redis' fault")
	}
}

// A replica that dies holding a parallel slot gives it back after the lease; a live one
// renews its slots.
func TestRedisParallelLease(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock(testBase())
	a, _ := newTestRedis(t, mr.Addr(), RedisOptions{Now: clock.Now, Lease: time.Minute})
	b, _ := newTestRedis(t, mr.Addr(), RedisOptions{Now: clock.Now, Lease: time.Minute})
	ctx := context.Background()
	l := Limits{MaxParallel: 1}
	if tk, _, _ := a.Acquire(ctx, "k", l, 0); tk == nil {
		t.Fatal("a: denied")
	}
	clock.Add(50 * time.Second)
	a.maintain() // renew: the lease now ends at +110s
	clock.Add(50 * time.Second)
	if _, d, _ := b.Acquire(ctx, "k", l, 0); d == nil || d.Reason != ReasonParallel {
		t.Fatalf("b: %v, want parallel denial", d)
	}
	a.Close() // a "dies" holding the slot
	clock.Add(11 * time.Second)
	if tk, d, _ := b.Acquire(ctx, "k", l, 0); tk == nil {
		t.Fatalf("b after the lease: %v", d)
	}
}

func TestMayHaveApplied(t *testing.T) {
	timeout := &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("x: %w", timeout), true},
		{&net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, false},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, false},
		{io.EOF, false},
		{redis.ErrClosed, false},
		{redis.ErrPoolTimeout, false},
	} {
		if got := mayHaveApplied(tc.err); got != tc.want {
			t.Errorf("mayHaveApplied(%v) = %v", tc.err, got)
		}
	}
}

// A flush batch whose answer got lost is retried with the same token: applied once.
func TestRedisFlushExactlyOnce(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock(testBase())
	lim, _ := newTestRedis(t, mr.Addr(), RedisOptions{Now: clock.Now, Prefix: "f:"})
	p := lim.periods.at(clock.Now().UnixMilli())
	lim.pend.add(lim, "k", p, 1500, "")
	lim.pend.add(lim, "k", p, 500, "t1")
	lim.pend.seal(lim)
	b := lim.pend.batches[0]
	for i, want := range []int64{1, 0} {
		got, err := lim.callOne(flushScript, b.keys, b.args...)
		if err != nil || got != want {
			t.Fatalf("run %d: %d %v", i, got, err)
		}
	}
	if err := lim.flush(); err != nil { // the batch is still queued: a no-op now
		t.Fatal(err)
	}
	day, _ := mr.Get("f:{k}:d:" + p.dayName)
	month, _ := mr.Get("f:{k}:m:" + p.monthName)
	if day != "2000" || month != "2000" || lim.pend.count() != 0 {
		t.Fatalf("day %q month %q pending %d", day, month, lim.pend.count())
	}
}

// While Redis is down the breaker keeps requests away from it: no dial per request.
func TestRedisDownDoesNotHammer(t *testing.T) {
	mr := miniredis.RunT(t)
	co, _ := RedisClientOptions("redis://" + mr.Addr())
	var dials atomic.Int64
	co.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	client := redis.NewClient(co)
	defer client.Close()
	lim, err := NewRedis(client, RedisOptions{ProbeInterval: time.Hour})
	mustNil(t, err)
	defer lim.Close()
	mr.Close()
	ctx := context.Background()
	l := Limits{RPM: 1 << 20}
	for i := range 10_000 {
		tk, d, err := lim.Acquire(ctx, "k", l, 0)
		if tk == nil {
			t.Fatalf("acquire %d: %v %v", i, d, err)
		}
		tk.Done(ctx, 0, 0)
	}
	if n := dials.Load(); n > 3 {
		t.Fatalf("%d dials for 10000 requests on a dead Redis", n)
	}
	st := lim.Health()
	if st.OK || !st.Degraded || st.LastError == "" || st.DegradedSince.IsZero() || st.FailMode != FailOpen {
		t.Fatalf("health %+v", st)
	}
}

func TestRedisOutageMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	runOutage(t, mr.Addr(), outageControl{
		kill:    mr.Close,
		restart: func() { mustNil(t, mr.Restart()) },
	})
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type outageControl struct {
	kill, restart func()
	hang, unhang  func() // optional: SIGSTOP / SIGCONT
	afterDeadTime time.Duration
}

// runOutage: two fail-open replicas and a fail-closed one share one Redis; Redis goes away
// mid-test and comes back. Both keep serving per their fail mode, budgets and spend survive,
// nothing is counted twice, and they go back to Redis when it answers.
func runOutage(t *testing.T, addr string, ctl outageControl) {
	ctx := context.Background()
	clock := newFakeClock(testBase())
	prefix := fmt.Sprintf("outage%d:", time.Now().UnixNano())
	o := RedisOptions{Now: clock.Now, Prefix: prefix, Timeout: time.Second}
	a, ca := newTestRedis(t, addr, o)
	b, _ := newTestRedis(t, addr, o)
	oc := o
	oc.FailMode = FailClosed
	c, _ := newTestRedis(t, addr, oc)
	replicas := map[string]*Redis{"a": a, "b": b, "c": c}

	acquire := func(name string, r *Redis, subject string, l Limits) *Ticket {
		t.Helper()
		tk, d, err := r.Acquire(ctx, subject, l, 0)
		if tk == nil {
			t.Fatalf("%s: acquire %s: %v %v", name, subject, d, err)
		}
		return tk
	}
	deny := func(name string, r *Redis, subject string, l Limits, reason string) *Denial {
		t.Helper()
		_, d, err := r.Acquire(ctx, subject, l, 0)
		if d == nil || d.Reason != reason {
			t.Fatalf("%s: acquire %s: denial %v (err %v), want %s", name, subject, d, err, reason)
		}
		return d
	}
	waitHealthy := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for name, r := range replicas {
			for !r.Health().OK {
				if time.Now().After(deadline) {
					t.Fatalf("%s: replica %s still degraded: %+v", what, name, r.Health())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}

	// Before: budgets are shared.
	budget := Limits{BudgetDaily: 1}
	acquire("a", a, "budget", budget).Done(ctx, 0, 0.6)
	acquire("b", b, "budget", budget).Done(ctx, 0, 0.5)
	deny("a", a, "budget", budget, ReasonBudgetDaily)
	deny("b", b, "budget", budget, ReasonBudgetDaily)
	spendL := Limits{BudgetMonthly: 100, MaxParallel: 5}
	held := acquire("a", a, "spend", spendL) // a Redis ticket, ended during the outage
	acquire("a", a, "spend", spendL).Done(ctx, 0, 0.25)

	// Redis goes away.
	ctl.kill()
	start := time.Now()
	ta := acquire("a", a, "spend", spendL) // notices, serves locally
	tb := acquire("b", b, "spend", spendL)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("fail-over took %v", el)
	}
	d := deny("c", c, "spend", spendL, ReasonUnavailable)
	if d.Status() != 503 || d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("fail closed: %d %v", d.Status(), d.RetryAfter)
	}
	deny("a", a, "budget", budget, ReasonBudgetDaily) // the local limiter knows the spend
	deny("b", b, "budget", budget, ReasonBudgetDaily)
	for name, r := range replicas {
		if st := r.Health(); st.OK || !st.Degraded || st.LastError == "" {
			t.Fatalf("%s during the outage: %+v", name, st)
		}
	}
	ta.Done(ctx, 0, 0.1)
	tb.Done(ctx, 0, 0.15)
	held.Done(ctx, 0, 0.05)
	if a.Health().PendingSpend == 0 || b.Health().PendingSpend == 0 {
		t.Fatalf("nothing pending: %+v %+v", a.Health(), b.Health())
	}
	if err := a.Cooldowns().Set(ctx, "openai/0", clock.Now().Add(time.Hour), "429 during outage"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Cooldowns().Get(ctx, []string{"openai/0"}); len(got) != 0 {
		t.Fatalf("b sees a's local cooldown: %v", got)
	}
	time.Sleep(ctl.afterDeadTime)

	// Redis is back: both resynchronise and use it again.
	ctl.restart()
	waitHealthy("after restart")
	p := a.periods.at(clock.Now().UnixMilli())
	month, err := ca.Get(ctx, prefix+"{spend}:m:"+p.monthName).Int64()
	mustNil(t, err)
	if month != 550_000_000 { // 0.25 + 0.1 + 0.15 + 0.05, each once
		t.Fatalf("month spend %d nano, want 550000000", month)
	}
	if n, _ := ca.ZCard(ctx, prefix+"{spend}:p").Result(); n != 0 {
		t.Fatalf("%d parallel slots still held", n)
	}
	for name, r := range replicas {
		if st := r.Health(); st.PendingSpend != 0 || st.LostUpdates != 0 || st.Degraded {
			t.Fatalf("%s after recovery: %+v", name, st)
		}
	}
	if got, _ := b.Cooldowns().Get(ctx, []string{"openai/0"}); got["openai/0"].IsZero() {
		t.Fatalf("the outage's cooldown was not written back: %v", got)
	}
	// One limit for the fleet again.
	rpm := Limits{RPM: 10}
	for range 6 {
		acquire("a", a, "rpm", rpm)
	}
	for range 4 {
		acquire("b", b, "rpm", rpm)
	}
	deny("a", a, "rpm", rpm, ReasonRPM)
	deny("b", b, "rpm", rpm, ReasonRPM)
	deny("c", c, "rpm", rpm, ReasonRPM)
	deny("c", c, "budget", budget, ReasonBudgetDaily)
	// A restarted Redis has no scripts: they came back through EVAL after NOSCRIPT.
	if ok, err := ca.ScriptExists(ctx, acquireScript.Hash(), flushScript.Hash()).Result(); err != nil || !ok[0] || !ok[1] {
		t.Fatalf("scripts after restart: %v %v", ok, err)
	}

	if ctl.hang == nil {
		return
	}
	// Redis hangs (SIGSTOP): requests are not held hostage beyond the timeout.
	ctl.hang()
	start = time.Now()
	acquire("a", a, "hang", rpm).Done(ctx, 0, 0)
	deny("c", c, "hang", rpm, ReasonUnavailable)
	if el := time.Since(start); el > 3*time.Second { // a 1s timeout, then the breaker is open
		t.Fatalf("requests on a hung Redis took %v", el)
	}
	if a.Health().OK {
		t.Fatal("a: hung Redis not noticed")
	}
	ctl.unhang()
	waitHealthy("after SIGCONT")
	acquire("b", b, "after-hang", rpm)
}
