package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads a YAML (or JSON — the YAML parser accepts it) config file,
// expands ${VAR} from env (nil: os.LookupEnv) and validates it.
func Load(path string, env LookupFunc) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	c, err := parseYAML(path, data, env.orOS())
	if err != nil {
		return nil, err
	}
	if err := newSecrets(env).openVendors(c.Vendors); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Source = path
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseYAML walks the yaml.Node tree by hand rather than decoding into
// structs: that way every error carries the field path, unknown keys come
// with a line, and no message ever quotes a value (yaml.v3's type errors do,
// which could print a key).
func parseYAML(file string, data []byte, env LookupFunc) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Config{}, nil // empty file: Validate says what is missing
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: more than one YAML document", file, extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(file, err)
	}
	d := &yamlDecoder{file: file, env: env}
	return d.config(doc.Content[0])
}

// syntaxError turns "yaml: line 3: msg" into "file:3: msg". yaml.v3's
// syntax messages are fixed texts, never quoting the input.
func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			return fmt.Errorf("%s:%s: %s", file, num, text)
		}
	}
	return fmt.Errorf("%s: %s", file, msg)
}

type yamlDecoder struct {
	file string
	env  LookupFunc
}

func (d *yamlDecoder) errorf(n *yaml.Node, path, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", d.file, n.Line, path, fmt.Sprintf(format, args...))
}

func (d *yamlDecoder) config(n *yaml.Node) (*Config, error) {
	c := &Config{}
	f, err := d.fields(n, "", false, "listen", "vendors", "routing", "server", "media",
		"master_key", "database_url", "redis_url", "limits", "usage", "prices", "cors", "trusted_proxies", "ip_limits")
	if err != nil {
		return nil, err
	}
	if c.Listen, err = d.string(f["listen"], "listen"); err != nil {
		return nil, err
	}
	items, err := d.list(f["vendors"], "vendors")
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		v, err := d.vendor(item, fmt.Sprintf("vendors[%d]", i))
		if err != nil {
			return nil, err
		}
		c.Vendors = append(c.Vendors, v)
	}
	if c.Routing, err = d.routing(f["routing"]); err != nil {
		return nil, err
	}
	if c.Server, err = d.server(f["server"]); err != nil {
		return nil, err
	}
	if c.Media, err = d.media(f["media"]); err != nil {
		return nil, err
	}
	if c.Fleet, err = d.fleet(f); err != nil {
		return nil, err
	}
	return c, nil
}

func (d *yamlDecoder) vendor(n *yaml.Node, path string) (Vendor, error) {
	var v Vendor
	f, err := d.fields(n, path, false, "name", "type", "base_url", "credentials", "models",
		"api", "api_version", "deployments", "preset", "headers", "priority", "health_check", "inline_images", "documents", "stream_usage")
	if err != nil {
		return v, err
	}
	if v.Priority, err = d.count(f["priority"], path+".priority"); err != nil {
		return v, err
	}
	if hc := f["health_check"]; hc != nil {
		hf, err := d.fields(hc, path+".health_check", false, "interval", "timeout")
		if err != nil {
			return v, err
		}
		if v.HealthCheck.Interval, err = d.duration(hf["interval"], path+".health_check.interval"); err != nil {
			return v, err
		}
		if v.HealthCheck.Timeout, err = d.duration(hf["timeout"], path+".health_check.timeout"); err != nil {
			return v, err
		}
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{"api", &v.API}, {"api_version", &v.APIVersion}, {"preset", &v.Preset}, {"inline_images", &v.InlineImages}, {"documents", &v.Documents}, {"stream_usage", &v.StreamUsage}} {
		if *s.dst, err = d.string(f[s.key], path+"."+s.key); err != nil {
			return v, err
		}
	}
	if v.Deployments, err = d.stringMap(f["deployments"], path+".deployments", false); err != nil {
		return v, err
	}
	if v.Headers, err = d.stringMap(f["headers"], path+".headers", true); err != nil {
		return v, err
	}
	if v.Name, err = d.string(f["name"], path+".name"); err != nil {
		return v, err
	}
	if v.Type, err = d.string(f["type"], path+".type"); err != nil {
		return v, err
	}
	if v.BaseURL, err = d.string(f["base_url"], path+".base_url"); err != nil {
		return v, err
	}
	creds, err := d.list(f["credentials"], path+".credentials")
	if err != nil {
		return v, err
	}
	for j, cn := range creds {
		cr, err := d.credential(cn, fmt.Sprintf("%s.credentials[%d]", path, j))
		if err != nil {
			return v, err
		}
		v.Credentials = append(v.Credentials, cr)
	}
	models, err := d.list(f["models"], path+".models")
	if err != nil {
		return v, err
	}
	for j, mn := range models {
		m, err := d.model(mn, fmt.Sprintf("%s.models[%d]", path, j))
		if err != nil {
			return v, err
		}
		v.Models = append(v.Models, m)
	}
	return v, nil
}

