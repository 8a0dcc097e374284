package limit

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	numShards = 128 // power of two
	slabSize  = 64  // tickets allocated per slab
)

// MemoryOption configures NewMemory and NewMemoryCooldowns.
type MemoryOption func(*memoryConfig)

type memoryConfig struct {
	now   func() time.Time
	sweep time.Duration
}

// WithClock replaces time.Now (tests; the Redis limiter passes its own clock to its fallback).
func WithClock(now func() time.Time) MemoryOption {
	return func(c *memoryConfig) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSweepInterval sets how long it takes for every shard to be swept of idle subjects once
// (default 1 minute). A subject is idle when it has nothing in flight, its rate windows have
// drained and it has no spend in the current month.
func WithSweepInterval(d time.Duration) MemoryOption {
	return func(c *memoryConfig) {
		if d > 0 {
			c.sweep = d
		}
	}
}

func newMemoryConfig(opts []MemoryOption) memoryConfig {
	c := memoryConfig{now: time.Now, sweep: time.Minute}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Memory is the in-process limiter: subjects live in mutex-protected shards; every operation
// is O(1) and allocation-free for a known subject (tickets come from per-shard slabs). There are
// no goroutines or timers: idle subjects are swept a shard at a time by the requests
// themselves.
type Memory struct {
	now         func() time.Time
	seed        maphash.Seed
	periods     periodCache
	sweepStepMs int64
	nextSweep   atomic.Int64
	cursor      atomic.Uint32
	shards      [numShards]shard
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*entry
	peak int
	slab []Ticket
	_    [64]byte // keep shards' locks on separate cache lines
}

type entry struct {
	sh         *shard
	r, k       int64 // GCRA levels (requests, tokens), in units of windowMs per request/token
	t          int64 // ms: when the levels were last drained
	drainAt    int64 // ms: when both levels reach zero
	inflight   int64
	day, month int64
	daySpend   int64 // nano-units
	monthSpend int64
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-process limiter.
func NewMemory(opts ...MemoryOption) *Memory {
	c := newMemoryConfig(opts)
	m := &Memory{now: c.now, seed: maphash.MakeSeed()}
	m.sweepStepMs = max(c.sweep.Milliseconds()/numShards, 1)
	for i := range m.shards {
		m.shards[i].m = make(map[string]*entry)
	}
	return m
}

func (m *Memory) shard(subject string) *shard {
	return &m.shards[maphash.String(m.seed, subject)&(numShards-1)]
}

func (sh *shard) get(subject string, now int64) *entry {
	e := sh.m[subject]
	if e == nil {
		e = &entry{sh: sh, t: now, drainAt: now}
		sh.m[strings.Clone(subject)] = e
		if len(sh.m) > sh.peak {
			sh.peak = len(sh.m)
		}
	}
	return e
}

func (sh *shard) ticket() *Ticket {
	if len(sh.slab) == 0 {
		sh.slab = make([]Ticket, slabSize)
	}
	t := &sh.slab[0]
	sh.slab = sh.slab[1:]
	return t
}

// advance drains the rate levels up to now and rolls the spend periods.
func (e *entry) advance(now, rpm, tpm int64, p *periods) {
	dt := now - e.t
	e.r = leak(e.r, dt, rpm)
	e.k = leak(e.k, dt, tpm)
	if dt > 0 {
		e.t = now
	}
	e.roll(p)
}

// roll starts the spend of a new day or month.
func (e *entry) roll(p *periods) {
	if e.day != p.day {
		e.day, e.daySpend = p.day, 0
	}
	if e.month != p.month {
		e.month, e.monthSpend = p.month, 0
	}
}

func (e *entry) setDrain(rpm, tpm int64) {
	e.drainAt = e.t + max(resetMs(e.r, rpm), resetMs(e.k, tpm))
}

// check returns the first failing reason (budgets, rpm, tpm, parallel) and the longest wait.
func check(l Limits, lr, lk, inflight, est, daySpend, monthSpend int64, p *periods, now int64) (string, int64) {
	reason, retry := "", int64(0)
	fail := func(r string, wait int64) {
		if reason == "" {
			reason = r
		}
		retry = max(retry, wait)
	}
	if l.BudgetMonthly > 0 && monthSpend >= nanoUnits(l.BudgetMonthly) {
		fail(ReasonBudgetMonthly, p.monthEnd-now)
	}
	if l.BudgetDaily > 0 && daySpend >= nanoUnits(l.BudgetDaily) {
		fail(ReasonBudgetDaily, p.dayEnd-now)
	}
	if l.RPM > 0 {
		if ok, wait := fits(lr, 1, int64(l.RPM)); !ok {
			fail(ReasonRPM, wait)
		}
	}
	if l.TPM > 0 {
		if ok, wait := fits(lk, max(est, 1), int64(l.TPM)); !ok {
			fail(ReasonTPM, wait)
		}
	}
	if l.MaxParallel > 0 && inflight >= int64(l.MaxParallel) {
		fail(ReasonParallel, 1000)
	}
	return reason, retry
}

// Acquire implements Limiter.
func (m *Memory) Acquire(ctx context.Context, subject string, l Limits, estTokens int64) (*Ticket, *Denial, error) {
	if l.Unlimited() {
		return unlimitedTicket, nil, nil
	}
	now := m.now().UnixMilli()
	p := m.periods.at(now)
	est := clampEst(estTokens, l)
	rpm, tpm := int64(l.RPM), int64(l.TPM)
	sh := m.shard(subject)
	sh.mu.Lock()
	e := sh.get(subject, now)
	e.advance(now, rpm, tpm, p)
	if reason, retry := check(l, e.r, e.k, e.inflight, est, e.daySpend, e.monthSpend, p, now); reason != "" {
		hdr := makeHeaders(l, e.r, e.k)
		sh.mu.Unlock()
		return nil, &Denial{Reason: reason, RetryAfter: time.Duration(retry) * time.Millisecond, Headers: hdr}, nil
	}
	if l.RPM > 0 {
		e.r += windowMs
	}
	if l.TPM > 0 {
		e.k += est * windowMs
	}
	e.inflight++
	e.setDrain(rpm, tpm)
	t := sh.ticket()
	t.owner, t.subject, t.ent = m, subject, e
	t.rpm, t.tpm, t.est, t.spend = rpm, tpm, est, l.tracksSpend()
	t.lr, t.lk = e.r, e.k
	sh.mu.Unlock()
	m.maybeSweep(now)
	return t, nil, nil
}

func (m *Memory) release(_ context.Context, t *Ticket, actual int64, cost float64) {
	now := m.now().UnixMilli()
	p := m.periods.at(now)
	e := t.ent
	e.sh.mu.Lock()
	e.advance(now, t.rpm, t.tpm, p)
	if actual >= 0 && t.tpm > 0 {
		e.k = max(e.k+(min(actual, 1<<40)-t.est)*windowMs, 0)
	}
	e.inflight--
	if t.spend {
		c := nanoUnits(cost)
		e.daySpend += c
		e.monthSpend += c
	}
	e.setDrain(t.rpm, t.tpm)
	e.sh.mu.Unlock()
}

// Headers implements Limiter.
func (m *Memory) Headers(_ context.Context, subject string, l Limits) (Headers, error) {
	now := m.now().UnixMilli()
	sh := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[subject]
	if e == nil {
		return makeHeaders(l, 0, 0), nil
	}
	dt := now - e.t
	return makeHeaders(l, leak(e.r, dt, int64(l.RPM)), leak(e.k, dt, int64(l.TPM))), nil
}

// Health implements Limiter.
func (m *Memory) Health() Status { return Status{Backend: "memory", OK: true} }

// Close implements Limiter; there is nothing to stop.
func (m *Memory) Close() error { return nil }

// maybeSweep sweeps one shard every sweepStepMs, so each shard once per sweep interval.
func (m *Memory) maybeSweep(now int64) {
	next := m.nextSweep.Load()
	if now < next || !m.nextSweep.CompareAndSwap(next, now+m.sweepStepMs) {
		return
	}
	m.sweepShard(&m.shards[m.cursor.Add(1)&(numShards-1)], now)
}

func (m *Memory) sweepShard(sh *shard, now int64) {
	p := m.periods.at(now)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, e := range sh.m {
		if e.inflight == 0 && now >= e.drainAt && (e.monthSpend == 0 || e.month != p.month) {
			delete(sh.m, k)
		}
	}
	// Go maps never shrink: rebuild one that emptied out after a peak.
	if sh.peak > 1024 && len(sh.m) < sh.peak/4 {
		fresh := make(map[string]*entry, len(sh.m))
		for k, e := range sh.m {
			fresh[k] = e
		}
		sh.m, sh.peak = fresh, len(fresh)
	}
}

// size is the number of subjects held (tests).
func (m *Memory) size() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// setSpend overwrites a subject's spend for the current periods with the values Redis holds, so
// that the fallback starts from them if Redis goes away.
func (m *Memory) setSpend(subject string, day, month int64) {
	now := m.now().UnixMilli()
	p := m.periods.at(now)
	sh := m.shard(subject)
	sh.mu.Lock()
	e := sh.get(subject, now)
	e.day, e.month = p.day, p.month
	e.daySpend, e.monthSpend = day, month
	sh.mu.Unlock()
}

// SeedSpend implements SpendSeeder: it raises the subject's spend of the UTC day and month that
// contain at to at least day and month. Taking the larger value makes it safe to call more than
// once and concurrently with requests: nothing is counted twice. A seed for a day (or month)
// that has already ended changes nothing for it.
func (m *Memory) SeedSpend(subject string, at time.Time, day, month float64) {
	now := m.now().UnixMilli()
	p := m.periods.at(now)
	seed := computePeriods(at.UnixMilli())
	if seed.month != p.month {
		return
	}
	if seed.day != p.day {
		day = 0
	}
	sh := m.shard(subject)
	sh.mu.Lock()
	e := sh.get(subject, now)
	e.roll(p)
	e.daySpend = max(e.daySpend, nanoUnits(day))
	e.monthSpend = max(e.monthSpend, nanoUnits(month))
	sh.mu.Unlock()
}

// addSpend adds to a subject's spend (the local mirror of a Redis ticket's cost).
func (m *Memory) addSpend(subject string, nano int64) {
	now := m.now().UnixMilli()
	p := m.periods.at(now)
	sh := m.shard(subject)
	sh.mu.Lock()
	e := sh.get(subject, now)
	e.roll(p)
	e.daySpend += nano
	e.monthSpend += nano
	sh.mu.Unlock()
}

// ---- cooldowns -----------------------------------------------------------------------------

// MemoryCooldowns keeps credential cooldowns in process.
type MemoryCooldowns struct {
	now func() time.Time
	mu  sync.RWMutex
	m   map[string]Cooldown
}

var _ Cooldowns = (*MemoryCooldowns)(nil)

// NewMemoryCooldowns returns in-process cooldowns (only WithClock applies).
func NewMemoryCooldowns(opts ...MemoryOption) *MemoryCooldowns {
	c := newMemoryConfig(opts)
	return &MemoryCooldowns{now: c.now, m: make(map[string]Cooldown)}
}

// Set implements Cooldowns.
func (c *MemoryCooldowns) Set(_ context.Context, id string, until time.Time, reason string) error {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m { // a few credentials: prune in passing
		if !v.Until.After(now) {
			delete(c.m, k)
		}
	}
	if until.After(now) {
		c.m[id] = Cooldown{Until: until, Reason: reason}
	} else {
		delete(c.m, id)
	}
	return nil
}

// Get implements Cooldowns.
func (c *MemoryCooldowns) Get(_ context.Context, ids []string) (map[string]time.Time, error) {
	now := c.now()
	out := make(map[string]time.Time)
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		if v, ok := c.m[id]; ok && v.Until.After(now) {
			out[id] = v.Until
		}
	}
	return out, nil
}

// All implements Cooldowns.
func (c *MemoryCooldowns) All(context.Context) (map[string]Cooldown, error) {
	now := c.now()
	out := make(map[string]Cooldown)
	c.mu.RLock()
	defer c.mu.RUnlock()
	for id, v := range c.m {
		if v.Until.After(now) {
			out[id] = v
		}
	}
	return out, nil
}
