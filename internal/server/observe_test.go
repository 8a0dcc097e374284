package server

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// metricValue reads one sample from a Prometheus text scrape; labels must
// all match (a subset of the sample's labels).
func metricValue(t *testing.T, scrape, name string, labels map[string]string) float64 {
	t.Helper()
	total, found := 0.0, false
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for k, v := range labels {
			if !strings.Contains(line, k+`="`+v+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total += f
			found = true
		}
	}
	if !found {
		return -1
	}
	return total
}

// A known scenario, then the scrape: counts and labels as expected, error
// classes saying whose fault it was, and no secret anywhere.
func TestMetricsAfterScenario(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{Keys: map[string]string{"sk-metrics-secret-1": "a", "sk-metrics-secret-2": "b"}})
	var n int
	up.SetFault(func(r *fake.Recorded) *fake.Fault {
		n++
		if n == 4 {
			return &fake.Fault{Status: 500}
		}
		return nil
	})
	cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-metrics-secret-1", "sk-metrics-secret-2"}, "gpt-4o-mini"))
	cfg.Routing.BackoffBase = time.Millisecond
	g := startGateway(t, cfg)
	for i := 0; i < 5; i++ {
		if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	post(t, g.URL+"/chat/completions", `{"model":`) // the client's fault
	_, _, scrape := do(t, "GET", strings.TrimSuffix(g.URL, "/v1")+"/metrics", "")
	ok := metricValue(t, scrape, "genrouter_requests_total", map[string]string{"vendor": "oa", "model": "gpt-4o-mini", "status_class": "2xx"})
	if ok != 5 {
		t.Errorf("served requests %v, want 5", ok)
	}
	if v := metricValue(t, scrape, "genrouter_requests_total", map[string]string{"error_class": "client_bad_request"}); v != 1 {
		t.Errorf("client_bad_request %v, want 1", v)
	}
	if v := metricValue(t, scrape, "genrouter_upstream_attempts_total", map[string]string{"outcome": "vendor_server_error"}); v != 1 {
		t.Errorf("failed attempts %v, want 1", v)
	}
	if v := metricValue(t, scrape, "genrouter_failovers_total", nil); v != 1 {
		t.Errorf("failovers %v, want 1", v)
	}
	if v := metricValue(t, scrape, "genrouter_selections_total", map[string]string{"credential": "k0"}) +
		metricValue(t, scrape, "genrouter_selections_total", map[string]string{"credential": "k1"}); v != 6 {
		t.Errorf("selections %v, want 6 (5 requests, one retried)", v)
	}
	if v := metricValue(t, scrape, "gen_ai_client_token_usage_count", map[string]string{"gen_ai_token_type": "input"}); v != 5 {
		t.Errorf("token usage observations %v, want 5", v)
	}
	if v := metricValue(t, scrape, "genrouter_overhead_seconds_count", nil); v < 5 {
		t.Errorf("overhead observations %v", v)
	}
	if strings.Contains(scrape, "sk-metrics-secret") {
		t.Error("a credential leaked into the metrics")
	}
}

// One well-formed JSON line per request, with what served it and nothing
// secret.
func TestOneLogLinePerRequest(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-log-secret-123"}, "gpt-4o-mini")))
	post(t, g.URL+"/chat/completions", `{"model":"alias","messages":[{"role":"user","content":"top secret prompt"}]}`)
	post(t, g.URL+"/chat/completions", `{"model":"alias","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"top secret prompt"}]}`)
	lines := 0
	for _, l := range strings.Split(strings.TrimSpace(g.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["msg"] != "request" {
			continue
		}
		lines++
		for _, k := range []string{"request_id", "status", "model", "served_model", "vendor", "credential", "latency_ms", "ttfb_ms", "prompt_tokens", "completion_tokens"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line lacks %s: %s", k, l)
			}
		}
	}
	if lines != 2 {
		t.Errorf("%d request lines for 2 requests", lines)
	}
	if s := g.logs.String(); strings.Contains(s, "sk-log-secret-123") || strings.Contains(s, "top secret prompt") {
		t.Error("a key or a prompt reached the log")
	}
}

// The dashboard in a real browser: traffic through the gateway shows up in
// its charts and its table. Needs Debian's chromium (.ci/run installs it).
func TestDashboardInBrowser(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("\n*** browser test skipped: " + chromium + " is not installed (apt-get install -y chromium) ***")
	}
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	g := startGateway(t, configOf(config.UnknownModelsPool,
		vendorOf("alpha-vendor", config.TypeOpenAI, up.URL(), []string{"k1", "k2"}, "gpt-4o-mini"),
		vendorOf("beta-vendor", config.TypeOpenAI, up.URL(), []string{"k3"}, "gpt-4o")))
	for i := 0; i < 30; i++ {
		body := hi
		if i%3 == 0 {
			body = hiStream
		}
		post(t, g.URL+"/chat/completions", body)
	}
	url := strings.TrimSuffix(g.URL, "/v1") + "/ui/"
	dir := t.TempDir()
	run := func(extra ...string) string {
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--virtual-time-budget=4000"}, extra...)
		out, err := exec.Command(chromium, append(args, url)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", extra, err)
		}
		return string(out)
	}
	dom := run("--dump-dom")
	for _, want := range []string{"alpha-vendor", "beta-vendor", "gpt-4o-mini"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the dashboard does not show %q", want)
		}
	}
	rows := regexp.MustCompile(`req_[0-9a-f]{24}`).FindAllString(dom, -1)
	if len(rows) < 20 {
		t.Errorf("the recent-requests table shows %d request ids, want the traffic sent", len(rows))
	}
	shot := filepath.Join(os.TempDir(), "genrouter-dashboard.png")
	run("--screenshot="+shot, "--window-size=1280,1000")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}

// With log_bodies the line carries the bodies, with credentials masked.
func TestLogBodies(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-body-secret-9999"}, "gpt-4o-mini"))
	cfg.Server.LogBodies = true
	g := startGateway(t, cfg)
	post(t, g.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"my key is sk-body-secret-9999, remember it"}]}`)
	logs := g.logs.String()
	if !strings.Contains(logs, `remember it`) || !strings.Contains(logs, `response_body`) {
		t.Errorf("bodies not logged: %s", logs)
	}
	if strings.Contains(logs, "sk-body-secret-9999") {
		t.Error("a credential inside a body reached the log unmasked")
	}
}

// A vendor's refusal is counted as the vendor's whichever API the client
// spoke: /v1/messages classifies its routing failures as /chat does.
func TestDispatchFailuresClassifiedAlikeOnBothAPIs(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 429} })
	cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-a"}, "gpt-4o-mini"))
	cfg.Routing.BackoffBase = time.Millisecond
	g := startGateway(t, cfg)
	if code, _, body := post(t, g.URL+"/chat/completions", hi); code < 400 {
		t.Fatalf("chat: %d %s", code, body)
	}
	if code, _, body := post(t, g.URL+"/messages", `{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`); code < 400 {
		t.Fatalf("messages: %d %s", code, body)
	}
	_, _, scrape := do(t, "GET", strings.TrimSuffix(g.URL, "/v1")+"/metrics", "")
	if v := metricValue(t, scrape, "genrouter_requests_total", map[string]string{"error_class": "vendor_rate_limited"}); v != 2 {
		t.Errorf("requests counted vendor_rate_limited: %v, want 2 (one per API)\n%s", v, grepLines(scrape, "genrouter_requests_total"))
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
