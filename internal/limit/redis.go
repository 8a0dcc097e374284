package limit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Fail modes: what the Redis limiter does while Redis is unreachable.
const (
	FailOpen   = "open"   // serve on the local in-memory limiter (limits then hold per replica)
	FailClosed = "closed" // refuse with ReasonUnavailable (HTTP 503)
)

// RedisOptions configure NewRedis. Zero values take the defaults.
type RedisOptions struct {
	// Prefix of every key (default "genrouter:"); it must not contain '{' or '}'.
	Prefix string
	// FailMode is FailOpen (default) or FailClosed.
	FailMode string
	// ProbeInterval is how often an unreachable Redis is PINGed (default 2s). In between,
	// requests do not touch Redis at all.
	ProbeInterval time.Duration
	// Timeout bounds every Redis call (default 500ms); a call that fails or times out opens
	// the breaker. Give the client matching timeouts (see NewRedisClient).
	Timeout time.Duration
	// Lease is how long a parallel slot outlives a replica that died holding it (default 60s).
	// Live requests renew their slots every Lease/3.
	Lease time.Duration
	// Now replaces time.Now for all limit arithmetic (tests). Replicas use their own clocks:
	// keep them in sync (NTP); a replica whose clock is behind never drains a window backwards.
	Now func() time.Time
}

