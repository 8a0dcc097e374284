package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a run's results; it is also the --json output.
type Report struct {
	Started     time.Time         `json:"started"`
	Machine     Machine           `json:"machine"`
	Settings    Settings          `json:"settings"`
	Proxy       string            `json:"proxy"`             // the floor the targets use: nginx, go-proxy or "" (none)
	Proxies     []string          `json:"proxies,omitempty"` // every floor measured, Proxy first
	Pinned      string            `json:"pinned,omitempty"`
	Notes       []string          `json:"notes,omitempty"`
	StartRSSKiB map[string]int64  `json:"start_rss_kib"`
	Idle        []IdleResult      `json:"idle,omitempty"`
	Overload    *OverloadResult   `json:"overload,omitempty"`
	Scenarios   []*ScenarioResult `json:"scenarios"`
	Checks      []Check           `json:"checks"`
}

// Machine says where the numbers come from.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	OSArch    string `json:"os_arch"`
}

// Settings are the options the run used.
type Settings struct {
	DurationS         float64 `json:"duration_s"`
	Rounds            int     `json:"rounds"`
	Requests          int     `json:"requests_cap"`
	Concurrency       []int   `json:"concurrency"`
	StreamConcurrency int     `json:"stream_concurrency"`
	Rate              float64 `json:"rate"`
	Chunks            int     `json:"chunks"`
	GapMS             float64 `json:"gap_ms"`
	TTFBMS            float64 `json:"upstream_ttfb_ms"`
	IdleStreams       int     `json:"idle_streams"`
	IdleHoldS         float64 `json:"idle_hold_s"`
	GatewayBin        string  `json:"gateway_bin"`
	Quick             bool    `json:"quick,omitempty"`
}

// ScenarioResult is one load shape against every target.
type ScenarioResult struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"` // closed | open
	Description string          `json:"description"`
	Stream      bool            `json:"stream"`
	Concurrency int             `json:"concurrency,omitempty"`
	Rate        float64         `json:"rate,omitempty"`
	Results     []*TargetResult `json:"results"`
	// Ratios, keyed "genrouter/nginx" and "genrouter/direct", then by
	// measure; a ratio whose denominator is not positive is left out.
	Ratios map[string]map[string]float64 `json:"ratios"`
}

// TargetResult is one scenario against one target. Latencies count
// successful requests only; for streams, latency is the whole stream.
type TargetResult struct {
	Target     string   `json:"target"`
	Requests   int      `json:"requests"`
	OK         int      `json:"ok"`
	Errors     int      `json:"errors"`
	Incomplete int      `json:"incomplete_streams"`
	Missed     int      `json:"missed,omitempty"`
	FirstError string   `json:"first_error,omitempty"`
	Seconds    float64  `json:"seconds"`
	Throughput float64  `json:"req_per_s"`
	Latency    Summary  `json:"latency"`
	Added      *Summary `json:"added_latency,omitempty"` // minus direct's
	TTFB       *Summary `json:"ttfb,omitempty"`
	AddedTTFB  *Summary `json:"added_ttfb,omitempty"`
	// CPU time of the proxy or gateway process (nginx: master + worker).
	CPUMsPer1k *float64 `json:"cpu_ms_per_1k_req,omitempty"`
	CPUUtil    *float64 `json:"cpu_util,omitempty"` // cores busy on average
	// LoadCPUUtil is the load generator's plus the upstream's CPU, in
	// cores: near 1 with pinning means the load side was the limit.
	LoadCPUUtil float64 `json:"load_cpu_util"`
	// OtherCPUUtil is what the rest of the machine was busy with (other
	// programs; interrupt work is left out), in cores: high values mean
	// noisy numbers.
	OtherCPUUtil float64  `json:"other_cpu_util"`
	RSSKiB       int64    `json:"rss_kib,omitempty"` // at the end of the run
	AllocsPerReq *float64 `json:"allocs_per_req,omitempty"`
	BytesPerReq  *float64 `json:"alloc_bytes_per_req,omitempty"`
}

