// Package stats keeps the live, in-memory aggregates the dashboard (/ui)
// shows: requests per second over the last ten minutes, latency
// percentiles per ten seconds, errors by vendor and class, the share of
// traffic each combination got, token and cost totals, and the last 200
// requests. It is fed the same per-request record as package metrics.
//
// Memory is fixed (rings and small fixed histograms) apart from two maps
// keyed by config names — errors per (vendor, class) and traffic per
// combination — which are capped. Add takes one short mutex-held section
// and does not allocate once a combination has been seen.
//
// Wiring, in short:
//
//	st := stats.New()
//	st.SetCredentialSource(func() []stats.CredentialHealth {
//		return stats.CredentialsFrom(metrics.PoolCircuits(currentPool().All(), time.Now()))
//	})
//	mux.Handle("GET /admin/stats", admin(st.Handler()))
//	mux.Handle("GET /admin/stats/stream", admin(st.SSEHandler(time.Second)))
//	// around each request: st.InFlight(1); defer st.InFlight(-1)
//	// at the end of each request: st.Add(stats.Entry{Request: req, Time: start, ID: id, ModelAsked: asked})
package stats

import (
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/metrics"
)

// Sizes of the windows and buffers.
const (
	RateSeconds   = 600 // requests per second: one bucket a second, ten minutes
	LatencyStep   = 10  // seconds per latency bucket
	LatencyPoints = 60  // ten minutes of latency buckets
	RecentSize    = 200 // requests kept for the recent-requests table
	// MaxCombinations and MaxErrorKeys cap the maps; further keys are
	// counted under "other".
	MaxCombinations = 1024
	MaxErrorKeys    = 512
	// maxText is the longest text (request id, model asked) kept as is.
	maxText = 128
	// windowMinutes is the "recent" window of the per-key counters.
	windowMinutes = 10
)

// Entry is one finished request: the metrics record plus what only the
// dashboard needs.
type Entry struct {
	metrics.Request // Model is the model served (or asked, when nothing served it)
	// Time is when the request started; zero means it ended now.
	Time time.Time
	// ID is the request id (X-Request-Id).
	ID string
	// ModelAsked is the model the client asked for.
	ModelAsked string
}

// CredentialHealth is one credential's circuit for the dashboard, as
// /health reports it.
type CredentialHealth struct {
	Vendor          string  `json:"vendor"`
	Name            string  `json:"name"` // the credential's name, never its key
	State           string  `json:"state"`
	Reason          string  `json:"reason,omitempty"`
	CooldownSeconds float64 `json:"cooldown_seconds"`
	InFlight        int64   `json:"in_flight"`
	LastError       string  `json:"last_error,omitempty"`
}

// CredentialsFrom converts package metrics' circuit states.
func CredentialsFrom(cs []metrics.CircuitState) []CredentialHealth {
	out := make([]CredentialHealth, len(cs))
	for i, c := range cs {
		out[i] = CredentialHealth{Vendor: c.Vendor, Name: c.Credential, State: c.State, Reason: c.Reason,
			CooldownSeconds: c.Cooldown.Seconds(), InFlight: c.InFlight, LastError: c.LastError}
	}
	return out
}

// Stats holds the aggregates. Use New; its methods are safe for concurrent
// use. A nil *Stats ignores Add and InFlight.
type Stats struct {
	now      func() time.Time
	started  time.Time
	inFlight atomic.Int64
	credSrc  atomic.Pointer[func() []CredentialHealth]

	mu     sync.Mutex
	totals Totals
	secs   [RateSeconds]secBucket
	lat    [LatencyPoints]latBucket
	errs   map[errKey]*counter
	combos map[comboKey]*comboAgg
	recent [RecentSize]Recent
	next   int // where the next recent entry goes
	filled int // recent entries held
}

type secBucket struct {
	sec              int64
	requests, errors uint32
}

type latBucket struct {
	slot    int64 // unix seconds / LatencyStep
	count   uint32
	latency hist
	ttfb    hist
}

type errKey struct{ vendor, class string }
type comboKey struct{ vendor, credential, model string }

// counter counts since start and over the last windowMinutes minutes.
type counter struct {
	total  int64
	minute [windowMinutes]struct {
		min int64
		n   uint32
	}
}

