package route

import (
	"context"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/mock"
)

// strategyRouter is a router over one vendor with the given credentials and
// models, every model with every capability.
func strategyRouter(t *testing.T, strategy string, creds []config.Credential, models ...string) *Router {
	t.Helper()
	v := config.Vendor{Name: "v", Type: "openai", Priority: 1, Credentials: creds}
	for _, m := range models {
		v.Models = append(v.Models, model(m))
	}
	cfg := &config.Config{Vendors: []config.Vendor{v}, Routing: config.Routing{Strategy: strategy, UnknownModels: "pool",
		Attempts: 3, Circuit: config.Circuit{Failures: 5, FailureRate: 0.5, MinRequests: 20, Window: time.Minute,
			Cooldown: time.Second, MaxCooldown: time.Minute, AuthCooldown: time.Minute, RateLimitCooldown: time.Second}}}
	return routerFor(t, cfg)
}

// routerFor builds a router over cfg's vendors, each served by the mock.
func routerFor(t *testing.T, cfg *config.Config) *Router {
	t.Helper()
	p, err := NewPool(cfg, func(config.Vendor) (vendors.Adapter, error) { return mock.New(), nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(p, cfg.Routing)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// round_robin takes each candidate in turn for every model, whatever the
// order in which requests for different models arrive. With one counter
// shared by all models, a client alternating two models (a chat, then
// another) sent every request of each model to the same credential.
func TestRoundRobinPerModelRotation(t *testing.T) {
	r := strategyRouter(t, config.StrategyRoundRobin,
		[]config.Credential{{Key: "k1", Name: "a", Weight: 1}, {Key: "k2", Name: "b", Weight: 1}}, "m1", "m2")
	seen := map[string]map[string]int{"m1": {}, "m2": {}}
	for i := 0; i < 40; i++ {
		m := []string{"m1", "m2"}[i%2]
		lease, _, err := r.Do(context.Background(), Query{Model: m}, 1, time.Second,
			func(ctx context.Context, c *Combination, arm func()) error { arm(); return nil })
		if err != nil {
			t.Fatal(err)
		}
		seen[m][lease.Combo.Credential]++
		lease.Done(nil, 1)
	}
	for m, by := range seen {
		if by["a"] != 10 || by["b"] != 10 {
			t.Errorf("model %s: credentials used %v, want each of a and b in turn (10 each)", m, by)
		}
	}
}

// priority fails over to the best tier that still has a healthy candidate:
// when the tier-1 key fails, a tier-2 vendor serves before the same
// vendor's tier-3 spare (the spare is for when tiers 1 and 2 are out).
func TestPriorityFailoverKeepsTierOrder(t *testing.T) {
	cfg := &config.Config{Routing: config.Routing{Strategy: config.StrategyPriority, UnknownModels: "pool",
		Attempts: 3, Circuit: config.Circuit{Failures: 5, FailureRate: 0.5, MinRequests: 20, Window: time.Minute,
			Cooldown: time.Second, MaxCooldown: time.Minute, AuthCooldown: time.Minute, RateLimitCooldown: time.Second}},
		Vendors: []config.Vendor{
			{Name: "a", Type: "openai", Priority: 1, Models: []config.Model{model("m")},
				Credentials: []config.Credential{{Key: "ka1", Name: "primary", Weight: 1}, {Key: "ka3", Name: "spare", Weight: 1, Priority: 3}}},
			{Name: "b", Type: "openai", Priority: 2, Models: []config.Model{model("m")},
				Credentials: []config.Credential{{Key: "kb", Name: "second", Weight: 1}}},
		}}
	r := routerFor(t, cfg)
	for i := 0; i < 3; i++ { // stays under circuit.failures: the primary stays closed
		var order []string
		lease, _, err := r.Do(context.Background(), Query{Model: "m"}, 1, time.Second,
			func(ctx context.Context, c *Combination, arm func()) error {
				arm()
				order = append(order, c.Credential)
				if c.Credential == "primary" {
					return openai.NewError(503, openai.TypeServer, "", "", "overloaded")
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		lease.Done(nil, 1)
		if len(order) != 2 || order[0] != "primary" || order[1] != "second" {
			t.Errorf("attempts went to %v, want [primary second]: tier 2 before the tier-3 spare", order)
		}
	}
}
