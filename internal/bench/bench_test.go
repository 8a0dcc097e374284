package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is genrouter built once: it runs the upstream, the Go proxy and
// the gateway as separate processes, as the real benchmark does.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "genrouter-bench-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "genrouter")
	out, err := exec.Command("go", "build", "-o", binary, "github.com/genrouter/genrouter/cmd/genrouter").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build genrouter: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestQuickRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Options{Bin: binary, Proxy: "go", Quick: true, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Proxy != "go-proxy" {
		t.Fatalf("proxy %q", rep.Proxy)
	}
	for _, n := range rep.Notes {
		t.Log("note: " + n)
	}
	want := []string{"direct", "go-proxy", "genrouter"}
	if len(rep.Scenarios) != 4 {
		t.Fatalf("%d scenarios, want serial, concurrent, stream, open", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		if len(s.Results) != len(want) {
			t.Fatalf("%s: %d targets", s.Name, len(s.Results))
		}
		for i, r := range s.Results {
			if r.Target != want[i] {
				t.Errorf("%s: target %d is %q, want %q", s.Name, i, r.Target, want[i])
			}
			if r.OK == 0 || r.Errors != 0 || r.Incomplete != 0 || r.OK != r.Requests {
				t.Errorf("%s → %s: %d of %d ok, %d errors, %d incomplete (%s)",
					s.Name, r.Target, r.OK, r.Requests, r.Errors, r.Incomplete, r.FirstError)
			}
			if r.Missed > 0 {
				// The open loop gives up on requests it could not send in
				// time: a load generator starved by a busy machine (and
				// the race detector), not a failed request.
				t.Logf("%s → %s: %d requests not sent in time", s.Name, r.Target, r.Missed)
			}
			if r.Throughput <= 0 || r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 || r.Latency.P99 < r.Latency.P50 {
				t.Errorf("%s → %s: odd numbers %+v, %.0f req/s", s.Name, r.Target, r.Latency, r.Throughput)
			}
			if s.Stream && (r.TTFB == nil || r.TTFB.P50 <= 0 || r.TTFB.P50 > r.Latency.Max) {
				t.Errorf("%s → %s: TTFB %+v", s.Name, r.Target, r.TTFB)
			}
			if r.Target != "direct" && (r.CPUMsPer1k == nil || r.RSSKiB <= 0 || r.Added == nil) {
				t.Errorf("%s → %s: no CPU, RSS or added latency", s.Name, r.Target)
			}
		}
		if _, ok := s.Ratios["genrouter/direct"]["req_per_s"]; !ok {
			t.Errorf("%s: no genrouter/direct throughput ratio: %v", s.Name, s.Ratios)
		}
	}
	if len(rep.Idle) != 2 {
		t.Fatalf("idle results for %d targets, want go-proxy and genrouter", len(rep.Idle))
	}
	for _, i := range rep.Idle {
		if i.Opened != i.Streams || i.Failed != 0 || i.RSSStartKiB <= 0 || i.RSSOpenKiB <= 0 {
			t.Errorf("idle %s: %+v", i.Target, i)
		}
	}
	// Overload: at least max_in_flight requests served (more if some came
	// late, after the first ones finished), the rest shed, none failed.
	if ov := rep.Overload; ov == nil {
		t.Error("no overload result")
	} else if ov.Served < ov.Limit || ov.Shed == 0 || ov.Served+ov.Shed != ov.Requests || ov.Failed != 0 || ov.RSSPeakKiB <= 0 {
		t.Errorf("overload: %+v", *ov)
	}
	for _, k := range []string{"go-proxy", "genrouter"} {
		if rep.StartRSSKiB[k] <= 0 {
			t.Errorf("no start RSS for %s", k)
		}
	}

	// The JSON report round-trips and names all three targets.
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(js.String(), `"target": "`+w+`"`) {
			t.Errorf("JSON lacks target %s", w)
		}
	}
	if len(back.Checks) == 0 || back.Machine.CPUs <= 0 {
		t.Errorf("JSON: %d checks, machine %+v", len(back.Checks), back.Machine)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, s := range []string{"== serial", "== idle", "genrouter/go-proxy:", "issue 8 targets"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	if !strings.Contains(progress.String(), "bench [") {
		t.Errorf("no progress lines: %q", progress.String())
	}
	if testing.Verbose() {
		t.Log("\n" + table.String())
	}
}

// A gateway that cannot start fails the run at once, saying why, and
// leaves no process behind.
func TestGatewayFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Run(ctx, Options{Bin: binary, GatewayBin: "/bin/false", Proxy: "none", Quick: true, Scenarios: []string{ScenarioSerial}})
	if err == nil || !strings.Contains(err.Error(), "genrouter") {
		t.Fatalf("err = %v", err)
	}
}
