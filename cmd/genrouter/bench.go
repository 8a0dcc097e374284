package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/genrouter/genrouter/internal/bench"
)

const benchUsage = `Usage: genrouter bench [flags]

Measures what genrouter adds over plain reverse proxies (nginx when
installed, and Go's httputil) and over talking to the upstream directly.
A fast fake upstream, the proxies and the gateway run as separate processes
on 127.0.0.1; this process generates the load. Scenarios: idle (RSS with
many open quiet streams), serial (one at a time), concurrent (closed loop
per --concurrency), stream (closed-loop streams), open (fixed rate).

Flags:
`

// bench runs the benchmark: genrouter bench [flags].
func benchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	_, tasksetErr := exec.LookPath("taskset")
	canPin := tasksetErr == nil && runtime.NumCPU() >= 2
	var o bench.Options
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "how long each scenario runs against each target")
	fs.IntVar(&o.Requests, "requests", 1_000_000, "most requests per scenario and target")
	fs.IntVar(&o.Rounds, "rounds", 3, "split each scenario into rounds that alternate the targets (spreads out noise from other work)")
	conc := fs.String("concurrency", "32", "comma-separated concurrencies, one closed-loop scenario each")
	fs.IntVar(&o.StreamConcurrency, "stream-concurrency", 64, "concurrent streams in the stream scenario")
	fs.Float64Var(&o.Rate, "rate", 2000, "requests per second in the open-loop scenario")
	fs.IntVar(&o.Chunks, "chunks", 20, "upstream events per stream, before [DONE]")
	fs.DurationVar(&o.Gap, "gap", 0, "upstream gap between stream events")
	fs.DurationVar(&o.TTFB, "ttfb", 0, "upstream time to first byte")
	fs.IntVar(&o.IdleStreams, "idle-streams", 1000, "open streams in the idle scenario")
	fs.DurationVar(&o.IdleHold, "idle-hold", 2*time.Second, "how long the idle streams are held")
	fs.IntVar(&o.OverloadRequests, "overload-requests", 10000, "slow requests fired at once in the overload scenario")
	fs.IntVar(&o.OverloadLimit, "overload-limit", 256, "max_in_flight of the overload scenario's gateway")
	fs.DurationVar(&o.OverloadTTFB, "overload-ttfb", 2*time.Second, "how long the overload scenario's upstream takes to answer")
	scen := fs.String("scenarios", strings.Join(bench.AllScenarios, ","), "comma-separated scenarios to run")
	fs.StringVar(&o.Proxy, "proxy", "auto", "reverse-proxy floors: auto (nginx and go when nginx is installed, else go), nginx, go, both or none")
	fs.StringVar(&o.GatewayBin, "gateway-bin", "", "gateway binary to benchmark (default: this one)")
	fs.BoolVar(&o.NoUsageLog, "no-usage-log", false, "run the gateway with database_url: none (no usage log), to measure what logging costs")
	fs.StringVar(&o.GatewayExpvar, "gateway-expvar", "", "URL of the gateway's expvar JSON, for allocations per request (builds that have one)")
	fs.BoolVar(&o.Pin, "pin", canPin, "pin gateway/proxy to CPU 0, load generator and upstream to CPU 1 (needs taskset and 2 CPUs)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file (- for stdout)")
	fs.BoolVar(&o.Quick, "quick", false, "a short run with small defaults (smoke test)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "genrouter bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.Quick {
		// Quick picks its own defaults for whatever was not given.
		for name, zero := range map[string]func(){
			"duration": func() { o.Duration = 0 }, "requests": func() { o.Requests = 0 }, "rounds": func() { o.Rounds = 0 },
			"stream-concurrency": func() { o.StreamConcurrency = 0 }, "rate": func() { o.Rate = 0 },
			"idle-streams": func() { o.IdleStreams = 0 }, "idle-hold": func() { o.IdleHold = 0 },
			"overload-requests": func() { o.OverloadRequests = 0 }, "overload-limit": func() { o.OverloadLimit = 0 },
			"overload-ttfb": func() { o.OverloadTTFB = 0 },
			"concurrency":   func() { *conc = "" },
		} {
			if !set[name] {
				zero()
			}
		}
	}
	for _, c := range splitList(*conc) {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "genrouter bench: --concurrency %q: want positive integers\n", c)
			return 2
		}
		o.Concurrency = append(o.Concurrency, n)
	}
	o.Scenarios = splitList(*scen)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "genrouter bench:", err)
		return 1
	}
	o.Bin = self
	o.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			o.ProgressTTY = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter bench:", err)
		return 1
	}
	rep.WriteTable(stdout)
	switch *jsonOut {
	case "":
	case "-":
		rep.WriteJSON(stdout)
	default:
		f, err := os.Create(*jsonOut)
		if err == nil {
			err = rep.WriteJSON(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "genrouter bench:", err)
			return 1
		}
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// benchHidden runs the benchmark's helper processes: bench-upstream (the
// fake upstream) and bench-proxy (the Go reverse proxy). They serve until
// signalled; the benchmark starts and stops them.
func benchHidden(cmd string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	var uo bench.UpstreamOptions
	var upstream *string
	if cmd == "bench-upstream" {
		fs.DurationVar(&uo.TTFB, "ttfb", 0, "time to first byte")
		fs.IntVar(&uo.Chunks, "chunks", 20, "events per stream, before [DONE]")
		fs.DurationVar(&uo.Gap, "gap", 0, "gap between stream events")
	} else {
		upstream = fs.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:9000")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if cmd == "bench-upstream" {
		runtime.GOMAXPROCS(1) // it shares a CPU with the load generator
		uo.Listen = *listen
		err = bench.RunUpstream(ctx, uo)
	} else {
		err = bench.RunProxy(ctx, *listen, *upstream)
	}
	if err != nil {
		fmt.Fprintf(stderr, "genrouter %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
