// Package server is the HTTP face of the gateway: it decodes and checks a
// request once, asks route for a combination, calls the vendor adapter and
// relays the answer with the client's model name put back.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/limit"
	"github.com/genrouter/genrouter/internal/media"
	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/price"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/stats"
	"github.com/genrouter/genrouter/internal/store"
	"github.com/genrouter/genrouter/internal/tracing"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/anthropic"
	"github.com/genrouter/genrouter/internal/vendors/gemini"
	"github.com/genrouter/genrouter/internal/vendors/mock"
	vopenai "github.com/genrouter/genrouter/internal/vendors/openai"
	"github.com/genrouter/genrouter/web"
)

// Options are the parts of a server that do not come from config.
type Options struct {
	Logger  *slog.Logger
	Version string
	// Adapter overrides how vendors are built (tests); nil uses the real ones.
	Adapter route.AdapterFunc
	// Reload re-reads the config from where it came; POST /admin/reload
	// calls it. Nil: reloading is not available.
	Reload func() error
	// MasterKey, when set, guards /admin endpoints and opens every /v1
	// endpoint; with it (or any virtual key) requests need a key.
	MasterKey string
	// Store holds virtual keys and answers usage queries; nil: none.
	Store store.Store
	// Usage receives one row per request, asynchronously; nil: none.
	Usage *store.Writer
	// Limiter enforces per-key and per-address limits; nil: in memory.
	Limiter limit.Limiter
	// OnKeyChange tells other replicas a key changed (its hash), so they
	// drop it from their caches at once; nil: this replica only.
	OnKeyChange func(hash string)
	// Cooldowns shares credential cooldowns across replicas (Redis); nil:
	// this replica only.
	Cooldowns limit.Cooldowns
	// Tracer makes spans per request and attempt; nil: no tracing.
	Tracer *tracing.Tracer
}

// Server serves the gateway's HTTP API. The config-derived state sits
// behind an atomic pointer so a reload swaps it without locks, and every
// request keeps the state it started with.
type Server struct {
	state    atomic.Pointer[state]
	log      *slog.Logger
	version  string
	started  time.Time
	opts     Options
	circuits *route.Health // outlive reloads
	buffers  sync.Pool     // request bodies
	events   sync.Pool     // *[]byte: streamed events being written
	// bodyTimeout bounds reading a request body (bodyReadTimeout; tests
	// shorten it).
	bodyTimeout time.Duration
	// inFlight counts requests being served, for max_in_flight.
	inFlight atomic.Int64
	keys     *keyCache
	limiter  limit.Limiter
	// seeded holds, per key id, whether its spend so far was given to an
	// in-process limiter: a zero time when done, else when it last failed.
	seeded  sync.Map
	metrics *metrics.Recorder
	stats   *stats.Stats
	tracer  *tracing.Tracer

	mu       sync.Mutex // serialises Load
	media    *media.Processor
	mediaCfg string // the config media was built from, to keep its cache across reloads
	adapters map[string]vendors.Adapter
	probes   context.CancelFunc
	stopSync context.CancelFunc
	syncing  sync.WaitGroup // the cooldown sync; apart from probes, which reloads restart
	probing  sync.WaitGroup

	// stopping ends when EndStreams is called (shutdown after its grace):
	// every stream in flight, and any that starts later, then ends with an
	// in-band error instead of being cut off without a word.
	stopping    context.Context
	stopStreams context.CancelCauseFunc
}

// errShuttingDown is the cause a stream is ended with by EndStreams.
var errShuttingDown = errors.New("the gateway is shutting down")

// EndStreams ends every stream in flight (and any that starts later) with
// an OpenAI- or Anthropic-shaped error event, so that a client whose stream
// is cut by shutdown is told so in-band: it never looks complete, nor ends
// without a word. The handlers then return and their usage is counted.
// serve calls it when server.shutdown_grace has run out.
func (s *Server) EndStreams() { s.stopStreams(errShuttingDown) }

type state struct {
	cfg     *config.Config
	router  *route.Router
	media   *media.Processor
	targets map[string]media.Target // per vendor name
	prices  *price.Table
	trusted []*net.IPNet // proxies allowed to set X-Forwarded-For
}

