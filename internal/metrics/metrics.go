// Package metrics exposes the gateway's Prometheus metrics on a registry of
// its own (never the global one) and records them from the request path
// cheaply: label children are resolved once per label combination and
// cached, so recording a request is a few map lookups and atomic adds with
// no allocation.
//
// Labels carry only names from the config (vendor, credential name,
// model), closed vocabularies (status class, error class, operation,
// outcome) and booleans: never keys, prompts, request ids or anything a
// client chose. A vendor, credential or model the config does not name is
// recorded as "other", so the number of series stays bounded whatever
// clients send.
//
// Where the OpenTelemetry GenAI semantic conventions name a measure, the
// metric has that name (gen_ai.client.token.usage is
// gen_ai_client_token_usage, with gen_ai_operation_name,
// gen_ai_provider_name, gen_ai_request_model and gen_ai_token_type
// labels); the rest are genrouter_*. docs/observability.md lists them all.
//
// Wiring, in short:
//
//	rec := metrics.New(metrics.VendorsFromPool(router.Pool.All()))
//	mux.Handle("GET /metrics", rec.Handler())
//	rec.SetCircuitSource(func() []metrics.CircuitState {
//		return metrics.PoolCircuits(currentPool().All(), time.Now())
//	})
//	// on reload: rec.SetVendors(metrics.VendorsFromPool(newPool.All()))
//	// per request, at its end: rec.Request(metrics.Request{...})
//	// per attempt: rec.Selected(v, c, m); ...; rec.Attempt(v, c, m, metrics.AttemptOutcome(err))
//	// around each request: rec.InFlight(1); defer rec.InFlight(-1)
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Other is the label value for a vendor, credential, model, operation or
// error class that the config (or the vocabulary) does not name.
const Other = "other"

// Operations: the gen_ai_operation_name values.
const (
	OpChat       = "chat"
	OpEmbeddings = "embeddings"
)

// Request is what one request through the gateway knows at its end. The
// server fills it from its per-request record; every field is optional.
type Request struct {
	// Operation is OpChat (the default when empty) or OpEmbeddings.
	Operation string
	// Vendor, Credential and Model say what served the request: the
	// vendor's configured name, the credential's name (never its key) and
	// the model served. When nothing served it, Vendor and Credential are
	// "" (or those of the last attempt) and Model is the model asked for.
	Vendor, Credential, Model string
	// Status is the HTTP status answered; 499 when the client went away.
	Status int
	// ErrorClass is "" on success, else one of errclass.ErrorClasses (errclass.Classify).
	// A stream that broke after its 200 header has Status 200 and a class.
	ErrorClass string
	// Duration is the whole request, from arrival to the last byte.
	Duration time.Duration
	// TTFB is the time from arrival to the first byte sent to the client
	// (for a stream, its first event); 0 when nothing was sent.
	TTFB time.Duration
	// Overhead is the time the gateway itself added: Duration minus the
	// time spent waiting on vendors (connecting, first byte, stream).
	Overhead time.Duration
	// Token counts as the vendor reported them. CachedTokens is the part
	// of PromptTokens served from the vendor's prompt cache.
	PromptTokens, CompletionTokens, CachedTokens int64
	// Cost is the request's price in USD (price.Table.Cost).
	Cost float64
	// Attempts is how many upstream attempts were made (0: none).
	Attempts int
	// Stream is a streamed answer; Fallback means a fallback model served.
	Stream, Fallback bool
}

// OutputTokensPerSecond is the generation speed of a successful answer:
// completion tokens over the time after the first byte. It is 0 when that
// cannot be told (no tokens, or no time after the first byte).
func (r *Request) OutputTokensPerSecond() float64 {
	gen := r.Duration - r.TTFB
	if r.CompletionTokens <= 0 || gen <= 0 || r.TTFB <= 0 {
		return 0
	}
	return float64(r.CompletionTokens) / gen.Seconds()
}