// Redis is the fleet-wide limiter: every check-and-count is one Lua script (EVALSHA, EVAL on
// NOSCRIPT), so a limit holds exactly across replicas, and every key expires on its own.
//
// While Redis is unreachable a breaker keeps requests away from it: FailOpen serves them on a
// local Memory limiter (seeded with the last spend Redis reported for each subject), FailClosed
// refuses them. A background loop PINGs Redis every ProbeInterval; when it answers, the spend
// recorded during the outage is written back exactly once (idempotent batches) and Redis is
// used again. It also implements the shared credential cooldowns (see Cooldowns).
type Redis struct {
	c       redis.UniversalClient
	o       RedisOptions
	now     func() time.Time
	local   *Memory
	cool    *MemoryCooldowns
	rid     string // this replica's random id: tickets and flush tokens are unique fleet-wide
	seq     atomic.Uint64
	periods periodCache

	down      atomic.Bool
	mu        sync.Mutex
	since     time.Time
	lastErr   string
	lastErrAt time.Time
	lost      atomic.Int64

	pend pending

	liveMu sync.Mutex
	live   map[*Ticket]struct{} // Redis tickets holding a parallel slot, for lease renewal

	dirtyMu sync.Mutex
	dirty   map[string]struct{} // cooldowns set locally while Redis was down

	kick      chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter on the given client (which stays the caller's to close). It does
// not fail when Redis is down: it starts degraded and probes. Call Close to stop its loop.
func NewRedis(client redis.UniversalClient, opts RedisOptions) (*Redis, error) {
	if client == nil {
		return nil, errors.New("limit: NewRedis needs a client")
	}
	switch opts.FailMode {
	case "":
		opts.FailMode = FailOpen
	case FailOpen, FailClosed:
	default:
		return nil, fmt.Errorf("limit: fail mode %q: want %q or %q", opts.FailMode, FailOpen, FailClosed)
	}
	if opts.Prefix == "" {
		opts.Prefix = "genrouter:"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("limit: redis prefix %q must not contain braces", opts.Prefix)
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 2 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	r := &Redis{
		c:       client,
		o:       opts,
		now:     opts.Now,
		local:   NewMemory(WithClock(opts.Now)),
		cool:    NewMemoryCooldowns(WithClock(opts.Now)),
		rid:     hex.EncodeToString(b[:]),
		live:    make(map[*Ticket]struct{}),
		dirty:   make(map[string]struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	if err := client.Ping(ctx).Err(); err != nil {
		r.fail(err)
	}
	cancel()
	go r.loop()
	return r, nil
}

// NewRedisClient connects to a redis:// (or rediss://) URL with the settings the limiter relies
// on; see RedisClientOptions.
func NewRedisClient(url string) (*redis.Client, error) {
	o, err := RedisClientOptions(url)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(o), nil
}

// RedisClientOptions parses a Redis URL and sets what the limiter needs of its client: no
// retries (a retried script could count a request or a cost twice), short dial, read and write
// timeouts that honour context deadlines (so a dead or hung Redis is noticed in about 0.5s, not
// 5s), and a single dial attempt per command.
func RedisClientOptions(url string) (*redis.Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		if _, ok := errors.AsType[*neturl.Error](err); ok {
			// A *url.Error quotes the whole URL, password included (and its
			// reason, a bad escape, quotes part of it): say what is wrong
			// without either.
			return nil, errors.New("limit: redis url: not a valid URL (percent-encode special characters in the user name and password)")
		}
		return nil, fmt.Errorf("limit: redis url: %w", err)
	}
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.ContextTimeoutEnabled = true
	if o.DialTimeout == 0 {
		o.DialTimeout = time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = time.Second
	}
	return o, nil
}

// ---- keys ----------------------------------------------------------------------------------

func (r *Redis) base(subject string) string { return r.o.Prefix + "{" + subject + "}:" }

func (r *Redis) keys(subject string, p *periods) []string {
	b := r.base(subject)
	return []string{b + "s", b + "p", b + "d:" + p.dayName, b + "m:" + p.monthName}
}

func (r *Redis) cooldownKey() string { return r.o.Prefix + "cooldowns" }

// ---- breaker -------------------------------------------------------------------------------

// call runs one script with the limiter's timeout, whatever the caller's context says: a
// request that ends must still be released.
func (r *Redis) call(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.Timeout)
	defer cancel()
	return s.Run(ctx, r.c, keys, args...)
}

// fail opens the breaker: until a probe succeeds, requests do not touch Redis.
func (r *Redis) fail(err error) {
	now := r.now()
	r.mu.Lock()
	r.lastErr, r.lastErrAt = err.Error(), now
	wasDown := r.down.Swap(true)
	if !wasDown {
		r.since = now
	}
	r.mu.Unlock()
	if !wasDown {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// mayHaveApplied reports whether a failed call could have reached Redis anyway (a timeout: the
// script may run late). Such an update is not retried, so nothing is ever counted twice.
func mayHaveApplied(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		var op *net.OpError
		return !(errors.As(err, &op) && op.Op == "dial")
	}
	return false
}

func (r *Redis) loop() {
	defer close(r.stopped)
	wait := func() time.Duration {
		if r.down.Load() {
			return r.o.ProbeInterval
		}
		return r.o.Lease / 3
	}
	timer := time.NewTimer(wait())
	defer timer.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
		case <-timer.C:
			if r.down.Load() {
				r.probe()
			} else {
				r.maintain()
			}
		}
		timer.Reset(wait())
	}
}

// probe PINGs Redis; if it answers, writes back what happened during the outage, then closes
// the breaker.
func (r *Redis) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
	err := r.c.Ping(ctx).Err()
	cancel()
	if err == nil {
		err = r.resync()
	}
	if err != nil {
		r.mu.Lock()
		r.lastErr, r.lastErrAt = err.Error(), r.now()
		r.mu.Unlock()
		return
	}
	r.down.Store(false)
	r.mu.Lock()
	r.since = time.Time{}
	r.mu.Unlock()
	// Done calls racing the switch may have queued a little more.
	if err := r.resync(); err != nil {
		r.fail(err)
	}
}

// resync writes back the spend and releases recorded during the outage (each batch exactly
// once) and the cooldowns set locally.
func (r *Redis) resync() error {
	if err := r.flush(); err != nil {
		return err
	}
	return r.pushCooldowns()
}

// maintain runs while Redis is up: renew the leases of slots held by live requests, and write
// back anything left queued.
func (r *Redis) maintain() {
	if err := r.resync(); err != nil {
		r.fail(err)
		return
	}
	r.liveMu.Lock()
	tickets := make([]*Ticket, 0, len(r.live))
	for t := range r.live {
		tickets = append(tickets, t)
	}
	r.liveMu.Unlock()
	if len(tickets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
	defer cancel()
	until := float64(r.now().UnixMilli() + r.o.Lease.Milliseconds())
	pipe := r.c.Pipeline()
	for _, t := range tickets {
		key := r.base(t.subject) + "p"
		pipe.ZAddXX(ctx, key, redis.Z{Score: until, Member: t.id}) // never resurrect a released slot
		pipe.PExpire(ctx, key, r.o.Lease+time.Second)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		r.fail(err)
	}
}

// Close stops the background loop, after a last attempt to write back queued spend.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.stopped
		if !r.down.Load() {
			_ = r.flush()
		}
	})
	return nil
}