func (c *counter) add(min int64) {
	c.total++
	b := &c.minute[min%windowMinutes]
	if b.min != min {
		b.min, b.n = min, 0
	}
	b.n++
}

func (c *counter) recent(nowMin int64) int64 {
	var n int64
	for _, b := range c.minute {
		if b.min > nowMin-windowMinutes && b.min <= nowMin {
			n += int64(b.n)
		}
	}
	return n
}

type comboAgg struct {
	counter
	errors                                       int64
	promptTokens, completionTokens, cachedTokens int64
	cost                                         float64
	latencyMs                                    float64 // sum, for the mean
}

// New returns empty aggregates.
func New() *Stats { return newAt(time.Now) }

func newAt(now func() time.Time) *Stats {
	return &Stats{now: now, started: now(), errs: map[errKey]*counter{}, combos: map[comboKey]*comboAgg{}}
}

// InFlight moves the count of requests in flight: +1 when one arrives, -1
// when it ends.
func (s *Stats) InFlight(delta int) {
	if s != nil {
		s.inFlight.Add(int64(delta))
	}
}

// SetCredentialSource sets the function Snapshot calls to fill
// Snapshot.Credentials (nil: none). It must be safe to call concurrently.
func (s *Stats) SetCredentialSource(f func() []CredentialHealth) {
	if f == nil {
		s.credSrc.Store(nil)
		return
	}
	s.credSrc.Store(&f)
}

// isError is whether an entry counts as an error: a status of 400 or
// more, or an error class (a stream that broke after its 200 header).
func isError(r *metrics.Request) bool { return r.Status >= 400 || r.ErrorClass != "" }

