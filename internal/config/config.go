// Package config is the only package that knows file formats: the YAML (or
// JSON) config, the legacy credentials.json/models.json pair, and the
// environment. Everything it returns is validated and has defaults applied.
package config

import (
	"net/url"
	"strings"
	"time"
)

// Vendor types understood by the gateway.
const (
	TypeOpenAI           = "openai"
	TypeGemini           = "gemini"
	TypeAnthropic        = "anthropic"
	TypeAzure            = "azure"
	TypeOpenAICompatible = "openai-compatible"
	TypeMock             = "mock"
)

// Gemini wire APIs (Vendor.API).
const (
	APIOpenAI = "openai" // Gemini's OpenAI-compatible endpoint, the default
	APINative = "native" // generateContent / streamGenerateContent
)

// Routing strategies and unknown-model policies.
const (
	StrategyEven         = "even"
	StrategyWeighted     = "weighted"
	StrategyRoundRobin   = "round_robin"
	StrategyLeastBusy    = "least_busy"
	StrategyLeastLatency = "least_latency"
	StrategyPriority     = "priority"
	UnknownModelsPool    = "pool"
	UnknownModelsReject  = "reject"
)

// Strategies lists the selection strategies.
var Strategies = []string{StrategyEven, StrategyWeighted, StrategyRoundRobin, StrategyLeastBusy, StrategyLeastLatency, StrategyPriority}

// Config is the whole, validated gateway configuration.
type Config struct {
	// Source names where the config came from (file paths, "environment"),
	// for log lines and error messages.
	Source  string
	Listen  string
	Vendors []Vendor
	Routing Routing
	Server  Server
	Media   Media
	Fleet   Fleet
	// Warnings are non-fatal problems found while loading (legacy files
	// referencing vendors without keys, ...); the CLI logs them.
	Warnings []string
}

// Vendor is one upstream: a wire protocol at a base URL with its keys and models.
type Vendor struct {
	Name        string // unique; what ?vendor= matches
	Type        string // TypeOpenAI, TypeGemini, TypeMock
	BaseURL     string // no trailing slash
	Credentials []Credential
	Models      []Model
	// API picks Gemini's wire API: APIOpenAI ("" means the same) or APINative.
	API string
	// APIVersion is Azure's api-version query parameter or Anthropic's
	// anthropic-version header; defaulted per type.
	APIVersion string
	// Deployments maps a model name to its Azure deployment name
	// (default: the model name itself).
	Deployments map[string]string
	// Preset names a known OpenAI-compatible server (ollama, groq, ...),
	// which supplies its base URL and whether it needs a key.
	Preset string
	// Headers are extra headers sent upstream on every request; values
	// may hold secrets and are never shown.
	Headers map[string]string
	// Priority is the vendor's tier for the priority strategy (1 is
	// tried first); credentials may override it. Default 1.
	Priority int
	// HealthCheck, when its interval is set, probes each credential.
	HealthCheck HealthCheck
	// InlineImages (auto, always, never) says when image URLs are
	// downloaded and sent as data: URLs; auto does it where the vendor
	// cannot fetch URLs itself.
	InlineImages string
	// Documents (extract, passthrough) says whether files become text.
	Documents string
	// StreamUsage (auto, always, never) says whether a stream whose client
	// did not ask for usage asks the vendor for it anyway
	// (stream_options.include_usage), so that its tokens are counted; the
	// client still gets no usage. auto ("" too) does it for OpenAI's own
	// API and for Azure from api-version 2024-08-01-preview, which are
	// known to accept it.
	StreamUsage string
}

// StreamUsage values.
const (
	StreamUsageAuto   = "auto"
	StreamUsageAlways = "always"
	StreamUsageNever  = "never"
)

// AsksStreamUsage resolves StreamUsage for an OpenAI-format vendor.
func (v *Vendor) AsksStreamUsage() bool {
	switch v.StreamUsage {
	case StreamUsageAlways:
		return true
	case StreamUsageNever:
		return false
	}
	switch v.Type {
	case TypeAzure:
		// Azure refuses stream_options ("Unknown parameter") before
		// api-version 2024-08-01-preview; dated versions compare as text.
		av := v.APIVersion
		return av == "" || av[0] < '0' || av[0] > '9' || av >= "2024-08-01"
	case TypeOpenAI:
		u, err := url.Parse(v.BaseURL)
		return err == nil && strings.EqualFold(u.Hostname(), "api.openai.com")
	}
	return false
}

// HealthCheck configures active probes of a vendor's credentials.
type HealthCheck struct {
	Interval time.Duration // 0: no probes
	Timeout  time.Duration // default 10s
}

// Credential is one API key of a vendor.
type Credential struct {
	Key    string
	Name   string // defaults to the credential's index in its vendor ("0", "1", ...)
	Weight int    // defaults to 1
	// Priority overrides the vendor's tier for this credential (0: inherit).
	Priority int
	// Local limits, enforced before sending so the vendor never refuses
	// for them; 0 means no limit.
	RPM, TPM, MaxConcurrency int
}

