package server

import (
	"strings"
	"sync"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
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