// credential accepts a plain key or {key, name, weight}.
func (d *yamlDecoder) credential(n *yaml.Node, path string) (Credential, error) {
	var cr Credential
	if n.Kind == yaml.ScalarNode {
		k, err := d.string(n, path)
		cr.Key = k
		return cr, err
	}
	f, err := d.fields(n, path, true, "key", "name", "weight", "priority", "rpm", "tpm", "max_concurrency")
	if err != nil {
		return cr, err
	}
	for _, lim := range []struct {
		key string
		dst *int
	}{{"priority", &cr.Priority}, {"rpm", &cr.RPM}, {"tpm", &cr.TPM}, {"max_concurrency", &cr.MaxConcurrency}} {
		if *lim.dst, err = d.count(f[lim.key], path+"."+lim.key); err != nil {
			return cr, err
		}
	}
	if cr.Key, err = d.string(f["key"], path+".key"); err != nil {
		return cr, err
	}
	if cr.Name, err = d.string(f["name"], path+".name"); err != nil {
		return cr, err
	}
	w, set, err := d.int(f["weight"], path+".weight")
	if err != nil {
		return cr, err
	}
	// Zero would read as "unset" to Validate, and a key that never gets
	// traffic is better removed.
	if set && w < 1 {
		return cr, d.errorf(f["weight"], path+".weight", "must be at least 1")
	}
	cr.Weight = int(w)
	return cr, nil
}

// model accepts a plain name or {name, tools, images, streaming, video,
// embedding}; flags left out default as for a plain name.
func (d *yamlDecoder) model(n *yaml.Node, path string) (Model, error) {
	if n.Kind == yaml.ScalarNode {
		name, err := d.string(n, path)
		return defaultModel(name), err
	}
	f, err := d.fields(n, path, false, "name", "tools", "images", "streaming", "video", "embedding", "weight", "audio")
	if err != nil {
		return Model{}, err
	}
	name, err := d.string(f["name"], path+".name")
	if err != nil {
		return Model{}, err
	}
	m := defaultModel(name)
	if w, err := d.count(f["weight"], path+".weight"); err != nil {
		return Model{}, err
	} else if w > 0 {
		m.Weight = w
	}
	for _, flag := range []struct {
		key string
		dst *bool
	}{
		{"tools", &m.Tools},
		{"images", &m.Images},
		{"streaming", &m.Streaming},
		{"video", &m.Video},
		{"embedding", &m.Embedding},
		{"audio", &m.Audio},
	} {
		b, err := d.bool(f[flag.key], path+"."+flag.key)
		if err != nil {
			return Model{}, err
		}
		if b != nil {
			*flag.dst = *b
		}
	}
	return m, nil
}

