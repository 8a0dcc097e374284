package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/mock"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// secret stands for a vendor key: it must never reach a label.
const secret = "sk-test-SUPERSECRET-0123456789abcdef"

func testVendors() []Vendor {
	return []Vendor{
		{Name: "openai", Type: "openai", Credentials: []string{"team-a", "team-b"}, Models: []string{"gpt-4o", "gpt-4o-mini"}},
		{Name: "gem", Type: "gemini", Credentials: []string{"0"}, Models: []string{"gemini-2.5-flash"}},
	}
}

// scenario records a known mix of traffic.
func scenario(r *Recorder) {
	r.InFlight(1)
	r.InFlight(1)
	r.InFlight(1)
	r.InFlight(-1)
	// 1: a stream served at once.
	r.Selected("openai", "team-a", "gpt-4o")
	r.Attempt("openai", "team-a", "gpt-4o", OutcomeSuccess)
	r.Request(Request{Vendor: "openai", Credential: "team-a", Model: "gpt-4o", Status: 200, Stream: true,
		Duration: time.Second, TTFB: 100 * time.Millisecond, Overhead: 300 * time.Microsecond,
		PromptTokens: 10, CompletionTokens: 91, CachedTokens: 4, Cost: 0.25, Attempts: 1})
	// 2: failed over from team-a (a 503) to team-b.
	r.Selected("openai", "team-a", "gpt-4o")
	r.Attempt("openai", "team-a", "gpt-4o", errclass.VendorServerError)
	r.Selected("openai", "team-b", "gpt-4o")
	r.Attempt("openai", "team-b", "gpt-4o", OutcomeSuccess)
	r.Request(Request{Vendor: "openai", Credential: "team-b", Model: "gpt-4o", Status: 200,
		Duration: 2 * time.Second, TTFB: 2 * time.Second, Overhead: time.Millisecond,
		PromptTokens: 20, CompletionTokens: 5, Cost: 0.5, Attempts: 2})
	// 3: every attempt rate-limited.
	for i := 0; i < 3; i++ {
		r.Selected("gem", "0", "gemini-2.5-flash")
		r.Attempt("gem", "0", "gemini-2.5-flash", errclass.VendorRateLimited)
	}
	r.Request(Request{Vendor: "gem", Credential: "0", Model: "gemini-2.5-flash", Status: 429,
		ErrorClass: errclass.Classify(429, "rate_limit_exceeded", true), Duration: 50 * time.Millisecond, Attempts: 3})
	// 4: refused before routing, asking for a model nobody configured.
	r.Request(Request{Model: "my-private-finetune-" + secret, Status: 400,
		ErrorClass: errclass.Classify(400, "invalid_json", false), Duration: time.Millisecond})
	// 5: names that are not in the config (a bug upstream of the recorder
	// must not leak them).
	r.Selected("evil", secret, secret)
	r.Attempt("openai", secret, "gpt-4o", "bogus outcome "+secret)
	r.Request(Request{Vendor: "evil", Credential: secret, Model: secret, Status: 502,
		ErrorClass: "not a class " + secret, Duration: time.Second, Attempts: 1})
	// 6: served by a fallback model on a second attempt, embeddings.
	r.Request(Request{Operation: OpEmbeddings, Vendor: "openai", Credential: "team-a", Model: "gpt-4o-mini",
		Status: 200, Duration: 10 * time.Millisecond, TTFB: 10 * time.Millisecond, PromptTokens: 7,
		Attempts: 2, Fallback: true})
	r.SetCircuitSource(func() []CircuitState {
		return []CircuitState{
			{Vendor: "openai", Credential: "team-a", State: "open", Reason: "rate_limited", Cooldown: 30 * time.Second, InFlight: 2},
			{Vendor: "openai", Credential: "team-b", State: "closed"},
			{Vendor: "gem", Credential: "0", State: "half_open"},
			{Vendor: "openai", Credential: secret, State: "open"},
		}
	})
}