// Vendor is a configured vendor as labels may name it.
type Vendor struct {
	Name        string   // the vendor's configured name: the vendor label
	Type        string   // openai, gemini, anthropic, azure, openai-compatible, mock
	Credentials []string // credential names (never keys)
	Models      []string // model names
}

// VendorsFromPool lists the vendors, credential names and models of a
// pool's combinations, for New and SetVendors.
func VendorsFromPool(all []*route.Combination) []Vendor {
	var out []Vendor
	index := map[string]int{}
	seen := map[[3]string]bool{}
	for _, c := range all {
		i, ok := index[c.Vendor.Name]
		if !ok {
			i = len(out)
			index[c.Vendor.Name] = i
			out = append(out, Vendor{Name: c.Vendor.Name, Type: c.Vendor.Type})
		}
		v := &out[i]
		if k := [3]string{v.Name, "c", c.Credential}; !seen[k] {
			seen[k] = true
			v.Credentials = append(v.Credentials, c.Credential)
		}
		if k := [3]string{v.Name, "m", c.Model.Name}; !seen[k] {
			seen[k] = true
			v.Models = append(v.Models, c.Model.Name)
		}
	}
	return out
}

// ProviderName maps a vendor type to gen_ai.provider.name's well-known
// values (gemini is "gcp.gemini", azure "azure.ai.openai"); types it has
// none for keep their own name, and "" is Other.
func ProviderName(typ string) string {
	switch typ {
	case "gemini":
		return "gcp.gemini"
	case "azure":
		return "azure.ai.openai"
	case "":
		return Other
	}
	return typ // openai, anthropic, openai-compatible, mock
}

// known is the set of names labels may carry, swapped whole on reload.
type known struct {
	provider map[string]string  // vendor name -> gen_ai_provider_name
	creds    map[[2]string]bool // vendor name, credential name
	models   map[string]bool    // every configured model name
}

func newKnown(vendors []Vendor) *known {
	k := &known{provider: map[string]string{}, creds: map[[2]string]bool{}, models: map[string]bool{}}
	for _, v := range vendors {
		k.provider[v.Name] = ProviderName(v.Type)
		for _, c := range v.Credentials {
			k.creds[[2]string{v.Name, c}] = true
		}
		for _, m := range v.Models {
			k.models[m] = true
		}
	}
	return k
}

// labels normalises a vendor, credential and model to label values.
func (k *known) labels(vendor, cred, model string) (v, c, m, provider string) {
	v, c, m = vendor, cred, model
	if v != "" {
		var ok bool
		if provider, ok = k.provider[v]; !ok {
			v, provider = Other, Other
		}
	}
	if c != "" && !k.creds[[2]string{vendor, c}] {
		c = Other
	}
	if m != "" && !k.models[m] {
		m = Other
	}
	return v, c, m, provider
}

// Histogram buckets. The gen_ai_* ones are those the semantic conventions
// recommend.
var (
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	tpotBuckets     = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}
	overheadBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
)

// Label names.
const (
	lOp       = "gen_ai_operation_name"
	lProvider = "gen_ai_provider_name"
	lModelReq = "gen_ai_request_model"
	lTokType  = "gen_ai_token_type"
	lErrType  = "error_type"
	lVendor   = "vendor"
	lCred     = "credential"
	lModel    = "model"
	lStatus   = "status_class"
	lClass    = "error_class"
	lOutcome  = "outcome"
	lStream   = "stream"
	lType     = "token_type"
)

