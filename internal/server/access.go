package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/genrouter/genrouter/internal/limit"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/store"
	"go.opentelemetry.io/otel/trace"
)

// caller is who sent a request, as authentication found: the master key,
// a virtual key, or nobody (an open gateway).
type caller struct {
	master bool
	key    *store.Key // a virtual key; nil otherwise
	ip     string
	ticket *limit.Ticket
	span   trace.Span // the request's span when tracing is on
}

// callerHandler is a handler that is told who called.
type callerHandler func(http.ResponseWriter, *http.Request, *caller)

// apiKey reads the key from wherever the SDKs put it: OpenAI's bearer
// token, Anthropic's x-api-key, Azure's api-key.
func apiKey(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		if k, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		return ""
	}
	if v := r.Header.Get("X-Api-Key"); v != "" {
		return v
	}
	return r.Header.Get("Api-Key")
}

// access authenticates a /v1 request and takes its rate-limit ticket. With
// a master key or any virtual key configured a key is required; without,
// the gateway is open and per-address limits apply. The caller is passed
// to the handler; the handler's finish releases the ticket.
func (s *Server) access(h callerHandler, writeErr func(http.ResponseWriter, *openai.Error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Refusals are requests too: they get their log line and usage row.
		refuse := func(c *caller, e *openai.Error) {
			x := &exchange{id: requestID(r), start: time.Now(), caller: c, status: e.Status, errCode: code(e)}
			w.Header().Set("X-Request-Id", x.id)
			writeErr(w, e)
			s.logExchange(r, x)
		}
		var span trace.Span
		if s.tracer != nil {
			var ctx context.Context
			ctx, span = s.tracer.StartRequest(r.Context(), r.Header, r.Method, r.URL.Path, r.Header.Get("X-Request-Id"))
			r = r.WithContext(ctx)
		}
		c, e := s.authenticate(r)
		if e != nil {
			refuse(&caller{span: span}, e)
			return
		}
		c.span = span
		subject, lim := s.limitsFor(c)
		// Only work is limited: listing models takes no ticket (it would
		// have no end of request to give it back at).
		if r.Method == http.MethodPost && subject != "" && !lim.Unlimited() && s.limiter != nil {
			if c.key != nil && (lim.BudgetDaily > 0 || lim.BudgetMonthly > 0) {
				s.seedSpend(r.Context(), subject, c.key.ID)
			}
			est := max(r.ContentLength, 0)/4 + 256 // ~4 bytes a token, plus some answer
			t, denial, err := s.limiter.Acquire(r.Context(), subject, lim, est)
			switch {
			case err != nil:
				return // the client is gone
			case denial != nil:
				denial.SetHeaders(w.Header())
				e := openai.NewError(denial.Status(), openai.TypeForStatus(denial.Status()), denial.Code(), "", denial.Message())
				e.RetryAfter = w.Header().Get("Retry-After")
				refuse(c, e)
				return
			}
			c.ticket = t
			t.Headers().Set(w.Header())
		}
		h(w, r, c)
	}
}

// seedSpend tells an in-process limiter what a budgeted key spent this UTC
// day and month before this process started counting for it (the usage
// log has it): else every restart would give every key its budgets again.
// It runs once per key and process; a database that does not answer within
// a second is asked again with a later request, at most every 10 seconds.
func (s *Server) seedSpend(ctx context.Context, subject, keyID string) {
	seeder, ok := s.limiter.(limit.SpendSeeder)
	if !ok || s.keys.store == nil {
		return
	}
	now := time.Now().UTC()
	if v, ok := s.seeded.Load(keyID); ok {
		if failedAt := v.(time.Time); failedAt.IsZero() || now.Sub(failedAt) < 10*time.Second {
			return
		}
	}
	y, m, d := now.Date()
	dayStart, monthStart := time.Date(y, m, d, 0, 0, 0, 0, time.UTC), time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	month, err := s.keys.store.SpendSince(ctx, keyID, monthStart)
	day := month
	if err == nil && !dayStart.Equal(monthStart) {
		day, err = s.keys.store.SpendSince(ctx, keyID, dayStart)
	}
	if err != nil {
		s.seeded.Store(keyID, now)
		return
	}
	seeder.SeedSpend(subject, now, day, month)
	s.seeded.Store(keyID, time.Time{})
}