// Health implements Limiter.
func (r *Redis) Health() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	down := r.down.Load()
	st := Status{
		Backend:      "redis",
		OK:           !down,
		FailMode:     r.o.FailMode,
		Degraded:     down,
		LastError:    r.lastErr,
		LastErrorAt:  r.lastErrAt,
		PendingSpend: r.pend.count(),
		LostUpdates:  r.lost.Load(),
	}
	if down {
		st.DegradedSince = r.since
	}
	return st
}

// ---- limiter -------------------------------------------------------------------------------

var reasons = [...]string{"", ReasonRPM, ReasonTPM, ReasonParallel, ReasonBudgetDaily, ReasonBudgetMonthly}

func headersFrom(l Limits, res []int64) Headers {
	var h Headers
	if l.RPM > 0 {
		h.LimitRequests, h.RemainingRequests = int64(l.RPM), res[2]
		h.ResetRequests = time.Duration(res[3]) * time.Millisecond
	}
	if l.TPM > 0 {
		h.LimitTokens, h.RemainingTokens = int64(l.TPM), res[4]
		h.ResetTokens = time.Duration(res[5]) * time.Millisecond
	}
	return h
}

func (r *Redis) run(ctx context.Context, subject string, l Limits, est int64, id, mode string) ([]int64, error) {
	now := r.now().UnixMilli()
	p := r.periods.at(now)
	res, err := r.call(ctx, acquireScript, r.keys(subject, p),
		now, l.RPM, l.TPM, l.MaxParallel, nanoUnits(l.BudgetDaily), nanoUnits(l.BudgetMonthly),
		est, id, now+r.o.Lease.Milliseconds(), p.dayEnd, p.monthEnd, mode).Int64Slice()
	if err == nil && (len(res) != 9 || res[0] < 0 || res[0] >= int64(len(reasons))) {
		err = fmt.Errorf("limit: unexpected answer from the acquire script: %v", res)
	}
	return res, err
}

