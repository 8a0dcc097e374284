package price

import (
	"math"
	"testing"
)

func TestCost(t *testing.T) {
	tab := New(map[string]Price{"my-model": {Input: 1, Output: 2}, "gpt-4o": {Input: 5, Output: 20, Cached: 2.5}})
	tests := []struct {
		model                      string
		prompt, completion, cached int64
		want                       float64
		known                      bool
	}{
		{"gpt-4o-mini", 1_000_000, 1_000_000, 0, 0.15 + 0.60, true},
		{"gpt-4o-mini-2024-07-18", 1_000_000, 0, 0, 0.15, true},  // dated snapshot → its family
		{"gpt-4o", 1_000_000, 0, 500_000, 0.5*5 + 0.5*2.5, true}, // override with cache
		{"models/gemini-2.0-flash", 2_000_000, 1_000_000, 0, 0.2 + 0.4, true},
		{"my-model", 1000, 1000, 1000, (1000*1 + 1000*2) / 1e6, true}, // no cached price: input price
		{"unknown-model", 1000, 1000, 0, 0, false},
	}
	for _, tt := range tests {
		got, ok := tab.Cost(tt.model, tt.prompt, tt.completion, tt.cached)
		if ok != tt.known || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Cost(%s) = %v, %v; want %v, %v", tt.model, got, ok, tt.want, tt.known)
		}
	}
	if p, _ := tab.Lookup("gpt-4o-mini"); p.Input != 0.15 {
		t.Errorf("the longer name must win: %+v", p)
	}
}
