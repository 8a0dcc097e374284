package route

import (
	"sync"
	"time"

	"github.com/genrouter/genrouter/internal/config"
)

// Health holds the circuits of every credential and combination. It lives
// as long as the server, so a config reload keeps the state of the
// credentials that did not change (same vendor, URL, name and key).
type Health struct {
	mu     sync.Mutex
	creds  map[string]*circuit
	combos map[string]*circuit
	shared map[string]*circuit // by the hashed id other replicas know

	// OnCooldown, when set, learns of every credential cooldown so it can
	// be shared with other replicas.
	OnCooldown func(credID string, until time.Time, reason string)
}

// NewHealth returns an empty registry.
func NewHealth() *Health {
	return &Health{creds: map[string]*circuit{}, combos: map[string]*circuit{}, shared: map[string]*circuit{}}
}

func (h *Health) share(id string, c *circuit) {
	h.mu.Lock()
	h.shared[id] = c
	h.mu.Unlock()
}

// SharedIDs lists the hashed ids of the current credentials.
func (h *Health) SharedIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.shared))
	for id := range h.shared {
		ids = append(ids, id)
	}
	return ids
}

// ApplyCooldown takes a cooldown another replica decided: the credential
// sits out here too until then.
func (h *Health) ApplyCooldown(cfg *config.Circuit, id string, until time.Time, reason string) {
	h.mu.Lock()
	c := h.shared[id]
	h.mu.Unlock()
	if c == nil || !until.After(time.Now()) {
		return
	}
	if c.openUntil.Load() >= until.UnixNano() {
		return // already cooling at least that long
	}
	c.coolDown(cfg, time.Now(), time.Until(until), reason, "shared_cooldown")
}

func (h *Health) credential(id string, cr config.Credential) *circuit {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.creds[id]
	if c == nil {
		c = &circuit{}
		h.creds[id] = c
	}
	l := c.limits.Load()
	if l == nil || l.rpm != int64(cr.RPM) || l.tpm != int64(cr.TPM) || l.maxConc != int64(cr.MaxConcurrency) {
		c.limits.Store(newLocalLimits(cr.RPM, cr.TPM, cr.MaxConcurrency))
	}
	return c
}

func (h *Health) combination(id string) *circuit {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.combos[id]
	if c == nil {
		c = &circuit{}
		h.combos[id] = c
	}
	return c
}

// keep forgets circuits the current config no longer has.
func (h *Health) keep(live map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.creds {
		if !live[id] {
			delete(h.creds, id)
		}
	}
	for id := range h.combos {
		if !live[id] {
			delete(h.combos, id)
		}
	}
	alive := make(map[*circuit]bool, len(h.creds))
	for _, c := range h.creds {
		alive[c] = true
	}
	for id, c := range h.shared {
		if !alive[c] {
			delete(h.shared, id)
		}
	}
}

// CredentialState reports a credential's circuit for /health.
func (c *Combination) CredentialState(now time.Time) State { return c.cred.state(now) }

// CombinationState reports this combination's circuit for /health.
func (c *Combination) CombinationState(now time.Time) State { return c.combo.state(now) }