// Acquire implements Limiter.
func (r *Redis) Acquire(ctx context.Context, subject string, l Limits, estTokens int64) (*Ticket, *Denial, error) {
	if l.Unlimited() {
		return unlimitedTicket, nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if r.down.Load() {
		return r.fallback(ctx, subject, l, estTokens)
	}
	est := clampEst(estTokens, l)
	id := ""
	if l.MaxParallel > 0 {
		id = r.rid + "-" + strconv.FormatUint(r.seq.Add(1), 36)
	}
	res, err := r.run(ctx, subject, l, est, id, "acquire")
	if err != nil {
		if id != "" && mayHaveApplied(err) {
			// The script may have run and taken a slot the request will
			// never give back there (it is served locally): release it when
			// Redis answers again, rather than let it block the key,
			// fleet-wide, for the whole lease.
			r.pend.add(r, subject, r.periods.at(r.now().UnixMilli()), 0, id)
		}
		r.fail(err)
		return r.fallback(ctx, subject, l, estTokens)
	}
	if l.tracksSpend() {
		r.local.setSpend(subject, res[6], res[7])
	}
	hdr := headersFrom(l, res)
	if res[0] != 0 {
		return nil, &Denial{Reason: reasons[res[0]], RetryAfter: time.Duration(res[1]) * time.Millisecond, Headers: hdr}, nil
	}
	t := &Ticket{owner: r, subject: subject, rpm: int64(l.RPM), tpm: int64(l.TPM), est: est,
		hdr: &hdr, id: id, spend: l.tracksSpend()}
	if id != "" {
		r.liveMu.Lock()
		r.live[t] = struct{}{}
		r.liveMu.Unlock()
	}
	return t, nil, nil
}

func (r *Redis) fallback(ctx context.Context, subject string, l Limits, est int64) (*Ticket, *Denial, error) {
	if r.o.FailMode == FailClosed {
		return nil, &Denial{Reason: ReasonUnavailable, RetryAfter: r.o.ProbeInterval}, nil
	}
	t, d, err := r.local.Acquire(ctx, subject, l, est)
	if t != nil && t != unlimitedTicket {
		t.owner, t.local = r, true
	}
	return t, d, err
}

func (r *Redis) release(ctx context.Context, t *Ticket, actual int64, cost float64) {
	nano := int64(0)
	if t.spend {
		nano = nanoUnits(cost)
	}
	if t.local {
		r.local.release(ctx, t, actual, cost) // the local spend is counted there
		if nano > 0 {
			r.done(ctx, t.subject, Limits{}, "", 0, nano)
		}
		return
	}
	if t.id != "" {
		r.liveMu.Lock()
		delete(r.live, t)
		r.liveMu.Unlock()
	}
	if nano > 0 {
		r.local.addSpend(t.subject, nano) // keep the fallback's view current
	}
	delta := int64(0)
	if actual >= 0 && t.tpm > 0 {
		delta = min(actual, 1<<40) - t.est
	}
	r.done(ctx, t.subject, Limits{RPM: int(t.rpm), TPM: int(t.tpm)}, t.id, delta, nano)
}

// done writes a request's end to Redis, or queues what must not be lost (the cost and the slot
// release; a token correction is moot after an outage) for the next resync.
func (r *Redis) done(ctx context.Context, subject string, l Limits, id string, delta, nano int64) {
	if delta == 0 && nano == 0 && id == "" {
		return
	}
	now := r.now().UnixMilli()
	p := r.periods.at(now)
	if r.down.Load() {
		r.pend.add(r, subject, p, nano, id)
		return
	}
	err := r.call(ctx, doneScript, r.keys(subject, p),
		now, l.RPM, l.TPM, id, delta, nano, p.dayExpire, p.monthExpir).Err()
	if err == nil {
		return
	}
	r.fail(err)
	if mayHaveApplied(err) {
		if nano > 0 {
			r.lost.Add(1)
		}
		nano = 0 // releasing the slot again is harmless; adding the cost again is not
	}
	r.pend.add(r, subject, p, nano, id)
}

// Headers implements Limiter.
func (r *Redis) Headers(ctx context.Context, subject string, l Limits) (Headers, error) {
	if l.RPM <= 0 && l.TPM <= 0 {
		return Headers{}, nil
	}
	if r.down.Load() {
		return r.local.Headers(ctx, subject, l)
	}
	res, err := r.run(ctx, subject, l, 0, "", "peek")
	if err != nil {
		r.fail(err)
		return r.local.Headers(ctx, subject, l)
	}
	return headersFrom(l, res), nil
}

// ---- spend recorded while Redis was down ---------------------------------------------------

type pending struct {
	mu      sync.Mutex
	acc     map[string]*pendingSubject // by subject, still growing
	batches []*flushBatch              // sealed, each with its own idempotency token
}

type pendingSubject struct {
	spend map[string][2]int64 // spend key -> {delta, expiry ms}
	zrem  []string
}

type flushBatch struct {
	keys []string
	args []any
}

func (q *pending) add(r *Redis, subject string, p *periods, nano int64, id string) {
	if nano == 0 && id == "" {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.acc == nil {
		q.acc = make(map[string]*pendingSubject)
	}
	ps := q.acc[subject]
	if ps == nil {
		ps = &pendingSubject{spend: make(map[string][2]int64)}
		q.acc[subject] = ps
	}
	if nano > 0 {
		k := r.keys(subject, p)
		d := ps.spend[k[2]]
		ps.spend[k[2]] = [2]int64{d[0] + nano, p.dayExpire}
		m := ps.spend[k[3]]
		ps.spend[k[3]] = [2]int64{m[0] + nano, p.monthExpir}
	}
	if id != "" {
		ps.zrem = append(ps.zrem, id)
	}
}

func (q *pending) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.acc) + len(q.batches)
}

// seal turns what accumulated into batches, each with a fresh token: a batch is retried as is
// until Redis confirms it, and its token makes a retry of an applied batch a no-op.
func (q *pending) seal(r *Redis) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for subject, ps := range q.acc {
		b := r.base(subject)
		token := b + "f:" + r.rid + "-" + strconv.FormatUint(r.seq.Add(1), 36)
		fb := &flushBatch{keys: []string{token, b + "p"}}
		fb.args = append(fb.args, int64(7*24*time.Hour/time.Millisecond), len(ps.zrem))
		for _, id := range ps.zrem {
			fb.args = append(fb.args, id)
		}
		for k, v := range ps.spend {
			fb.keys = append(fb.keys, k)
			fb.args = append(fb.args, v[0], v[1])
		}
		q.batches = append(q.batches, fb)
	}
	q.acc = nil
}

func (r *Redis) flush() error {
	r.pend.seal(r)
	for {
		r.pend.mu.Lock()
		if len(r.pend.batches) == 0 {
			r.pend.mu.Unlock()
			return nil
		}
		b := r.pend.batches[0]
		r.pend.mu.Unlock()
		if _, err := r.callOne(flushScript, b.keys, b.args...); err != nil {
			return err
		}
		r.pend.mu.Lock()
		r.pend.batches = r.pend.batches[1:]
		r.pend.mu.Unlock()
	}
}