// New builds a server from a validated config. Close stops its background
// work (health probes).
func New(cfg *config.Config, o Options) (*Server, error) {
	s := &Server{log: o.Logger, version: o.Version, started: time.Now(), opts: o,
		circuits: route.NewHealth(), adapters: map[string]vendors.Adapter{},
		keys: newKeyCache(o.Store), limiter: o.Limiter, metrics: metrics.New(nil), stats: stats.New(), tracer: o.Tracer,
		bodyTimeout: bodyReadTimeout}
	s.stopping, s.stopStreams = context.WithCancelCause(context.Background())
	circuits := func() []metrics.CircuitState {
		return metrics.PoolCircuits(s.state.Load().router.Pool.All(), time.Now())
	}
	s.metrics.SetCircuitSource(circuits)
	s.stats.SetCredentialSource(func() []stats.CredentialHealth { return stats.CredentialsFrom(circuits()) })
	if s.limiter == nil {
		s.limiter = limit.NewMemory()
	}
	if o.Cooldowns != nil {
		s.circuits.OnCooldown = func(id string, until time.Time, reason string) {
			// Off the request path: Redis may be slow or away.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				o.Cooldowns.Set(ctx, id, until, reason)
			}()
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.Load(cfg); err != nil {
		return nil, err
	}
	if o.Cooldowns != nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopSync = cancel
		s.syncing.Add(1)
		go s.syncCooldowns(ctx)
	}
	return s, nil
}

// syncCooldowns applies the cooldowns other replicas decided, every second.
func (s *Server) syncCooldowns(ctx context.Context) {
	defer s.syncing.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gctx, cancel := context.WithTimeout(ctx, time.Second)
		all, err := s.opts.Cooldowns.All(gctx)
		cancel()
		if err != nil {
			continue
		}
		cfg := &s.state.Load().cfg.Routing.Circuit
		for id, cd := range all {
			s.circuits.ApplyCooldown(cfg, id, cd.Until, cd.Reason)
		}
	}
}

// Load swaps in a new config atomically; requests in flight finish on the
// old one, and credentials that did not change keep their circuit state.
func (s *Server) Load(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	build := s.opts.Adapter
	used := map[string]vendors.Adapter{}
	if build == nil {
		real := NewAdapter(s.version, cfg.Routing.Timeouts.Connect)
		build = func(v config.Vendor) (vendors.Adapter, error) {
			// Keep an unchanged vendor's adapter, and with it its warm
			// connections.
			key := fingerprint(v, cfg.Routing.Timeouts.Connect)
			if a, ok := s.adapters[key]; ok {
				used[key] = a
				return a, nil
			}
			a, err := real(v)
			if err == nil {
				used[key] = a
			}
			return a, err
		}
	}
	// Everything that can refuse the config runs before the pool, whose
	// construction retires the circuits of credentials that went away.
	proc, err := s.mediaFor(cfg.Media)
	if err != nil {
		return err
	}
	pool, err := route.NewPool(cfg, build, s.circuits)
	if err != nil {
		return err
	}
	router, err := route.NewRouter(pool, cfg.Routing, s.circuits)
	if err != nil {
		return err
	}

	targets := map[string]media.Target{}
	for _, v := range cfg.Vendors {
		targets[v.Name] = mediaTarget(v)
	}
	prices := map[string]price.Price{}
	for m, p := range cfg.Fleet.Prices {
		prices[m] = price.Price{Input: p.Input, Output: p.Output, Cached: p.Cached}
	}
	var trusted []*net.IPNet
	for _, p := range cfg.Fleet.TrustedProxies {
		if !strings.Contains(p, "/") {
			if strings.Contains(p, ":") {
				p += "/128"
			} else {
				p += "/32"
			}
		}
		if _, n, err := net.ParseCIDR(p); err == nil {
			trusted = append(trusted, n)
		}
	}
	s.state.Store(&state{cfg: cfg, router: router, media: proc, targets: targets, prices: price.New(prices), trusted: trusted})
	for key, a := range s.adapters {
		if _, ok := used[key]; !ok {
			if c, ok := a.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
		}
	}
	if s.opts.Adapter == nil {
		s.adapters = used
	}
	s.metrics.SetVendors(metrics.VendorsFromPool(pool.All()))
	s.startProbes(router, cfg)
	return nil
}