func scrape(t *testing.T, r *Recorder) string {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScrapeAfterScenario(t *testing.T) {
	r := New(testVendors())
	scenario(r)
	body := scrape(t, r)

	if strings.Contains(body, "SUPERSECRET") || strings.Contains(body, "my-private-finetune") {
		t.Fatal("a secret or a client-chosen name reached the metrics")
	}
	want := []string{
		`genrouter_requests_total{credential="team-a",error_class="",model="gpt-4o",status_class="2xx",vendor="openai"} 1`,
		`genrouter_requests_total{credential="team-b",error_class="",model="gpt-4o",status_class="2xx",vendor="openai"} 1`,
		`genrouter_requests_total{credential="0",error_class="vendor_rate_limited",model="gemini-2.5-flash",status_class="4xx",vendor="gem"} 1`,
		`genrouter_requests_total{credential="",error_class="client_bad_request",model="other",status_class="4xx",vendor=""} 1`,
		`genrouter_requests_total{credential="other",error_class="other",model="other",status_class="5xx",vendor="other"} 1`,
		`genrouter_tokens_total{credential="team-a",model="gpt-4o",token_type="input",vendor="openai"} 10`,
		`genrouter_tokens_total{credential="team-a",model="gpt-4o",token_type="output",vendor="openai"} 91`,
		`genrouter_tokens_total{credential="team-a",model="gpt-4o",token_type="cached",vendor="openai"} 4`,
		`genrouter_cost_usd_total{credential="team-b",model="gpt-4o",vendor="openai"} 0.5`,
		`genrouter_retries_total{model="gemini-2.5-flash",vendor="gem"} 2`,
		`genrouter_retries_total{model="gpt-4o",vendor="openai"} 1`,
		`genrouter_failovers_total{model="gpt-4o",vendor="openai"} 1`,
		`genrouter_fallbacks_total{model="gpt-4o-mini",vendor="openai"} 1`,
		`genrouter_upstream_attempts_total{credential="team-a",model="gpt-4o",outcome="vendor_server_error",vendor="openai"} 1`,
		`genrouter_upstream_attempts_total{credential="0",model="gemini-2.5-flash",outcome="vendor_rate_limited",vendor="gem"} 3`,
		`genrouter_upstream_attempts_total{credential="other",model="gpt-4o",outcome="other",vendor="openai"} 1`,
		`genrouter_selections_total{credential="team-a",model="gpt-4o",vendor="openai"} 2`,
		`genrouter_selections_total{credential="other",model="other",vendor="other"} 1`,
		`genrouter_in_flight_requests 2`,
		`genrouter_circuit_state{credential="team-a",vendor="openai"} 2`,
		`genrouter_circuit_state{credential="team-b",vendor="openai"} 0`,
		`genrouter_circuit_state{credential="0",vendor="gem"} 1`,
		`genrouter_circuit_state{credential="other",vendor="openai"} 2`,
		`genrouter_credential_cooldown_seconds{credential="team-a",vendor="openai"} 30`,
		`genrouter_credential_in_flight{credential="team-a",vendor="openai"} 2`,
		`gen_ai_client_operation_duration_seconds_count{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",vendor="openai"} 2`,
		`gen_ai_client_operation_duration_seconds_count{error_type="vendor_rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="gcp.gemini",gen_ai_request_model="gemini-2.5-flash",vendor="gem"} 1`,
		`gen_ai_client_operation_duration_seconds_sum{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",vendor="openai"} 3`,
		`gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_token_type="input",vendor="openai"} 30`,
		`gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_token_type="output",vendor="openai"} 96`,
		`gen_ai_client_token_usage_count{gen_ai_operation_name="embeddings",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",vendor="openai"} 1`,
		`gen_ai_server_time_to_first_token_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",stream="true",vendor="openai"} 1`,
		`gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",stream="true",vendor="openai",le="0.1"} 1`,
		// (1s - 0.1s) / (91 - 1) tokens = 10ms per token
		`gen_ai_server_time_per_output_token_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",vendor="openai",le="0.01"} 1`,
		`genrouter_overhead_seconds_count{vendor="openai"} 2`,
		`genrouter_overhead_seconds_bucket{vendor="openai",le="0.0005"} 1`,
		`go_goroutines `,
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("scrape lacks %s", w)
		}
	}
	// Requests that never reached a vendor are not GenAI operations.
	if strings.Contains(body, `gen_ai_client_operation_duration_seconds_count{error_type="client_bad_request"`) {
		t.Error("a request refused before routing was recorded as a GenAI operation")
	}
	// The rate-limited request has no time to first token.
	if strings.Contains(body, `gen_ai_server_time_to_first_token_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="gcp.gemini"`) {
		t.Error("a failed request was recorded in time to first token")
	}
	if got := testutil.ToFloat64(r.requests.WithLabelValues("openai", "team-a", "gpt-4o", "2xx", "")); got != 1 {
		t.Errorf("requests = %v", got)
	}
	// Lint what we own: semantic-convention names are as the conventions
	// spell them, so only the genrouter_* ones are held to Prometheus' rules.
	problems, err := testutil.GatherAndLint(r.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "genrouter_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestSetVendorsBoundsLabels(t *testing.T) {
	r := New(nil)
	r.Request(Request{Vendor: "openai", Credential: "team-a", Model: "gpt-4o", Status: 200})
	r.SetVendors(testVendors())
	r.Request(Request{Vendor: "openai", Credential: "team-a", Model: "gpt-4o", Status: 200})
	body := scrape(t, r)
	for _, w := range []string{
		`genrouter_requests_total{credential="other",error_class="",model="other",status_class="2xx",vendor="other"} 1`,
		`genrouter_requests_total{credential="team-a",error_class="",model="gpt-4o",status_class="2xx",vendor="openai"} 1`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("scrape lacks %s", w)
		}
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.Request(Request{Status: 200})
	r.Attempt("a", "b", "c", OutcomeSuccess)
	r.Selected("a", "b", "c")
	r.InFlight(1)
	r.SetVendors(nil)
	r.SetCircuitSource(nil)
}

func TestConcurrentRecording(t *testing.T) {
	r := New(testVendors())
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				cred := []string{"team-a", "team-b"}[i%2]
				r.Selected("openai", cred, "gpt-4o")
				r.Attempt("openai", cred, "gpt-4o", OutcomeSuccess)
				r.Request(Request{Vendor: "openai", Credential: cred, Model: "gpt-4o", Status: 200 + (i%3)*100, Duration: time.Millisecond})
			}
		}(g)
	}
	wg.Wait()
	total := 0.0
	for _, c := range []string{"team-a", "team-b"} {
		for _, s := range []string{"2xx", "3xx", "4xx"} {
			total += testutil.ToFloat64(r.requests.WithLabelValues("openai", c, "gpt-4o", s, ""))
		}
	}
	if total != 4000 {
		t.Fatalf("requests = %v, want 4000", total)
	}
}