// Recorder records the gateway's metrics. Its methods are safe for
// concurrent use and cheap enough for the request path. The zero value is
// not usable: use New. A nil *Recorder ignores every call, so the server
// can run without metrics.
type Recorder struct {
	reg *prometheus.Registry

	known atomic.Pointer[known]

	requests      *prometheus.CounterVec
	opDuration    *prometheus.HistogramVec
	ttft          *prometheus.HistogramVec
	tpot          *prometheus.HistogramVec
	tokenUsage    *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	cost          *prometheus.CounterVec
	overhead      *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	failovers     *prometheus.CounterVec
	fallbacks     *prometheus.CounterVec
	attempts      *prometheus.CounterVec
	selections    *prometheus.CounterVec
	inFlight      prometheus.Gauge
	circuitSource atomic.Pointer[func() []CircuitState]

	reqCache cache[reqKey, *reqChildren]
	attCache cache[attKey, prometheus.Counter]
	selCache cache[[3]string, prometheus.Counter]
}

// New builds a Recorder whose labels may name the given vendors, their
// credentials and models, on a fresh registry that also carries the Go
// runtime and process collectors.
func New(vendors []Vendor) *Recorder {
	r := &Recorder{reg: prometheus.NewRegistry()}
	r.known.Store(newKnown(vendors))
	genAI := []string{lOp, lProvider, lModelReq}
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_requests_total",
		Help: "Requests answered, by vendor, credential and model that served them, status class and error class (\"\" on success).",
	}, []string{lVendor, lCred, lModel, lStatus, lClass})
	r.opDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_client_operation_duration_seconds",
		Help:    "GenAI operation duration: the whole request through the gateway, for requests sent to a vendor.",
		Buckets: durationBuckets,
	}, []string{lOp, lProvider, lModelReq, lErrType, lVendor})
	r.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_server_time_to_first_token_seconds",
		Help:    "Time to the first byte sent to the client for successful responses (stream=\"true\": the first token).",
		Buckets: ttftBuckets,
	}, append(genAI, lVendor, lStream))
	r.tpot = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_server_time_per_output_token_seconds",
		Help:    "Time per output token generated after the first token, for successful streamed responses.",
		Buckets: tpotBuckets,
	}, append(genAI, lVendor))
	r.tokenUsage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_client_token_usage",
		Help:    "Number of input and output tokens used per request.",
		Buckets: tokenBuckets,
	}, append(genAI, lTokType, lVendor))
	r.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_tokens_total",
		Help: "Tokens by vendor, credential and model: input, output, and cached (the part of input served from the vendor's cache).",
	}, []string{lVendor, lCred, lModel, lType})
	r.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_cost_usd_total",
		Help: "Cost in USD by vendor, credential and model, from the price table.",
	}, []string{lVendor, lCred, lModel})
	r.overhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "genrouter_overhead_seconds",
		Help:    "Time the gateway itself added to a request: its duration minus the time spent waiting on vendors.",
		Buckets: overheadBuckets,
	}, []string{lVendor})
	r.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_retries_total",
		Help: "Upstream attempts beyond the first, by the vendor and model that finally served (\"\" if none).",
	}, []string{lVendor, lModel})
	r.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_failovers_total",
		Help: "Requests answered successfully after at least one failed attempt, by the vendor and model that served them.",
	}, []string{lVendor, lModel})
	r.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_fallbacks_total",
		Help: "Requests served by a fallback model (routing.fallbacks), by the vendor and model that served them.",
	}, []string{lVendor, lModel})
	r.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_upstream_attempts_total",
		Help: "Upstream attempts by combination and outcome (\"success\" or an error class).",
	}, []string{lVendor, lCred, lModel, lOutcome})
	r.selections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "genrouter_selections_total",
		Help: "Times the router picked each combination (vendor, credential, model).",
	}, []string{lVendor, lCred, lModel})
	r.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "genrouter_in_flight_requests",
		Help: "Requests being served right now.",
	})
	r.reg.MustRegister(r.requests, r.opDuration, r.ttft, r.tpot, r.tokenUsage, r.tokens, r.cost, r.overhead,
		r.retries, r.failovers, r.fallbacks, r.attempts, r.selections, r.inFlight, circuitCollector{r},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Registry is the Recorder's own registry, for tests or to add collectors.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// Handler serves the metrics in Prometheus' text format (OpenMetrics when
// the scraper asks for it), for GET /metrics.
func (r *Recorder) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: r.reg})
}

