package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate fills in defaults and checks c. Every loader ends here, so a
// config from a file, the legacy pair or the environment gives the same
// guarantees; code building a Config by hand (tests) can call it too.
//
// A zero value means "unset" and gets its default; loaders reject explicit
// zeros where those would be meaningless. Errors start with c.Source (when
// set) and the field path. Validate is idempotent.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		if c.Source != "" {
			return fmt.Errorf("%s: %w", c.Source, err)
		}
		return err
	}
	return nil
}

func (c *Config) validate() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: want host:port (like %s or :8082), got %q", DefaultListen, c.Listen)
	}

	if len(c.Vendors) == 0 {
		return errors.New("vendors: at least one vendor is required")
	}
	seen := make(map[string]int, len(c.Vendors))
	for i := range c.Vendors {
		v := &c.Vendors[i]
		path := fmt.Sprintf("vendors[%d]", i)
		if err := v.validate(path); err != nil {
			return err
		}
		if j, dup := seen[v.Name]; dup {
			return fmt.Errorf("%s.name: duplicate vendor name %q (also vendors[%d])", path, v.Name, j)
		}
		seen[v.Name] = i
	}

	if c.Routing.Strategy == "" {
		c.Routing.Strategy = StrategyEven
	}
	if !slices.Contains(Strategies, c.Routing.Strategy) {
		return fmt.Errorf("routing.strategy: unknown strategy %q (want one of %s)", c.Routing.Strategy, strings.Join(Strategies, ", "))
	}
	if err := c.Routing.validate(c.Vendors); err != nil {
		return err
	}
	if err := c.Media.validate(); err != nil {
		return err
	}
	if err := c.Fleet.validate(); err != nil {
		return err
	}
	if c.Routing.UnknownModels == "" {
		c.Routing.UnknownModels = UnknownModelsPool
	}
	if c.Routing.UnknownModels != UnknownModelsPool && c.Routing.UnknownModels != UnknownModelsReject {
		return fmt.Errorf("routing.unknown_models: unknown policy %q (want %s or %s)",
			c.Routing.UnknownModels, UnknownModelsPool, UnknownModelsReject)
	}

	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Server.MaxBodyBytes < 0 {
		return errors.New("server.max_body_bytes: must be greater than 0")
	}
	if c.Server.MaxInFlight == 0 {
		c.Server.MaxInFlight = DefaultMaxInFlight
	}
	if c.Server.MaxInFlight < 0 {
		return errors.New("server.max_in_flight: must be greater than 0")
	}
	switch {
	case c.Server.GCHeadroomMiB == 0:
		c.Server.GCHeadroomMiB = DefaultGCHeadroomMiB
	case c.Server.GCHeadroomMiB < GCHeadroomOff:
		return errors.New("server.gc_headroom_mib: must be 0 (off) or more")
	case c.Server.GCHeadroomMiB > MaxGCHeadroomMiB:
		return fmt.Errorf("server.gc_headroom_mib: at most %d", MaxGCHeadroomMiB)
	}
	switch c.Server.Engine {
	case "":
		c.Server.Engine = EngineLean
	case EngineLean, EngineNetHTTP:
	default:
		return fmt.Errorf("server.engine: want %s or %s, got %q", EngineLean, EngineNetHTTP, c.Server.Engine)
	}
	if c.Server.ShutdownGrace == 0 {
		c.Server.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Server.ShutdownGrace < 0 {
		return errors.New("server.shutdown_grace: must be greater than 0")
	}
	return nil
}