func (d *yamlDecoder) routing(n *yaml.Node) (Routing, error) {
	var r Routing
	f, err := d.fields(n, "routing", false, "strategy", "unknown_models", "per_model", "attempts",
		"backoff_base", "backoff_cap", "fallbacks", "circuit", "timeouts")
	if err != nil {
		return r, err
	}
	if r.Strategy, err = d.string(f["strategy"], "routing.strategy"); err != nil {
		return r, err
	}
	if r.UnknownModels, err = d.string(f["unknown_models"], "routing.unknown_models"); err != nil {
		return r, err
	}
	if r.PerModel, err = d.stringMap(f["per_model"], "routing.per_model", false); err != nil {
		return r, err
	}
	if r.Attempts, err = d.count(f["attempts"], "routing.attempts"); err != nil {
		return r, err
	}
	if r.BackoffBase, err = d.duration(f["backoff_base"], "routing.backoff_base"); err != nil {
		return r, err
	}
	if r.BackoffCap, err = d.duration(f["backoff_cap"], "routing.backoff_cap"); err != nil {
		return r, err
	}
	if fb := f["fallbacks"]; fb != nil {
		if fb.Kind != yaml.MappingNode {
			return r, d.errorf(fb, "routing.fallbacks", "want a mapping of model to a list of models, got %s", kind(fb))
		}
		r.Fallbacks = map[string][]string{}
		for i := 0; i+1 < len(fb.Content); i += 2 {
			k := fb.Content[i]
			items, err := d.list(fb.Content[i+1], "routing.fallbacks."+k.Value)
			if err != nil {
				return r, err
			}
			for j, it := range items {
				m, err := d.string(it, fmt.Sprintf("routing.fallbacks.%s[%d]", k.Value, j))
				if err != nil {
					return r, err
				}
				r.Fallbacks[k.Value] = append(r.Fallbacks[k.Value], m)
			}
		}
	}
	cf, err := d.fields(f["circuit"], "routing.circuit", false, "failures", "failure_rate", "min_requests",
		"window", "cooldown", "max_cooldown", "auth_cooldown", "rate_limit_cooldown")
	if err != nil {
		return r, err
	}
	c := &r.Circuit
	if c.Failures, err = d.count(cf["failures"], "routing.circuit.failures"); err != nil {
		return r, err
	}
	if c.MinRequests, err = d.count(cf["min_requests"], "routing.circuit.min_requests"); err != nil {
		return r, err
	}
	if rate := cf["failure_rate"]; rate != nil {
		if rate.Kind != yaml.ScalarNode || (rate.ShortTag() != "!!float" && rate.ShortTag() != "!!int") || rate.Decode(&c.FailureRate) != nil ||
			c.FailureRate <= 0 || c.FailureRate > 1 {
			return r, d.errorf(rate, "routing.circuit.failure_rate", "want a number above 0 and at most 1")
		}
	}
	tf, err := d.fields(f["timeouts"], "routing.timeouts", false, "connect", "first_byte", "stream_idle", "total")
	if err != nil {
		return r, err
	}
	for _, dur := range []struct {
		n    *yaml.Node
		path string
		dst  *time.Duration
	}{
		{cf["window"], "routing.circuit.window", &c.Window},
		{cf["cooldown"], "routing.circuit.cooldown", &c.Cooldown},
		{cf["max_cooldown"], "routing.circuit.max_cooldown", &c.MaxCooldown},
		{cf["auth_cooldown"], "routing.circuit.auth_cooldown", &c.AuthCooldown},
		{cf["rate_limit_cooldown"], "routing.circuit.rate_limit_cooldown", &c.RateLimitCooldown},
		{tf["connect"], "routing.timeouts.connect", &r.Timeouts.Connect},
		{tf["first_byte"], "routing.timeouts.first_byte", &r.Timeouts.FirstByte},
		{tf["stream_idle"], "routing.timeouts.stream_idle", &r.Timeouts.StreamIdle},
		{tf["total"], "routing.timeouts.total", &r.Timeouts.Total},
	} {
		if *dur.dst, err = d.duration(dur.n, dur.path); err != nil {
			return r, err
		}
	}
	return r, nil
}

// count reads a whole number that must be at least 1 when given.
func (d *yamlDecoder) count(n *yaml.Node, path string) (int, error) {
	v, set, err := d.int(n, path)
	if err != nil {
		return 0, err
	}
	if set && v < 1 {
		return 0, d.errorf(n, path, "must be at least 1")
	}
	return int(v), nil
}

// duration reads a Go duration string ("30s", "1m30s") that must be positive.
func (d *yamlDecoder) duration(n *yaml.Node, path string) (time.Duration, error) {
	if n = deref(n); n == nil {
		return 0, nil
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return 0, d.errorf(n, path, "want a duration like 30s, got %s", kind(n))
	}
	s, err := d.string(n, path)
	if err != nil {
		return 0, err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, d.errorf(n, path, "want a positive duration like 30s or 1m, got %q", s)
	}
	return v, nil
}

func (d *yamlDecoder) server(n *yaml.Node) (Server, error) {
	var s Server
	f, err := d.fields(n, "server", false, "max_body_bytes", "shutdown_grace", "max_in_flight", "log_bodies", "engine", "gc_headroom_mib")
	if err != nil {
		return s, err
	}
	if s.Engine, err = d.string(f["engine"], "server.engine"); err != nil {
		return s, err
	}
	if b, err := d.bool(f["log_bodies"], "server.log_bodies"); err != nil {
		return s, err
	} else if b != nil {
		s.LogBodies = *b
	}
	if s.MaxInFlight, err = d.count(f["max_in_flight"], "server.max_in_flight"); err != nil {
		return s, err
	}
	gc, set, err := d.int(f["gc_headroom_mib"], "server.gc_headroom_mib")
	switch {
	case err != nil:
		return s, err
	case set && gc < 0:
		return s, d.errorf(f["gc_headroom_mib"], "server.gc_headroom_mib", "must be 0 (off) or more")
	case set && gc == 0:
		s.GCHeadroomMiB = GCHeadroomOff
	default:
		s.GCHeadroomMiB = int(gc)
	}
	// Explicit zeros are rejected here: Validate would read them as "unset".
	size, set, err := d.int(f["max_body_bytes"], "server.max_body_bytes")
	if err != nil {
		return s, err
	}
	if set && size <= 0 {
		return s, d.errorf(f["max_body_bytes"], "server.max_body_bytes", "must be greater than 0")
	}
	s.MaxBodyBytes = size

	gn := f["shutdown_grace"]
	if gn == nil {
		return s, nil
	}
	if gn.Kind != yaml.ScalarNode || gn.ShortTag() != "!!str" {
		return s, d.errorf(gn, "server.shutdown_grace", "want a duration like 30s, got %s", kind(gn))
	}
	g, err := d.string(gn, "server.shutdown_grace")
	if err != nil {
		return s, err
	}
	if s.ShutdownGrace, err = time.ParseDuration(g); err != nil {
		return s, d.errorf(gn, "server.shutdown_grace", "want a duration like 30s or 1m, got %q", g)
	}
	if s.ShutdownGrace <= 0 {
		return s, d.errorf(gn, "server.shutdown_grace", "must be greater than 0")
	}
	return s, nil
}