// SetVendors replaces the names labels may carry, after a config reload.
// Series of names that went away stay (counters keep their totals) but no
// longer grow.
func (r *Recorder) SetVendors(vendors []Vendor) {
	if r == nil {
		return
	}
	r.known.Store(newKnown(vendors))
	r.reqCache.reset()
	r.attCache.reset()
	r.selCache.reset()
}

// InFlight moves the in-flight gauge: +1 when a request arrives, -1 when
// it ends.
func (r *Recorder) InFlight(delta int) {
	if r == nil {
		return
	}
	r.inFlight.Add(float64(delta))
}

// Selected counts the router picking a combination for an attempt.
func (r *Recorder) Selected(vendor, credential, model string) {
	if r == nil {
		return
	}
	v, c, m, _ := r.known.Load().labels(vendor, credential, model)
	k := [3]string{v, c, m}
	ctr, ok := r.selCache.get(k)
	if !ok {
		ctr = r.selCache.put(k, r.selections.WithLabelValues(v, c, m))
	}
	ctr.Inc()
}

type attKey struct{ v, c, m, outcome string }

// Attempt counts one upstream attempt and how it ended: OutcomeSuccess or
// an error class (AttemptOutcome(err) gives either). Anything else is
// counted as "other".
func (r *Recorder) Attempt(vendor, credential, model, outcome string) {
	if r == nil {
		return
	}
	v, c, m, _ := r.known.Load().labels(vendor, credential, model)
	if outcome != OutcomeSuccess && !errclass.IsErrorClass(outcome) {
		outcome = Other
	}
	k := attKey{v, c, m, outcome}
	ctr, ok := r.attCache.get(k)
	if !ok {
		ctr = r.attCache.put(k, r.attempts.WithLabelValues(v, c, m, outcome))
	}
	ctr.Inc()
}

type reqKey struct {
	v, c, m, op, status, class string
	stream                     bool
}

// reqChildren are the series one kind of request touches.
type reqChildren struct {
	requests                   prometheus.Counter
	tokensIn, tokensOut, tokCa prometheus.Counter
	cost                       prometheus.Counter
	overhead                   prometheus.Observer
	retries                    prometheus.Counter
	failovers, fallbacks       prometheus.Counter
	// GenAI series: nil for requests that never reached a vendor; ttft
	// only for successes, tpot only for successful streams.
	duration, ttft, tpot prometheus.Observer
	usageIn, usageOut    prometheus.Observer
}

