package server

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/store"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// A 429 cools its credential for the vendor's Retry-After. A request that
// was already in flight on that credential and succeeds afterwards says
// nothing about the rate limit: it must not end the cooldown early (the
// README: the circuit stays open, then exactly one trial decides).
func TestInFlightSuccessDoesNotEndACooldown(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	entered := make(chan struct{})
	release := make(chan struct{})
	up.SetFault(func(r *fake.Recorded) *fake.Fault {
		switch {
		case strings.Contains(string(r.Body), "slow"):
			close(entered)
			<-release // held at the vendor until the 429 below has come back
			return nil
		case strings.Contains(string(r.Body), "limited"):
			return &fake.Fault{Status: 429, RetryAfter: "60"}
		}
		return nil
	})
	g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a"}, "m")))
	chat := g.URL + "/chat/completions"

	var wg sync.WaitGroup
	var slowCode int
	wg.Go(func() {
		slowCode, _, _ = post(t, chat, `{"model":"m","messages":[{"role":"user","content":"slow"}]}`)
	})
	<-entered
	code, h, body := post(t, chat, `{"model":"m","messages":[{"role":"user","content":"limited"}]}`)
	assertOpenAIError(t, code, h, body, 429, "")
	close(release)
	wg.Wait()
	if slowCode != 200 {
		t.Fatalf("the request in flight: %d", slowCode)
	}

	before := len(up.Requests())
	code, h, body = post(t, chat, hi)
	if code != 429 || len(up.Requests()) != before {
		t.Fatalf("during the vendor's 60s Retry-After: %d %s, and the vendor saw %d more request(s); want an immediate 429",
			code, body, len(up.Requests())-before)
	}
	if ra := h.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
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
