package server

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/store"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

const master = "gr-master-0123456789abcdef"

// fleetGateway is a gateway with a SQLite store, a usage writer and a
// master key, in front of one fake OpenAI vendor.
func fleetGateway(t *testing.T, tune func(*config.Config)) (*gateway, *fake.Server, store.Store, *store.Writer) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gr.db"))
	if err != nil {
		t.Fatal(err)
	}
	usage := store.NewWriter(st, store.WriterOptions{FlushInterval: 20 * time.Millisecond})
	up := fake.Start(t, fake.OpenAI, fake.Options{Keys: map[string]string{"sk-vendor-secret-0001": "v1"}})
	cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-vendor-secret-0001"}, "gpt-4o-mini", "gpt-4o"))
	if tune != nil {
		tune(cfg)
	}
	srv, err := New(cfg, Options{Store: st, Usage: usage, MasterKey: master, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	g := serve(t, srv)
	t.Cleanup(func() {
		usage.Close(context.Background())
		st.Close()
	})
	return g, up, st, usage
}

func serve(t *testing.T, srv *Server) *gateway {
	t.Helper()
	g := startGatewayWith(t, srv)
	return g
}

// call sends a request with an Authorization key and returns what came back.
func call(t *testing.T, method, url, key, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, b.String()
}

func createKey(t *testing.T, g *gateway, body string) (id, secret string) {
	t.Helper()
	root := strings.TrimSuffix(g.URL, "/v1")
	code, _, out := call(t, "POST", root+"/admin/keys", master, body)
	if code != 201 {
		t.Fatalf("create key: %d %s", code, out)
	}
	var k struct{ ID, Key string }
	json.Unmarshal([]byte(out), &k)
	if k.ID == "" || !strings.HasPrefix(k.Key, "sk-gr-") {
		t.Fatalf("create key answer: %s", out)
	}
	return k.ID, k.Key
}

func TestAuthAndVirtualKeys(t *testing.T) {
	g, _, st, _ := fleetGateway(t, nil)
	root := strings.TrimSuffix(g.URL, "/v1")
	chat := g.URL + "/chat/completions"
	if code, _, body := call(t, "POST", chat, "", hi); code != 401 || !strings.Contains(body, "missing_api_key") {
		t.Fatalf("no key: %d %s", code, body)
	}
	if code, _, _ := call(t, "POST", chat, "sk-wrong", hi); code != 401 {
		t.Fatalf("wrong key: %d", code)
	}
	if code, _, _ := call(t, "POST", chat, master, hi); code != 200 {
		t.Fatalf("master key: %d", code)
	}
	id, secret := createKey(t, g, `{"name":"team-a","metadata":{"team":"a"}}`)
	// The secret is stored only as a hash.
	k, err := st.GetKey(context.Background(), id)
	if err != nil || k.Hash != store.HashSecret(secret) || strings.Contains(k.Prefix, secret[10:]) {
		t.Fatalf("stored key: %+v %v", k, err)
	}
	for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key"} {
		v := secret
		if h == "Authorization" {
			v = "Bearer " + secret
		}
		if code, _, body := call(t, "POST", chat, "", hi, h, v); code != 200 {
			t.Errorf("key in %s: %d %s", h, code, body)
		}
	}
	// The list never shows secrets.
	_, _, list := call(t, "GET", root+"/admin/keys", master, "")
	if strings.Contains(list, secret) || !strings.Contains(list, id) {
		t.Errorf("list: %s", list)
	}
	// Admin endpoints are never reachable with a virtual key.
	if code, _, _ := call(t, "GET", root+"/admin/keys", secret, ""); code == 200 {
		t.Error("a virtual key reached the admin API")
	}
	// Rotation: the old secret stops at once, the new one works.
	code, _, out := call(t, "POST", root+"/admin/keys/"+id+"/rotate", master, "")
	var rot struct{ Key string }
	json.Unmarshal([]byte(out), &rot)
	if code != 200 || rot.Key == "" || rot.Key == secret {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if code, _, _ := call(t, "POST", chat, secret, hi); code != 401 {
		t.Errorf("old secret after rotation: %d", code)
	}
	if code, _, _ := call(t, "POST", chat, rot.Key, hi); code != 200 {
		t.Errorf("new secret: %d", code)
	}
	// Revocation is immediate.
	if code, _, _ := call(t, "DELETE", root+"/admin/keys/"+id, master, ""); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, body := call(t, "POST", chat, rot.Key, hi); code != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("revoked key: %d %s", code, body)
	}
	// An expired key is refused.
	_, short := createKey(t, g, `{"name":"brief","expires_in":"1ms"}`)
	time.Sleep(20 * time.Millisecond)
	if code, _, body := call(t, "POST", chat, short, hi); code != 401 || !strings.Contains(body, "expired") {
		t.Errorf("expired key: %d %s", code, body)
	}
}

