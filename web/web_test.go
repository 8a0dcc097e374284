package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/stats"
)

const adminKey = "test-admin-key-7f3a"

// gateway is a stand-in for the server's wiring: the dashboard at /ui and
// the stats behind the admin key at /admin/stats.
type gateway struct {
	srv   *httptest.Server
	st    *stats.Stats
	mu    sync.Mutex
	polls int
	auths []string
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	g := &gateway{st: stats.New()}
	mux := http.NewServeMux()
	mux.Handle("/ui", Handler())
	mux.Handle("/ui/", Handler())
	statsH := g.st.Handler()
	mux.Handle("/admin/stats", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.polls++
		g.auths = append(g.auths, r.Header.Get("Authorization"))
		g.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+adminKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"admin endpoints need the admin key","type":"authentication_error","code":"invalid_api_key"}}`)
			return
		}
		statsH.ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.srv = httptest.NewUnstartedServer(mux)
	g.srv.Listener = l
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

var combos = []struct{ vendor, typ, cred, model string }{
	{"openai", "openai", "team-a", "gpt-4o"},
	{"openai", "openai", "team-b", "gpt-4o"},
	{"openai", "openai", "team-a", "gpt-4o-mini"},
	{"openai", "openai", "team-b", "gpt-4o-mini"},
	{"gem", "gemini", "0", "gemini-2.5-flash"},
	{"claude", "anthropic", "prod", "claude-sonnet-4-5"},
}

// inject fills the stats with ten minutes of traffic spread evenly over
// the combinations, some failures, and 200 recent requests with known ids.
func inject(st *stats.Stats) (total int) {
	now := time.Now()
	n := 0
	for sec := 599; sec >= 0; sec-- {
		perSec := 2 + (600-sec)%3 + (sec/60)%2
		for j := 0; j < perSec; j++ {
			c := combos[n%len(combos)]
			d := time.Duration(200+(n*37)%900) * time.Millisecond
			if c.vendor == "claude" {
				d += 400 * time.Millisecond
			}
			e := stats.Entry{
				Request: metrics.Request{Vendor: c.vendor, Credential: c.cred, Model: c.model, Status: 200,
					Duration: d, TTFB: d / 3, PromptTokens: int64(100 + n%50), CompletionTokens: int64(20 + n%200),
					CachedTokens: int64(n % 16), Cost: 0.00042, Attempts: 1, Stream: n%2 == 0},
				Time: now.Add(-time.Duration(sec)*time.Second - d), ID: fmt.Sprintf("req-browser-%05d", n), ModelAsked: c.model,
			}
			switch {
			case c.vendor == "gem" && n%5 == 0:
				e.Status, e.ErrorClass, e.Attempts = 429, errclass.VendorRateLimited, 3
				e.PromptTokens, e.CompletionTokens, e.Cost = 0, 0, 0
			case n%41 == 0:
				e.Vendor, e.Credential, e.Model = "", "", "no-such-model"
				e.ModelAsked, e.Status, e.ErrorClass = "no-such-model", 404, errclass.ClientBadRequest
				e.PromptTokens, e.CompletionTokens, e.Cost, e.Attempts = 0, 0, 0, 0
			case n%97 == 0:
				e.ErrorClass = errclass.VendorStreamBroken
			case n%13 == 0:
				e.Attempts, e.Fallback, e.ModelAsked = 2, true, "gpt-4o"
			}
			st.Add(e)
			n++
		}
	}
	st.SetCredentialSource(func() []stats.CredentialHealth {
		return []stats.CredentialHealth{
			{Vendor: "openai", Name: "team-a", State: "closed", InFlight: 3},
			{Vendor: "openai", Name: "team-b", State: "open", Reason: "rate_limited", CooldownSeconds: 12.5, LastError: errclass.VendorRateLimited},
			{Vendor: "gem", Name: "0", State: "half_open", Reason: "failures", LastError: errclass.VendorServerError},
			{Vendor: "claude", Name: "prod", State: "closed", InFlight: 1},
		}
	})
	st.InFlight(4)
	return n
}

func get(t *testing.T, url string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestAssetsAreServed(t *testing.T) {
	g := newGateway(t)
	inject(g.st)
	base := g.srv.URL

	resp, _ := get(t, base+"/ui", nil)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("/ui: %d to %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range []struct{ path, ctype, contains string }{
		{"/ui/", "text/html; charset=utf-8", `<script src="app.js">`},
		{"/ui/index.html", "text/html; charset=utf-8", `<link rel="stylesheet" href="app.css">`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "admin/stats"},
		{"/ui/app.css", "text/css; charset=utf-8", ".bar-fill"},
	} {
		resp, body := get(t, base+c.path, nil)
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", c.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if !bytes.Contains(body, []byte(c.contains)) {
			t.Errorf("%s lacks %q", c.path, c.contains)
		}
		if resp.Header.Get("Content-Security-Policy") != ContentSecurityPolicy || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers %v", c.path, resp.Header)
		}
		// Nothing is fetched from the internet.
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).Find(body); m != nil {
			t.Errorf("%s refers to %s", c.path, m)
		}
		// Revalidation is a 304.
		resp2, _ := get(t, base+c.path, http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
		if resp2.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", c.path, resp2.StatusCode)
		}
	}
	if resp, _ := get(t, base+"/ui/secret.txt", nil); resp.StatusCode != 404 {
		t.Errorf("unknown file: %d", resp.StatusCode)
	}
	post, err := http.Post(base+"/ui/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", post.StatusCode)
	}
	// The fake /admin/stats the page polls wants the key.
	if resp, _ := get(t, base+"/admin/stats", nil); resp.StatusCode != 401 {
		t.Errorf("/admin/stats without the key: %d", resp.StatusCode)
	}
	resp, body := get(t, base+"/admin/stats", http.Header{"Authorization": {"Bearer " + adminKey}})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Contains(body, []byte(`"combinations"`)) {
		t.Errorf("/admin/stats: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

const chromium = "/usr/bin/chromium"

// headless runs Chromium on url with extra flags and returns its stdout.
func headless(t *testing.T, url string, extra ...string) string {
	t.Helper()
	profile := t.TempDir()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--user-data-dir=" + profile, "--virtual-time-budget=3000",
	}, extra...)
	args = append(args, url)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+profile)
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return stdout.String()
}

func TestDashboardInHeadlessChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("SKIPPED: the browser test needs " + chromium + " (apt-get install -y chromium chromium-driver)")
	}
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: the browser test starts Chromium")
	}
	g := newGateway(t)
	total := inject(g.st)
	url := g.srv.URL + "/ui/#key=" + adminKey

	dom := headless(t, url, "--dump-dom")
	g.mu.Lock()
	polls, auths := g.polls, append([]string(nil), g.auths...)
	g.mu.Unlock()
	if polls == 0 {
		t.Fatal("the page never fetched /admin/stats")
	}
	for _, a := range auths {
		if a != "Bearer "+adminKey {
			t.Errorf("the page sent Authorization %q, want the key from the fragment", a)
		}
	}
	want := []string{
		fmt.Sprintf(`data-requests="%d"`, total), // body: the snapshot was rendered
		`class="pill pill-live" title="connection to /admin/stats">live</span>`,
		// the bar chart, one bar per combination
		`data-combination="openai / team-a / gpt-4o"`,
		`data-combination="openai / team-b / gpt-4o-mini"`,
		`data-combination="gem / 0 / gemini-2.5-flash"`,
		`data-combination="claude / prod / claude-sonnet-4-5"`,
		// the recent-requests table, newest first
		fmt.Sprintf(`data-request-id="req-browser-%05d"`, total-1),
		fmt.Sprintf(`data-request-id="req-browser-%05d"`, total-100),
		// credentials and errors
		`data-credential="openai/team-b"`, `class="pill st-open"`, `class="pill st-half_open"`,
		`data-error="gem/vendor_rate_limited"`, `data-error="/client_bad_request"`,
		// the line charts drew their series
		`data-series="requests/s"`, `data-series="p99"`,
	}
	for _, w := range want {
		if !strings.Contains(dom, w) {
			t.Errorf("the DOM after the script ran lacks %s", w)
		}
	}
	if n := strings.Count(dom, `data-request-id="`); n != 100 {
		t.Errorf("%d recent-request rows, want 100", n)
	}
	if n := strings.Count(dom, `class="bar" data-combination=`); n != len(combos) {
		t.Errorf("%d bars, want %d", n, len(combos))
	}
	if m := regexp.MustCompile(`data-series="requests/s" stroke="[^"]*" d="([^"]*)"`).FindStringSubmatch(dom); m == nil || strings.Count(m[1], "L") < 100 {
		t.Errorf("the requests/s line has too few points")
	}
	if strings.Contains(dom, adminKey) {
		t.Error("the admin key is in the page")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	dir, err := os.MkdirTemp("", "genrouter-ui-")
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	headless(t, url, "--screenshot="+shot, "--window-size=1280,900")
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s is not a sizeable PNG (%d bytes)", shot, len(b))
	}
	t.Logf("screenshot: %s", shot)
}