func (v *Vendor) validate(path string) error {
	const types = "openai, gemini, anthropic, azure, openai-compatible or mock"
	switch v.Type {
	case TypeOpenAI, TypeGemini, TypeAnthropic, TypeAzure, TypeOpenAICompatible, TypeMock:
	case "":
		return fmt.Errorf("%s.type: missing (want %s)", path, types)
	default:
		return fmt.Errorf("%s.type: unknown type %q (want %s)", path, v.Type, types)
	}
	if v.Name == "" {
		v.Name = v.Type
	}
	if err := v.validateWire(path); err != nil {
		return err
	}
	if err := checkNotEncrypted(v, path); err != nil {
		return err
	}

	if v.BaseURL == "" {
		v.BaseURL = defaultBaseURL(v.Type)
	}
	if v.BaseURL == "" && v.Preset != "" {
		v.BaseURL = Presets[v.Preset].BaseURL
	}
	if v.BaseURL == "" && (v.Type == TypeAzure || v.Type == TypeOpenAICompatible) {
		return fmt.Errorf("%s.base_url: required for type %s", path, v.Type)
	}
	v.BaseURL = strings.TrimRight(v.BaseURL, "/")
	if v.Type != TypeMock {
		if err := checkBaseURL(v.BaseURL); err != nil {
			return fmt.Errorf("%s.base_url: %w", path, err)
		}
	}

	keyless := v.Type == TypeMock || (v.Type == TypeOpenAICompatible && (v.Preset == "" || Presets[v.Preset].Keyless))
	if len(v.Credentials) == 0 {
		if !keyless {
			return fmt.Errorf("%s.credentials: at least one credential is required for type %s", path, v.Type)
		}
		// A keyless vendor still needs one credential: routing works per credential.
		name := "none"
		if v.Type == TypeMock {
			name = "mock"
		}
		v.Credentials = []Credential{{Key: "", Name: name, Weight: 1}}
	}
	names := make(map[string]int, len(v.Credentials))
	for j := range v.Credentials {
		cr := &v.Credentials[j]
		cpath := fmt.Sprintf("%s.credentials[%d]", path, j)
		if cr.Name == "" {
			cr.Name = strconv.Itoa(j)
		}
		if cr.Weight == 0 {
			cr.Weight = 1
		}
		if cr.RPM < 0 || cr.TPM < 0 || cr.MaxConcurrency < 0 || cr.Priority < 0 {
			return fmt.Errorf("%s: rpm, tpm, max_concurrency and priority must not be negative", cpath)
		}
		if cr.Weight < 0 {
			return fmt.Errorf("%s.weight: must not be negative", cpath)
		}
		if cr.Key == "" && !keyless {
			return fmt.Errorf("%s: empty key (missing, or its environment variable is empty)", cpath)
		}
		if k, dup := names[cr.Name]; dup {
			return fmt.Errorf("%s.name: duplicate credential name %q (also credentials[%d])", cpath, cr.Name, k)
		}
		names[cr.Name] = j
	}

	if len(v.Models) == 0 {
		v.Models = defaultModels(v.Type)
	}
	if len(v.Models) == 0 {
		return fmt.Errorf("%s.models: at least one model is required for type %s", path, v.Type)
	}
	if v.Priority == 0 {
		v.Priority = 1
	}
	switch v.InlineImages {
	case "":
		v.InlineImages = InlineAuto
	case InlineAuto, InlineAlways, InlineNever:
	default:
		return fmt.Errorf("%s.inline_images: unknown value %q (want auto, always or never)", path, v.InlineImages)
	}
	switch v.Documents {
	case "":
		v.Documents = DocsExtract
	case DocsExtract, DocsPass:
	default:
		return fmt.Errorf("%s.documents: unknown value %q (want extract or passthrough)", path, v.Documents)
	}
	switch v.StreamUsage {
	case "", StreamUsageAuto, StreamUsageAlways, StreamUsageNever:
	default:
		return fmt.Errorf("%s.stream_usage: unknown value %q (want auto, always or never)", path, v.StreamUsage)
	}
	if v.Priority < 0 || v.HealthCheck.Interval < 0 || v.HealthCheck.Timeout < 0 {
		return fmt.Errorf("%s: priority and health_check durations must not be negative", path)
	}
	if v.HealthCheck.Interval > 0 && v.HealthCheck.Timeout == 0 {
		v.HealthCheck.Timeout = 10 * time.Second
	}
	models := make(map[string]int, len(v.Models))
	for j := range v.Models {
		m := &v.Models[j]
		mpath := fmt.Sprintf("%s.models[%d]", path, j)
		if m.Weight == 0 {
			m.Weight = 1
		}
		if v.Type == TypeGemini || strings.Contains(strings.ToLower(m.Name), "audio") {
			m.Audio = true // Gemini takes audio in every model; elsewhere the audio models
		}
		if m.Weight < 0 {
			return fmt.Errorf("%s.weight: must not be negative", mpath)
		}
		if m.Name == "" {
			return fmt.Errorf("%s.name: empty model name", mpath)
		}
		if k, dup := models[m.Name]; dup {
			return fmt.Errorf("%s: duplicate model %q (also models[%d])", mpath, m.Name, k)
		}
		models[m.Name] = j
	}
	return nil
}

// checkBaseURL deliberately does not echo the URL: people paste keys into
// query strings, and errors must never show a key.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http:// or https:// URL with a host")
	}
	return nil
}

func defaultBaseURL(typ string) string {
	switch typ {
	case TypeOpenAI:
		return "https://api.openai.com/v1"
	case TypeGemini:
		return "https://generativelanguage.googleapis.com/v1beta/openai"
	case TypeAnthropic:
		return "https://api.anthropic.com/v1"
	}
	return ""
}