// fields checks that n is a mapping with only the given keys, each at most
// once, and returns the value nodes by key. A null or missing n is an empty
// mapping. In a secret mapping (a credential) an unknown key is named only
// if it looks like a field name: a key pasted as "sk-...:" must not leak.
func (d *yamlDecoder) fields(n *yaml.Node, path string, secret bool, keys ...string) (map[string]*yaml.Node, error) {
	f := make(map[string]*yaml.Node, len(keys))
	if n = deref(n); n == nil {
		return f, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, orRoot(path), "want a mapping, got %s", kind(n))
	}
	seen := make(map[string]bool, len(keys))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kpath := k.Value
		if path != "" {
			kpath = path + "." + k.Value
		}
		switch {
		case !slices.Contains(keys, k.Value) && secret && !isFieldName(k.Value):
			return nil, d.errorf(k, path, "unknown field (want one of %s)", strings.Join(keys, ", "))
		case !slices.Contains(keys, k.Value):
			return nil, d.errorf(k, kpath, "unknown field (want one of %s)", strings.Join(keys, ", "))
		case seen[k.Value]:
			return nil, d.errorf(k, kpath, "field given twice")
		}
		seen[k.Value] = true
		f[k.Value] = deref(val) // "key:" with no value is the same as leaving it out
	}
	return f, nil
}

// stringMap reads a mapping of strings. With secret set, values are never
// quoted in errors (headers carry keys).
func (d *yamlDecoder) stringMap(n *yaml.Node, path string, secret bool) (map[string]string, error) {
	if n = deref(n); n == nil {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, path, "want a mapping, got %s", kind(n))
	}
	m := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], deref(n.Content[i+1])
		kpath := path + "." + k.Value
		if val == nil || val.Kind != yaml.ScalarNode {
			return nil, d.errorf(k, kpath, "want a string value")
		}
		if _, dup := m[k.Value]; dup {
			return nil, d.errorf(k, kpath, "field given twice")
		}
		s, err := d.string(val, kpath)
		if err != nil {
			return nil, err
		}
		m[k.Value] = s
	}
	return m, nil
}

func (d *yamlDecoder) list(n *yaml.Node, path string) ([]*yaml.Node, error) {
	if n = deref(n); n == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errorf(n, path, "want a list, got %s", kind(n))
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, item := range n.Content {
		if items[i] = deref(item); items[i] == nil {
			return nil, d.errorf(item, fmt.Sprintf("%s[%d]", path, i), "empty entry")
		}
	}
	return items, nil
}

// string takes any scalar's text as written (so "0123" stays "0123") and
// expands ${VAR} in it.
func (d *yamlDecoder) string(n *yaml.Node, path string) (string, error) {
	if n = deref(n); n == nil {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", d.errorf(n, path, "want a string, got %s", kind(n))
	}
	s, err := expand(n.Value, d.env)
	if err != nil {
		return "", d.errorf(n, path, "%v", err)
	}
	return s, nil
}

func (d *yamlDecoder) int(n *yaml.Node, path string) (v int64, set bool, err error) {
	if n = deref(n); n == nil {
		return 0, false, nil
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		return 0, false, d.errorf(n, path, "want a whole number, got %s", kind(n))
	}
	return v, true, nil
}

func (d *yamlDecoder) bool(n *yaml.Node, path string) (*bool, error) {
	if n = deref(n); n == nil {
		return nil, nil
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return nil, d.errorf(n, path, "want true or false, got %s", kind(n))
	}
	return &b, nil
}

// deref follows aliases and maps null to nil.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	return n
}

// kind describes a node without quoting its value.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
}

func orRoot(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// isFieldName reports whether a key is short and plain enough to be a
// mistyped field name rather than a pasted secret.
func isFieldName(s string) bool {
	return len(s) <= 20 && isVarName(s)
}
