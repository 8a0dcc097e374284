package route

import (
	"fmt"
	"math/rand/v2"

	"github.com/genrouter/genrouter/internal/config"
)

// Selector picks one combination out of a non-empty list of candidates,
// all of them healthy: circuits are filtered before a selector runs.
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

// Weighted picks at random in proportion to credential weight × model
// weight: for keys with different quotas.
type Weighted struct{}

// Select implements Selector.
func (Weighted) Select(cands []*Combination) *Combination {
	total := 0
	for _, c := range cands {
		total += c.Weight
	}
	n := rand.IntN(total)
	for _, c := range cands {
		if n -= c.Weight; n < 0 {
			return c
		}
	}
	return cands[len(cands)-1]
}

// RoundRobin takes the candidates in turn: predictable, even over time.
// It picks the candidate it picked least recently (each combination keeps
// the turn it was last picked at), so every model's candidates rotate on
// their own: one counter modulo the list's length would give requests
// for two models arriving alternately the same candidate every time.
type RoundRobin struct{}

// Select implements Selector.
func (r *RoundRobin) Select(cands []*Combination) *Combination {
	for {
		best := cands[0]
		last := best.rrTurn.Load()
		for _, c := range cands[1:] {
			if t := c.rrTurn.Load(); t < last {
				best, last = c, t
			}
		}
		if best.rrTurn.CompareAndSwap(last, best.rrClock.Add(1)) {
			return best
		}
		// A concurrent request took that turn: look again.
	}
}

// LeastBusy picks the combination with the fewest requests in flight,
// breaking ties at random: for vendors that slow down under load.
type LeastBusy struct{}

// Select implements Selector.
func (LeastBusy) Select(cands []*Combination) *Combination {
	var best *Combination
	var bestN int64
	ties := 0
	for _, c := range cands {
		n := c.combo.inFlight.Load()
		switch {
		case best == nil || n < bestN:
			best, bestN, ties = c, n, 1
		case n == bestN:
			ties++
			if rand.IntN(ties) == 0 { // reservoir sampling among ties
				best = c
			}
		}
	}
	return best
}

// LeastLatency compares two random candidates and takes the one with the
// lower moving average of time to first byte (the power of two choices:
// it follows the fastest without stampeding it). Unmeasured combinations
// win, so every one gets measured.
type LeastLatency struct{}

// Select implements Selector.
func (LeastLatency) Select(cands []*Combination) *Combination {
	if len(cands) == 1 {
		return cands[0]
	}
	i := rand.IntN(len(cands))
	j := rand.IntN(len(cands) - 1)
	if j >= i {
		j++
	}
	a, b := cands[i], cands[j]
	if b.combo.ewmaTTFB.Load() < a.combo.ewmaTTFB.Load() {
		return b
	}
	return a
}

// Priority uses the best tier (lowest number) that has a healthy
// candidate, evenly within it: primary keys first, spares when they fail.
type Priority struct{}

// Select implements Selector.
func (Priority) Select(cands []*Combination) *Combination {
	best := cands[0].Priority
	for _, c := range cands[1:] {
		best = min(best, c.Priority)
	}
	n := 0
	for _, c := range cands {
		if c.Priority == best {
			n++
		}
	}
	k := rand.IntN(n)
	for _, c := range cands {
		if c.Priority == best {
			if k == 0 {
				return c
			}
			k--
		}
	}
	return cands[0]
}

// NewSelector returns the selector a strategy names.
func NewSelector(strategy string) (Selector, error) {
	switch strategy {
	case config.StrategyEven, "":
		return Even{}, nil
	case config.StrategyWeighted:
		return Weighted{}, nil
	case config.StrategyRoundRobin:
		return &RoundRobin{}, nil
	case config.StrategyLeastBusy:
		return LeastBusy{}, nil
	case config.StrategyLeastLatency:
		return LeastLatency{}, nil
	case config.StrategyPriority:
		return Priority{}, nil
	}
	return nil, fmt.Errorf("unknown routing strategy %q", strategy)
}
