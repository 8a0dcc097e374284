// Package price turns token usage into money: a built-in table of common
// models' list prices, overridable per model in config.
package price

import (
	"sort"
	"strings"
)

// Price is USD per million tokens.
type Price struct {
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
	// Cached is the price of prompt tokens served from the vendor's cache;
	// 0 means they cost the same as Input.
	Cached float64 `json:"cached"`
}

// builtin are list prices per million tokens as the vendors published them
// (OpenAI, Google and Anthropic pricing pages, 2025). They go stale: override
// them in config (`prices:`) where it matters. A function, not a variable,
// so no caller can change them for everyone.
func builtin() map[string]Price {
	return map[string]Price{
		"gpt-5":                  {1.25, 10, 0.125},
		"gpt-5-mini":             {0.25, 2, 0.025},
		"gpt-5-nano":             {0.05, 0.40, 0.005},
		"gpt-4.1":                {2, 8, 0.50},
		"gpt-4.1-mini":           {0.40, 1.60, 0.10},
		"gpt-4.1-nano":           {0.10, 0.40, 0.025},
		"gpt-4o":                 {2.50, 10, 1.25},
		"gpt-4o-mini":            {0.15, 0.60, 0.075},
		"o3":                     {2, 8, 0.50},
		"o3-mini":                {1.10, 4.40, 0.55},
		"o4-mini":                {1.10, 4.40, 0.275},
		"text-embedding-3-small": {0.02, 0, 0},
		"text-embedding-3-large": {0.13, 0, 0},
		"gemini-2.5-pro":         {1.25, 10, 0.31},
		"gemini-2.5-flash":       {0.30, 2.50, 0.075},
		"gemini-2.5-flash-lite":  {0.10, 0.40, 0.025},
		"gemini-2.0-flash":       {0.10, 0.40, 0.025},
		"gemini-2.0-flash-lite":  {0.075, 0.30, 0},
		"gemini-embedding-001":   {0.15, 0, 0},
		"text-embedding-004":     {0, 0, 0},
		"claude-opus-4-1":        {15, 75, 1.50},
		"claude-opus-4":          {15, 75, 1.50},
		"claude-sonnet-4-5":      {3, 15, 0.30},
		"claude-sonnet-4":        {3, 15, 0.30},
		"claude-haiku-4-5":       {1, 5, 0.10},
		"claude-3-5-haiku":       {0.80, 4, 0.08},
	}
}

// Table looks up prices: exact names first, then the longest known name
// the model starts with ("gpt-4o-2024-08-06" is priced as "gpt-4o").
type Table struct {
	prices map[string]Price
	byLen  []string // known names, longest first
}

// New builds a table from the built-in prices with overrides on top.
func New(overrides map[string]Price) *Table {
	t := &Table{prices: builtin()}
	for k, v := range overrides {
		t.prices[k] = v
	}
	for k := range t.prices {
		t.byLen = append(t.byLen, k)
	}
	sort.Slice(t.byLen, func(i, j int) bool {
		if len(t.byLen[i]) != len(t.byLen[j]) {
			return len(t.byLen[i]) > len(t.byLen[j])
		}
		return t.byLen[i] < t.byLen[j]
	})
	return t
}

// Lookup returns the price of a model and whether one is known. Vendor
// prefixes such as "models/" or "openai/" are ignored.
func (t *Table) Lookup(model string) (Price, bool) {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	if p, ok := t.prices[model]; ok {
		return p, true
	}
	for _, k := range t.byLen {
		if strings.HasPrefix(model, k) {
			return t.prices[k], true
		}
	}
	return Price{}, false
}

// Cost is what a request cost in USD; cached is the part of prompt that
// was served from cache. Unknown models cost 0 (and ok is false).
func (t *Table) Cost(model string, prompt, completion, cached int64) (cost float64, ok bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	cachedPrice := p.Cached
	if cachedPrice == 0 {
		cachedPrice = p.Input
	}
	fresh := prompt - cached
	if fresh < 0 {
		fresh = 0
	}
	return (float64(fresh)*p.Input + float64(cached)*cachedPrice + float64(completion)*p.Output) / 1e6, true
}
