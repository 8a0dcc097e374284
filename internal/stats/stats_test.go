package stats

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/metrics"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest() (*Stats, *clock) {
	c := &clock{t: time.Unix(1_800_000_000, 0)} // a multiple of 60 and of 10
	return newAt(c.now), c
}

func ok(vendor, cred, model string, d time.Duration) Entry {
	return Entry{Request: metrics.Request{Vendor: vendor, Credential: cred, Model: model, Status: 200,
		Duration: d, TTFB: d / 2, PromptTokens: 10, CompletionTokens: 20, CachedTokens: 2, Cost: 0.001, Attempts: 1},
		ModelAsked: model}
}

func TestRatePerSecond(t *testing.T) {
	s, c := newTest()
	now := c.now()
	// 3 requests ending 5 seconds ago, 2 (one failed) ending now, 1 ending
	// 11 minutes ago (outside the window).
	for i := 0; i < 3; i++ {
		e := ok("openai", "a", "gpt-4o", time.Second)
		e.Time = now.Add(-6 * time.Second)
		s.Add(e)
	}
	s.Add(ok("openai", "a", "gpt-4o", 0))
	bad := ok("openai", "a", "gpt-4o", 0)
	bad.Status, bad.ErrorClass = 502, errclass.VendorServerError
	s.Add(bad)
	old := ok("openai", "a", "gpt-4o", time.Second)
	old.Time = now.Add(-11 * time.Minute)
	s.Add(old)

	snap := s.Snapshot()
	r := snap.Rate
	if len(r.Requests) != RateSeconds || r.Step != 1 || r.Start != now.Unix()-RateSeconds+1 {
		t.Fatalf("rate shape: start %d step %d len %d", r.Start, r.Step, len(r.Requests))
	}
	if got := r.Requests[RateSeconds-6]; got != 3 {
		t.Errorf("5s ago: %d requests, want 3", got)
	}
	if got, gotErr := r.Requests[RateSeconds-1], r.Errors[RateSeconds-1]; got != 2 || gotErr != 1 {
		t.Errorf("now: %d requests %d errors, want 2 and 1", got, gotErr)
	}
	var sum uint32
	for _, n := range r.Requests {
		sum += n
	}
	if sum != 5 {
		t.Errorf("window holds %d requests, want 5", sum)
	}
	if snap.Totals.Requests != 6 || snap.Totals.LastMinuteRequests != 5 || snap.Totals.LastMinuteErrors != 1 {
		t.Errorf("totals %+v", snap.Totals)
	}
	if snap.Totals.RequestsPerSecond != round(5.0/60, 3) {
		t.Errorf("rps %v", snap.Totals.RequestsPerSecond)
	}

	// Ten minutes later the ring slots are reused, not added to.
	c.add(RateSeconds * time.Second)
	s.Add(ok("openai", "a", "gpt-4o", 0))
	snap = s.Snapshot()
	sum = 0
	for _, n := range snap.Rate.Requests {
		sum += n
	}
	if sum != 1 || snap.Rate.Requests[RateSeconds-1] != 1 {
		t.Errorf("after ten minutes the window holds %d requests, want 1", sum)
	}
}

