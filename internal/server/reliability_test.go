package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
)

const hi = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
const hiStream = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// twoKeys is one fake vendor with two keys behind a gateway; fault is
// applied to requests made with key "bad".
func twoKeys(t *testing.T, flavor fake.Flavor, typ string, tune func(*config.Config), fault func(*fake.Recorded) *fake.Fault) (*gateway, *fake.Server) {
	t.Helper()
	up := fake.Start(t, flavor, fake.Options{Keys: map[string]string{"sk-bad": "bad", "sk-good": "good"}})
	up.SetFault(func(r *fake.Recorded) *fake.Fault {
		if r.KeyName == "bad" {
			return fault(r)
		}
		return nil
	})
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", typ, up.URL(), []string{"sk-bad", "sk-good"}, "m"))
	cfg.Routing.BackoffBase = time.Millisecond
	if tune != nil {
		tune(cfg)
	}
	return startGateway(t, cfg), up
}

func countByKey(up *fake.Server) map[string]int {
	n := map[string]int{}
	for _, r := range up.Requests() {
		n[r.KeyName]++
	}
	return n
}

// A failing key never fails the client: the request moves to the other
// key, and each retry goes to a different combination.
func TestFailoverToAnotherKey(t *testing.T) {
	faults := []struct {
		name  string
		fault fake.Fault
	}{
		{"500", fake.Fault{Status: 500}},
		{"502", fake.Fault{Status: 502}},
		{"503", fake.Fault{Status: 503}},
		{"504", fake.Fault{Status: 504}},
		{"529", fake.Fault{Status: 529}},
		{"429", fake.Fault{Status: 429, RetryAfter: "30"}},
		{"401 bad key", fake.Fault{Status: 401}},
		{"403", fake.Fault{Status: 403}},
		{"hang before first byte", fake.Fault{Hang: true}},
	}
	for _, f := range faults {
		for _, stream := range []bool{false, true} {
			t.Run(f.name+map[bool]string{false: "", true: "/stream"}[stream], func(t *testing.T) {
				fault := f.fault
				g, up := twoKeys(t, fake.OpenAI, config.TypeOpenAI, func(c *config.Config) {
					c.Routing.Timeouts.FirstByte = 300 * time.Millisecond
				}, func(*fake.Recorded) *fake.Fault { return &fault })
				body := hi
				if stream {
					body = hiStream
				}
				for i := 0; i < 6; i++ {
					status, h, resp := post(t, g.URL+"/chat/completions", body)
					if status != 200 {
						t.Fatalf("request %d: %d %s", i, status, resp)
					}
					if h.Get("X-Genrouter-Credential") != "k1" {
						t.Fatalf("served by %q, want the good key", h.Get("X-Genrouter-Credential"))
					}
					if stream && !strings.HasSuffix(resp, "data: [DONE]\n\n") {
						t.Fatalf("stream incomplete: %s", resp)
					}
					if a, _ := strconv.Atoi(h.Get("X-Genrouter-Attempts")); a < 1 || a > 2 {
						t.Fatalf("attempts %q", h.Get("X-Genrouter-Attempts"))
					}
				}
				// Keys that are refused or rate-limited are taken out at
				// once; the bad key is tried at most a few times for the
				// others before its circuit opens.
				n := countByKey(up)
				limit := 5
				if f.fault.Status == 429 || f.fault.Status == 401 || f.fault.Status == 403 {
					limit = 1
				}
				if n["bad"] > limit {
					t.Errorf("the failing key was tried %d times, want at most %d", n["bad"], limit)
				}
			})
		}
	}
}

// A request that is wrong gets its error at once: no retry elsewhere.
func TestNoRetryOnClientErrors(t *testing.T) {
	for _, status := range []int{400, 404, 413, 422} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			up := fake.Start(t, fake.OpenAI, fake.Options{})
			up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: status} })
			g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a", "b", "c"}, "m")))
			code, h, body := post(t, g.URL+"/chat/completions", hi)
			assertOpenAIError(t, code, h, body, status, "")
			if n := len(up.Requests()); n != 1 || h.Get("X-Genrouter-Attempts") != "1" {
				t.Errorf("%d upstream requests, attempts header %q; want 1", n, h.Get("X-Genrouter-Attempts"))
			}
		})
	}
}