// IdleResult is the memory cost of open, quiet streams.
type IdleResult struct {
	Target       string  `json:"target"`
	Streams      int     `json:"streams"`
	Opened       int     `json:"opened"`
	Failed       int     `json:"failed"`
	FirstError   string  `json:"first_error,omitempty"`
	RSSStartKiB  int64   `json:"rss_start_kib"`  // right after start
	RSSBeforeKiB int64   `json:"rss_before_kib"` // just before opening
	RSSOpenKiB   int64   `json:"rss_open_kib"`   // highest while held
	PerStreamKiB float64 `json:"rss_per_stream_kib"`
}

// Check is one of issue 8's targets, evaluated.
type Check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Op    string  `json:"op"` // <= or >=
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"`
	Pass  bool    `json:"pass"`
	Note  string  `json:"note,omitempty"`
}

func newReport(o Options) *Report {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return &Report{
		Started: time.Now().UTC().Truncate(time.Second),
		Machine: Machine{
			CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: strings.TrimSpace(string(kernel)),
			GoVersion: runtime.Version(), OSArch: runtime.GOOS + "/" + runtime.GOARCH,
		},
		Settings: Settings{
			DurationS: o.Duration.Seconds(), Rounds: o.Rounds, Requests: o.Requests, Concurrency: o.Concurrency,
			StreamConcurrency: o.StreamConcurrency, Rate: o.Rate, Chunks: o.Chunks,
			GapMS: ms(o.Gap), TTFBMS: ms(o.TTFB), IdleStreams: o.IdleStreams, IdleHoldS: o.IdleHold.Seconds(),
			GatewayBin: o.GatewayBin, Quick: o.Quick,
		},
		StartRSSKiB: map[string]int64{},
	}
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// failed says whether any request to target failed.
func (r *Report) failed(target string) bool {
	for _, s := range r.Scenarios {
		if t := s.result(target); t != nil && t.Errors+t.Incomplete+t.Missed > 0 {
			return true
		}
	}
	for _, i := range r.Idle {
		if i.Target == target && i.Failed > 0 {
			return true
		}
	}
	return false
}

// result finds a target's result in a scenario.
func (s *ScenarioResult) result(target string) *TargetResult {
	for _, t := range s.Results {
		if t.Target == target {
			return t
		}
	}
	return nil
}

// finish derives added latencies, ratios and the checks.
func (r *Report) finish() {
	if r.Pinned == "" {
		r.note("not pinned: the gateway/proxy share both CPUs with the load generator and upstream")
	}
	for _, s := range r.Scenarios {
		direct := s.result("direct")
		for _, t := range s.Results {
			if direct == nil || t == direct || t.Latency.N == 0 || direct.Latency.N == 0 {
				continue
			}
			a := t.Latency.minus(direct.Latency)
			t.Added = &a
			if t.TTFB != nil && direct.TTFB != nil && direct.TTFB.N > 0 {
				at := t.TTFB.minus(*direct.TTFB)
				t.AddedTTFB = &at
			}
		}
		s.Ratios = map[string]map[string]float64{}
		gw := s.result("genrouter")
		if gw == nil {
			continue
		}
		for _, name := range r.Proxies {
			if px := s.result(name); px != nil {
				s.Ratios["genrouter/"+name] = compare(gw, px, true)
			}
		}
		if direct != nil {
			s.Ratios["genrouter/direct"] = compare(gw, direct, false)
		}
	}
	worst := 0.0
	for _, s := range r.Scenarios {
		for _, t := range s.Results {
			worst = max(worst, t.OtherCPUUtil)
		}
	}
	if worst > 0.25 {
		r.note("other work kept up to %.0f%% of a core busy during some runs: treat the numbers as noisy", worst*100)
	}
	r.checks()
}

// compare is a's measures over b's.
func compare(a, b *TargetResult, added bool) map[string]float64 {
	m := map[string]float64{}
	put := func(k string, x, y float64) {
		if v, ok := ratio(x, y); ok {
			m[k] = v
		}
	}
	put("p50", a.Latency.P50, b.Latency.P50)
	put("p99", a.Latency.P99, b.Latency.P99)
	put("req_per_s", a.Throughput, b.Throughput)
	if a.TTFB != nil && b.TTFB != nil {
		put("ttfb_p50", a.TTFB.P50, b.TTFB.P50)
		put("ttfb_p99", a.TTFB.P99, b.TTFB.P99)
	}
	if !added {
		return m
	}
	if a.Added != nil && b.Added != nil {
		put("added_p50", a.Added.P50, b.Added.P50)
		put("added_p90", a.Added.P90, b.Added.P90)
		put("added_p99", a.Added.P99, b.Added.P99)
		put("added_p99_9", a.Added.P999, b.Added.P999)
	}
	if a.AddedTTFB != nil && b.AddedTTFB != nil {
		put("added_ttfb_p50", a.AddedTTFB.P50, b.AddedTTFB.P50)
	}
	if a.CPUMsPer1k != nil && b.CPUMsPer1k != nil {
		put("cpu_per_req", *a.CPUMsPer1k, *b.CPUMsPer1k)
	}
	put("rss", float64(a.RSSKiB), float64(b.RSSKiB))
	return m
}

// checks evaluates issue 8's targets. The latency, throughput and CPU ones
// compare with nginx; against the Go proxy they are shown too, marked
// indicative: the issue names httputil as a second reference point.
func (r *Report) checks() {
	add := func(name string, v float64, ok bool, op string, limit float64, unit, note string) {
		c := Check{Name: name, Value: v, Op: op, Limit: limit, Unit: unit, Note: note}
		switch {
		case !ok:
			c.Note = strings.TrimSpace(c.Note + " not measurable (a denominator was zero or negative)")
		case op == "<=":
			c.Pass = v <= limit
		case op == ">=":
			c.Pass = v >= limit
		}
		r.Checks = append(r.Checks, c)
	}
	for _, px := range r.Proxies {
		note := ""
		if px != "nginx" {
			note = "vs " + px + ", not nginx: indicative only"
		}
		get := func(s *ScenarioResult, k string) (float64, bool) {
			v, ok := s.Ratios["genrouter/"+px][k]
			return v, ok
		}
		for _, s := range r.Scenarios {
			switch {
			case s.Name == ScenarioSerial:
				v, ok := get(s, "added_p50")
				add("one at a time: added p50 vs "+px, v, ok, "<=", 1.5, "x", note)
				v, ok = get(s, "added_p99")
				add("one at a time: added p99 vs "+px, v, ok, "<=", 2, "x", note)
			case s.Kind == "closed" && !s.Stream && s.Concurrency == 32:
				v, ok := get(s, "req_per_s")
				add("32 concurrent: throughput vs "+px, v, ok, ">=", 0.75, "x", note)
				v, ok = get(s, "cpu_per_req")
				add("32 concurrent: CPU per request vs "+px, v, ok, "<=", 3, "x", note)
			case s.Stream:
				v, ok := get(s, "ttfb_p50")
				add(fmt.Sprintf("%d concurrent streams: TTFB p50 vs %s", s.Concurrency, px), v, ok, "<=", 1.5, "x", note)
			}
		}
	}
	for _, s := range r.Scenarios {
		if gw := s.result("genrouter"); gw != nil && s.Stream {
			bad := float64(gw.Incomplete + gw.Errors)
			add(fmt.Sprintf("%d concurrent streams: incomplete or failed streams", s.Concurrency), bad, true, "<=", 0, "", "")
		}
	}
	for _, i := range r.Idle {
		if i.Target != "genrouter" {
			continue
		}
		add(fmt.Sprintf("%d idle streams: RSS per open stream", i.Streams), i.PerStreamKiB, i.Opened > 0, "<=", 30, "KiB", "")
		add("idle RSS right after start", float64(i.RSSStartKiB)/1024, i.RSSStartKiB > 0, "<=", 30, "MiB", "")
	}
	if ov := r.Overload; ov != nil {
		add(fmt.Sprintf("%d slow requests, max_in_flight %d: failed (not served, not shed)", ov.Requests, ov.Limit),
			float64(ov.Failed), true, "<=", 0, "", ov.FirstError)
		add(fmt.Sprintf("%d slow requests, max_in_flight %d: peak RSS", ov.Requests, ov.Limit),
			float64(ov.RSSPeakKiB)/1024, ov.RSSPeakKiB > 0, "<=", math.Round(float64(ov.BoundKiB)/102.4)/10, "MiB",
			fmt.Sprintf("bound: before + %d admitted x %d KiB + %d connections x %d KiB", ov.Limit, perAdmittedKiB, ov.Requests, perConnKiB))
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "genrouter bench — %s, %d CPUs (%s), Linux %s, %s\n", r.Started.Format(time.RFC3339), m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	px := strings.Join(r.Proxies, ", ")
	if px == "" {
		px = "none"
	}
	fmt.Fprintf(w, "proxy: %s; upstream: time to first byte %v, %d events per stream, gap %v; %gs per scenario and target in %d round(s)\n",
		px, time.Duration(r.Settings.TTFBMS*float64(time.Millisecond)), r.Settings.Chunks,
		time.Duration(r.Settings.GapMS*float64(time.Millisecond)), r.Settings.DurationS, r.Settings.Rounds)
	if r.Pinned != "" {
		fmt.Fprintf(w, "pinned: %s\n", r.Pinned)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w, "columns: +x is added latency over direct; cpu ms/1k and cpu are the proxy's or gateway's own process;")
	fmt.Fprintln(w, "  load is the load generator + upstream, other the rest of the machine (100% = one core busy)")
	if len(r.StartRSSKiB) > 0 {
		fmt.Fprint(w, "RSS right after start:")
		for _, k := range append(slices.Clone(r.Proxies), "genrouter") {
			if v, ok := r.StartRSSKiB[k]; ok {
				fmt.Fprintf(w, " %s %.1f MiB", k, float64(v)/1024)
			}
		}
		fmt.Fprintln(w)
	}

	if len(r.Idle) > 0 {
		fmt.Fprintf(w, "\n== idle: %d open streams, quiet after their first event, held %gs\n", r.Settings.IdleStreams, r.Settings.IdleHoldS)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\topened\tfailed\tRSS start MiB\tRSS before MiB\tRSS open MiB\tKiB/stream\t")
		for _, i := range r.Idle {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", i.Target, i.Opened, i.Failed,
				float64(i.RSSStartKiB)/1024, float64(i.RSSBeforeKiB)/1024, float64(i.RSSOpenKiB)/1024, i.PerStreamKiB)
		}
		tw.Flush()
		for _, i := range r.Idle {
			if i.FirstError != "" {
				fmt.Fprintf(w, "  %s first error: %s\n", i.Target, i.FirstError)
			}
		}
	}

	if ov := r.Overload; ov != nil {
		fmt.Fprintf(w, "\n== overload: %d requests at once, each on its own connection; upstream answers after %v; gateway max_in_flight %d, no usage log\n",
			ov.Requests, time.Duration(ov.TTFBMS*float64(time.Millisecond)), ov.Limit)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "served\tshed 503\tfailed\tshed p50 ms\tshed p99 ms\tRSS before MiB\tRSS peak MiB\tbound MiB\t")
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", ov.Served, ov.Shed, ov.Failed, ov.ShedP50MS, ov.ShedP99MS,
			float64(ov.RSSBeforeKiB)/1024, float64(ov.RSSPeakKiB)/1024, float64(ov.BoundKiB)/1024)
		tw.Flush()
		if ov.FirstError != "" {
			fmt.Fprintf(w, "  first error: %s\n", ov.FirstError)
		}
	}

	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "\n== %s: %s (latencies in ms)\n", s.Name, s.Description)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		if s.Stream {
			fmt.Fprintln(tw, "target\tok\terr\tincompl\treq/s\tttfb p50\tp90\tp99\tp99.9\tmax\t+ttfb p50\t+p99\tstream p50\tp99\tcpu ms/1k\tcpu\tload\tother\tRSS MiB\t")
		} else {
			fmt.Fprintln(tw, "target\tok\terr\treq/s\tp50\tp90\tp99\tp99.9\tmax\t+p50\t+p90\t+p99\t+p99.9\tcpu ms/1k\tcpu\tload\tother\tRSS MiB\t")
		}
		for _, t := range s.Results {
			cpu, util, rss := "-", "-", "-"
			if t.CPUMsPer1k != nil {
				cpu = fmt.Sprintf("%.1f", *t.CPUMsPer1k)
			}
			if t.CPUUtil != nil {
				util = fmt.Sprintf("%.0f%%", *t.CPUUtil*100)
			}
			if t.RSSKiB > 0 {
				rss = fmt.Sprintf("%.1f", float64(t.RSSKiB)/1024)
			}
			load := fmt.Sprintf("%.0f%%\t%.0f%%", t.LoadCPUUtil*100, t.OtherCPUUtil*100)
			errs := fmt.Sprint(t.Errors)
			if t.Missed > 0 {
				errs += fmt.Sprintf("+%d missed", t.Missed)
			}
			if s.Stream {
				tt, at := Summary{}, Summary{}
				if t.TTFB != nil {
					tt = *t.TTFB
				}
				if t.AddedTTFB != nil {
					at = *t.AddedTTFB
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t\n",
					t.Target, t.OK, errs, t.Incomplete, t.Throughput, tt.P50, tt.P90, tt.P99, tt.P999, tt.Max,
					added(t.AddedTTFB != nil, at.P50), added(t.AddedTTFB != nil, at.P99), t.Latency.P50, t.Latency.P99, cpu, util, load, rss)
				continue
			}
			a := Summary{}
			if t.Added != nil {
				a = *t.Added
			}
			l := t.Latency
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
				t.Target, t.OK, errs, t.Throughput, l.P50, l.P90, l.P99, l.P999, l.Max,
				added(t.Added != nil, a.P50), added(t.Added != nil, a.P90), added(t.Added != nil, a.P99), added(t.Added != nil, a.P999),
				cpu, util, load, rss)
		}
		tw.Flush()
		for _, t := range s.Results {
			if t.FirstError != "" {
				fmt.Fprintf(w, "  %s first error: %s\n", t.Target, t.FirstError)
			}
			if t.AllocsPerReq != nil {
				fmt.Fprintf(w, "  %s allocations: %.0f per request, %.0f bytes\n", t.Target, *t.AllocsPerReq, *t.BytesPerReq)
			}
		}
		for _, k := range append(slices.Clone(r.Proxies), "direct") {
			if m := s.Ratios["genrouter/"+k]; len(m) > 0 {
				fmt.Fprintf(w, "  genrouter/%s: %s\n", k, ratioLine(m, s.Stream))
			}
		}
	}

	if len(r.Checks) > 0 {
		fmt.Fprintln(w, "\n== issue 8 targets (genrouter)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "check\tvalue\ttarget\tresult\t")
		for _, c := range r.Checks {
			res := "FAIL"
			if c.Pass {
				res = "pass"
			}
			if c.Note != "" {
				res += " (" + c.Note + ")"
			}
			fmt.Fprintf(tw, "%s\t%.2f%s\t%s %g%s\t%s\t\n", c.Name, c.Value, c.Unit, c.Op, c.Limit, c.Unit, res)
		}
		tw.Flush()
	}
}

func added(ok bool, v float64) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%+.3f", v)
}

// ratioLine prints the ratios that matter for the scenario, in order.
func ratioLine(m map[string]float64, stream bool) string {
	keys := []string{"added_p50", "added_p99", "p50", "p99", "req_per_s", "cpu_per_req", "rss"}
	if stream {
		keys = []string{"ttfb_p50", "ttfb_p99", "added_ttfb_p50", "p50", "p99", "req_per_s", "cpu_per_req", "rss"}
	}
	var parts []string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2fx", k, v))
		}
	}
	return strings.Join(parts, ", ")
}
