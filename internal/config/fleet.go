package config

import (
	"fmt"
	"net"
	"time"

	"gopkg.in/yaml.v3"
)

// Fleet settings: who may call the gateway, what it remembers, and the
// state shared by replicas.
type Fleet struct {
	// MasterKey is the admin key (also GENROUTER_MASTER_KEY). With it or any
	// virtual key set, every /v1 request needs a key.
	MasterKey string
	// DatabaseURL holds keys and the usage log: "" is SQLite at
	// ./data/genrouter.db, "postgres://…" PostgreSQL, "none" no storage.
	DatabaseURL string
	// RedisURL, when set, shares limits, budgets and credential cooldowns
	// across replicas.
	RedisURL string
	// FailMode is what limits do when Redis is unreachable: open (serve on
	// local limits) or closed (refuse).
	FailMode string
	// UsageRetention is how long usage rows are kept (0: forever).
	UsageRetention time.Duration
	// UsageQueue bounds the usage rows waiting to be written.
	UsageQueue int
	// Prices override the built-in table, per million tokens.
	Prices map[string]Price
	// CORS lets browsers call the gateway from these origins ("*": any).
	CORSOrigins []string
	// TrustedProxies (CIDRs or addresses) may set X-Forwarded-For.
	TrustedProxies []string
	// IPLimits apply per client address when no key is configured.
	IPLimits IPLimits
}

// Price is USD per million tokens.
type Price struct{ Input, Output, Cached float64 }

// IPLimits bound unauthenticated clients per address; 0 is no limit.
type IPLimits struct{ RPM, TPM, MaxParallel int }

// Storage and limit modes.
const (
	DatabaseNone = "none"
	FailOpen     = "open"
	FailClosed   = "closed"
)

func (f *Fleet) validate() error {
	switch f.FailMode {
	case "":
		f.FailMode = FailOpen
	case FailOpen, FailClosed:
	default:
		return fmt.Errorf("limits.fail_mode: unknown mode %q (want open or closed)", f.FailMode)
	}
	if f.UsageQueue == 0 {
		f.UsageQueue = 10000
	}
	for i, p := range f.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return fmt.Errorf("trusted_proxies[%d]: want an address or CIDR, got %q", i, p)
		}
	}
	for m, p := range f.Prices {
		if p.Input < 0 || p.Output < 0 || p.Cached < 0 {
			return fmt.Errorf("prices.%s: prices must not be negative", m)
		}
	}
	return nil
}

// fleet reads the top-level fleet keys of the YAML file.
func (d *yamlDecoder) fleet(f map[string]*yaml.Node) (Fleet, error) {
	var fl Fleet
	var err error
	for _, s := range []struct {
		key string
		dst *string
	}{{"master_key", &fl.MasterKey}, {"database_url", &fl.DatabaseURL}, {"redis_url", &fl.RedisURL}} {
		if *s.dst, err = d.string(f[s.key], s.key); err != nil {
			return fl, err
		}
	}
	lf, err := d.fields(f["limits"], "limits", false, "fail_mode")
	if err != nil {
		return fl, err
	}
	if fl.FailMode, err = d.string(lf["fail_mode"], "limits.fail_mode"); err != nil {
		return fl, err
	}
	uf, err := d.fields(f["usage"], "usage", false, "retention", "queue_size")
	if err != nil {
		return fl, err
	}
	if fl.UsageRetention, err = d.duration(uf["retention"], "usage.retention"); err != nil {
		return fl, err
	}
	if fl.UsageQueue, err = d.count(uf["queue_size"], "usage.queue_size"); err != nil {
		return fl, err
	}
	if pn := f["prices"]; pn != nil {
		if pn.Kind != yaml.MappingNode {
			return fl, d.errorf(pn, "prices", "want a mapping of model to {input, output, cached}, got %s", kind(pn))
		}
		fl.Prices = map[string]Price{}
		for i := 0; i+1 < len(pn.Content); i += 2 {
			model := pn.Content[i].Value
			path := "prices." + model
			pf, err := d.fields(pn.Content[i+1], path, false, "input", "output", "cached")
			if err != nil {
				return fl, err
			}
			var p Price
			for _, x := range []struct {
				key string
				dst *float64
			}{{"input", &p.Input}, {"output", &p.Output}, {"cached", &p.Cached}} {
				if n := pf[x.key]; n != nil {
					if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") || n.Decode(x.dst) != nil {
						return fl, d.errorf(n, path+"."+x.key, "want a number (USD per million tokens)")
					}
				}
			}
			fl.Prices[model] = p
		}
	}
	cf, err := d.fields(f["cors"], "cors", false, "allow_origins")
	if err != nil {
		return fl, err
	}
	if fl.CORSOrigins, err = d.stringList(cf["allow_origins"], "cors.allow_origins"); err != nil {
		return fl, err
	}
	if fl.TrustedProxies, err = d.stringList(f["trusted_proxies"], "trusted_proxies"); err != nil {
		return fl, err
	}
	ipf, err := d.fields(f["ip_limits"], "ip_limits", false, "rpm", "tpm", "max_parallel")
	if err != nil {
		return fl, err
	}
	for _, x := range []struct {
		key string
		dst *int
	}{{"rpm", &fl.IPLimits.RPM}, {"tpm", &fl.IPLimits.TPM}, {"max_parallel", &fl.IPLimits.MaxParallel}} {
		if *x.dst, err = d.count(ipf[x.key], "ip_limits."+x.key); err != nil {
			return fl, err
		}
	}
	return fl, nil
}

// stringList reads a list of strings.
func (d *yamlDecoder) stringList(n *yaml.Node, path string) ([]string, error) {
	items, err := d.list(n, path)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, it := range items {
		s, err := d.string(it, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ApplyEnv lets the environment fill fleet settings the file left empty:
// GENROUTER_MASTER_KEY, GENROUTER_DATABASE_URL, GENROUTER_REDIS_URL.
func (c *Config) ApplyEnv(env LookupFunc) {
	env = env.orOS()
	for _, s := range []struct {
		name string
		dst  *string
	}{{"GENROUTER_MASTER_KEY", &c.Fleet.MasterKey}, {"GENROUTER_DATABASE_URL", &c.Fleet.DatabaseURL}, {"GENROUTER_REDIS_URL", &c.Fleet.RedisURL}} {
		if *s.dst == "" {
			if v, ok := env(s.name); ok {
				*s.dst = v
			}
		}
	}
}
