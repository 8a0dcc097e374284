package route

import (
	"fmt"
	"math/rand/v2"

	"github.com/genrouter/genrouter/internal/config"
)

// Selector picks one combination out of a non-empty list of candidates.
type Selector interface {
	Select(cands []*Combination) *Combination
}

// Even picks uniformly at random, so a vendor with more keys and models
// gets proportionally more traffic and no combination is favoured.
type Even struct{}

// Select implements Selector.
func (Even) Select(cands []*Combination) *Combination {
	return cands[rand.IntN(len(cands))]
}

// NewSelector returns the selector a strategy names.
func NewSelector(strategy string) (Selector, error) {
	switch strategy {
	case config.StrategyEven, "":
		return Even{}, nil
	}
	return nil, fmt.Errorf("unknown routing strategy %q", strategy)
}
