package metrics

import (
	"time"

	"github.com/genrouter/genrouter/internal/route"
	"github.com/prometheus/client_golang/prometheus"
)

// CircuitState is one credential's circuit as /health shows it.
type CircuitState struct {
	Vendor     string        // the vendor's configured name
	Credential string        // the credential's name, never its key
	State      string        // "closed", "half_open" or "open"
	Reason     string        // why it opened ("" when closed)
	Cooldown   time.Duration // until an open circuit lets a trial through
	InFlight   int64         // requests on this credential right now
	LastError  string        // the last failure's error class
}

// PoolCircuits reads the credential circuits of a pool's combinations, one
// entry per (vendor, credential), in pool order.
func PoolCircuits(all []*route.Combination, now time.Time) []CircuitState {
	out := make([]CircuitState, 0, len(all))
	seen := make(map[[2]string]bool, len(all))
	for _, c := range all {
		k := [2]string{c.Vendor.Name, c.Credential}
		if seen[k] {
			continue
		}
		seen[k] = true
		s := c.CredentialState(now)
		out = append(out, CircuitState{Vendor: c.Vendor.Name, Credential: c.Credential, State: s.State,
			Reason: s.Reason, Cooldown: s.Cooldown, InFlight: s.InFlight, LastError: s.LastError})
	}
	return out
}

// SetCircuitSource sets the function read at each scrape for the
// genrouter_circuit_state, genrouter_credential_cooldown_seconds and
// genrouter_credential_in_flight gauges (PoolCircuits over the current
// pool, typically). It must be safe to call concurrently; nil removes it.
func (r *Recorder) SetCircuitSource(f func() []CircuitState) {
	if r == nil {
		return
	}
	if f == nil {
		r.circuitSource.Store(nil)
		return
	}
	r.circuitSource.Store(&f)
}

// CircuitStateValue is the value of genrouter_circuit_state for a state:
// 0 closed, 1 half_open, 2 open (-1 for anything else).
func CircuitStateValue(state string) float64 {
	switch state {
	case "closed":
		return 0
	case "half_open":
		return 1
	case "open":
		return 2
	}
	return -1
}

var (
	circuitDesc = prometheus.NewDesc("genrouter_circuit_state",
		"Circuit state per credential: 0 closed, 1 half_open (a trial may go), 2 open (cooling down).",
		[]string{lVendor, lCred}, nil)
	cooldownDesc = prometheus.NewDesc("genrouter_credential_cooldown_seconds",
		"Seconds until an open credential circuit lets a trial request through (0 when not open).",
		[]string{lVendor, lCred}, nil)
	credInFlightDesc = prometheus.NewDesc("genrouter_credential_in_flight",
		"Requests in flight on each credential.",
		[]string{lVendor, lCred}, nil)
)

// circuitCollector reads the circuit source at scrape time.
type circuitCollector struct{ r *Recorder }

func (c circuitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- circuitDesc
	ch <- cooldownDesc
	ch <- credInFlightDesc
}

func (c circuitCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.r.circuitSource.Load()
	if f == nil {
		return
	}
	k := c.r.known.Load()
	seen := map[[2]string]bool{}
	for _, s := range (*f)() {
		v, cred, _, _ := k.labels(s.Vendor, s.Credential, "")
		key := [2]string{v, cred}
		if seen[key] {
			continue // two unknown names both became "other"
		}
		seen[key] = true
		ch <- prometheus.MustNewConstMetric(circuitDesc, prometheus.GaugeValue, CircuitStateValue(s.State), v, cred)
		ch <- prometheus.MustNewConstMetric(cooldownDesc, prometheus.GaugeValue, s.Cooldown.Seconds(), v, cred)
		ch <- prometheus.MustNewConstMetric(credInFlightDesc, prometheus.GaugeValue, float64(s.InFlight), v, cred)
	}
}