// Add records a finished request.
func (s *Stats) Add(e Entry) {
	if s == nil {
		return
	}
	now := s.now()
	end := now
	if !e.Time.IsZero() {
		if end = e.Time.Add(e.Duration); end.After(now) {
			end = now
		}
	}
	start := e.Time
	if start.IsZero() {
		start = now.Add(-e.Duration)
	}
	sec, nowSec := end.Unix(), now.Unix()
	failed := isError(&e.Request)
	latBin, ttfbBin := -1, -1
	if e.Duration > 0 {
		latBin = bin(e.Duration)
	}
	if e.TTFB > 0 && !failed {
		ttfbBin = bin(e.TTFB)
	}
	served := ""
	if e.Vendor != "" {
		served = e.Model
	}
	rec := Recent{
		Time: start, ID: clip(e.ID), Vendor: e.Vendor, Credential: e.Credential,
		ModelAsked: clip(e.ModelAsked), ModelServed: clip(served), Status: e.Status, ErrorClass: e.ErrorClass,
		LatencyMs: ms(e.Duration), TTFBMs: ms(e.TTFB), PromptTokens: e.PromptTokens,
		CompletionTokens: e.CompletionTokens, CachedTokens: e.CachedTokens, Cost: e.Cost,
		Attempts: e.Attempts, Stream: e.Stream, Fallback: e.Fallback,
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.totals
	t.Requests++
	if failed {
		t.Errors++
	}
	t.PromptTokens += e.PromptTokens
	t.CompletionTokens += e.CompletionTokens
	t.CachedTokens += e.CachedTokens
	t.Cost += e.Cost

	s.addRate(sec, nowSec, failed)
	s.addLatency(sec, nowSec, latBin, ttfbBin)

	min := sec / 60
	if failed {
		k := errKey{e.Vendor, e.ErrorClass}
		switch {
		case k.class == "":
			k.class = statusClass(e.Status)
		case !errclass.IsErrorClass(k.class):
			k.class = metrics.Other
		}
		entry(s.errs, k, MaxErrorKeys, errKey{metrics.Other, metrics.Other}).add(min)
	}
	if e.Vendor != "" {
		c := entry(s.combos, comboKey{e.Vendor, e.Credential, e.Model}, MaxCombinations,
			comboKey{metrics.Other, metrics.Other, metrics.Other})
		c.add(min)
		if failed {
			c.errors++
		}
		c.promptTokens += e.PromptTokens
		c.completionTokens += e.CompletionTokens
		c.cachedTokens += e.CachedTokens
		c.cost += e.Cost
		c.latencyMs += rec.LatencyMs
	}

	s.recent[s.next] = rec
	s.next = (s.next + 1) % RecentSize
	if s.filled < RecentSize {
		s.filled++
	}
}

// entry is m[k], made if m holds fewer than limit keys, else the entry
// of other.
func entry[K comparable, V any](m map[K]*V, k K, limit int, other K) *V {
	if v := m[k]; v != nil {
		return v
	}
	if len(m) >= limit {
		k = other
		if v := m[k]; v != nil {
			return v
		}
	}
	v := new(V)
	m[k] = v
	return v
}

// addRate counts a request in the per-second ring.
func (s *Stats) addRate(sec, nowSec int64, failed bool) {
	if sec <= nowSec-RateSeconds {
		return // older than the window
	}
	b := &s.secs[sec%RateSeconds]
	if b.sec != sec {
		if b.sec > sec {
			return // a newer second owns the slot
		}
		*b = secBucket{sec: sec}
	}
	b.requests++
	if failed {
		b.errors++
	}
}

// addLatency counts a request in the per-ten-seconds histograms.
func (s *Stats) addLatency(sec, nowSec int64, latBin, ttfbBin int) {
	slot := sec / LatencyStep
	if slot <= nowSec/LatencyStep-LatencyPoints || latBin < 0 && ttfbBin < 0 {
		return
	}
	b := &s.lat[slot%LatencyPoints]
	if b.slot != slot {
		if b.slot > slot {
			return
		}
		*b = latBucket{slot: slot}
	}
	if latBin >= 0 {
		b.count++
		b.latency[latBin]++
	}
	if ttfbBin >= 0 {
		b.ttfb[ttfbBin]++
	}
}

// statusClass names an error without a class by its status, from a
// fixed set of texts.
func statusClass(st int) string {
	switch st {
	case 400:
		return "http_400"
	case 401:
		return "http_401"
	case 403:
		return "http_403"
	case 404:
		return "http_404"
	case 429:
		return "http_429"
	case 500:
		return "http_500"
	case 502:
		return "http_502"
	case 503:
		return "http_503"
	case 504:
		return "http_504"
	}
	switch {
	case st >= 500:
		return "http_5xx"
	case st >= 400:
		return "http_4xx"
	}
	return "http_error"
}

// clip bounds a client-chosen text, copying it when cut so the original
// (perhaps a large request body) is not kept alive.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	return strings.Clone(s[:maxText])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// hist is a fixed log-scale histogram of durations: bin 0 is under 1 ms,
// bin i (1..histBins-2) is [g^(i-1), g^i) ms with g = 1.25, the last bin
// is everything above (about 7 minutes). A percentile read from it is
// within 12% of the true value.
type hist [histBins]uint32

const (
	histBins   = 58
	histGrowth = 1.25
)

var logGrowth = math.Log(histGrowth)

func bin(d time.Duration) int {
	msv := float64(d) / float64(time.Millisecond)
	if msv < 1 {
		return 0
	}
	i := int(math.Log(msv)/logGrowth) + 1
	if i > histBins-1 {
		return histBins - 1
	}
	return i
}

// bounds of a bin in milliseconds.
func bounds(i int) (lo, hi float64) {
	if i == 0 {
		return 0, 1
	}
	lo = math.Pow(histGrowth, float64(i-1))
	return lo, lo * histGrowth
}

// quantile estimates the q-quantile (0 < q <= 1) in milliseconds, by
// linear interpolation inside the bin that holds it; 0 for no data.
func (h *hist) quantile(q float64) float64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var cum float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lo, hi := bounds(i)
			frac := (rank - cum) / float64(c)
			return round(lo+(hi-lo)*frac, 3)
		}
		cum += float64(c)
	}
	lo, _ := bounds(histBins - 1)
	return lo
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Snapshot is everything the dashboard shows, ready for encoding/json.
type Snapshot struct {
	Now           time.Time `json:"now"`
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	InFlight      int64     `json:"in_flight"`
	Totals        Totals    `json:"totals"`
	// Rate is requests and errors per second over the last ten minutes,
	// oldest first, ending with the current second.
	Rate Rate `json:"rate"`
	// Latency is one point per ten seconds over the last ten minutes,
	// oldest first; points without requests have zero count.
	Latency []LatencyPoint `json:"latency"`
	// Errors are counts by vendor ("" when the request reached none) and
	// class, most first. A request that failed without a class is counted
	// as "http_<status>".
	Errors []ErrorCount `json:"errors"`
	// Combinations is the traffic per (vendor, credential, model), in
	// order of vendor, credential, model.
	Combinations []Combination `json:"combinations"`
	// Recent are the last requests, newest first.
	Recent []Recent `json:"recent"`
	// Credentials is each credential's circuit, from the source set with
	// SetCredentialSource.
	Credentials []CredentialHealth `json:"credentials"`
}