// Close stops background work. It does not touch the HTTP server.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probes != nil {
		s.probes()
		s.probes = nil
	}
	if s.stopSync != nil {
		s.stopSync()
		s.stopSync = nil
	}
	s.probing.Wait()
	s.syncing.Wait()
}

func fingerprint(v config.Vendor, connect time.Duration) string {
	h := fmt.Sprintf("%s|%s|%s|%s|%s|%s|%v|%v|%v", v.Type, v.Name, v.BaseURL, v.API, v.APIVersion, v.Preset, v.Deployments, connect, v.AsksStreamUsage())
	keys := make([]string, 0, len(v.Headers))
	for k := range v.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h += "|" + k + "=" + v.Headers[k]
	}
	return h
}

// NewAdapter returns the function that builds the real adapter per vendor type.
func NewAdapter(version string, connect time.Duration) route.AdapterFunc {
	ua := "genrouter/" + version
	return func(v config.Vendor) (vendors.Adapter, error) {
		client := &http.Client{Transport: vendors.NewTransportWith(connect)}
		switch v.Type {
		case config.TypeOpenAI, config.TypeOpenAICompatible:
			return vopenai.New(vopenai.Options{BaseURL: v.BaseURL, UserAgent: ua, Client: client, Headers: v.Headers,
				StreamUsage: v.AsksStreamUsage(), LocalBase64: v.Type == config.TypeOpenAICompatible}), nil
		case config.TypeGemini:
			if v.API == config.APINative {
				return gemini.New(gemini.Options{BaseURL: v.BaseURL, UserAgent: ua, Client: client, Headers: v.Headers}), nil
			}
			return vopenai.New(vopenai.Options{BaseURL: v.BaseURL, Dialect: vopenai.DialectGemini, UserAgent: ua, Client: client, Headers: v.Headers}), nil
		case config.TypeAzure:
			return vopenai.New(vopenai.Options{BaseURL: v.BaseURL, Dialect: vopenai.DialectAzure, UserAgent: ua, Client: client,
				Headers: v.Headers, APIVersion: v.APIVersion, Deployments: v.Deployments, StreamUsage: v.AsksStreamUsage()}), nil
		case config.TypeAnthropic:
			return anthropic.New(anthropic.Options{BaseURL: v.BaseURL, Version: v.APIVersion, UserAgent: ua, Client: client, Headers: v.Headers}), nil
		case config.TypeMock:
			return mock.New(), nil
		}
		return nil, fmt.Errorf("vendor type %q is not supported yet", v.Type)
	}
}