func TestRecordingDoesNotAllocate(t *testing.T) {
	r := New(testVendors())
	q := Request{Vendor: "openai", Credential: "team-a", Model: "gpt-4o", Status: 200, Stream: true,
		Duration: time.Second, TTFB: 100 * time.Millisecond, Overhead: time.Millisecond,
		PromptTokens: 10, CompletionTokens: 20, CachedTokens: 2, Cost: 0.1, Attempts: 2}
	r.Request(q) // resolves the series once
	r.Attempt("openai", "team-a", "gpt-4o", OutcomeSuccess)
	r.Selected("openai", "team-a", "gpt-4o")
	if n := testing.AllocsPerRun(200, func() { r.Request(q) }); n != 0 {
		t.Errorf("Request allocates %v times", n)
	}
	if n := testing.AllocsPerRun(200, func() { r.Attempt("openai", "team-a", "gpt-4o", OutcomeSuccess) }); n != 0 {
		t.Errorf("Attempt allocates %v times", n)
	}
	if n := testing.AllocsPerRun(200, func() { r.Selected("openai", "team-a", "gpt-4o") }); n != 0 {
		t.Errorf("Selected allocates %v times", n)
	}
	if n := testing.AllocsPerRun(200, func() { r.InFlight(1); r.InFlight(-1) }); n != 0 {
		t.Errorf("InFlight allocates %v times", n)
	}
}

func BenchmarkRequest(b *testing.B) {
	r := New(testVendors())
	q := Request{Vendor: "openai", Credential: "team-a", Model: "gpt-4o", Status: 200, Stream: true,
		Duration: time.Second, TTFB: 100 * time.Millisecond, Overhead: time.Millisecond,
		PromptTokens: 10, CompletionTokens: 20, CachedTokens: 2, Cost: 0.1, Attempts: 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Request(q)
		}
	})
}

