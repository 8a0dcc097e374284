// Package route holds the pool of combinations (vendor × credential ×
// model), decides which are eligible for a request, and selects one.
package route

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
)

// Vendor is a configured upstream with its adapter.
type Vendor struct {
	Name, Type string
	Adapter    vendors.Adapter
}

// Is reports whether a vendor filter (?vendor=, a key's allowed vendors)
// names this vendor: by its name or by its type.
func (v *Vendor) Is(name string) bool { return v.Name == name || v.Type == name }

// VendorAllowed reports whether a ?vendor= filter leaves a vendor that an
// allow-list (names or types) permits, as Candidates would find one. A
// filter that names no vendor at all passes: Candidates refuses it.
func (p *Pool) VendorAllowed(vendor string, allowed []string) bool {
	named := false
	for _, v := range p.vendors {
		if v.Is(vendor) {
			if slices.ContainsFunc(allowed, v.Is) {
				return true
			}
			named = true
		}
	}
	return !named
}

// Combination is one way to serve a request: a vendor, one of its
// credentials, one of its models.
type Combination struct {
	ID         int
	Vendor     *Vendor
	Credential string // the credential's name: safe to show
	Key        string // the secret itself: never shown
	Weight     int    // credential weight × model weight
	Priority   int    // the credential's tier, else the vendor's
	Model      config.Model
	// quoted is Model.Name as a JSON string literal, ready to splice.
	quoted []byte
	// cred and combo are the health of the credential and of this
	// combination; they outlive config reloads.
	cred, combo *circuit
	// CredID names the credential to other replicas without revealing it:
	// a hash of vendor, URL, name and key.
	CredID string
	// headers are the X-Genrouter-Vendor, -Model and -Credential values.
	headers []string
	// rrTurn is when round_robin last picked this combination (0: never),
	// on rrClock, the pool's: one clock for all of a pool's combinations,
	// as a fallback model's may be picked by more than one selector.
	rrTurn  atomic.Uint64
	rrClock *atomic.Uint64
}

// Headers returns the served-by header values: vendor, model, credential.
// Callers must not modify them.
func (c *Combination) Headers() []string { return c.headers }

// QuotedModel is the model name as a JSON string literal.
func (c *Combination) QuotedModel() []byte { return c.quoted }

// Query describes what a request needs from a combination.
type Query struct {
	Vendor    string // ?vendor=: a vendor name or type; "" for any
	Model     string // the model the client asked for
	Embedding bool   // an embeddings request, not a chat
	Needs     openai.Needs
	// Allowed, when set, lists the only vendors (names or types) the
	// caller may use (a virtual key's allow-list).
	Allowed []string
	// AllowedModels, when set, lists the only models the caller may use (a
	// virtual key's allow-list). The model asked for is checked before
	// routing; routing keeps fallbacks (routing.fallbacks) to it.
	AllowedModels []string
}

// Pool is an immutable set of combinations with the indexes that make
// eligibility a map lookup on the hot path.
type Pool struct {
	all           []*Combination
	vendors       []*Vendor
	vendorNames   string // for error messages
	rejectUnknown bool
	// lists maps a key of (vendor filter, model, kind) to its combinations;
	// model "" is every combination of that kind.
	lists map[listKey][]*Combination
	// vendorFilters lists the filters ?vendor= may use, by name or type.
	vendorFilters map[string]bool
	rrClock       atomic.Uint64 // round_robin's turns (Combination.rrTurn)
}

type listKey struct {
	vendor, model string
	embedding     bool
}

// AdapterFunc builds the adapter for a configured vendor.
type AdapterFunc func(config.Vendor) (vendors.Adapter, error)