// 429 cools that credential only, for the time the vendor asked, and when
// every credential is cooling the answer is immediate with Retry-After.
func TestRateLimitCooldownAndImmediateAnswer(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 429, RetryAfter: "20"} })
	g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a", "b"}, "m")))
	code, h, body := post(t, g.URL+"/chat/completions", hi)
	assertOpenAIError(t, code, h, body, 429, "")
	if len(up.Requests()) != 2 {
		t.Fatalf("%d upstream requests, want both keys tried once", len(up.Requests()))
	}
	start := time.Now()
	code, h, body = post(t, g.URL+"/chat/completions", hi)
	assertOpenAIError(t, code, h, body, 429, "")
	if time.Since(start) > time.Second || len(up.Requests()) != 2 {
		t.Errorf("answer took %v and reached the vendor (%d requests): not immediate", time.Since(start), len(up.Requests()))
	}
	if ra, _ := strconv.Atoi(h.Get("Retry-After")); ra < 18 || ra > 20 {
		t.Errorf("Retry-After %q, want about 20", h.Get("Retry-After"))
	}
	// /health tells the story.
	_, _, hb := do(t, "GET", strings.TrimSuffix(g.URL, "/v1")+"/health", "")
	var health struct {
		Status  string
		Vendors []struct {
			Credentials []struct {
				Name, State, Reason string
				Cooldown            float64 `json:"cooldown_remaining_seconds"`
			}
		}
	}
	json.Unmarshal([]byte(hb), &health)
	if health.Status != "down" || len(health.Vendors) != 1 {
		t.Fatalf("health: %s", hb)
	}
	for _, c := range health.Vendors[0].Credentials {
		if c.State != "open" || c.Reason != "rate_limited" || c.Cooldown < 15 {
			t.Errorf("credential %+v", c)
		}
	}
	if strings.Contains(hb, `"a"`) && strings.Contains(hb, "sk-") {
		t.Error("health shows a key")
	}
}

// All keys failing with 5xx: 503 with Retry-After once circuits open.
func TestAllFailingGives503(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 500} })
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a", "b"}, "m"))
	cfg.Routing.Circuit.Failures = 2
	cfg.Routing.BackoffBase = time.Millisecond
	g := startGateway(t, cfg)
	for i := 0; i < 2; i++ {
		code, h, body := post(t, g.URL+"/chat/completions", hi)
		assertOpenAIError(t, code, h, body, 500, "")
	}
	before := len(up.Requests())
	code, h, body := post(t, g.URL+"/chat/completions", hi)
	assertOpenAIError(t, code, h, body, 503, "")
	if h.Get("Retry-After") == "" || len(up.Requests()) != before {
		t.Errorf("Retry-After %q, upstream requests %d -> %d", h.Get("Retry-After"), before, len(up.Requests()))
	}
}

// Keys come back on their own: after the cooldown one trial request goes
// through, and its success closes the circuit.
func TestKeysComeBack(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault {
		if failing.Load() {
			return &fake.Fault{Status: 503}
		}
		return nil
	})
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m"))
	cfg.Routing.Circuit.Failures = 1
	cfg.Routing.Circuit.Cooldown = 200 * time.Millisecond
	g := startGateway(t, cfg)
	if code, _, _ := post(t, g.URL+"/chat/completions", hi); code != 503 {
		t.Fatalf("first: %d", code)
	}
	if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 503 || !strings.Contains(body, "no_healthy_upstream") {
		t.Fatalf("while open: %d %s", code, body)
	}
	failing.Store(false)
	time.Sleep(250 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 200 {
			t.Fatalf("after cooldown %d: %d %s", i, code, body)
		}
	}
}

// A stream that breaks after its first byte is never retried: the client
// gets the error event, the vendor one request.
func TestNoRetryAfterFirstByte(t *testing.T) {
	for _, f := range []fake.Fault{{CutAfter: 2}, {ErrorEventAfter: 2}, {StallAfter: 2}} {
		f := f
		up := fake.Start(t, fake.OpenAI, fake.Options{})
		up.SetFault(func(*fake.Recorded) *fake.Fault { return &f })
		cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a", "b"}, "m"))
		cfg.Routing.Timeouts.StreamIdle = 200 * time.Millisecond
		g := startGateway(t, cfg)
		code, _, body := post(t, g.URL+"/chat/completions", hiStream)
		if code != 200 || strings.Contains(body, "[DONE]") || !strings.Contains(body, `data: {"error":`) {
			t.Errorf("%+v: %d %s", f, code, body)
		}
		if n := len(up.Requests()); n != 1 {
			t.Errorf("%+v: %d upstream requests, want 1", f, n)
		}
		if f.StallAfter > 0 && !strings.Contains(body, "stream_idle_timeout") {
			t.Errorf("stall: %s", body)
		}
	}
}