// Model is a model a vendor serves, with what it can do.
type Model struct {
	Name      string
	Tools     bool
	Images    bool
	Streaming bool
	Video     bool // accepts video input (the legacy support_video flag)
	Embedding bool // an embeddings model (serves /v1/embeddings, not chat)
	Weight    int  // for the weighted strategy; defaults to 1
	Audio     bool // takes input_audio parts
}

// Routing says how a combination is chosen.
type Routing struct {
	Strategy      string // one of Strategies
	UnknownModels string // UnknownModelsPool or UnknownModelsReject
	// PerModel picks a strategy for requests asking for a given model.
	PerModel map[string]string
	// Attempts bounds the tries per model (the first one included).
	Attempts int
	// BackoffBase and BackoffCap shape the exponential, fully jittered
	// pause between attempts.
	BackoffBase, BackoffCap time.Duration
	// Fallbacks lists, per model, the models to try once its own
	// combinations are exhausted.
	Fallbacks map[string][]string
	Circuit   Circuit
	Timeouts  Timeouts
}

// Circuit configures the breakers kept per credential and per combination.
type Circuit struct {
	Failures          int           // consecutive failures that open it (default 5)
	FailureRate       float64       // failure share over Window that opens it (default 0.5)
	MinRequests       int           // requests in Window before the rate counts (default 20)
	Window            time.Duration // sliding window for the rate (default 60s)
	Cooldown          time.Duration // first open period (default 30s); doubles per failed trial
	MaxCooldown       time.Duration // cap on the open period (default 5m)
	AuthCooldown      time.Duration // after 401/402/403 (default 5m)
	RateLimitCooldown time.Duration // after a 429 without Retry-After (default 10s)
}

// Timeouts bound each attempt; a request header may lower them.
type Timeouts struct {
	Connect    time.Duration // TCP+TLS connect (default 10s)
	FirstByte  time.Duration // until the first event, or the whole non-streamed answer (default 120s)
	StreamIdle time.Duration // longest silence inside a stream (default 60s)
	Total      time.Duration // a whole request, all attempts included (default 10m)
}

// Server holds HTTP-level settings.
type Server struct {
	MaxBodyBytes  int64         // request bodies above this get 413
	ShutdownGrace time.Duration // how long in-flight requests get on SIGTERM
	// MaxInFlight bounds requests served at once; beyond it the answer is
	// an immediate 503 with Retry-After. 0 means DefaultMaxInFlight.
	MaxInFlight int
	// LogBodies adds request and response bodies to the request log line,
	// with every configured credential masked. Off by default: prompts
	// are private.
	LogBodies bool
	// Engine serves HTTP: EngineLean (the default) or EngineNetHTTP.
	Engine string
	// GCHeadroomMiB is how far the heap may always grow between garbage
	// collections, read at start: rarer collections while the live heap
	// is small, for a steadier tail latency. 0 means
	// DefaultGCHeadroomMiB, GCHeadroomOff none (Go's own pacing). The
	// GOGC environment variable, when set, wins.
	GCHeadroomMiB int
}

// GCHeadroomOff is GCHeadroomMiB for no floor (server.gc_headroom_mib: 0).
const GCHeadroomOff = -1

// MaxGCHeadroomMiB bounds server.gc_headroom_mib (1 TiB): gcfloor's
// arithmetic (headroom×100 in bytes) must not overflow, and past ~4 TiB
// GOGC is capped anyway.
const MaxGCHeadroomMiB = 1 << 20

// HTTP engines for server.engine.
const (
	EngineLean    = "lean"     // internal/http1, handing rarities to net/http
	EngineNetHTTP = "net/http" // net/http alone
)

// Defaults.
const (
	DefaultListen        = "127.0.0.1:8082"
	DefaultMaxBodyBytes  = 32 << 20
	DefaultShutdownGrace = 30 * time.Second
	DefaultMaxInFlight   = 8192
	DefaultGCHeadroomMiB = 32
)

// Mocked reports whether every vendor is of type mock, i.e. no request can
// reach a real upstream. A config without vendors is not mocked.
func (c *Config) Mocked() bool {
	if len(c.Vendors) == 0 {
		return false
	}
	for _, v := range c.Vendors {
		if v.Type != TypeMock {
			return false
		}
	}
	return true
}

// Mask shows a secret safely for logs: the first 3 and last 4 characters
// ("sk-…abcd"). Keys of 12 characters or fewer would reveal too much that
// way, so they show only the last 2 ("…cd"). Empty gives "".
func Mask(secret string) string {
	r := []rune(secret) // runes, so a multi-byte character is never split
	switch {
	case len(r) == 0:
		return ""
	case len(r) <= 12:
		return "…" + string(r[max(0, len(r)-2):])
	default:
		return string(r[:3]) + "…" + string(r[len(r)-4:])
	}
}