// validateWire checks and defaults the per-protocol fields.
func (v *Vendor) validateWire(path string) error {
	switch {
	case v.API != "" && v.Type != TypeGemini:
		return fmt.Errorf("%s.api: only type gemini has a choice of API", path)
	case v.Type == TypeGemini && v.API != "" && v.API != APIOpenAI && v.API != APINative:
		return fmt.Errorf("%s.api: unknown API %q (want openai or native)", path, v.API)
	case len(v.Deployments) > 0 && v.Type != TypeAzure:
		return fmt.Errorf("%s.deployments: only type azure has deployments", path)
	case v.Preset != "" && v.Type != TypeOpenAICompatible:
		return fmt.Errorf("%s.preset: only type openai-compatible has presets", path)
	}
	if v.Preset != "" {
		if _, ok := Presets[v.Preset]; !ok {
			return fmt.Errorf("%s.preset: unknown preset %q (want one of %s)", path, v.Preset, presetNames())
		}
	}
	if v.APIVersion == "" {
		switch v.Type {
		case TypeAzure:
			v.APIVersion = DefaultAzureAPIVersion
		case TypeAnthropic:
			v.APIVersion = DefaultAnthropicVersion
		}
	}
	if v.API == APINative && v.BaseURL == "" {
		v.BaseURL = "https://generativelanguage.googleapis.com/v1beta"
	}
	for k := range v.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return fmt.Errorf("%s.headers: invalid header name", path)
		}
	}
	return nil
}

// defaultModels returns a fresh slice on every call so no two configs share
// (and could mutate) one backing array.
func defaultModels(typ string) []Model {
	var names []string
	switch typ {
	case TypeOpenAI:
		names = []string{"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"}
	case TypeGemini:
		names = []string{"gemini-2.0-flash", "gemini-2.5-flash", "text-embedding-004"}
	case TypeAnthropic:
		names = []string{"claude-sonnet-4-5", "claude-haiku-4-5"}
	case TypeMock:
		names = []string{"mock-model", "mock-embedding"}
	}
	models := make([]Model, len(names))
	for i, n := range names {
		models[i] = defaultModel(n)
	}
	return models
}

// defaultModel is a model whose capabilities nobody spelled out: assume it
// can do everything, and guess embeddings from the name.
func defaultModel(name string) Model {
	return Model{
		Name:      name,
		Tools:     true,
		Images:    true,
		Streaming: true,
		Video:     true,
		Embedding: isEmbeddingName(name),
		Weight:    1,
	}
}

// isEmbeddingName guesses from the name whether a model serves embeddings.
func isEmbeddingName(name string) bool {
	return strings.Contains(strings.ToLower(name), "embed")
}

// Routing defaults.
const (
	DefaultAttempts    = 3
	DefaultBackoffBase = 50 * time.Millisecond
	DefaultBackoffCap  = 2 * time.Second
)

func (r *Routing) validate(vendors []Vendor) error {
	for m, s := range r.PerModel {
		if !slices.Contains(Strategies, s) {
			return fmt.Errorf("routing.per_model.%s: unknown strategy %q (want one of %s)", m, s, strings.Join(Strategies, ", "))
		}
	}
	for m, fbs := range r.Fallbacks {
		for i, fb := range fbs {
			if fb == "" || fb == m {
				return fmt.Errorf("routing.fallbacks.%s[%d]: a fallback must name another model", m, i)
			}
		}
	}
	setDur := func(d *time.Duration, def time.Duration, name string) error {
		if *d < 0 {
			return fmt.Errorf("%s: must not be negative", name)
		}
		if *d == 0 {
			*d = def
		}
		return nil
	}
	if r.Attempts < 0 {
		return errors.New("routing.attempts: must be at least 1")
	}
	if r.Attempts == 0 {
		r.Attempts = DefaultAttempts
	}
	c, t := &r.Circuit, &r.Timeouts
	if c.Failures < 0 || c.MinRequests < 0 || c.FailureRate < 0 || c.FailureRate > 1 {
		return errors.New("routing.circuit: failures and min_requests must not be negative, failure_rate must be within 0..1")
	}
	if c.Failures == 0 {
		c.Failures = 5
	}
	if c.FailureRate == 0 {
		c.FailureRate = 0.5
	}
	if c.MinRequests == 0 {
		c.MinRequests = 20
	}
	for _, d := range []struct {
		p    *time.Duration
		def  time.Duration
		name string
	}{
		{&r.BackoffBase, DefaultBackoffBase, "routing.backoff_base"},
		{&r.BackoffCap, DefaultBackoffCap, "routing.backoff_cap"},
		{&c.Window, time.Minute, "routing.circuit.window"},
		{&c.Cooldown, 30 * time.Second, "routing.circuit.cooldown"},
		{&c.MaxCooldown, 5 * time.Minute, "routing.circuit.max_cooldown"},
		{&c.AuthCooldown, 5 * time.Minute, "routing.circuit.auth_cooldown"},
		{&c.RateLimitCooldown, 10 * time.Second, "routing.circuit.rate_limit_cooldown"},
		{&t.Connect, 10 * time.Second, "routing.timeouts.connect"},
		{&t.FirstByte, 120 * time.Second, "routing.timeouts.first_byte"},
		{&t.StreamIdle, 60 * time.Second, "routing.timeouts.stream_idle"},
		{&t.Total, 10 * time.Minute, "routing.timeouts.total"},
	} {
		if err := setDur(d.p, d.def, d.name); err != nil {
			return err
		}
	}
	if c.MaxCooldown < c.Cooldown {
		c.MaxCooldown = c.Cooldown
	}
	return nil
}
