package bench

import (
	"math"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 500 * time.Millisecond},
		{90, 900 * time.Millisecond},
		{99, 990 * time.Millisecond},
		{99.9, 999 * time.Millisecond},
		{100, 1000 * time.Millisecond},
		{0, 1 * time.Millisecond}, // rank clamps to the first sample
	} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	// Small samples: p99 of 10 is the largest, p50 of 4 is the second.
	small := []time.Duration{1, 2, 3, 4}
	if got := percentile(small, 50); got != 2 {
		t.Errorf("p50 of 1..4 = %v, want 2", got)
	}
	if got := percentile(small, 99); got != 4 {
		t.Errorf("p99 of 1..4 = %v, want 4", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

func TestSummarizeSortsAndAdds(t *testing.T) {
	d := []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	s := summarize(d)
	want := Summary{N: 4, Mean: 2.5, P50: 2, P90: 4, P99: 4, P999: 4, Max: 4}
	if s != want {
		t.Fatalf("summarize = %+v, want %+v", s, want)
	}
	base := Summary{N: 9, Mean: 1, P50: 1.5, P90: 1, P99: 1, P999: 1, Max: 1}
	a := s.minus(base)
	if a.N != 4 || a.P50 != 0.5 || a.P99 != 3 || a.Mean != 1.5 {
		t.Fatalf("minus = %+v", a)
	}
	if (summarize(nil) != Summary{}) {
		t.Fatal("summary of nothing is not zero")
	}
}

func TestRatio(t *testing.T) {
	if v, ok := ratio(3, 2); !ok || v != 1.5 {
		t.Errorf("ratio(3,2) = %v,%v", v, ok)
	}
	for _, b := range []float64{0, -1, math.NaN()} {
		if _, ok := ratio(1, b); ok {
			t.Errorf("ratio(1,%v) should not be defined", b)
		}
	}
}