var statusClasses = [...]string{"", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(s int) string {
	if s < 100 || s > 599 {
		return ""
	}
	return statusClasses[s/100]
}

func operation(op string) string {
	switch op {
	case "", OpChat:
		return OpChat
	case OpEmbeddings:
		return OpEmbeddings
	}
	return Other
}

// Request records a finished request. Call it once per request, at its end.
func (r *Recorder) Request(q Request) {
	if r == nil {
		return
	}
	v, c, m, provider := r.known.Load().labels(q.Vendor, q.Credential, q.Model)
	class := q.ErrorClass
	if class != "" && !errclass.IsErrorClass(class) {
		class = Other
	}
	k := reqKey{v: v, c: c, m: m, op: operation(q.Operation), status: statusClass(q.Status), class: class, stream: q.Stream}
	ch, ok := r.reqCache.get(k)
	if !ok {
		ch = r.reqCache.put(k, r.children(k, provider))
	}
	ch.requests.Inc()
	if q.Overhead > 0 {
		ch.overhead.Observe(q.Overhead.Seconds())
	}
	if q.Attempts > 1 {
		ch.retries.Add(float64(q.Attempts - 1))
	}
	if q.PromptTokens > 0 {
		ch.tokensIn.Add(float64(q.PromptTokens))
	}
	if q.CompletionTokens > 0 {
		ch.tokensOut.Add(float64(q.CompletionTokens))
	}
	if q.CachedTokens > 0 {
		ch.tokCa.Add(float64(q.CachedTokens))
	}
	if q.Cost > 0 {
		ch.cost.Add(q.Cost)
	}
	success := class == "" && q.Status < 400
	if success && q.Attempts > 1 {
		ch.failovers.Inc()
	}
	if success && q.Fallback {
		ch.fallbacks.Inc()
	}
	if ch.duration == nil {
		return
	}
	ch.duration.Observe(q.Duration.Seconds())
	if q.PromptTokens > 0 || q.CompletionTokens > 0 {
		ch.usageIn.Observe(float64(q.PromptTokens))
		ch.usageOut.Observe(float64(q.CompletionTokens))
	}
	if ch.ttft == nil || q.TTFB <= 0 {
		return
	}
	ch.ttft.Observe(q.TTFB.Seconds())
	if ch.tpot != nil && q.CompletionTokens > 1 && q.Duration > q.TTFB {
		ch.tpot.Observe((q.Duration - q.TTFB).Seconds() / float64(q.CompletionTokens-1))
	}
}

// children resolves the series of one request key; it runs once per key.
func (r *Recorder) children(k reqKey, provider string) *reqChildren {
	ch := &reqChildren{
		requests:  r.requests.WithLabelValues(k.v, k.c, k.m, k.status, k.class),
		tokensIn:  r.tokens.WithLabelValues(k.v, k.c, k.m, "input"),
		tokensOut: r.tokens.WithLabelValues(k.v, k.c, k.m, "output"),
		tokCa:     r.tokens.WithLabelValues(k.v, k.c, k.m, "cached"),
		cost:      r.cost.WithLabelValues(k.v, k.c, k.m),
		overhead:  r.overhead.WithLabelValues(k.v),
		retries:   r.retries.WithLabelValues(k.v, k.m),
		failovers: r.failovers.WithLabelValues(k.v, k.m),
		fallbacks: r.fallbacks.WithLabelValues(k.v, k.m),
	}
	if k.v == "" {
		return ch // never reached a vendor: not a GenAI operation
	}
	stream := "false"
	if k.stream {
		stream = "true"
	}
	ch.duration = r.opDuration.WithLabelValues(k.op, provider, k.m, k.class, k.v)
	// Series that only successes touch exist only for successes, so a
	// scrape carries no empty histograms for them.
	if k.class == "" && k.status != "4xx" && k.status != "5xx" {
		ch.ttft = r.ttft.WithLabelValues(k.op, provider, k.m, k.v, stream)
		if k.stream {
			ch.tpot = r.tpot.WithLabelValues(k.op, provider, k.m, k.v)
		}
	}
	ch.usageIn = r.tokenUsage.WithLabelValues(k.op, provider, k.m, "input", k.v)
	ch.usageOut = r.tokenUsage.WithLabelValues(k.op, provider, k.m, "output", k.v)
	return ch
}

// cache is a copy-on-write map: lock-free reads, rare locked writes. Its
// keys are normalised label values, so it is bounded by the config.
type cache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

func (c *cache[K, V]) get(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// put stores v under k unless another goroutine got there first, and
// returns the value stored.
func (c *cache[K, V]) put(k K, v V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if have, ok := (*old)[k]; ok {
			return have
		}
	}
	n := make(map[K]V, 1+lenOf(old))
	if old != nil {
		for kk, vv := range *old {
			n[kk] = vv
		}
	}
	n[k] = v
	c.m.Store(&n)
	return v
}

func (c *cache[K, V]) reset() {
	c.mu.Lock()
	c.m.Store(nil)
	c.mu.Unlock()
}

func lenOf[K comparable, V any](m *map[K]V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
