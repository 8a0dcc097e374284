package bench

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

// With nginx and Go's proxy both measured, the targets are judged against
// nginx and shown, marked indicative, against the Go proxy; the table
// prints a ratio line for each floor.
func TestReportComparesWithEveryFloor(t *testing.T) {
	res := func(name string, p50, p99, cpu float64) *TargetResult {
		r := &TargetResult{Target: name, OK: 1000, Requests: 1000, Throughput: 1 / p50,
			Latency: Summary{N: 1000, P50: p50, P90: p50, P99: p99, P999: p99, Max: p99}}
		if name != "direct" {
			r.CPUMsPer1k = &cpu
		}
		return r
	}
	rep := &Report{Proxy: "nginx", Proxies: []string{"nginx", "go-proxy"}, Pinned: "yes", StartRSSKiB: map[string]int64{},
		Scenarios: []*ScenarioResult{{Name: ScenarioSerial, Kind: "closed", Results: []*TargetResult{
			res("direct", 0.070, 0.100, 0),
			res("nginx", 0.100, 0.130, 22),     // adds 0.030 / 0.030
			res("go-proxy", 0.170, 0.340, 110), // adds 0.100 / 0.240
			res("genrouter", 0.130, 0.220, 66), // adds 0.060 / 0.120
		}}},
	}
	rep.finish()
	s := rep.Scenarios[0]
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if v := s.Ratios["genrouter/nginx"]["added_p50"]; !near(v, 2) {
		t.Errorf("added p50 vs nginx %v, want 2", v)
	}
	if v := s.Ratios["genrouter/go-proxy"]["added_p50"]; !near(v, 0.6) {
		t.Errorf("added p50 vs go-proxy %v, want 0.6", v)
	}
	checks := map[string]Check{}
	for _, c := range rep.Checks {
		checks[c.Name] = c
	}
	for name, want := range map[string]bool{
		"one at a time: added p50 vs nginx":    false, // 2x > 1.5x
		"one at a time: added p99 vs nginx":    false, // 4x > 2x
		"one at a time: added p50 vs go-proxy": true,
		"one at a time: added p99 vs go-proxy": true,
	} {
		c, ok := checks[name]
		switch {
		case !ok:
			t.Errorf("no check %q in %v", name, rep.Checks)
		case c.Pass != want:
			t.Errorf("%s: pass %v, want %v (%.2f)", name, c.Pass, want, c.Value)
		case strings.Contains(name, "go-proxy") != strings.Contains(c.Note, "indicative"):
			t.Errorf("%s: note %q", name, c.Note)
		}
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, want := range []string{"proxy: nginx, go-proxy;", "genrouter/nginx: added_p50 2.00x", "genrouter/go-proxy: added_p50 0.60x", "genrouter/direct:"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestProxyKinds(t *testing.T) {
	_, haveNginx := findNginx()
	auto := []string{"go"}
	if haveNginx {
		auto = []string{"nginx", "go"}
	}
	for choice, want := range map[string][]string{
		"none": nil, "go": {"go"}, "nginx": {"nginx"}, "both": {"nginx", "go"}, "auto": auto,
	} {
		if got := proxyKinds(choice); !slices.Equal(got, want) {
			t.Errorf("proxyKinds(%q) = %v, want %v", choice, got, want)
		}
	}
}
