package bench

import (
	"math"
	"slices"
	"time"
)

// Summary is a latency distribution, in milliseconds. Percentiles are exact
// (nearest rank over every sample), which a bounded run can afford.
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
}

// summarize sorts d in place and summarises it.
func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Summary{
		N:    len(d),
		Mean: ms(sum / time.Duration(len(d))),
		P50:  ms(percentile(d, 50)),
		P90:  ms(percentile(d, 90)),
		P99:  ms(percentile(d, 99)),
		P999: ms(percentile(d, 99.9)),
		Max:  ms(d[len(d)-1]),
	}
}

// percentile is the nearest-rank percentile of sorted samples: the
// smallest sample with at least p% of the samples at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9/100*1000 = 999.0000000000001)
	// from pushing the rank up by one.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// percentileOf is the percentile of unsorted samples (sorts a copy).
func percentileOf(d []time.Duration, p float64) time.Duration {
	c := slices.Clone(d)
	slices.Sort(c)
	return percentile(c, p)
}

// minus is the latency s adds over base, percentile by percentile.
func (s Summary) minus(base Summary) Summary {
	return Summary{
		N:    s.N,
		Mean: s.Mean - base.Mean,
		P50:  s.P50 - base.P50,
		P90:  s.P90 - base.P90,
		P99:  s.P99 - base.P99,
		P999: s.P999 - base.P999,
		Max:  s.Max - base.Max,
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is a/b, or ok=false when b is not positive (an added latency
// that noise made zero or negative has no meaningful ratio).
func ratio(a, b float64) (float64, bool) {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return a / b, true
}