// NewPool builds the pool from a validated config. Circuits come from
// health, so a reload keeps the state of credentials that did not change;
// nil starts afresh.
func NewPool(cfg *config.Config, adapter AdapterFunc, health *Health) (*Pool, error) {
	if health == nil {
		health = NewHealth()
	}
	live := map[string]bool{}
	p := &Pool{
		rejectUnknown: cfg.Routing.UnknownModels == config.UnknownModelsReject,
		lists:         map[listKey][]*Combination{},
		vendorFilters: map[string]bool{},
	}
	var names []string
	for _, vc := range cfg.Vendors {
		a, err := adapter(vc)
		if err != nil {
			return nil, fmt.Errorf("vendor %s: %w", vc.Name, err)
		}
		v := &Vendor{Name: vc.Name, Type: vc.Type, Adapter: a}
		p.vendors = append(p.vendors, v)
		names = append(names, vc.Name)
		p.vendorFilters[vc.Name] = true
		p.vendorFilters[vc.Type] = true
		for _, cr := range vc.Credentials {
			credID := vc.Name + "\x00" + vc.BaseURL + "\x00" + cr.Name + "\x00" + cr.Key
			sum := sha256.Sum256([]byte(credID))
			shared := hex.EncodeToString(sum[:12])
			cred := health.credential(credID, cr)
			health.share(shared, cred)
			live[credID] = true
			prio := cr.Priority
			if prio == 0 {
				prio = vc.Priority
			}
			for _, m := range vc.Models {
				comboID := credID + "\x00" + m.Name
				live[comboID] = true
				c := &Combination{ID: len(p.all), Vendor: v, Credential: cr.Name, Key: cr.Key,
					Weight: max(1, cr.Weight) * max(1, m.Weight), Priority: prio, Model: m, quoted: openai.Quote(m.Name),
					cred: cred, combo: health.combination(comboID), CredID: shared,
					headers: []string{v.Name, m.Name, cr.Name}, rrClock: &p.rrClock}
				p.all = append(p.all, c)
				for _, f := range []string{"", v.Name, v.Type} {
					p.add(listKey{f, m.Name, m.Embedding}, c)
					p.add(listKey{f, "", m.Embedding}, c)
				}
			}
		}
	}
	p.vendorNames = strings.Join(names, ", ")
	health.keep(live)
	return p, nil
}

// add appends c to a list once (a vendor's name may equal its type).
func (p *Pool) add(k listKey, c *Combination) {
	l := p.lists[k]
	if n := len(l); n > 0 && l[n-1] == c {
		return
	}
	p.lists[k] = append(l, c)
}

// All returns every combination in config order.
func (p *Pool) All() []*Combination { return p.all }

// Vendors returns the vendors in config order.
func (p *Pool) Vendors() []*Vendor { return p.vendors }