func TestLatencyPercentiles(t *testing.T) {
	s, c := newTest()
	// 1..1000 ms, in the current ten-second bucket.
	for i := 1; i <= 1000; i++ {
		e := ok("openai", "a", "gpt-4o", time.Duration(i)*time.Millisecond)
		s.Add(e)
	}
	// A slow one in an older bucket.
	c.add(-30 * time.Second)
	s.Add(ok("openai", "a", "gpt-4o", 5*time.Second))
	c.add(30 * time.Second)

	snap := s.Snapshot()
	if len(snap.Latency) != LatencyPoints {
		t.Fatalf("%d latency points", len(snap.Latency))
	}
	last := snap.Latency[LatencyPoints-1]
	if last.T != c.now().Unix()/10*10 || last.Count != 1000 {
		t.Fatalf("last point %+v", last)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want)/want > 0.125 {
			t.Errorf("%s = %v, want %v ±12.5%%", name, got, want)
		}
	}
	near("p50", last.P50, 500)
	near("p90", last.P90, 900)
	near("p99", last.P99, 990)
	near("ttfb p50", last.TTFBP50, 250)
	near("ttfb p99", last.TTFBP99, 495)
	older := snap.Latency[LatencyPoints-4]
	if older.Count != 1 {
		t.Fatalf("30s ago: %+v", older)
	}
	near("older p50", older.P50, 5000)
	if empty := snap.Latency[0]; empty.Count != 0 || empty.P50 != 0 {
		t.Errorf("empty bucket %+v", empty)
	}
}

func TestHistogramAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h hist
	var vals []float64
	for i := 0; i < 20000; i++ {
		// log-uniform from 0.5 ms to 60 s
		v := math.Exp(math.Log(0.5) + rng.Float64()*(math.Log(60000)-math.Log(0.5)))
		vals = append(vals, v)
		h[bin(time.Duration(v*float64(time.Millisecond)))]++
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.quantile(q)
		if math.Abs(got-want)/want > 0.125 {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	if bin(0) != 0 || bin(time.Hour) != histBins-1 {
		t.Error("bins at the edges")
	}
}

func TestErrorsByVendorAndClass(t *testing.T) {
	s, c := newTest()
	add := func(vendor string, status int, class string, n int) {
		for i := 0; i < n; i++ {
			e := ok(vendor, "a", "m", time.Millisecond)
			e.Status, e.ErrorClass = status, class
			s.Add(e)
		}
	}
	add("openai", 429, errclass.VendorRateLimited, 3)
	c.add(11 * time.Minute)
	add("openai", 429, errclass.VendorRateLimited, 2)
	add("gem", 502, errclass.VendorServerError, 4)
	add("", 400, errclass.ClientBadRequest, 1)
	add("gem", 200, errclass.VendorStreamBroken, 1) // broke after its 200
	add("gem", 500, "", 1)
	add("gem", 500, "made-up", 1)
	add("gem", 200, "", 5) // successes

	got := s.Snapshot().Errors
	want := []ErrorCount{
		{"openai", errclass.VendorRateLimited, 5, 2},
		{"gem", errclass.VendorServerError, 4, 4},
		{"", errclass.ClientBadRequest, 1, 1},
		{"gem", "http_500", 1, 1},
		{"gem", metrics.Other, 1, 1},
		{"gem", errclass.VendorStreamBroken, 1, 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors\n got %v\nwant %v", got, want)
	}
	if tot := s.Snapshot().Totals; tot.Errors != 13 || tot.Requests != 18 {
		t.Errorf("totals %+v", tot)
	}
}

func TestTrafficShareAndTotals(t *testing.T) {
	s, c := newTest()
	combos := [][3]string{{"openai", "a", "gpt-4o"}, {"openai", "b", "gpt-4o"}, {"gem", "0", "gemini-2.5-flash"}}
	for i := 0; i < 300; i++ {
		k := combos[i%3]
		s.Add(ok(k[0], k[1], k[2], 100*time.Millisecond))
	}
	c.add(11 * time.Minute)
	for i := 0; i < 10; i++ {
		s.Add(ok("openai", "a", "gpt-4o", 300*time.Millisecond))
	}
	s.Add(Entry{Request: metrics.Request{Status: 400, ErrorClass: errclass.ClientBadRequest}}) // not routed

	snap := s.Snapshot()
	if len(snap.Combinations) != 3 {
		t.Fatalf("%d combinations", len(snap.Combinations))
	}
	byKey := map[string]Combination{}
	for _, cb := range snap.Combinations {
		byKey[cb.Vendor+"/"+cb.Credential+"/"+cb.Model] = cb
	}
	a := byKey["openai/a/gpt-4o"]
	if a.Requests != 110 || a.RecentRequests != 10 || a.RecentShare != 1 || a.Share != round(110.0/310, 4) {
		t.Errorf("openai/a: %+v", a)
	}
	if g := byKey["gem/0/gemini-2.5-flash"]; g.Requests != 100 || g.Share != round(100.0/310, 4) || g.RecentRequests != 0 {
		t.Errorf("gem/0: %+v", g)
	}
	if a.PromptTokens != 1100 || a.CompletionTokens != 2200 || a.CachedTokens != 220 {
		t.Errorf("tokens %+v", a)
	}
	if math.Abs(a.MeanLatencyMs-(100*100+10*300)/110.0) > 0.01 {
		t.Errorf("mean latency %v", a.MeanLatencyMs)
	}
	tot := snap.Totals
	if tot.Requests != 311 || tot.Errors != 1 || tot.PromptTokens != 3100 || tot.CompletionTokens != 6200 ||
		tot.CachedTokens != 620 || math.Abs(tot.Cost-0.31) > 1e-9 {
		t.Errorf("totals %+v", tot)
	}
	// Sorted by vendor, credential, model.
	if snap.Combinations[0].Vendor != "gem" || snap.Combinations[1].Credential != "a" {
		t.Errorf("order %v", snap.Combinations)
	}
}

func TestCombinationsAreCapped(t *testing.T) {
	s, _ := newTest()
	for i := 0; i < MaxCombinations+10; i++ {
		s.Add(ok("v", "c", fmt.Sprint("model-", i), time.Millisecond))
	}
	snap := s.Snapshot()
	if len(snap.Combinations) != MaxCombinations+1 {
		t.Fatalf("%d combinations, want %d", len(snap.Combinations), MaxCombinations+1)
	}
	for _, cb := range snap.Combinations {
		if cb.Vendor == metrics.Other && cb.Requests != 10 {
			t.Errorf("other: %+v", cb)
		}
	}
}

func TestRecentRing(t *testing.T) {
	s, c := newTest()
	for i := 0; i < RecentSize+50; i++ {
		e := ok("openai", "a", "gpt-4o", time.Millisecond)
		e.ID = fmt.Sprint("req-", i)
		e.Time = c.now()
		s.Add(e)
		c.add(time.Millisecond)
	}
	long := ok("openai", "a", "gpt-4o", time.Millisecond)
	long.ID = "last"
	long.ModelAsked = strings.Repeat("x", 10000)
	long.Fallback = true
	s.Add(long)
	s.Add(Entry{ID: "unrouted", ModelAsked: "nope", Request: metrics.Request{Model: "nope", Status: 404, ErrorClass: errclass.ClientBadRequest}})

	snap := s.Snapshot()
	if len(snap.Recent) != RecentSize {
		t.Fatalf("%d recent rows", len(snap.Recent))
	}
	if snap.Recent[0].ID != "unrouted" || snap.Recent[0].ModelServed != "" || snap.Recent[0].ModelAsked != "nope" {
		t.Errorf("newest %+v", snap.Recent[0])
	}
	if r := snap.Recent[1]; r.ID != "last" || len(r.ModelAsked) != maxText || !r.Fallback || r.ModelServed != "gpt-4o" {
		t.Errorf("second newest %+v", r)
	}
	if got := snap.Recent[RecentSize-1].ID; got != fmt.Sprint("req-", 52) {
		t.Errorf("oldest kept %s", got)
	}
	if got := s.snapshot(5).Recent; len(got) != 5 || got[0].ID != "unrouted" {
		t.Errorf("recent=5 gave %d rows", len(got))
	}
}

func TestCredentialsAndInFlight(t *testing.T) {
	s, _ := newTest()
	if snap := s.Snapshot(); snap.Credentials == nil || len(snap.Credentials) != 0 {
		t.Error("credentials should be an empty list without a source")
	}
	s.SetCredentialSource(func() []CredentialHealth {
		return CredentialsFrom([]metrics.CircuitState{
			{Vendor: "openai", Credential: "a", State: "open", Reason: "rate_limited", Cooldown: 1500 * time.Millisecond, InFlight: 3},
		})
	})
	s.InFlight(2)
	s.InFlight(-1)
	snap := s.Snapshot()
	want := []CredentialHealth{{Vendor: "openai", Name: "a", State: "open", Reason: "rate_limited", CooldownSeconds: 1.5, InFlight: 3}}
	if fmt.Sprint(snap.Credentials) != fmt.Sprint(want) {
		t.Errorf("credentials %+v", snap.Credentials)
	}
	if snap.InFlight != 1 {
		t.Errorf("in flight %d", snap.InFlight)
	}
	var nilStats *Stats
	nilStats.Add(Entry{})
	nilStats.InFlight(1)
}

func TestHandlers(t *testing.T) {
	s, _ := newTest()
	for i := 0; i < 30; i++ {
		s.Add(ok("openai", "a", "gpt-4o", time.Millisecond))
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/stats", s.Handler())
	mux.Handle("/admin/stats/stream", s.SSEHandler(100*time.Millisecond))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/admin/stats?recent=3")
	if err != nil {
		t.Fatal(err)
	}
	var snap Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/json" || snap.Totals.Requests != 30 || len(snap.Recent) != 3 {
		t.Fatalf("snapshot: %s, %d requests, %d recent", resp.Header.Get("Content-Type"), snap.Totals.Requests, len(snap.Recent))
	}

	resp, err = http.Get(srv.URL + "/admin/stats/stream?recent=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %s", resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	events := 0
	for sc.Scan() && events < 2 {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var snap Snapshot
		if err := json.Unmarshal([]byte(line[6:]), &snap); err != nil {
			t.Fatal(err)
		}
		if snap.Totals.Requests != 30 || len(snap.Recent) != 1 {
			t.Fatalf("event: %d requests, %d recent", snap.Totals.Requests, len(snap.Recent))
		}
		events++
	}
	if events != 2 {
		t.Fatalf("%d events", events)
	}
}

func TestConcurrentAddAndSnapshot(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				s.Add(ok("openai", fmt.Sprint(g), "gpt-4o", time.Duration(i)*time.Microsecond))
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			_ = s.Snapshot()
		}
	}()
	wg.Wait()
	if got := s.Snapshot().Totals.Requests; got != 8000 {
		t.Fatalf("requests %d", got)
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	s := New()
	e := ok("openai", "a", "gpt-4o", 120*time.Millisecond)
	e.ID = "req_0123456789abcdef"
	bad := e
	bad.Status, bad.ErrorClass = 502, errclass.VendorServerError
	noClass := e
	noClass.Status = 500
	s.Add(e)
	s.Add(bad)
	s.Add(noClass)
	for name, en := range map[string]Entry{"ok": e, "error": bad, "error without class": noClass} {
		if n := testing.AllocsPerRun(500, func() { s.Add(en) }); n != 0 {
			t.Errorf("Add(%s) allocates %v times", name, n)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	s := New()
	e := ok("openai", "a", "gpt-4o", 120*time.Millisecond)
	e.ID = "req_0123456789abcdef"
	b.ReportAllocs()
	for b.Loop() {
		s.Add(e)
	}
}

func BenchmarkAddParallel(b *testing.B) {
	s := New()
	e := ok("openai", "a", "gpt-4o", 120*time.Millisecond)
	e.ID = "req_0123456789abcdef"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Add(e)
		}
	})
}

func BenchmarkSnapshot(b *testing.B) {
	s := New()
	for i := 0; i < 5000; i++ {
		s.Add(ok("openai", fmt.Sprint(i%8), "gpt-4o", time.Duration(i)*time.Microsecond))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Snapshot()
	}
}
