package server

import (
	"net/http"
	"slices"
	"time"
)

type credentialHealth struct {
	Name            string  `json:"name"` // never the key
	State           string  `json:"state"`
	Reason          string  `json:"reason,omitempty"`
	CooldownSeconds float64 `json:"cooldown_remaining_seconds,omitempty"`
	LastError       string  `json:"last_error,omitempty"`
	InFlight        int64   `json:"in_flight"`
	// Models lists combinations of this credential whose own circuit is
	// not closed.
	Models map[string]string `json:"degraded_models,omitempty"`
}

type vendorHealth struct {
	Name        string             `json:"name"`
	Type        string             `json:"type"`
	Status      string             `json:"status"` // ok, degraded, down
	Credentials []credentialHealth `json:"credentials"`
	Models      []string           `json:"models"`
}

// health serves GET /health: every vendor and credential with its circuit
// state, and an overall ok (all usable), degraded (some not) or down
// (none). No secrets.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	now := time.Now()
	vendors := []vendorHealth{}
	index := map[string]int{}
	creds := map[string]int{} // vendor/credential -> index in its vendor
	usable, total := 0, 0
	var vUsable, vTotal []int // per vendor, as the overall counts
	for _, c := range st.router.Pool.All() {
		vi, ok := index[c.Vendor.Name]
		if !ok {
			vi = len(vendors)
			index[c.Vendor.Name] = vi
			vendors = append(vendors, vendorHealth{Name: c.Vendor.Name, Type: c.Vendor.Type, Credentials: []credentialHealth{}})
			vUsable, vTotal = append(vUsable, 0), append(vTotal, 0)
		}
		v := &vendors[vi]
		key := c.Vendor.Name + "\x00" + c.Credential
		ci, ok := creds[key]
		if !ok {
			cs := c.CredentialState(now)
			ci = len(v.Credentials)
			creds[key] = ci
			v.Credentials = append(v.Credentials, credentialHealth{Name: c.Credential, State: cs.State, Reason: cs.Reason,
				CooldownSeconds: cs.Cooldown.Seconds(), LastError: cs.LastError, InFlight: cs.InFlight})
		}
		if !slices.Contains(v.Models, c.Model.Name) {
			v.Models = append(v.Models, c.Model.Name)
		}
		total++
		vTotal[vi]++
		cred := &v.Credentials[ci]
		if ms := c.CombinationState(now); ms.State != "closed" {
			if cred.Models == nil {
				cred.Models = map[string]string{}
			}
			cred.Models[c.Model.Name] = ms.State
		} else if cred.State != "open" {
			usable++
			vUsable[vi]++
		}
	}
	// A vendor's status counts its combinations as the overall one does:
	// combinations whose own circuit is open (5xx) can leave every
	// credential closed and still nothing to serve with.
	for i := range vendors {
		vendors[i].Status = overall(vUsable[i], vTotal[i])
	}
	body := map[string]any{
		"status":         overall(usable, total),
		"version":        s.version,
		"mocked":         st.cfg.Mocked(),
		"uptime_seconds": int64(time.Since(s.started).Seconds()),
		"combinations":   total,
		"available":      usable,
		"vendors":        vendors,
	}
	// Shared state and storage: whether limits hold fleet-wide, and
	// whether usage rows are being written or dropped.
	lh := s.limiter.Health()
	body["limits"] = lh
	if !lh.OK && body["status"] == "ok" {
		body["status"] = "degraded"
	}
	if s.opts.Usage != nil {
		body["usage_log"] = s.opts.Usage.Stats()
	}
	writeJSON(w, http.StatusOK, body)
}

func overall(usable, total int) string {
	switch {
	case total > 0 && usable == total:
		return "ok"
	case usable > 0:
		return "degraded"
	}
	return "down"
}

// live serves GET /health/live: the process is up.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready serves GET /health/ready: a config is loaded and at least one
// combination can take a request now; 503 otherwise, for load balancers.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	now := time.Now()
	for _, c := range st.router.Pool.All() {
		if c.CredentialState(now).State != "open" && c.CombinationState(now).State != "open" {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
			return
		}
	}
	writeError(w, errorf(http.StatusServiceUnavailable, "not_ready", "", "no combination is available"))
}