// Handler returns the gateway's routes wrapped in its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	chat := only(http.MethodPost, s.bounded(s.access(s.chat, writeError)))
	for _, prefix := range []string{"/v1", ""} { // some clients drop the /v1
		mux.Handle(prefix+"/chat/completions", chat)
		mux.Handle(prefix+"/embeddings", only(http.MethodPost, s.bounded(s.access(s.embeddings, writeError))))
		mux.Handle(prefix+"/images/text", only(http.MethodPost, s.bounded(s.access(s.imagesText, writeError))))
		mux.Handle(prefix+"/messages/count_tokens", onlyAs(http.MethodPost, s.access(s.countTokens, writeAnthropicError), writeAnthropicError))
		mux.Handle(prefix+"/messages", onlyAs(http.MethodPost,
			s.boundedAs(s.access(s.messages, writeAnthropicError), writeAnthropicError), writeAnthropicError))
		mux.Handle(prefix+"/models", only(http.MethodGet, s.access(s.models, writeError)))
		mux.Handle(prefix+"/models/{id...}", only(http.MethodGet, s.access(s.model, writeError)))
	}
	mux.Handle("/health", only(http.MethodGet, s.health))
	mux.Handle("/health/live", only(http.MethodGet, s.live))
	mux.Handle("/health/ready", only(http.MethodGet, s.ready))
	mux.Handle("/admin/reload", only(http.MethodPost, s.admin(s.reload)))
	mux.Handle("/metrics", only(http.MethodGet, s.metrics.Handler().ServeHTTP))
	mux.Handle("/admin/stats", only(http.MethodGet, s.admin(s.stats.Handler().ServeHTTP)))
	mux.Handle("/admin/stats/stream", only(http.MethodGet, s.admin(s.stats.SSEHandler(time.Second).ServeHTTP)))
	mux.Handle("/ui", only(http.MethodGet, web.Handler().ServeHTTP))
	mux.Handle("/ui/", only(http.MethodGet, web.Handler().ServeHTTP))
	mux.Handle("/admin/keys", s.admin(s.adminKeys))
	mux.Handle("/admin/keys/{id}", s.admin(s.adminKey))
	mux.Handle("/admin/keys/{id}/rotate", only(http.MethodPost, s.admin(s.adminRotate)))
	mux.Handle("/admin/usage", only(http.MethodGet, s.admin(s.adminUsage)))
	mux.Handle("/admin/requests", only(http.MethodGet, s.admin(s.adminRequests)))
	mux.Handle("/debug/pprof/", s.admin(pprof.Index))
	mux.Handle("/debug/pprof/cmdline", s.admin(pprof.Cmdline))
	mux.Handle("/debug/pprof/profile", s.admin(pprof.Profile))
	mux.Handle("/debug/pprof/symbol", s.admin(pprof.Symbol))
	mux.Handle("/debug/pprof/trace", s.admin(pprof.Trace))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "not_found", "", "unknown path %s %s", r.Method, r.URL.Path))
	})
	// Nearly every request is a chat completion at its canonical path: it
	// skips the mux's pattern matching (about 2% of a request's CPU).
	// Anything else, including paths the mux would clean or redirect,
	// goes through the mux.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" {
			chat.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return s.recoverPanics(s.cors(root))
}

// bounded sheds load beyond server.max_in_flight with an immediate 503,
// so memory stays bounded under overload instead of queueing without end.
func (s *Server) bounded(h http.HandlerFunc) http.HandlerFunc { return s.boundedAs(h, writeError) }

// boundedAs is bounded answering in a given error shape.
func (s *Server) boundedAs(h http.HandlerFunc, writeError func(http.ResponseWriter, *openai.Error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := s.state.Load().cfg.Server.MaxInFlight
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		s.metrics.InFlight(1)
		s.stats.InFlight(1)
		defer s.metrics.InFlight(-1)
		defer s.stats.InFlight(-1)
		if limit > 0 && n > int64(limit) {
			w.Header().Set("Retry-After", "1")
			// An overloaded gateway keeps no idle connection for the
			// client: memory stays what max_in_flight implies.
			w.Header().Set("Connection", "close")
			writeError(w, errorf(http.StatusServiceUnavailable, "server_overloaded", "",
				"the gateway is at its limit of %d requests in flight; retry shortly", limit))
			return
		}
		h(w, r)
	}
}

// only answers other methods with an OpenAI-shaped 405.
func only(method string, h http.HandlerFunc) http.Handler { return onlyAs(method, h, writeError) }

// onlyAs is only answering in a given error shape (Anthropic's on /v1/messages).
func onlyAs(method string, h http.HandlerFunc, writeError func(http.ResponseWriter, *openai.Error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "",
				"method %s is not allowed on %s; use %s", r.Method, r.URL.Path, method))
			return
		}
		h(w, r)
	})
}

// recoverPanics turns a panic into a 500 in OpenAI's shape (when nothing
// was written yet) and a log line, instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &trackWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				if rw.wrote {
					// Mid-answer: cut the connection so the client sees a
					// broken response, never a clean end of a cut stream.
					panic(http.ErrAbortHandler)
				}
				writeError(w, errorf(http.StatusInternalServerError, "internal_error", "", "internal error"))
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// trackWriter remembers whether the response has started.
type trackWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackWriter) WriteHeader(code int) { t.wrote = true; t.ResponseWriter.WriteHeader(code) }
func (t *trackWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}
func (t *trackWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
func (t *trackWriter) Flush() {
	t.wrote = true
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "internal_error", "", "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