// Fallback models serve when the model's own combinations are exhausted.
func TestFallbacks(t *testing.T) {
	a := fake.Start(t, fake.OpenAI, fake.Options{})
	a.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 503} })
	b := fake.Start(t, fake.GeminiCompat, fake.Options{})
	cfg := configOf(config.UnknownModelsReject,
		vendorOf("oa", config.TypeOpenAI, a.URL(), []string{"a"}, "gpt-4o"),
		vendorOf("gm", config.TypeGemini, b.URL(), []string{"b"}, "gemini-2.0-flash"))
	cfg.Routing.Fallbacks = map[string][]string{"gpt-4o": {"gemini-2.0-flash"}}
	g := startGateway(t, cfg)
	var resp *http.Response
	c := sdk(g)
	got, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}},
		optResponse(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "gpt-4o" || resp.Header.Get("X-Genrouter-Fallback") != "gemini-2.0-flash" ||
		resp.Header.Get("X-Genrouter-Vendor") != "gm" {
		t.Errorf("model %q, headers %v", got.Model, resp.Header)
	}
}

// The time-to-first-byte timeout moves a hanging attempt elsewhere; a
// request header may lower timeouts but not raise them.
func TestTimeouts(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Delay: 400 * time.Millisecond} })
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m"))
	cfg.Routing.Timeouts.FirstByte = time.Second
	g := startGateway(t, cfg)
	if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 200 {
		t.Fatalf("within the timeout: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", g.URL+"/chat/completions", strings.NewReader(hi))
	req.Header.Set("X-Genrouter-First-Byte-Timeout", "100ms")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Errorf("lowered timeout: %d, want 504", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", g.URL+"/chat/completions", strings.NewReader(hi))
	req.Header.Set("X-Genrouter-Timeout", "50ms")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Errorf("total timeout: %d, want 504", resp.StatusCode)
	}
}

// A credential reporting nothing remaining is skipped until its reset.
func TestRateLimitHeaders(t *testing.T) {
	g, up := twoKeys(t, fake.OpenAI, config.TypeOpenAI, nil, func(*fake.Recorded) *fake.Fault {
		return &fake.Fault{Headers: map[string]string{"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "30s"}}
	})
	for i := 0; i < 20; i++ {
		if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if n := countByKey(up)["bad"]; n != 1 {
		t.Errorf("exhausted key used %d times, want 1", n)
	}
}

// Local per-credential limits: max_concurrency and rpm hold.
func TestLocalCredentialLimits(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Delay: 100 * time.Millisecond} })
	v := vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m")
	v.Credentials[0].MaxConcurrency = 2
	v.Credentials[0].RPM = 5
	g := startGateway(t, configOf(config.UnknownModelsPool, v))
	var ok, limited atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := post(t, g.URL+"/chat/completions", hi)
			switch code {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() < 2 || ok.Load()+limited.Load() != 4 {
		t.Fatalf("ok %d limited %d", ok.Load(), limited.Load())
	}
	for i := 0; i < 10; i++ {
		post(t, g.URL+"/chat/completions", hi)
	}
	if n := len(up.Requests()); n > 5 {
		t.Errorf("the vendor saw %d requests in a minute with rpm 5", n)
	}
}

// Reloading the config under load fails no request, and keeps circuit
// state of unchanged credentials.
func TestHotReloadUnderLoad(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	cfgA := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m1"))
	cfgB := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a", "b"}, "m2"))
	g := startGateway(t, cfgA)
	stop := make(chan struct{})
	var failures, total atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				body := hi
				if total.Add(1)%2 == 0 {
					body = hiStream
				}
				if code, _, resp := post(t, g.URL+"/chat/completions", body); code != 200 ||
					(strings.Contains(body, "stream") && !strings.HasSuffix(resp, "[DONE]\n\n")) {
					failures.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		cfg := cfgA
		if i%2 == 0 {
			cfg = cfgB
		}
		if err := g.srv.Load(cfg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || total.Load() < 20 {
		t.Errorf("%d of %d requests failed during reloads", failures.Load(), total.Load())
	}
}

func TestLiveAndReady(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 401} })
	g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m")))
	base := strings.TrimSuffix(g.URL, "/v1")
	if code, _, _ := do(t, "GET", base+"/health/ready", ""); code != 200 {
		t.Fatalf("ready before failure: %d", code)
	}
	post(t, g.URL+"/chat/completions", hi) // the key is refused: out of rotation
	if code, _, _ := do(t, "GET", base+"/health/ready", ""); code != 503 {
		t.Errorf("ready with no usable key: %d", code)
	}
	if code, _, _ := do(t, "GET", base+"/health/live", ""); code != 200 {
		t.Errorf("live: %d", code)
	}
}

