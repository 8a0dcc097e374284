package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/store"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// The usage log (/admin/requests) names a failed request's error by the
// same closed class vocabulary as the metrics and the dashboard, not by
// the error code the client got.
func TestUsageRowsCarryTheErrorClass(t *testing.T) {
	g, up, st, usage := fleetGateway(t, nil)
	up.SetFault(func(r *fake.Recorded) *fake.Fault {
		if r.Model == "gpt-4o" {
			return &fake.Fault{Status: 500}
		}
		return nil
	})
	chat := g.URL + "/chat/completions"
	cases := []struct {
		url, body, want string
		status          int
	}{
		{chat + "?vendor=nope", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, errclass.ClientBadRequest, 400},
		{chat, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, errclass.VendorServerError, 500},
	}
	for _, c := range cases {
		if code, _, body := call(t, "POST", c.url, master, c.body); code != c.status {
			t.Fatalf("%s: %d %s", c.url, code, body)
		}
	}
	eventually(t, "the usage rows", func() bool { return usage.Stats().Written >= 2 })
	rows, err := st.RecentRequests(context.Background(), store.Filter{ErrorsOnly: true})
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %d %v", len(rows), err)
	}
	got := map[int]string{}
	for _, r := range rows {
		got[r.Status] = r.ErrorClass
	}
	for _, c := range cases {
		if got[c.status] != c.want {
			t.Errorf("status %d: usage row error_class %q, want %q (the class metrics and the dashboard show)", c.status, got[c.status], c.want)
		}
	}
	// The admin API shows the same.
	_, _, recent := call(t, "GET", strings.TrimSuffix(g.URL, "/v1")+"/admin/requests?errors=true", master, "")
	var out struct {
		Data []struct {
			ErrorClass string `json:"error_class"`
		}
	}
	json.Unmarshal([]byte(recent), &out)
	for _, r := range out.Data {
		if !errclass.IsErrorClass(r.ErrorClass) {
			t.Errorf("/admin/requests error_class %q is not an error class", r.ErrorClass)
		}
	}
}

// An active health check lists models; a working listing says nothing
// about a credential the vendor rate-limited on chat for a given time. The
// probe must not end that cooldown early.
func TestProbeDoesNotEndARateLimitCooldown(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{Keys: map[string]string{"sk-bad": "bad", "sk-good": "good"}})
	up.SetFault(func(r *fake.Recorded) *fake.Fault {
		if r.KeyName == "bad" && r.Method == "POST" {
			return &fake.Fault{Status: 429, RetryAfter: "30"}
		}
		return nil
	})
	v := vendorOf("v", config.TypeOpenAI, up.URL(), []string{"sk-bad", "sk-good"}, "m")
	v.HealthCheck = config.HealthCheck{Interval: 20 * time.Millisecond, Timeout: time.Second}
	g := startGateway(t, configOf(config.UnknownModelsPool, v))
	chatsBy := func(key string) int {
		n := 0
		for _, r := range up.Requests() {
			if r.Method == "POST" && r.KeyName == key {
				n++
			}
		}
		return n
	}
	for i := 0; chatsBy("bad") == 0 && i < 50; i++ {
		if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if chatsBy("bad") != 1 {
		t.Fatalf("the rate-limited key got %d chats", chatsBy("bad"))
	}
	probed := func() int {
		n := 0
		for _, r := range up.Requests() {
			if r.Method == "GET" && r.KeyName == "bad" {
				n++
			}
		}
		return n
	}
	before := probed()
	eventually(t, "probes of the rate-limited key", func() bool { return probed() >= before+3 })
	for i := 0; i < 20; i++ {
		if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if n := chatsBy("bad"); n != 1 {
		t.Errorf("the key the vendor rate-limited for 30s got %d chats within a second: a probe ended its cooldown", n)
	}
}

// /health's per-vendor status follows its combinations: a vendor whose
// every combination has its circuit open (5xx open the combination's
// circuit, not the credential's) is down, not ok.
func TestHealthVendorStatusCountsCombinations(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 500} })
	cfg := configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m"))
	cfg.Routing.Circuit.Failures = 1
	cfg.Routing.Circuit.Cooldown = time.Minute
	g := startGateway(t, cfg)
	if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 500 {
		t.Fatalf("%d %s", code, body)
	}
	if code, _, body := post(t, g.URL+"/chat/completions", hi); code != 503 {
		t.Fatalf("with the only combination open: %d %s", code, body)
	}
	_, _, hb := do(t, "GET", strings.TrimSuffix(g.URL, "/v1")+"/health", "")
	var health struct {
		Status    string
		Available int
		Vendors   []struct{ Name, Status string }
	}
	json.Unmarshal([]byte(hb), &health)
	if health.Status != "down" || health.Available != 0 || len(health.Vendors) != 1 {
		t.Fatalf("health: %s", hb)
	}
	if health.Vendors[0].Status != "down" {
		t.Errorf("vendor %s status %q while none of its combinations can serve (overall %q): %s",
			health.Vendors[0].Name, health.Vendors[0].Status, health.Status, hb)
	}
}

// Every response of a routed endpoint says how many attempts were made,
// including the immediate answer when nothing could be tried.
func TestAttemptsHeaderOnImmediateAnswer(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 429, RetryAfter: "20"} })
	g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m")))
	if code, h, _ := post(t, g.URL+"/chat/completions", hi); code != 429 || h.Get("X-Genrouter-Attempts") != "1" {
		t.Fatalf("first: %d, attempts %q", code, h.Get("X-Genrouter-Attempts"))
	}
	code, h, body := post(t, g.URL+"/chat/completions", hi)
	if code != 429 || !strings.Contains(body, "rate_limit_exceeded") {
		t.Fatalf("immediate: %d %s", code, body)
	}
	if got := h.Get("X-Genrouter-Attempts"); got != "0" {
		t.Errorf("X-Genrouter-Attempts %q on the immediate answer, want \"0\"", got)
	}
}
