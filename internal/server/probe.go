package server

import (
	"context"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/vendors"
)

// startProbes runs the active health checks of the config, replacing those
// of the previous one. One goroutine per probed vendor; mu is held.
func (s *Server) startProbes(router *route.Router, cfg *config.Config) {
	if s.probes != nil {
		s.probes()
		s.probing.Wait()
		s.probes = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := false
	for _, v := range cfg.Vendors {
		if v.HealthCheck.Interval <= 0 {
			continue
		}
		var creds []*route.Combination // one combination per credential
		seen := map[string]bool{}
		for _, c := range router.Pool.All() {
			if c.Vendor.Name == v.Name && !seen[c.Credential] {
				seen[c.Credential] = true
				creds = append(creds, c)
			}
		}
		if len(creds) == 0 {
			continue
		}
		p, ok := creds[0].Vendor.Adapter.(vendors.Prober)
		if !ok {
			continue
		}
		started = true
		s.probing.Add(1)
		go func(hc config.HealthCheck) {
			defer s.probing.Done()
			t := time.NewTicker(hc.Interval)
			defer t.Stop()
			for {
				for _, c := range creds {
					pctx, done := context.WithTimeout(ctx, hc.Timeout)
					err := p.Probe(pctx, c.Key)
					done()
					if ctx.Err() != nil {
						return
					}
					router.RecordProbe(c, err)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}(v.HealthCheck)
	}
	if started {
		s.probes = cancel
	} else {
		cancel()
	}
}