// Active probes bring a key back (or take it out) without client traffic.
func TestActiveProbes(t *testing.T) {
	var refused atomic.Bool
	refused.Store(true)
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(r *fake.Recorded) *fake.Fault {
		if refused.Load() {
			return &fake.Fault{Status: 401}
		}
		return nil
	})
	v := vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m")
	v.HealthCheck = config.HealthCheck{Interval: 50 * time.Millisecond, Timeout: time.Second}
	g := startGateway(t, configOf(config.UnknownModelsPool, v))
	base := strings.TrimSuffix(g.URL, "/v1")
	eventually(t, "the probe to take the refused key out", func() bool {
		code, _, _ := do(t, "GET", base+"/health/ready", "")
		return code == 503
	})
	refused.Store(false)
	eventually(t, "the probe to bring the key back", func() bool {
		code, _, _ := do(t, "GET", base+"/health/ready", "")
		return code == 200
	})
	probes := 0
	for _, r := range up.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/models") {
			probes++
		}
	}
	if probes < 2 {
		t.Errorf("%d probes", probes)
	}
}

// Beyond max_in_flight the answer is an immediate 503 with Retry-After.
func TestMaxInFlight(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Delay: time.Second} })
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m"))
	cfg.Server.MaxInFlight = 2
	g := startGateway(t, cfg)
	var wg sync.WaitGroup
	var ok, shed atomic.Int32
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(g.URL+"/chat/completions", "application/json", strings.NewReader(hi))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			// A shed answer also closes its connection (resp.Close).
			switch code, h := resp.StatusCode, resp.Header; {
			case code == 200:
				ok.Add(1)
			case code == 503 && h.Get("Retry-After") != "" && resp.Close:
				shed.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 2 || shed.Load() != 4 {
		t.Errorf("ok %d shed %d, want 2 and 4", ok.Load(), shed.Load())
	}
	// Admin endpoints: loopback only without a master key.
	code, _, _ := do(t, "GET", strings.TrimSuffix(g.URL, "/v1")+"/debug/pprof/", "")
	if code != 200 {
		t.Errorf("pprof from loopback: %d", code)
	}
}

// Regressions from review: a client that lowers its own timeouts cannot
// take keys out of rotation for everyone, and listing models holds no
// limiter slot.
func TestClientTimeoutsDoNotChargeCircuits(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Delay: 100 * time.Millisecond} })
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a", "b"}, "m"))
	cfg.Routing.Circuit.Failures = 1
	cfg.Fleet.IPLimits = config.IPLimits{MaxParallel: 1}
	g := startGateway(t, cfg)
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("POST", g.URL+"/chat/completions", strings.NewReader(hi))
		req.Header.Set("X-Genrouter-First-Byte-Timeout", "1ms")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 504 {
			t.Fatalf("lowered timeout: %d", resp.StatusCode)
		}
	}
	for i := 0; i < 3; i++ {
		do(t, "GET", g.URL+"/models", "")
	}
	if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 200 {
		t.Errorf("a normal request after clients' short timeouts and model listings: %d %s", code, body)
	}
}

// A vendor that refuses a key names it in its message, masked
// ("sk-proj-****…wxyz"); the client never sees any part of it.
func TestRefusedKeyIsNotEchoed(t *testing.T) {
	const key = "sk-proj-abcdefghijklmnopqrstuvwxyz0987"
	up := fake.Start(t, fake.OpenAI, fake.Options{Keys: map[string]string{"sk-proj-the-right-one-000000": "right"}})
	g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{key}, "m")))
	code, _, body := do(t, "POST", g.URL+"/chat/completions", hi)
	if code != http.StatusUnauthorized && code != http.StatusServiceUnavailable && code != http.StatusBadGateway {
		t.Fatalf("status %d: %s", code, body)
	}
	if !strings.Contains(body, "Incorrect API key provided") {
		t.Fatalf("the vendor's message is gone: %s", body)
	}
	for _, part := range []string{key, "0987", "****", "sk-proj-a"} {
		if strings.Contains(body, part) {
			t.Errorf("the answer shows %q of the key: %s", part, body)
		}
	}
}
