// Command genrouter is an OpenAI-compatible gateway in front of many LLM
// vendors and keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/genrouter/genrouter/internal/gcfloor"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/server"
	"github.com/genrouter/genrouter/internal/tracing"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `genrouter: one OpenAI-compatible endpoint over many LLM vendors and keys.

Usage:
  genrouter serve [--config FILE] [--listen ADDR] [--credentials FILE --models FILE]
                  [--log-format json|text] [--log-level debug|info|warn|error]
  genrouter check [--config FILE | --credentials FILE --models FILE]
  genrouter keys create|list|revoke|rotate   (virtual keys; see "genrouter keys -h")
  genrouter encrypt [VALUE | - | --config FILE [--headers] | --new-key]
  genrouter decrypt [VALUE | - | --config FILE]
  genrouter bench [--quick] [flags]           (see "genrouter bench -h")
  genrouter version

With no config the gateway reads OPENAI_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY
(comma-separated for several keys), and with none of them serves a mock vendor.
Run "genrouter COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "keys":
		return keysCmd(args[1:], stdout, stderr)
	case "encrypt":
		return encryptCmd(args[1:], os.Stdin, stdout, stderr, os.LookupEnv)
	case "decrypt":
		return decryptCmd(args[1:], os.Stdin, stdout, stderr, os.LookupEnv)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "bench-upstream", "bench-proxy":
		return benchHidden(args[0], args[1:], stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "genrouter", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "genrouter: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// configFlags are the flags that say where the config comes from.
type configFlags struct {
	path, credentials, models string
}

func (c *configFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "config", os.Getenv("GENROUTER_CONFIG"), "config file (YAML or JSON); env GENROUTER_CONFIG")
	fs.StringVar(&c.credentials, "credentials", "", "legacy credentials.json (with --models)")
	fs.StringVar(&c.models, "models", "", "legacy models.json (with --credentials)")
}

// load reads the config, then lets the environment fill the fleet
// settings it left empty (config.ApplyEnv).
func (c *configFlags) load() (*config.Config, error) {
	cfg, err := c.read()
	if err != nil {
		return nil, err
	}
	cfg.ApplyEnv(os.LookupEnv)
	return cfg, nil
}

func (c *configFlags) read() (*config.Config, error) {
	switch {
	case c.path != "" && (c.credentials != "" || c.models != ""):
		return nil, errors.New("use either --config or --credentials/--models, not both")
	case c.path != "":
		return config.Load(c.path, os.LookupEnv)
	case c.credentials != "" || c.models != "":
		if c.credentials == "" || c.models == "" {
			return nil, errors.New("--credentials and --models go together: give both legacy files")
		}
		return config.LoadLegacy(c.credentials, c.models, os.LookupEnv)
	}
	return config.FromEnv(os.LookupEnv)
}

// gcPercent is the gateway's GOGC unless the environment sets one.
const gcPercent = 200

// endStreamsWait is how long streams ended by shutdown (server.shutdown_grace
// over) get to send their error event before the connections close: a
// write to a socket, so a short moment past the grace.
const endStreamsWait = 250 * time.Millisecond

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs)
	listen := fs.String("listen", "", "address to listen on (default from config, else "+config.DefaultListen+")")
	logFormat := fs.String("log-format", "", "json or text (default: text on a terminal, else json)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *listen != "" {
		// Checked like the config's listen, so the message says what to write.
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			fmt.Fprintf(stderr, "genrouter: --listen: want host:port (like %s or :8082), got %q\n", config.DefaultListen, *listen)
			return 2
		}
	}
	if os.Getenv("GOGC") == "" {
		// A proxy allocates per request and keeps little: collecting at
		// 3x the live heap instead of 2x cuts GC CPU by ~7% per request
		// (genrouter bench, 32 concurrent) for a few MiB. GOGC overrides.
		debug.SetGCPercent(gcPercent)
	}
	logs := newAsyncWriter(stderr, 8192)
	defer logs.Close()
	log, err := newLogger(logs, stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter:", err)
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintln(stderr, "genrouter:", err)
		return 1
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	for _, w := range cfg.Warnings {
		log.Warn("config", "warning", w)
	}
	if os.Getenv("GOGC") == "" && cfg.Server.GCHeadroomMiB > 0 {
		defer gcfloor.Start(uint64(cfg.Server.GCHeadroomMiB)<<20, gcPercent).Stop()
	}
	if cfg.Mocked() {
		log.Warn("no vendor is configured (set OPENAI_API_KEY or GEMINI_API_KEY, or use --config): answers are MOCKED by the built-in mock vendor")
	}
	var srv *server.Server
	reload := func() error {
		next, err := cf.load()
		if err != nil {
			log.Error("config reload refused; the old config keeps serving", "error", err)
			return err
		}
		next.Listen = cfg.Listen // the socket stays; a new address needs a restart
		if err := srv.Load(next); err != nil {
			log.Error("config reload refused; the old config keeps serving", "error", err)
			return err
		}
		log.Info("config reloaded", "config", next.Source, "combinations", countCombinations(next))
		return nil
	}
	tp, stopTracing, err := tracing.Setup(context.Background(), "genrouter", version, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter: tracing:", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopTracing(ctx)
	}()
	fl, err := openFleet(context.Background(), cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter:", err)
		return 1
	}
	defer fl.close()
	srv, err = server.New(cfg, fl.options(server.Options{Logger: log, Version: version, Reload: reload,
		MasterKey: cfg.Fleet.MasterKey, Tracer: tracing.NewTracer(tp)}))
	if err != nil {
		fmt.Fprintln(stderr, "genrouter:", err)
		return 1
	}
	defer srv.Close()
	fl.listen(srv)
	if cfg.Fleet.MasterKey == "" && !fl.hasKeys() {
		log.Warn("no master key and no virtual keys: the gateway is open to anyone who can reach it; set GENROUTER_MASTER_KEY before listening beyond this machine")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter:", err)
		return 1
	}
	hs := newHTTPServer(cfg.Server.Engine, srv.Handler(), slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("genrouter listening", "addr", ln.Addr().String(), "version", version,
		"config", cfg.Source, "vendors", len(cfg.Vendors), "combinations", countCombinations(cfg))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	watch := cf.watch(ctx, 2*time.Second)
wait:
	for {
		select {
		case err := <-errc:
			log.Error("server stopped", "error", err)
			return 1
		case <-hup:
			reload()
		case <-watch:
			reload()
		case <-ctx.Done():
			break wait
		}
	}
	stop() // a second signal kills at once
	log.Info("shutting down: waiting for in-flight requests", "grace", cfg.Server.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		// Streams still running are told in-band that they were cut, and
		// their handlers get a moment to say so (and count their usage)
		// before the connections close.
		log.Warn("grace period over: ending remaining streams and closing connections", "error", err)
		srv.EndStreams()
		ectx, ecancel := context.WithTimeout(context.Background(), endStreamsWait)
		if hs.Shutdown(ectx) != nil {
			hs.Close()
		}
		ecancel()
	}
	log.Info("stopped")
	return 0
}

// watch reports changes to the config files, polling their size and
// modification time (no inotify dependency, works on every filesystem).
func (c *configFlags) watch(ctx context.Context, every time.Duration) <-chan struct{} {
	paths := []string{c.path, c.credentials, c.models}
	stamp := func() string {
		var s string
		for _, p := range paths {
			if p == "" {
				continue
			}
			if fi, err := os.Stat(p); err == nil {
				s += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
			}
		}
		return s
	}
	out := make(chan struct{}, 1)
	if c.path == "" && c.credentials == "" {
		return out // zero config: nothing to watch
	}
	last := stamp()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if now := stamp(); now != last {
					last = now
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return out
}

func countCombinations(cfg *config.Config) int {
	n := 0
	for _, v := range cfg.Vendors {
		n += len(v.Credentials) * len(v.Models)
	}
	return n
}
