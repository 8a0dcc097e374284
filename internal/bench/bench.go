// Package bench measures what genrouter adds to a request, against a plain
// reverse proxy (nginx, else Go's httputil) and against no hop at all, on
// one machine in one run: a fast fake upstream, the proxy and the gateway
// each run as their own process, and this process generates the load.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenario names, in the order they run.
const (
	ScenarioIdle       = "idle"       // RSS with many open, quiet streams
	ScenarioSerial     = "serial"     // closed loop, one request at a time
	ScenarioConcurrent = "concurrent" // closed loop at each --concurrency
	ScenarioStream     = "stream"     // streams, closed loop
	ScenarioOpen       = "open"       // open loop at a fixed rate
)

// AllScenarios is every scenario, in running order.
var AllScenarios = []string{ScenarioIdle, ScenarioSerial, ScenarioConcurrent, ScenarioStream, ScenarioOpen, ScenarioOverload}

// Options configure a benchmark run. Zero values take the defaults.
type Options struct {
	Bin        string // a genrouter binary: runs bench-upstream and bench-proxy (required)
	GatewayBin string // the gateway under test (default Bin)
	// NoUsageLog runs the gateway without its usage log (database_url:
	// none), to measure what asynchronous logging costs.
	NoUsageLog bool
	// Proxy is the reverse-proxy floor: nginx, go (httputil.ReverseProxy),
	// both, none, or auto: both when nginx is installed, else go. The
	// issue's targets compare with nginx; Go's proxy is the second
	// reference it names (a Go program doing nothing but proxying).
	Proxy string
	Pin   bool // gateway/proxy on CPU 0; load (this process, for good) and upstream on CPU 1

	Duration          time.Duration // per scenario and target (all rounds)
	Requests          int           // cap per scenario and target (all rounds)
	Rounds            int           // slices per scenario, alternating targets
	Concurrency       []int         // one closed-loop scenario each
	StreamConcurrency int
	Rate              float64 // open loop, requests per second
	OpenWorkers       int     // open loop: most requests in flight
	Chunks            int     // events per stream
	Gap               time.Duration
	TTFB              time.Duration
	IdleStreams       int
	IdleHold          time.Duration
	OverloadRequests  int           // slow requests fired at once in the overload scenario
	OverloadLimit     int           // the overload gateway's max_in_flight
	OverloadTTFB      time.Duration // how slow the overload upstream answers
	Scenarios         []string      // subset of AllScenarios; empty: all

	// GatewayExpvar is a URL serving expvar JSON (memstats) for the
	// gateway, for allocations per request. genrouter has none, so this
	// is only for builds that add one.
	GatewayExpvar string

	Quick       bool      // a short run, for tests
	Progress    io.Writer // status line; nil: none
	ProgressTTY bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Bin == "" {
		return o, errors.New("bench: Options.Bin (a genrouter binary) is required")
	}
	if o.GatewayBin == "" {
		o.GatewayBin = o.Bin
	}
	if o.Proxy == "" {
		o.Proxy = "auto"
	}
	def := func(v *int, normal, quick int) {
		if *v <= 0 {
			*v = normal
			if o.Quick {
				*v = quick
			}
		}
	}
	defDur := func(v *time.Duration, normal, quick time.Duration) {
		if *v <= 0 {
			*v = normal
			if o.Quick {
				*v = quick
			}
		}
	}
	defDur(&o.Duration, 5*time.Second, 300*time.Millisecond)
	defDur(&o.IdleHold, 2*time.Second, 300*time.Millisecond)
	def(&o.Requests, 1_000_000, 300)
	def(&o.Rounds, 3, 1)
	def(&o.StreamConcurrency, 64, 16)
	def(&o.OpenWorkers, 512, 64)
	def(&o.Chunks, 20, 20)
	def(&o.IdleStreams, 1000, 50)
	def(&o.OverloadRequests, 10000, 200)
	def(&o.OverloadLimit, 256, 20)
	defDur(&o.OverloadTTFB, 2*time.Second, time.Second)
	if len(o.Concurrency) == 0 {
		o.Concurrency = []int{32}
		if o.Quick {
			o.Concurrency = []int{8}
		}
	}
	if o.Rate <= 0 {
		o.Rate = 2000
		if o.Quick {
			o.Rate = 500
		}
	}
	if len(o.Scenarios) == 0 {
		o.Scenarios = AllScenarios
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return o, fmt.Errorf("bench: unknown scenario %q (want some of %s)", s, strings.Join(AllScenarios, ","))
		}
	}
	for _, c := range o.Concurrency {
		if c < 1 {
			return o, fmt.Errorf("bench: concurrency %d: must be at least 1", c)
		}
	}
	switch o.Proxy {
	case "auto", "nginx", "go", "both", "none":
	default:
		return o, fmt.Errorf("bench: --proxy %q: want auto, nginx, go, both or none", o.Proxy)
	}
	return o, nil
}