func TestClassifyErrorAndAttemptOutcome(t *testing.T) {
	vendor404 := openai.NewError(404, openai.TypeNotFound, "model_not_found", "", "no such model")
	cases := []struct {
		err        error
		upstream   bool
		want, attw string
	}{
		{nil, true, "", OutcomeSuccess},
		{openai.NewError(429, openai.TypeRateLimit, "rate_limit_exceeded", "", "slow down"), true, errclass.VendorRateLimited, errclass.VendorRateLimited},
		{vendor404, true, errclass.ClientBadRequest, errclass.VendorBadRequest},
		{fmt.Errorf("wrapped: %w", openai.NewError(502, openai.TypeServer, "upstream_unreachable", "", "x")), true, errclass.VendorUnreachable, errclass.VendorUnreachable},
		{openai.NewError(400, openai.TypeInvalidRequest, "url_refused", "", "x"), true, errclass.ClientBadRequest, errclass.ClientBadRequest},
		{route.ErrFirstByteTimeout, true, errclass.VendorTimeout, errclass.VendorTimeout},
		{route.ErrTotalTimeout, true, errclass.GatewayTimeout, errclass.GatewayTimeout},
		{context.Canceled, true, errclass.ClientCanceled, errclass.ClientCanceled},
		{context.DeadlineExceeded, true, errclass.VendorTimeout, errclass.VendorTimeout},
		{errors.New("connection reset by peer"), true, errclass.VendorUnreachable, errclass.VendorUnreachable},
		{errors.New("boom"), false, errclass.GatewayInternal, errclass.VendorUnreachable},
	}
	for _, c := range cases {
		if got := ClassifyError(c.err, c.upstream); got != c.want {
			t.Errorf("ClassifyError(%v, %v) = %q, want %q", c.err, c.upstream, got, c.want)
		}
		if got := AttemptOutcome(c.err); got != c.attw {
			t.Errorf("AttemptOutcome(%v) = %q, want %q", c.err, got, c.attw)
		}
	}
}

func TestOutputTokensPerSecond(t *testing.T) {
	q := Request{Duration: 3 * time.Second, TTFB: time.Second, CompletionTokens: 100}
	if got := q.OutputTokensPerSecond(); got != 50 {
		t.Errorf("got %v, want 50", got)
	}
	if got := (&Request{Duration: time.Second, TTFB: time.Second, CompletionTokens: 10}).OutputTokensPerSecond(); got != 0 {
		t.Errorf("got %v, want 0", got)
	}
}

func TestVendorsFromPoolAndCircuits(t *testing.T) {
	cfg := &config.Config{
		Routing: config.Routing{Strategy: "even", UnknownModels: "pool", Attempts: 1,
			Circuit: config.Circuit{Failures: 5, AuthCooldown: time.Minute, Cooldown: time.Second, MaxCooldown: time.Minute}},
		Vendors: []config.Vendor{
			{Name: "openai", Type: "openai", Credentials: []config.Credential{{Key: secret, Name: "a"}, {Key: "sk-other", Name: "b"}},
				Models: []config.Model{{Name: "gpt-4o"}, {Name: "gpt-4o-mini"}}},
			{Name: "gem", Type: "gemini", Credentials: []config.Credential{{Key: "g1", Name: "0"}},
				Models: []config.Model{{Name: "gemini-2.5-flash"}}},
		},
	}
	pool, err := route.NewPool(cfg, func(config.Vendor) (vendors.Adapter, error) { return mock.New(), nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	router, err := route.NewRouter(pool, cfg.Routing)
	if err != nil {
		t.Fatal(err)
	}
	got := VendorsFromPool(pool.All())
	want := []Vendor{
		{Name: "openai", Type: "openai", Credentials: []string{"a", "b"}, Models: []string{"gpt-4o", "gpt-4o-mini"}},
		{Name: "gem", Type: "gemini", Credentials: []string{"0"}, Models: []string{"gemini-2.5-flash"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("VendorsFromPool = %v, want %v", got, want)
	}
	// The vendor refuses credential "a": its circuit opens.
	for _, c := range pool.All() {
		if c.Credential == "a" {
			router.RecordProbe(c, openai.NewError(401, openai.TypeAuthentication, "invalid_api_key", "", "no"))
			break
		}
	}
	r := New(got)
	r.SetCircuitSource(func() []CircuitState { return PoolCircuits(pool.All(), time.Now()) })
	states := PoolCircuits(pool.All(), time.Now())
	if len(states) != 3 {
		t.Fatalf("PoolCircuits gave %d credentials, want 3: %+v", len(states), states)
	}
	body := scrape(t, r)
	for _, w := range []string{
		`genrouter_circuit_state{credential="a",vendor="openai"} 2`,
		`genrouter_circuit_state{credential="b",vendor="openai"} 0`,
		`genrouter_circuit_state{credential="0",vendor="gem"} 0`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("scrape lacks %s", w)
		}
	}
	if strings.Contains(body, "SUPERSECRET") || strings.Contains(fmt.Sprint(got, states), "SUPERSECRET") {
		t.Fatal("a key reached the metrics")
	}
}