func (r *Redis) callOne(s *redis.Script, keys []string, args ...any) (int64, error) {
	return r.call(context.Background(), s, keys, args...).Int64()
}

// ---- cooldowns -----------------------------------------------------------------------------

// Cooldowns returns the credential cooldowns shared through Redis (one hash, field = credential
// id), with the same breaker and a local mirror: while Redis is down they are kept locally, and
// those set meanwhile are written back when it returns.
func (r *Redis) Cooldowns() Cooldowns { return (*redisCooldowns)(r) }

type redisCooldowns Redis

func (c *redisCooldowns) r() *Redis { return (*Redis)(c) }

// Set implements Cooldowns. Redis trouble is not an error: the local mirror has it.
func (c *redisCooldowns) Set(ctx context.Context, id string, until time.Time, reason string) error {
	r := c.r()
	_ = r.cool.Set(ctx, id, until, reason)
	if !r.down.Load() {
		if err := r.setCooldown(ctx, id, until, reason); err == nil {
			return nil
		} else {
			r.fail(err)
		}
	}
	r.dirtyMu.Lock()
	r.dirty[id] = struct{}{}
	r.dirtyMu.Unlock()
	return nil
}

func (r *Redis) setCooldown(ctx context.Context, id string, until time.Time, reason string) error {
	u := int64(0)
	if !until.IsZero() {
		u = until.UnixMilli()
	}
	return r.call(ctx, cooldownScript, []string{r.cooldownKey()}, r.now().UnixMilli(), id, u, reason).Err()
}

func parseCooldown(v string) (Cooldown, bool) {
	ms, reason, _ := strings.Cut(v, "|")
	u, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return Cooldown{}, false
	}
	return Cooldown{Until: time.UnixMilli(u), Reason: reason}, true
}

// Get implements Cooldowns.
func (c *redisCooldowns) Get(ctx context.Context, ids []string) (map[string]time.Time, error) {
	r := c.r()
	if len(ids) == 0 {
		return map[string]time.Time{}, nil
	}
	if !r.down.Load() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.Timeout)
		vals, err := r.c.HMGet(cctx, r.cooldownKey(), ids...).Result()
		cancel()
		if err == nil {
			now := r.now()
			out := make(map[string]time.Time)
			r.cool.mu.Lock()
			for i, v := range vals {
				s, _ := v.(string)
				cd, ok := parseCooldown(s)
				if ok && cd.Until.After(now) {
					out[ids[i]] = cd.Until
					r.cool.m[ids[i]] = cd
				} else if !r.isDirty(ids[i]) {
					delete(r.cool.m, ids[i])
				}
			}
			r.cool.mu.Unlock()
			return out, nil
		}
		r.fail(err)
	}
	return r.cool.Get(ctx, ids)
}

func (r *Redis) isDirty(id string) bool {
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	_, ok := r.dirty[id]
	return ok
}

// All implements Cooldowns.
func (c *redisCooldowns) All(ctx context.Context) (map[string]Cooldown, error) {
	r := c.r()
	if !r.down.Load() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.Timeout)
		vals, err := r.c.HGetAll(cctx, r.cooldownKey()).Result()
		cancel()
		if err == nil {
			now := r.now()
			out := make(map[string]Cooldown)
			for id, v := range vals {
				if cd, ok := parseCooldown(v); ok && cd.Until.After(now) {
					out[id] = cd
				}
			}
			return out, nil
		}
		r.fail(err)
	}
	return r.cool.All(ctx)
}

// pushCooldowns writes the cooldowns set while Redis was down (or their clearing).
func (r *Redis) pushCooldowns() error {
	r.dirtyMu.Lock()
	ids := make([]string, 0, len(r.dirty))
	for id := range r.dirty {
		ids = append(ids, id)
	}
	r.dirtyMu.Unlock()
	for _, id := range ids {
		r.cool.mu.RLock()
		cd := r.cool.m[id]
		r.cool.mu.RUnlock()
		if err := r.setCooldown(context.Background(), id, cd.Until, cd.Reason); err != nil {
			return err
		}
		r.dirtyMu.Lock()
		delete(r.dirty, id)
		r.dirtyMu.Unlock()
	}
	return nil
}