// target is one way to reach the upstream.
type target struct {
	name     string
	url      string
	proc     *proc // nil for direct
	rssStart int64
}

// scenario is one load shape.
type scenario struct {
	name   string
	kind   string // closed | open | idle
	desc   string
	stream bool
	conc   int
	rate   float64
}

func (o Options) scenarios() []scenario {
	var out []scenario
	want := func(s string) bool { return slices.Contains(o.Scenarios, s) }
	if want(ScenarioIdle) {
		out = append(out, scenario{name: ScenarioIdle, kind: "idle",
			desc: fmt.Sprintf("%d open streams, quiet after the first event, held %v", o.IdleStreams, o.IdleHold)})
	}
	if want(ScenarioSerial) {
		out = append(out, scenario{name: ScenarioSerial, kind: "closed", conc: 1,
			desc: "closed loop, one request at a time, non-streaming"})
	}
	if want(ScenarioConcurrent) {
		for _, c := range o.Concurrency {
			out = append(out, scenario{name: fmt.Sprintf("%s-%d", ScenarioConcurrent, c), kind: "closed", conc: c,
				desc: fmt.Sprintf("closed loop, %d concurrent, non-streaming", c)})
		}
	}
	if want(ScenarioStream) {
		out = append(out, scenario{name: fmt.Sprintf("%s-%d", ScenarioStream, o.StreamConcurrency), kind: "closed",
			stream: true, conc: o.StreamConcurrency,
			desc: fmt.Sprintf("closed loop, %d concurrent streams of %d events, gap %v", o.StreamConcurrency, o.Chunks, o.Gap)})
	}
	if want(ScenarioOpen) {
		out = append(out, scenario{name: fmt.Sprintf("%s-%g", ScenarioOpen, o.Rate), kind: "open", rate: o.Rate,
			desc: fmt.Sprintf("open loop at %g req/s, non-streaming, latency from each request's due time", o.Rate)})
	}
	return out
}

// apparatusGOGC is the GOGC of the load generator and the upstream: 40 MiB
// of garbage between collections (the minimum heap scales with GOGC).
const apparatusGOGC = 1000

// apparatusEnv is the environment added for the upstream's process.
func apparatusEnv(env ...string) []string {
	if os.Getenv("GOGC") == "" {
		env = append(env, "GOGC="+strconv.Itoa(apparatusGOGC))
	}
	return env
}