// Totals are counts since the gateway started, plus the last minute.
type Totals struct {
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	Cost             float64 `json:"cost_usd"`
	// LastMinuteRequests and LastMinuteErrors count the last 60 seconds;
	// RequestsPerSecond is their average rate.
	LastMinuteRequests int64   `json:"last_minute_requests"`
	LastMinuteErrors   int64   `json:"last_minute_errors"`
	RequestsPerSecond  float64 `json:"requests_per_second"`
}

// Rate is a per-second series.
type Rate struct {
	Start    int64    `json:"start"` // unix seconds of the first point
	Step     int      `json:"step"`  // seconds between points
	Requests []uint32 `json:"requests"`
	Errors   []uint32 `json:"errors"`
}

// LatencyPoint holds the percentiles of one ten-second bucket, in
// milliseconds: latency is the whole request, TTFB the first byte of
// successful ones.
type LatencyPoint struct {
	T       int64   `json:"t"` // unix seconds, start of the bucket
	Count   uint32  `json:"count"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	TTFBP50 float64 `json:"ttfb_p50_ms"`
	TTFBP90 float64 `json:"ttfb_p90_ms"`
	TTFBP99 float64 `json:"ttfb_p99_ms"`
}

// ErrorCount is the errors of one vendor and class.
type ErrorCount struct {
	Vendor string `json:"vendor"`
	Class  string `json:"class"`
	Total  int64  `json:"total"`
	// Recent counts the last ten minutes.
	Recent int64 `json:"recent"`
}

// Combination is the traffic one combination got.
type Combination struct {
	Vendor     string `json:"vendor"`
	Credential string `json:"credential"`
	Model      string `json:"model"`
	Requests   int64  `json:"requests"`
	Errors     int64  `json:"errors"`
	// Share is this combination's fraction of all routed requests since
	// start; RecentRequests and RecentShare the same over ten minutes.
	Share            float64 `json:"share"`
	RecentRequests   int64   `json:"recent_requests"`
	RecentShare      float64 `json:"recent_share"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	Cost             float64 `json:"cost_usd"`
	MeanLatencyMs    float64 `json:"mean_latency_ms"`
}