func TestKeyPolicies(t *testing.T) {
	g, _, _, _ := fleetGateway(t, nil)
	chat := g.URL + "/chat/completions"
	_, k := createKey(t, g, `{"name":"narrow","allowed_models":["gpt-4o-mini"],"rpm":3}`)
	if code, _, body := call(t, "POST", chat, k, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`); code != 403 {
		t.Errorf("disallowed model: %d %s", code, body)
	}
	// rpm 3: the fourth request within the minute is refused, with headers.
	var last http.Header
	for i := 0; i < 2; i++ {
		code, h, body := call(t, "POST", chat, k, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
		if code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
		last = h
	}
	if last.Get("X-Ratelimit-Limit-Requests") != "3" || last.Get("X-Ratelimit-Remaining-Requests") != "0" {
		t.Errorf("rate-limit headers: limit %q remaining %q", last.Get("X-Ratelimit-Limit-Requests"), last.Get("X-Ratelimit-Remaining-Requests"))
	}
	code, h, body := call(t, "POST", chat, k, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if code != 429 || h.Get("Retry-After") == "" || !strings.Contains(body, "rate_limit_exceeded") {
		t.Errorf("over rpm: %d %v %s", code, h, body)
	}
}

func TestBudgetsAndUsage(t *testing.T) {
	g, _, st, usage := fleetGateway(t, func(c *config.Config) {
		c.Fleet.Prices = map[string]config.Price{"gpt-4o-mini": {Input: 100_000, Output: 100_000}} // $0.1 a token
	})
	chat := g.URL + "/chat/completions"
	id, k := createKey(t, g, `{"name":"thrifty","budget_daily":1}`)
	code, h, body := call(t, "POST", chat, k, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var reported struct {
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal([]byte(body), &reported)
	cost, _ := strconv.ParseFloat(h.Get("X-Genrouter-Cost"), 64)
	if cost < 1 {
		t.Fatalf("X-Genrouter-Cost %q: want the request to exhaust the $1 budget", h.Get("X-Genrouter-Cost"))
	}
	code, _, body = call(t, "POST", chat, k, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if code != 429 || !strings.Contains(body, "budget_exceeded") {
		t.Errorf("over budget: %d %s", code, body)
	}
	// The usage log has the request with its key, tokens and cost, and the
	// admin API adds it up.
	eventually(t, "the usage row", func() bool { return usage.Stats().Written >= 2 })
	rows, err := st.RecentRequests(context.Background(), store.Filter{KeyID: id})
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %d %v", len(rows), err)
	}
	ok := rows[1]
	if ok.Status != 200 || ok.Vendor != "oa" || ok.Credential != "k0" || ok.ModelServed != "gpt-4o-mini" || ok.Cost != cost {
		t.Errorf("usage row %+v", ok)
	}
	// Tokens are the vendor's own count, and cost is tokens × price.
	if ok.PromptTokens != reported.Usage.PromptTokens || ok.CompletionTokens != reported.Usage.CompletionTokens ||
		ok.PromptTokens == 0 || math.Abs(cost-float64(ok.PromptTokens+ok.CompletionTokens)*0.1) > 1e-9 {
		t.Errorf("row tokens %d/%d cost %v; the vendor reported %+v", ok.PromptTokens, ok.CompletionTokens, cost, reported.Usage)
	}
	root := strings.TrimSuffix(g.URL, "/v1")
	_, _, tot := call(t, "GET", root+"/admin/usage?group_by=key", master, "")
	if !strings.Contains(tot, id) {
		t.Errorf("usage totals: %s", tot)
	}
	_, _, recent := call(t, "GET", root+"/admin/requests?status=429", master, "")
	if !strings.Contains(recent, `"status":429`) {
		t.Errorf("recent: %s", recent)
	}
}

// A database that hangs changes nothing for clients: usage writes are
// queued and dropped, never waited for.
func TestHungDatabaseDoesNotSlowRequests(t *testing.T) {
	hung := &hangingStore{release: make(chan struct{})}
	defer close(hung.release)
	usage := store.NewWriter(hung, store.WriterOptions{QueueSize: 4, FlushInterval: time.Millisecond})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		usage.Close(ctx)
	}()
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	srv, err := New(configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"k"}, "m")), Options{Usage: usage})
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayWith(t, srv)
	start := time.Now()
	for i := 0; i < 50; i++ {
		if code, _, _ := post(t, g.URL+"/chat/completions", hi); code != 200 {
			t.Fatal(code)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("50 requests took %v with a hung database", d)
	}
	if usage.Stats().Dropped == 0 {
		t.Error("nothing was dropped, so the queue must have waited")
	}
}

type hangingStore struct{ release chan struct{} }

func (h *hangingStore) InsertUsage(ctx context.Context, rows []store.Usage) error {
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return ctx.Err()
}

// Known secrets never show up in logs, responses, health or admin output.
func TestSecretsNeverLeak(t *testing.T) {
	g, up, _, usage := fleetGateway(t, nil)
	root := strings.TrimSuffix(g.URL, "/v1")
	_, vk := createKey(t, g, `{"name":"leaky?"}`)
	var seen strings.Builder
	record := func(code int, h http.Header, body string) {
		seen.WriteString(body)
		for k, v := range h {
			seen.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
	}
	record(call(t, "POST", g.URL+"/chat/completions", vk, hi))
	record(call(t, "POST", g.URL+"/chat/completions", vk, hiStream))
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 401} })
	record(call(t, "POST", g.URL+"/chat/completions", vk, hi))
	record(call(t, "GET", root+"/health", "", ""))
	record(call(t, "GET", root+"/admin/keys", master, ""))
	record(call(t, "GET", root+"/admin/requests", master, ""))
	eventually(t, "usage written", func() bool { return usage.Stats().Written >= 3 })
	seen.WriteString(g.logs.String())
	for _, secret := range []string{"sk-vendor-secret-0001", vk, master} {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("a secret leaked: %.12s…", secret)
		}
	}
}

func TestCORS(t *testing.T) {
	g, _, _, _ := fleetGateway(t, func(c *config.Config) { c.Fleet.CORSOrigins = []string{"https://app.example"} })
	code, h, _ := call(t, "OPTIONS", g.URL+"/chat/completions", "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if code != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", code, h)
	}
	_, h, _ = call(t, "POST", g.URL+"/chat/completions", master, hi, "Origin", "https://evil.example")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Error("an unlisted origin was allowed")
	}
}

// Without keys, per-address limits hold, and X-Forwarded-For counts only
// from trusted proxies.
func TestIPLimitsAndTrustedProxies(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"k"}, "m"))
	cfg.Fleet.IPLimits = config.IPLimits{RPM: 2}
	cfg.Fleet.TrustedProxies = []string{"127.0.0.1"}
	g := startGateway(t, cfg)
	var mu sync.Mutex
	codes := map[string][]int{}
	for _, client := range []string{"203.0.113.7", "203.0.113.8"} {
		for i := 0; i < 3; i++ {
			code, _, _ := call(t, "POST", g.URL+"/chat/completions", "", hi, "X-Forwarded-For", client)
			mu.Lock()
			codes[client] = append(codes[client], code)
			mu.Unlock()
		}
	}
	for client, c := range codes {
		if c[0] != 200 || c[1] != 200 || c[2] != 429 {
			t.Errorf("%s: %v, want 200 200 429 (each address its own limit)", client, c)
		}
	}
}

// A key's allowed vendors name vendors as ?vendor= does, by name or by
// type, and the two are checked against each other the same way routing
// filters by them: what routing would serve is not refused up front.
func TestKeyAllowedVendorsByNameOrType(t *testing.T) {
	g, _, _, _ := fleetGateway(t, nil) // one vendor: "oa", of type openai
	chat := g.URL + "/chat/completions"
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	for _, c := range []struct {
		allowed, vendor string
		want            int
	}{
		{`["openai"]`, "oa", 200},
		{`["oa"]`, "openai", 200},
		{`["oa"]`, "oa", 200},
		{`["openai"]`, "", 200},
		{`["gemini"]`, "oa", 403},
		{`["gemini"]`, "openai", 403},
	} {
		_, k := createKey(t, g, `{"name":"v","allowed_vendors":`+c.allowed+`}`)
		url := chat
		if c.vendor != "" {
			url += "?vendor=" + c.vendor
		}
		code, _, out := call(t, "POST", url, k, body)
		if code != c.want || c.want == 403 && !strings.Contains(out, "vendor_not_allowed") {
			t.Errorf("allowed %s, ?vendor=%s: %d %s; want %d", c.allowed, c.vendor, code, out, c.want)
		}
	}
}

// A budget holds across a restart of the gateway: spend is kept in memory
// by default, and a new process must not start every key's day and month
// from zero while the usage log says what they already spent.
func TestBudgetSurvivesRestart(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	up := fake.Start(t, fake.OpenAI, fake.Options{Keys: map[string]string{"sk-vendor-secret-0001": "v1"}})
	cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-vendor-secret-0001"}, "gpt-4o-mini"))
	cfg.Fleet.Prices = map[string]config.Price{"gpt-4o-mini": {Input: 100_000, Output: 100_000}} // $0.1 a token
	replica := func() (*gateway, *store.Writer) {
		usage := store.NewWriter(st, store.WriterOptions{FlushInterval: 20 * time.Millisecond})
		srv, err := New(cfg, Options{Store: st, Usage: usage, MasterKey: master, Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return serve(t, srv), usage
	}
	req := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

	first, usage := replica()
	_, k := createKey(t, first, `{"name":"thrifty","budget_daily":1,"budget_monthly":1}`)
	if code, _, body := call(t, "POST", first.URL+"/chat/completions", k, req); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if code, _, body := call(t, "POST", first.URL+"/chat/completions", k, req); code != 429 || !strings.Contains(body, "budget_exceeded") {
		t.Fatalf("over budget: %d %s", code, body)
	}
	if err := usage.Close(context.Background()); err != nil { // the process stops; its rows are written
		t.Fatal(err)
	}

	second, usage2 := replica() // the same database, a fresh process
	t.Cleanup(func() { usage2.Close(context.Background()) })
	code, _, body := call(t, "POST", second.URL+"/chat/completions", k, req)
	if code != 429 || !strings.Contains(body, "budget_exceeded") {
		t.Fatalf("after a restart the spent budget is back: %d %s", code, body)
	}
}
