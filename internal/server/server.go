// Package server is the HTTP face of the gateway: it decodes and checks a
// request once, asks route for a combination, calls the vendor adapter and
// relays the answer with the client's model name put back.
package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/mock"
	vopenai "github.com/genrouter/genrouter/internal/vendors/openai"
)

// Options are the parts of a server that do not come from config.
type Options struct {
	Logger  *slog.Logger
	Version string
	// Adapter overrides how vendors are built (tests); nil uses the real ones.
	Adapter route.AdapterFunc
}

// Server serves the gateway's HTTP API. The config-derived state sits
// behind an atomic pointer so a reload swaps it without locks, and every
// request keeps the state it started with.
type Server struct {
	state   atomic.Pointer[state]
	log     *slog.Logger
	version string
	started time.Time
	adapter route.AdapterFunc
	buffers sync.Pool // request bodies
}

type state struct {
	cfg      *config.Config
	pool     *route.Pool
	selector route.Selector
}

// New builds a server from a validated config.
func New(cfg *config.Config, o Options) (*Server, error) {
	s := &Server{log: o.Logger, version: o.Version, started: time.Now(), adapter: o.Adapter}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.adapter == nil {
		s.adapter = NewAdapter(o.Version)
	}
	if err := s.Load(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Load swaps in a new config; requests in flight finish on the old one.
func (s *Server) Load(cfg *config.Config) error {
	pool, err := route.NewPool(cfg, s.adapter)
	if err != nil {
		return err
	}
	sel, err := route.NewSelector(cfg.Routing.Strategy)
	if err != nil {
		return err
	}
	s.state.Store(&state{cfg: cfg, pool: pool, selector: sel})
	return nil
}

// NewAdapter returns the function that builds the real adapter per vendor type.
func NewAdapter(version string) route.AdapterFunc {
	ua := "genrouter/" + version
	return func(v config.Vendor) (vendors.Adapter, error) {
		switch v.Type {
		case config.TypeOpenAI:
			return vopenai.New(vopenai.Options{BaseURL: v.BaseURL, UserAgent: ua}), nil
		case config.TypeGemini:
			return vopenai.New(vopenai.Options{BaseURL: v.BaseURL, Dialect: vopenai.DialectGemini, UserAgent: ua}), nil
		case config.TypeMock:
			return mock.New(), nil
		}
		return nil, fmt.Errorf("unsupported vendor type %q", v.Type)
	}
}

// Handler returns the gateway's routes wrapped in its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, prefix := range []string{"/v1", ""} { // some clients drop the /v1
		mux.Handle(prefix+"/chat/completions", only(http.MethodPost, s.chat))
		mux.Handle(prefix+"/embeddings", only(http.MethodPost, s.embeddings))
		mux.Handle(prefix+"/models", only(http.MethodGet, s.models))
		mux.Handle(prefix+"/models/{id...}", only(http.MethodGet, s.model))
	}
	mux.Handle("/health", only(http.MethodGet, s.health))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "not_found", "", "unknown path %s %s", r.Method, r.URL.Path))
	})
	return s.recoverPanics(mux)
}

// only answers other methods with an OpenAI-shaped 405.
func only(method string, h http.HandlerFunc) http.Handler {
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
				if !rw.wrote {
					writeError(w, errorf(http.StatusInternalServerError, "internal_error", "", "internal error"))
				}
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