// Recent is one row of the recent-requests table.
type Recent struct {
	Time             time.Time `json:"time"` // when it started
	ID               string    `json:"id"`
	Vendor           string    `json:"vendor"`
	Credential       string    `json:"credential"`
	ModelAsked       string    `json:"model_asked"`
	ModelServed      string    `json:"model_served"`
	Status           int       `json:"status"`
	ErrorClass       string    `json:"error_class"`
	LatencyMs        float64   `json:"latency_ms"`
	TTFBMs           float64   `json:"ttfb_ms"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	CachedTokens     int64     `json:"cached_tokens"`
	Cost             float64   `json:"cost_usd"`
	Attempts         int       `json:"attempts"`
	Stream           bool      `json:"stream"`
	Fallback         bool      `json:"fallback"`
}

// Snapshot returns the aggregates now, with at most recent rows of the
// recent-requests table (a negative value: all RecentSize).
func (s *Stats) Snapshot() Snapshot { return s.snapshot(-1) }

func (s *Stats) snapshot(recent int) Snapshot {
	now := s.now()
	nowSec := now.Unix()
	var (
		secs   [RateSeconds]secBucket
		lat    [LatencyPoints]latBucket
		rows   []Recent
		errs   []ErrorCount
		combos []Combination
		totals Totals
	)
	if recent < 0 || recent > RecentSize {
		recent = RecentSize
	}
	s.mu.Lock()
	totals = s.totals
	secs = s.secs
	lat = s.lat
	n := min(recent, s.filled)
	rows = make([]Recent, n)
	for i := 0; i < n; i++ {
		rows[i] = s.recent[(s.next-1-i+RecentSize)%RecentSize]
	}
	nowMin := nowSec / 60
	errs = make([]ErrorCount, 0, len(s.errs))
	for k, c := range s.errs {
		errs = append(errs, ErrorCount{Vendor: k.vendor, Class: k.class, Total: c.total, Recent: c.recent(nowMin)})
	}
	combos = make([]Combination, 0, len(s.combos))
	for k, c := range s.combos {
		cb := Combination{Vendor: k.vendor, Credential: k.credential, Model: k.model, Requests: c.total,
			Errors: c.errors, RecentRequests: c.recent(nowMin), PromptTokens: c.promptTokens,
			CompletionTokens: c.completionTokens, CachedTokens: c.cachedTokens, Cost: c.cost}
		if c.total > 0 {
			cb.MeanLatencyMs = round(c.latencyMs/float64(c.total), 3)
		}
		combos = append(combos, cb)
	}
	s.mu.Unlock()

	snap := Snapshot{Now: now, Started: s.started, UptimeSeconds: round(now.Sub(s.started).Seconds(), 3),
		InFlight: s.inFlight.Load(), Totals: totals, Recent: rows, Errors: errs, Combinations: combos}

	// Per second, oldest first, ending now.
	first := nowSec - RateSeconds + 1
	snap.Rate = Rate{Start: first, Step: 1, Requests: make([]uint32, RateSeconds), Errors: make([]uint32, RateSeconds)}
	for i := range RateSeconds {
		sec := first + int64(i)
		if b := secs[sec%RateSeconds]; b.sec == sec {
			snap.Rate.Requests[i], snap.Rate.Errors[i] = b.requests, b.errors
			if sec > nowSec-60 {
				snap.Totals.LastMinuteRequests += int64(b.requests)
				snap.Totals.LastMinuteErrors += int64(b.errors)
			}
		}
	}
	snap.Totals.RequestsPerSecond = round(float64(snap.Totals.LastMinuteRequests)/60, 3)

	// Per ten seconds, oldest first.
	nowSlot := nowSec / LatencyStep
	snap.Latency = make([]LatencyPoint, LatencyPoints)
	for i := range LatencyPoints {
		slot := nowSlot - LatencyPoints + 1 + int64(i)
		p := LatencyPoint{T: slot * LatencyStep}
		if b := &lat[slot%LatencyPoints]; b.slot == slot {
			p.Count = b.count
			p.P50, p.P90, p.P99 = b.latency.quantile(0.5), b.latency.quantile(0.9), b.latency.quantile(0.99)
			p.TTFBP50, p.TTFBP90, p.TTFBP99 = b.ttfb.quantile(0.5), b.ttfb.quantile(0.9), b.ttfb.quantile(0.99)
		}
		snap.Latency[i] = p
	}

	sort.Slice(snap.Errors, func(i, j int) bool {
		a, b := snap.Errors[i], snap.Errors[j]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		if a.Vendor != b.Vendor {
			return a.Vendor < b.Vendor
		}
		return a.Class < b.Class
	})
	var routed, recentRouted int64
	for _, c := range snap.Combinations {
		routed += c.Requests
		recentRouted += c.RecentRequests
	}
	for i := range snap.Combinations {
		c := &snap.Combinations[i]
		if routed > 0 {
			c.Share = round(float64(c.Requests)/float64(routed), 4)
		}
		if recentRouted > 0 {
			c.RecentShare = round(float64(c.RecentRequests)/float64(recentRouted), 4)
		}
		c.Cost = round(c.Cost, 9)
	}
	sort.Slice(snap.Combinations, func(i, j int) bool {
		a, b := snap.Combinations[i], snap.Combinations[j]
		if a.Vendor != b.Vendor {
			return a.Vendor < b.Vendor
		}
		if a.Credential != b.Credential {
			return a.Credential < b.Credential
		}
		return a.Model < b.Model
	})
	snap.Totals.Cost = round(snap.Totals.Cost, 9)
	if f := s.credSrc.Load(); f != nil {
		snap.Credentials = (*f)()
	}
	if snap.Credentials == nil {
		snap.Credentials = []CredentialHealth{}
	}
	return snap
}