// Models returns the configured model names served under a vendor filter
// ("" for all), sorted, with the first vendor serving each. A caller's
// allow-lists (a virtual key's vendors, by name or type, and models; nil
// for all) narrow it to what that caller may use.
func (p *Pool) Models(vendor string, allowedVendors, allowedModels []string) []ModelInfo {
	seen := map[string]bool{}
	var out []ModelInfo
	for _, c := range p.all {
		switch {
		case vendor != "" && !c.Vendor.Is(vendor),
			len(allowedVendors) > 0 && !slices.ContainsFunc(allowedVendors, c.Vendor.Is),
			len(allowedModels) > 0 && !slices.Contains(allowedModels, c.Model.Name):
			continue
		}
		if !seen[c.Model.Name] {
			seen[c.Model.Name] = true
			out = append(out, ModelInfo{ID: c.Model.Name, OwnedBy: c.Vendor.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ModelInfo is one entry of the model list.
type ModelInfo struct{ ID, OwnedBy string }

// Candidates returns the combinations eligible for q. The returned slice is
// shared: callers must not modify it. Errors are client-facing.
func (p *Pool) Candidates(q Query) ([]*Combination, *openai.Error) {
	if e := p.CheckVendor(q.Vendor); e != nil {
		return nil, e
	}
	list, ok := p.lists[listKey{q.Vendor, q.Model, q.Embedding}]
	if !ok {
		if p.rejectUnknown {
			return nil, p.notFound(q)
		}
		if _, other := p.lists[listKey{q.Vendor, q.Model, !q.Embedding}]; other {
			// Configured, but as the other kind: only its combinations
			// would be eligible, and none can serve this request. Pooling
			// would answer from another model under this one's name.
			return nil, p.wrongKind(q)
		}
		list = p.lists[listKey{q.Vendor, "", q.Embedding}]
	}
	if len(q.Allowed) > 0 {
		var kept []*Combination
		for _, c := range list {
			if slices.ContainsFunc(q.Allowed, c.Vendor.Is) {
				kept = append(kept, c)
			}
		}
		list = kept
	}
	if len(list) == 0 {
		return nil, p.notFound(q)
	}
	return filterNeeds(list, q.Needs)
}

// CheckVendor returns the client-facing error for a ?vendor= that names no
// vendor ("" names them all).
func (p *Pool) CheckVendor(v string) *openai.Error {
	if v == "" || p.vendorFilters[v] {
		return nil
	}
	return openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "unknown_vendor", "vendor",
		fmt.Sprintf("unknown vendor %q: valid vendors are %s", v, p.vendorNames))
}

func (p *Pool) notFound(q Query) *openai.Error {
	kind := "chat"
	if q.Embedding {
		kind = "embeddings"
	}
	where := ""
	if q.Vendor != "" {
		where = " by vendor " + q.Vendor
	}
	return openai.NewError(http.StatusNotFound, openai.TypeInvalidRequest, "model_not_found", "model",
		fmt.Sprintf("the model %q does not exist or is not served%s for %s", q.Model, where, kind))
}

// wrongKind is the error for a configured chat model asked for embeddings,
// or an embedding model asked for chat.
func (p *Pool) wrongKind(q Query) *openai.Error {
	msg := "the model %q is a chat model: it does not serve embeddings%s"
	if !q.Embedding {
		msg = "the model %q is an embedding model: it does not serve chat%s"
	}
	where := ""
	if q.Vendor != "" {
		where = " (vendor " + q.Vendor + ")"
	}
	return openai.NewError(http.StatusNotFound, openai.TypeInvalidRequest, "model_not_found", "model",
		fmt.Sprintf(msg, q.Model, where))
}

// filterNeeds keeps the combinations whose model has every capability the
// request needs, allocating only when something must be dropped.
func filterNeeds(list []*Combination, n openai.Needs) ([]*Combination, *openai.Error) {
	fits := func(c *Combination) bool {
		return (!n.Tools || c.Model.Tools) && (!n.Images || c.Model.Images) && (!n.Streaming || c.Model.Streaming) &&
			(!n.Audio || c.Model.Audio)
	}
	all := true
	for _, c := range list {
		if !fits(c) {
			all = false
			break
		}
	}
	if all {
		return list, nil
	}
	var out []*Combination
	for _, c := range list {
		if fits(c) {
			out = append(out, c)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	var missing []string
	for _, need := range []struct {
		on   bool
		name string
		has  func(config.Model) bool
	}{
		{n.Tools, "tools", func(m config.Model) bool { return m.Tools }},
		{n.Images, "images", func(m config.Model) bool { return m.Images }},
		{n.Streaming, "streaming", func(m config.Model) bool { return m.Streaming }},
		{n.Audio, "audio", func(m config.Model) bool { return m.Audio }},
	} {
		if !need.on {
			continue
		}
		any := false
		for _, c := range list {
			any = any || need.has(c.Model)
		}
		if !any {
			missing = append(missing, need.name)
		}
	}
	msg := "no eligible model supports everything this request needs"
	if len(missing) > 0 {
		msg = "no eligible model supports " + strings.Join(missing, " and ")
	}
	return nil, openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "unsupported_capability", "", msg)
}