// Run starts the upstream, proxy and gateway, drives every scenario
// against each target, and stops them all before returning.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rep := newReport(o)
	if o.GatewayExpvar == "" {
		rep.note("allocations per request left out: genrouter exposes no runtime counters (a build with expvar can be given --gateway-expvar)")
	}
	tmp, err := os.MkdirTemp("", "genrouter-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var procs []*proc
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
	}()

	cpuTarget, cpuLoad := -1, -1
	if o.Pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			return nil, errors.New("bench: --pin needs taskset (util-linux)")
		}
		if runtime.NumCPU() < 2 {
			return nil, errors.New("bench: --pin needs 2 CPUs")
		}
		cpuTarget, cpuLoad = 0, 1
		if err := pinSelf(cpuLoad); err != nil {
			rep.note("could not pin the load generator to CPU %d (%v): it runs unpinned", cpuLoad, err)
		} else {
			prev := runtime.GOMAXPROCS(1) // one CPU: more Ps would only contend
			defer runtime.GOMAXPROCS(prev)
			rep.Pinned = "gateway/proxy on CPU 0 (taskset); load generator (sched_setaffinity) and upstream (taskset) on CPU 1"
		}
	}

	// The load generator and the upstream are the measuring apparatus: a
	// collection in either delays whichever request is in flight, whatever
	// the target. At Go's default they collected every few dozen
	// milliseconds, and that alone gave direct requests a p99.9 of 1.3 ms
	// (0.17 ms with collections this rare). GOGC set by the caller wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(apparatusGOGC))
	}
	upAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	up, err := startProc(ctx, "upstream", cpuLoad, false, apparatusEnv("GOMAXPROCS=1"), o.Bin, "bench-upstream",
		"--listen", upAddr, "--ttfb", o.TTFB.String(), "--chunks", strconv.Itoa(o.Chunks), "--gap", o.Gap.String())
	if err != nil {
		return nil, err
	}
	procs = append(procs, up)

	type floor struct {
		p    *proc
		addr string
	}
	var floors []floor
	for _, kind := range proxyKinds(o.Proxy) {
		p, addr, err := startProxy(ctx, kind, tmp, cpuTarget, upAddr, o.Bin)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		floors = append(floors, floor{p, addr})
		rep.Proxies = append(rep.Proxies, p.name)
	}
	if len(rep.Proxies) > 0 {
		rep.Proxy = rep.Proxies[0]
	}

	gwAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(tmp, "genrouter.yaml")
	db := filepath.Join(tmp, "usage.db")
	if o.NoUsageLog {
		db = "none"
	}
	if err := os.WriteFile(cfg, []byte(gatewayConfig(gwAddr, upAddr)+fmt.Sprintf("database_url: %q\n", db)), 0o600); err != nil {
		return nil, err
	}
	gw, err := startProc(ctx, "genrouter", cpuTarget, false, nil, o.GatewayBin, "serve", "--config", cfg, "--listen", gwAddr, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	procs = append(procs, gw)

	targets := []*target{{name: "direct", url: "http://" + upAddr + "/v1/chat/completions"}}
	for _, f := range floors {
		targets = append(targets, &target{name: f.p.name, url: "http://" + f.addr + "/v1/chat/completions", proc: f.p})
	}
	targets = append(targets, &target{name: "genrouter", url: "http://" + gwAddr + "/v1/chat/completions", proc: gw})

	for _, w := range append([]floor{{up, upAddr}, {gw, gwAddr}}, floors...) {
		if err := waitListening(ctx, w.p, w.addr, 15*time.Second); err != nil {
			return nil, err
		}
	}
	// "Right after start": listening, before any request.
	for _, t := range targets {
		if t.proc != nil {
			t.rssStart = t.proc.rssKiB()
			rep.StartRSSKiB[t.name] = t.rssStart
		}
	}
	for _, t := range targets {
		if err := preflight(ctx, t, o.Chunks); err != nil {
			if t.proc != nil {
				return nil, t.proc.failure(err)
			}
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
	}

	scs := o.scenarios()
	steps := 0
	for _, sc := range scs {
		for _, t := range targets {
			switch {
			case sc.kind != "idle":
				steps += o.Rounds
			case t.proc != nil:
				steps++
			}
		}
	}
	pg := newProgress(o.Progress, o.ProgressTTY, steps)
	r := &runner{o: o, up: up, pg: pg, rep: rep}
	for _, sc := range scs {
		if sc.kind == "idle" {
			for _, t := range targets {
				if t.proc != nil {
					rep.Idle = append(rep.Idle, r.idle(ctx, t))
				}
			}
			continue
		}
		res := &ScenarioResult{Name: sc.name, Kind: sc.kind, Description: sc.desc, Stream: sc.stream, Concurrency: sc.conc, Rate: sc.rate}
		legs := make([]*leg, len(targets))
		for i, t := range targets {
			legs[i] = r.prepare(ctx, sc, t)
		}
		for round := range o.Rounds {
			for _, l := range legs {
				r.round(ctx, sc, l, round, o.Rounds)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
			}
		}
		for _, l := range legs {
			res.Results = append(res.Results, r.finish(sc, l))
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	if slices.Contains(o.Scenarios, ScenarioOverload) {
		pg.note("overload: %d slow requests at once against max_in_flight %d", o.OverloadRequests, o.OverloadLimit)
		res, err := r.overload(ctx, tmp, cpuTarget, cpuLoad)
		if err != nil {
			return nil, err
		}
		rep.Overload = res
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// When requests failed, what the process said is the first clue.
	for _, t := range targets {
		if t.proc == nil || !rep.failed(t.name) {
			continue
		}
		if out := lastLines(t.proc.out.String(), 5); out != "" {
			rep.note("%s failed requests; its output ends:\n%s", t.name, out)
		}
	}
	rep.finish()
	return rep, nil
}

// proxyKinds is what --proxy asks for, in order: nginx first, as the
// floor the targets compare with.
func proxyKinds(choice string) []string {
	_, haveNginx := findNginx()
	switch choice {
	case "none":
		return nil
	case "auto":
		if !haveNginx {
			return []string{"go"}
		}
		return []string{"nginx", "go"}
	case "both":
		return []string{"nginx", "go"}
	}
	return []string{choice}
}

// startProxy starts one reverse-proxy floor: nginx with a generated
// config, or bin's bench-proxy (Go's httputil.ReverseProxy).
func startProxy(ctx context.Context, kind, tmp string, cpu int, upAddr, bin string) (*proc, string, error) {
	nginx, haveNginx := findNginx()
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	if kind == "go" {
		p, err := startProc(ctx, "go-proxy", cpu, false, nil, bin, "bench-proxy", "--listen", addr, "--upstream", "http://"+upAddr)
		return p, addr, err
	}
	if !haveNginx {
		return nil, "", errors.New("bench: nginx is not installed (apt-get install nginx); --proxy go compares with Go's httputil alone")
	}
	dir := filepath.Join(tmp, "nginx")
	conf, err := writeNginxConf(dir, addr, upAddr)
	if err != nil {
		return nil, "", err
	}
	p, err := startProc(ctx, "nginx", cpu, true, nil, nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	return p, addr, err
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// gatewayConfig is the gateway's config: one OpenAI-type vendor, one key,
// one model, pointing at the fake upstream.
func gatewayConfig(listen, upstream string) string {
	return fmt.Sprintf(`# genrouter bench: generated
listen: %s
vendors:
  - name: bench
    type: openai
    base_url: http://%s/v1
    credentials: ["sk-bench-0000000000000000"]
    models: [%s]
`, listen, upstream, benchModel)
}

// preflight checks that a target answers both a plain request and a
// stream correctly, so a broken setup fails at once and says why.
func preflight(ctx context.Context, t *target, chunks int) error {
	c := newClient(1)
	defer c.close()
	buf := make([]byte, 32<<10)
	for _, stream := range []bool{false, true} {
		if _, err := c.do(ctx, newRequest(t.url, stream, chunks), buf, time.Now()); err != nil {
			return fmt.Errorf("preflight %s (stream=%v): %w", t.name, stream, err)
		}
	}
	return nil
}

// runner runs scenarios and holds what they share.
type runner struct {
	o   Options
	up  *proc
	pg  *progress
	rep *Report
}

// leg is one scenario against one target, measured over one or more
// rounds that alternate with the other targets' (so a burst of noise from
// elsewhere on the machine is shared out rather than hitting one target).
type leg struct {
	t      *target
	rq     *request
	c      *client
	res    runResult
	cpu    float64 // target process CPU seconds
	load   float64 // load generator + upstream CPU seconds
	busy   float64 // the whole machine's busy CPU seconds
	wall   float64
	allocs memStats // summed over rounds
	mOK    bool
}

// prepare opens a leg: a client sized for the scenario, and a short
// warm-up so connections are open and code paths hot.
func (r *runner) prepare(ctx context.Context, sc scenario, t *target) *leg {
	o := r.o
	l := &leg{t: t, rq: newRequest(t.url, sc.stream, o.Chunks), mOK: true}
	conns := sc.conc
	warmConc := max(sc.conc, 4)
	if sc.kind == "open" {
		conns, warmConc = o.OpenWorkers, 8
	}
	l.c = newClient(conns)
	warmDur, warmMax := 500*time.Millisecond, max(200, warmConc*10)
	if o.Quick {
		warmDur, warmMax = 100*time.Millisecond, max(20, warmConc*2)
	}
	runClosed(ctx, l.c, l.rq, warmConc, warmDur, warmMax, &counters{})
	return l
}

// round runs one measured slice of a leg, reading CPU around it.
func (r *runner) round(ctx context.Context, sc scenario, l *leg, round, rounds int) {
	o := r.o
	dur := o.Duration / time.Duration(rounds)
	maxReq := max(o.Requests/rounds, 1)
	label := sc.name + " → " + l.t.name
	if rounds > 1 {
		label += fmt.Sprintf(" (%d/%d)", round+1, rounds)
	}
	var cnt counters
	r.pg.begin(label, dur, maxReq, &cnt)
	var tgt0 uint64
	if l.t.proc != nil {
		tgt0 = l.t.proc.cpuTicks()
	}
	self0, up0, busy0 := selfCPUTicks(), r.up.cpuTicks(), machineBusyTicks()
	m0, ok0 := r.expvar(ctx, l.t)
	t0 := time.Now()
	var res *runResult
	if sc.kind == "open" {
		res = runOpen(ctx, l.c, l.rq, sc.rate, dur, maxReq, o.OpenWorkers, &cnt)
	} else {
		res = runClosed(ctx, l.c, l.rq, sc.conc, dur, maxReq, &cnt)
	}
	l.wall += time.Since(t0).Seconds()
	l.busy += float64(machineBusyTicks()-busy0) / clockTicks
	m1, ok1 := r.expvar(ctx, l.t)
	l.load += float64(selfCPUTicks()-self0+r.up.cpuTicks()-up0) / clockTicks
	if l.t.proc != nil {
		l.cpu += float64(l.t.proc.cpuTicks()-tgt0) / clockTicks
	}
	if ok0 && ok1 {
		l.allocs.Mallocs += m1.Mallocs - m0.Mallocs
		l.allocs.TotalAlloc += m1.TotalAlloc - m0.TotalAlloc
	} else {
		l.mOK = false
	}
	l.res.add(&res.sample)
	l.res.missed += res.missed
	l.res.elapsed += res.elapsed
	r.pg.end(fmt.Sprintf("%d ok, %d err, %d incomplete, %.0f req/s, p50 %.3f ms",
		res.ok, res.errs, res.incomplete, float64(res.ok)/res.elapsed.Seconds(), ms(percentileOf(res.lat, 50))))
}

// finish closes a leg and sums it up.
func (r *runner) finish(sc scenario, l *leg) *TargetResult {
	l.c.close()
	res := &l.res
	tr := &TargetResult{
		Target:     l.t.name,
		Requests:   res.ok + res.errs + res.incomplete,
		OK:         res.ok,
		Errors:     res.errs,
		Incomplete: res.incomplete,
		Missed:     res.missed,
		Seconds:    res.elapsed.Seconds(),
		Latency:    summarize(res.lat),
	}
	if res.firstErr != nil {
		tr.FirstError = res.firstErr.Error()
	}
	if res.elapsed > 0 {
		tr.Throughput = float64(res.ok) / res.elapsed.Seconds()
	}
	if sc.stream {
		s := summarize(res.ttfb)
		tr.TTFB = &s
	}
	if l.wall > 0 {
		tr.LoadCPUUtil = l.load / l.wall
		tr.OtherCPUUtil = max(l.busy-l.load-l.cpu, 0) / l.wall
	}
	if l.t.proc != nil {
		util := l.cpu / l.wall
		tr.CPUUtil = &util
		if tr.Requests > 0 {
			per := l.cpu * 1000 / float64(tr.Requests) * 1000 // ms per 1,000 requests
			tr.CPUMsPer1k = &per
		}
		tr.RSSKiB = l.t.proc.rssKiB()
	}
	if l.mOK && r.o.GatewayExpvar != "" && l.t.name == "genrouter" && tr.Requests > 0 {
		a := float64(l.allocs.Mallocs) / float64(tr.Requests)
		b := float64(l.allocs.TotalAlloc) / float64(tr.Requests)
		tr.AllocsPerReq, tr.BytesPerReq = &a, &b
	}
	return tr
}

type memStats struct {
	Mallocs    uint64
	TotalAlloc uint64
}

// expvar reads the gateway's allocation counters, when it has a URL.
func (r *runner) expvar(ctx context.Context, t *target) (memStats, bool) {
	if r.o.GatewayExpvar == "" || t.name != "genrouter" {
		return memStats{}, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.o.GatewayExpvar, nil)
	if err != nil {
		return memStats{}, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return memStats{}, false
	}
	defer resp.Body.Close()
	var v struct{ Memstats memStats }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return memStats{}, false
	}
	return v.Memstats, true
}

// idle opens many quiet streams through t and reports its RSS per stream.
func (r *runner) idle(ctx context.Context, t *target) IdleResult {
	o := r.o
	var cnt counters
	r.pg.begin(ScenarioIdle+" → "+t.name, o.IdleHold+time.Second, 0, &cnt)
	ir := IdleResult{Target: t.name, Streams: o.IdleStreams, RSSStartKiB: t.rssStart}
	ir.RSSBeforeKiB = t.proc.rssKiB()
	res := holdStreams(ctx, t.url, o.IdleStreams, 15*time.Second, func() {
		// Hold, sampling: RSS settles as buffers fault in.
		end := time.Now().Add(o.IdleHold)
		for time.Now().Before(end) && ctx.Err() == nil {
			ir.RSSOpenKiB = max(ir.RSSOpenKiB, t.proc.rssKiB())
			time.Sleep(50 * time.Millisecond)
		}
	})
	ir.Opened, ir.Failed = res.opened, res.failed
	cnt.done.Store(int64(res.opened))
	cnt.errs.Store(int64(res.failed))
	if res.firstErr != nil {
		ir.FirstError = res.firstErr.Error()
	}
	if ir.Opened > 0 {
		ir.PerStreamKiB = float64(ir.RSSOpenKiB-ir.RSSBeforeKiB) / float64(ir.Opened)
	}
	r.pg.end(fmt.Sprintf("%d/%d open, RSS %.1f → %.1f MiB, %.1f KiB per stream",
		ir.Opened, ir.Streams, float64(ir.RSSBeforeKiB)/1024, float64(ir.RSSOpenKiB)/1024, ir.PerStreamKiB))
	return ir
}
