package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/limit"
	"github.com/genrouter/genrouter/internal/store"
)

const keysUsage = `Usage:
  genrouter keys create --name NAME [--models a,b] [--vendors x,y] [--rpm N] [--tpm N]
                        [--max-parallel N] [--budget-daily USD] [--budget-monthly USD]
                        [--expires-in 720h] [--meta team=x,user=y]
  genrouter keys list
  genrouter keys revoke ID
  genrouter keys rotate ID
Every command also takes --config FILE (or GENROUTER_CONFIG) or --database URL
(or GENROUTER_DATABASE_URL) to find the database; the default is ./data/genrouter.db.
With redis_url in the config (or GENROUTER_REDIS_URL), revoke and rotate tell running
gateways at once; without, they notice within a second.
A key's secret is shown once, when it is created or rotated.
`

// keysCmd manages virtual keys directly in the database, like the admin API.
func keysCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv("GENROUTER_CONFIG"), "config file naming the database")
	dbURL := fs.String("database", "", "database URL (overrides the config)")
	name := fs.String("name", "", "the key's name")
	models := fs.String("models", "", "allowed models, comma-separated (default: all)")
	vendorsFlag := fs.String("vendors", "", "allowed vendors, comma-separated (default: all)")
	rpm := fs.Int("rpm", 0, "requests per minute")
	tpm := fs.Int("tpm", 0, "tokens per minute")
	par := fs.Int("max-parallel", 0, "requests at once")
	daily := fs.Float64("budget-daily", 0, "spend per UTC day, USD")
	monthly := fs.Float64("budget-monthly", 0, "spend per UTC month, USD")
	expires := fs.Duration("expires-in", 0, "lifetime, e.g. 720h")
	meta := fs.String("meta", "", "metadata, k=v pairs comma-separated")
	asJSON := fs.Bool("json", false, "print JSON")
	// Flags may come before or after the id (keys revoke ID --config FILE):
	// the flag package stops at the first argument that is not a flag.
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	url, redisURL := *dbURL, os.Getenv("GENROUTER_REDIS_URL")
	if url == "" {
		if *cfgPath != "" {
			cfg, err := config.Load(*cfgPath, os.LookupEnv)
			if err != nil {
				fmt.Fprintln(stderr, "genrouter keys:", err)
				return 1
			}
			cfg.ApplyEnv(os.LookupEnv)
			url, redisURL = cfg.Fleet.DatabaseURL, cfg.Fleet.RedisURL
		} else {
			url = os.Getenv("GENROUTER_DATABASE_URL")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter keys: database:", err)
		return 1
	}
	defer st.Close()
	show := func(k store.Key, secret string) {
		if *asJSON {
			out := map[string]any{"key_object": k}
			if secret != "" {
				out["key"] = secret
			}
			json.NewEncoder(stdout).Encode(out)
			return
		}
		if secret != "" {
			fmt.Fprintf(stdout, "%s\n\nid %s, name %q. This is the only time the key is shown: store it now.\n", secret, k.ID, k.Name)
		}
	}
	switch sub {
	case "create":
		if *name == "" {
			fmt.Fprintln(stderr, "genrouter keys create: --name is required")
			return 2
		}
		if *expires < 0 {
			// Not silently "never": the API refuses it too.
			fmt.Fprintln(stderr, "genrouter keys create: --expires-in must be a positive duration like 720h")
			return 2
		}
		p := store.KeyParams{Name: *name, AllowedModels: splitList(*models), AllowedVendors: splitList(*vendorsFlag),
			RPM: *rpm, TPM: *tpm, MaxParallel: *par, BudgetDaily: *daily, BudgetMonthly: *monthly}
		if *expires > 0 {
			t := time.Now().Add(*expires).UTC()
			p.ExpiresAt = &t
		}
		if *meta != "" {
			p.Metadata = map[string]string{}
			for _, kv := range splitList(*meta) {
				k, v, _ := strings.Cut(kv, "=")
				p.Metadata[k] = v
			}
		}
		k, secret, err := st.CreateKey(ctx, p)
		if err != nil {
			fmt.Fprintln(stderr, "genrouter keys create:", err)
			return 1
		}
		show(k, secret)
	case "list":
		keys, err := st.ListKeys(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "genrouter keys list:", err)
			return 1
		}
		if *asJSON {
			json.NewEncoder(stdout).Encode(map[string]any{"data": keys})
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tRPM\tTPM\tPARALLEL\tBUDGET/DAY\tBUDGET/MONTH\tSTATE")
		now := time.Now()
		for _, k := range keys {
			state := "active"
			switch {
			case k.Revoked():
				state = "revoked"
			case k.Expired(now):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%g\t%g\t%s\n", k.ID, k.Name, k.Prefix, k.RPM, k.TPM, k.MaxParallel,
				k.BudgetDaily, k.BudgetMonthly, state)
		}
		tw.Flush()
	case "revoke", "rotate":
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "genrouter keys %s: give the key's id\n", sub)
			return 2
		}
		id := pos[0]
		old, err := st.GetKey(ctx, id)
		if err != nil {
			fmt.Fprintf(stderr, "genrouter keys %s: %v\n", sub, err)
			return 1
		}
		if sub == "revoke" {
			if err := st.RevokeKey(ctx, id); err != nil {
				fmt.Fprintln(stderr, "genrouter keys revoke:", err)
				return 1
			}
			if announceKeyChange(ctx, redisURL, old.Hash, stderr) {
				fmt.Fprintf(stdout, "revoked %s (running gateways sharing Redis stop accepting it now)\n", id)
			} else {
				fmt.Fprintf(stdout, "revoked %s (running gateways stop accepting it within a second)\n", id)
			}
			return 0
		}
		k, secret, err := st.RotateKey(ctx, id)
		if err != nil {
			fmt.Fprintln(stderr, "genrouter keys rotate:", err)
			return 1
		}
		announceKeyChange(ctx, redisURL, old.Hash, stderr)
		show(k, secret)
	default:
		fmt.Fprintf(stderr, "genrouter keys: unknown command %q\n\n%s", sub, keysUsage)
		return 2
	}
	return 0
}

// announceKeyChange tells running gateways sharing Redis that the key with
// that hash changed, as a gateway's own admin API does, so they drop it from
// their caches at once. It reports whether it could; without Redis (or with
// Redis away) gateways notice when their cached copy expires, within a
// second.
func announceKeyChange(ctx context.Context, redisURL, hash string, stderr io.Writer) bool {
	if redisURL == "" {
		return false
	}
	client, err := limit.NewRedisClient(redisURL)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter keys: redis_url:", err)
		return false
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Publish(ctx, keysChannel, hash).Err(); err != nil {
		fmt.Fprintln(stderr, "genrouter keys: could not tell running gateways through Redis (they notice within a second):", err)
		return false
	}
	return true
}