func (s *Server) authenticate(r *http.Request) (*caller, *openai.Error) {
	c := &caller{ip: s.clientIP(r)}
	token := apiKey(r)
	master := s.opts.MasterKey
	if token == "" {
		if master != "" || s.keys.exist(r.Context()) {
			return nil, errorf(http.StatusUnauthorized, "missing_api_key", "",
				"you didn't provide an API key: send it as Authorization: Bearer <key> (or x-api-key / api-key)")
		}
		return c, nil // an open gateway
	}
	if master != "" && subtle.ConstantTimeCompare([]byte(token), []byte(master)) == 1 {
		c.master = true
		return c, nil
	}
	if s.keys.store == nil {
		if master == "" {
			return c, nil // open gateway: a client's stray key changes nothing
		}
		return nil, invalidKey()
	}
	k, err := s.keys.lookup(r.Context(), store.HashSecret(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		if master == "" && !s.keys.exist(r.Context()) {
			return c, nil
		}
		return nil, invalidKey()
	case err != nil:
		return nil, errorf(http.StatusServiceUnavailable, "auth_unavailable", "", "the key store is unavailable; retry shortly")
	case k.Revoked():
		return nil, errorf(http.StatusUnauthorized, "key_revoked", "", "this API key has been revoked")
	case k.Expired(time.Now()):
		return nil, errorf(http.StatusUnauthorized, "key_expired", "", "this API key has expired")
	}
	c.key = &k
	return c, nil
}

func invalidKey() *openai.Error {
	return errorf(http.StatusUnauthorized, "invalid_api_key", "", "incorrect API key provided")
}

// limitsFor picks the limiter subject and limits of a caller.
func (s *Server) limitsFor(c *caller) (string, limit.Limits) {
	switch {
	case c.master:
		return "", limit.Limits{}
	case c.key != nil:
		k := c.key
		return "key:" + k.ID, limit.Limits{RPM: k.RPM, TPM: k.TPM, MaxParallel: k.MaxParallel,
			BudgetDaily: k.BudgetDaily, BudgetMonthly: k.BudgetMonthly}
	}
	l := s.state.Load().cfg.Fleet.IPLimits
	return "ip:" + c.ip, limit.Limits{RPM: l.RPM, TPM: l.TPM, MaxParallel: l.MaxParallel}
}

// allowed checks a virtual key's model and vendor lists. Vendors are
// matched by name or type on either side, as routing matches them.
func (c *caller) allowed(pool *route.Pool, model, vendor string) *openai.Error {
	if c == nil || c.key == nil {
		return nil
	}
	if len(c.key.AllowedModels) > 0 && !slices.Contains(c.key.AllowedModels, model) {
		return errorf(http.StatusForbidden, "model_not_allowed", "model", "this API key may not use model %q", model)
	}
	if vendor != "" && len(c.key.AllowedVendors) > 0 && !pool.VendorAllowed(vendor, c.key.AllowedVendors) {
		return errorf(http.StatusForbidden, "vendor_not_allowed", "vendor", "this API key may not use vendor %q", vendor)
	}
	return nil
}

// vendors is the key's vendor allow-list, for routing (nil: all).
func (c *caller) vendors() []string {
	if c == nil || c.key == nil {
		return nil
	}
	return c.key.AllowedVendors
}

// models is the key's model allow-list, for routing's fallbacks (nil: all).
func (c *caller) models() []string {
	if c == nil || c.key == nil {
		return nil
	}
	return c.key.AllowedModels
}

// clientIP is the remote address, or X-Forwarded-For's last untrusted hop
// when the connection comes from a trusted proxy.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	trusted := s.state.Load().trusted
	if len(trusted) == 0 || !inNets(trusted, host) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if !inNets(trusted, h) {
			return h
		}
		host = h
	}
	return host
}

func inNets(nets []*net.IPNet, addr string) bool {
	ip := net.ParseIP(addr)
	for _, n := range nets {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// keyCache keeps virtual keys looked up by hash for a moment, so a key is
// checked against the database about once a second, not per request. A
// revocation drops the entry here at once and, through Redis, on every
// other replica.
type keyCache struct {
	store store.Store
	ttl   time.Duration

	mu      sync.Mutex
	entries map[string]cachedKey
	// gen counts drops: a lookup whose database read began before a drop
	// does not cache what it read, which may be the key as it was before
	// a revocation, rotation or change.
	gen   uint64
	any   bool
	anyAt time.Time
}

type cachedKey struct {
	key store.Key
	err error
	at  time.Time
}

func newKeyCache(st store.Store) *keyCache {
	return &keyCache{store: st, ttl: time.Second, entries: map[string]cachedKey{}}
}

func (kc *keyCache) lookup(ctx context.Context, hash string) (store.Key, error) {
	now := time.Now()
	kc.mu.Lock()
	e, ok := kc.entries[hash]
	gen := kc.gen
	kc.mu.Unlock()
	if ok && now.Sub(e.at) < kc.ttl {
		return e.key, e.err
	}
	k, err := kc.store.KeyByHash(ctx, hash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return k, err // a database hiccup is not cached
	}
	kc.mu.Lock()
	if kc.gen != gen {
		// Dropped while we read: what we read may predate the change.
		kc.mu.Unlock()
		return k, err
	}
	if len(kc.entries) > 100_000 {
		clear(kc.entries) // bounded: a flood of random keys cannot grow it
	}
	kc.entries[hash] = cachedKey{key: k, err: err, at: now}
	kc.mu.Unlock()
	return k, err
}

// drop forgets a key at once (revoked, rotated or changed).
func (kc *keyCache) drop(hash string) {
	kc.mu.Lock()
	delete(kc.entries, hash)
	kc.gen++
	kc.mu.Unlock()
}

// exist reports whether any usable virtual key exists; then every request
// needs one. Refreshed every few seconds.
func (kc *keyCache) exist(ctx context.Context) bool {
	if kc == nil || kc.store == nil {
		return false
	}
	kc.mu.Lock()
	if time.Since(kc.anyAt) < 5*time.Second {
		v := kc.any
		kc.mu.Unlock()
		return v
	}
	kc.mu.Unlock()
	keys, err := kc.store.ListKeys(ctx)
	any := false
	now := time.Now()
	for _, k := range keys {
		if k.Usable(now) {
			any = true
			break
		}
	}
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if err != nil {
		return kc.any // keep the last answer while the database is away
	}
	kc.any, kc.anyAt = any, now
	return any
}

// created notes a new key without waiting for the refresh.
func (kc *keyCache) created() {
	kc.mu.Lock()
	kc.any, kc.anyAt = true, time.Now()
	kc.mu.Unlock()
}

func formatCost(c float64) string { return strconv.FormatFloat(c, 'f', 8, 64) }
