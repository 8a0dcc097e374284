package server

import (
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// BenchmarkSoak runs mixed faults against two vendors with three keys each
// for a while (GENROUTER_SOAK, default 10s; e.g. GENROUTER_SOAK=3m) and
// reports what clients saw. Run it with
//
//	go test ./internal/server -run '^$' -bench Soak -benchtime 1x
//
// Failures a client may legitimately see are streams cut after their first
// byte (reported in-band, never retried); everything before the first byte
// must be absorbed by failover.
func BenchmarkSoak(b *testing.B) {
	dur := 10 * time.Second
	if v := os.Getenv("GENROUTER_SOAK"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			dur = d
		}
	}
	// A key runs over its quota about once every 8 s: for a second it
	// answers every request 429 with Retry-After: 1. A quota is state, not
	// chance: a 429 drawn at random per request would have every key
	// "over quota" all the time at a few thousand requests a second, and a
	// gateway that honours Retry-After would rightly rest them all.
	var quotaMu sync.Mutex
	overUntil, nextOver := map[string]time.Time{}, map[string]time.Time{}
	overQuota := func(key string) bool {
		now := time.Now()
		quotaMu.Lock()
		defer quotaMu.Unlock()
		if now.Before(overUntil[key]) {
			return true
		}
		next, seen := nextOver[key]
		nextOver[key] = now.Add(4*time.Second + rand.N(8*time.Second))
		switch {
		case !seen:
			nextOver[key] = now.Add(rand.N(8 * time.Second))
		case now.After(next):
			overUntil[key] = now.Add(time.Second)
			return true
		default:
			nextOver[key] = next
		}
		return false
	}
	// Then, per mille: 6% 500, 3% 503, 0.5% hangs, 2% streams cut after
	// two events, 2% slow.
	faulty := func(r *fake.Recorded) *fake.Fault {
		if overQuota(r.Header.Get("Authorization")) {
			return &fake.Fault{Status: 429, RetryAfter: "1"}
		}
		switch n := rand.IntN(1000); {
		case n < 60:
			return &fake.Fault{Status: 500}
		case n < 90:
			return &fake.Fault{Status: 503}
		case n < 97:
			return &fake.Fault{Hang: true}
		case n < 117:
			return &fake.Fault{CutAfter: 2}
		case n < 137:
			return &fake.Fault{Delay: 20 * time.Millisecond}
		}
		return nil
	}
	a := fake.Start(b, fake.OpenAI, fake.Options{})
	a.SetFault(faulty)
	g := fake.Start(b, fake.GeminiCompat, fake.Options{})
	g.SetFault(faulty)
	cfg := configOf(config.UnknownModelsPool,
		vendorOf("oa", config.TypeOpenAI, a.URL(), []string{"a1", "a2", "a3"}, "m"),
		vendorOf("gm", config.TypeGemini, g.URL(), []string{"g1", "g2", "g3"}, "m"))
	cfg.Routing.Timeouts.FirstByte = 500 * time.Millisecond
	cfg.Routing.Circuit.Cooldown = time.Second
	gw := startGateway(b, cfg)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var ok, cut, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	statuses := map[int]int{}
	deadline := time.Now().Add(dur)
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				body := hi
				if i%2 == 1 {
					body = hiStream
				}
				start := time.Now()
				resp, err := client.Post(gw.URL+"/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				switch {
				case resp.StatusCode != 200:
					failed.Add(1)
					mu.Lock()
					statuses[resp.StatusCode]++
					mu.Unlock()
				case strings.Contains(string(out), `data: {"error"`):
					cut.Add(1)
				default:
					ok.Add(1)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	total := ok.Load() + cut.Load() + failed.Load()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(total), "requests")
	for st, n := range statuses {
		b.Logf("status %d: %d", st, n)
	}
	b.ReportMetric(100*float64(ok.Load())/float64(total), "%ok")
	b.ReportMetric(100*float64(cut.Load())/float64(total), "%cut_after_first_byte")
	b.ReportMetric(100*float64(failed.Load())/float64(total), "%failed")
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(before.HeapInuse)/(1<<20), "heap_start_MiB")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap_end_MiB")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines_end")
}

// BenchmarkOverload sends many slow requests at once against a small
// max_in_flight and reports how many were shed and how far the heap grew:
// beyond the limit requests cost an immediate 503, not memory.
//
//	go test ./internal/server -run '^$' -bench Overload -benchtime 1x
func BenchmarkOverload(b *testing.B) {
	const clients, limit = 3000, 100
	up := fake.Start(b, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Delay: 2 * time.Second} })
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"k"}, "m"))
	cfg.Server.MaxInFlight = limit
	g := startGateway(b, cfg)
	var before, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var ok, shed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(g.URL+"/chat/completions", "application/json", strings.NewReader(hi))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 503:
				shed.Add(1)
			}
		}()
	}
	time.Sleep(time.Second) // everything is in flight or shed by now
	runtime.ReadMemStats(&peak)
	wg.Wait()
	b.StopTimer()
	client.CloseIdleConnections()
	b.ReportMetric(float64(ok.Load()), "served")
	b.ReportMetric(float64(shed.Load()), "shed")
	// The clients and the fake vendor share this process: the heap growth
	// is an upper bound for the gateway, not its own figure.
	b.ReportMetric(float64(peak.HeapInuse-before.HeapInuse)/(1<<20), "heap_growth_with_clients_MiB")
}
