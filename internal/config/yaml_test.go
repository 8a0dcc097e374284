package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	env := map[string]string{
		"OPENAI_API_KEY": "sk-one",
		"GEMINI_KEY":     "g-key",
		"HOST":           "proxy.example",
		"DOLLAR":         "a$b${C}", // values are not expanded again
	}
	defaults := Config{
		Listen:  DefaultListen,
		Routing: Routing{Strategy: StrategyEven, UnknownModels: UnknownModelsPool},
		Server:  Server{MaxBodyBytes: DefaultMaxBodyBytes, ShutdownGrace: DefaultShutdownGrace},
	}
	with := func(vendors ...Vendor) Config {
		c := defaults
		c.Vendors = vendors
		return c
	}
	openaiDefaults := []Model{full("gpt-4o-mini", false), full("gpt-4o", false), full("text-embedding-3-small", true)}

	tests := []struct {
		name string
		yaml string
		want Config
	}{
		{
			name: "minimal openai gets every default",
			yaml: "vendors: [{type: openai, credentials: [sk-x]}]",
			want: with(Vendor{
				Name: "openai", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1",
				Credentials: []Credential{{Key: "sk-x", Name: "0", Weight: 1}},
				Models:      openaiDefaults,
			}),
		},
		{
			name: "minimal gemini",
			yaml: "vendors: [{type: gemini, credentials: [\"${GEMINI_KEY}\"]}]",
			want: with(Vendor{
				Name: "gemini", Type: TypeGemini, BaseURL: "https://generativelanguage.googleapis.com/v1beta/openai",
				Credentials: []Credential{{Key: "g-key", Name: "0", Weight: 1}},
				Models: []Model{full("gemini-2.0-flash", false), full("gemini-2.5-flash", false),
					full("text-embedding-004", true)},
			}),
		},
		{
			name: "mock needs no credentials",
			yaml: "vendors:\n  - type: mock\n",
			want: with(Vendor{
				Name: "mock", Type: TypeMock,
				Credentials: []Credential{{Key: "", Name: "mock", Weight: 1}},
				Models:      []Model{full("mock-model", false), full("mock-embedding", true)},
			}),
		},
		{
			name: "mock keeps given credentials and models",
			yaml: "vendors: [{type: mock, name: m, credentials: [a, b], models: [x]}]",
			want: with(Vendor{
				Name: "m", Type: TypeMock,
				Credentials: []Credential{{Key: "a", Name: "0", Weight: 1}, {Key: "b", Name: "1", Weight: 1}},
				Models:      []Model{full("x", false)},
			}),
		},
		{
			name: "everything spelled out",
			yaml: `
listen: ":9000"
vendors:
  - name: primary
    type: openai
    base_url: https://${HOST}/v1//
    credentials:
      - "${OPENAI_API_KEY}"
      - key: sk-second
        name: team-a
        weight: 2
      - {key: "p$$ss$word"}
    models:
      - gpt-4o
      - name: o1
        tools: false
        streaming: false
      - {name: my-Embedder}
      - {name: embed-but-not, embedding: false, video: false, images: false}
  - name: second
    type: openai
    base_url: http://localhost:8080
    credentials: ["${DOLLAR}"]
    models: [m]
routing:
  strategy: even
  unknown_models: reject
server:
  max_body_bytes: 1024
  shutdown_grace: 1m30s
`,
			want: Config{
				Listen: ":9000",
				Vendors: []Vendor{
					{
						Name: "primary", Type: TypeOpenAI, BaseURL: "https://proxy.example/v1",
						Credentials: []Credential{
							{Key: "sk-one", Name: "0", Weight: 1},
							{Key: "sk-second", Name: "team-a", Weight: 2},
							{Key: "p$ss$word", Name: "2", Weight: 1},
						},
						Models: []Model{
							full("gpt-4o", false),
							{Name: "o1", Images: true, Video: true},
							full("my-Embedder", true),
							{Name: "embed-but-not", Tools: true, Streaming: true},
						},
					},
					{
						Name: "second", Type: TypeOpenAI, BaseURL: "http://localhost:8080",
						Credentials: []Credential{{Key: "a$b${C}", Name: "0", Weight: 1}},
						Models:      []Model{full("m", false)},
					},
				},
				Routing: Routing{Strategy: StrategyEven, UnknownModels: UnknownModelsReject},
				Server:  Server{MaxBodyBytes: 1024, ShutdownGrace: 90 * time.Second},
			},
		},
		{
			name: "JSON is YAML",
			yaml: `{"listen": "0.0.0.0:1", "vendors": [{"type": "openai", "credentials": [{"key": "k", "weight": 3}],
				"models": [{"name": "a", "tools": false}]}], "server": {"shutdown_grace": "5s"}}`,
			want: Config{
				Listen: "0.0.0.0:1",
				Vendors: []Vendor{{
					Name: "openai", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1",
					Credentials: []Credential{{Key: "k", Name: "0", Weight: 3}},
					Models:      []Model{{Name: "a", Images: true, Streaming: true, Video: true}},
				}},
				Routing: defaults.Routing,
				Server:  Server{MaxBodyBytes: DefaultMaxBodyBytes, ShutdownGrace: 5 * time.Second},
			},
		},
		{
			name: "empty values mean defaults",
			yaml: "listen:\nvendors:\n  - type: openai\n    name: ~\n    base_url: \"\"\n    credentials: [k]\n" +
				"    models:\nrouting:\nserver: {}\n",
			want: with(Vendor{
				Name: "openai", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1",
				Credentials: []Credential{{Key: "k", Name: "0", Weight: 1}},
				Models:      openaiDefaults,
			}),
		},
		{
			name: "anchors and aliases",
			yaml: "vendors:\n  - {type: openai, name: x, credentials: &k [a], models: &m [q]}\n" +
				"  - {type: openai, name: y, credentials: *k, models: *m}\n",
			want: with(
				Vendor{Name: "x", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1",
					Credentials: []Credential{{Key: "a", Name: "0", Weight: 1}}, Models: []Model{full("q", false)}},
				Vendor{Name: "y", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1",
					Credentials: []Credential{{Key: "a", Name: "0", Weight: 1}}, Models: []Model{full("q", false)}},
			),
		},
		{
			name: "scalars keep their text",
			yaml: "vendors: [{type: openai, name: 007, credentials: [0123, 1e3], models: [1.0]}]",
			want: with(Vendor{
				Name: "007", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1",
				Credentials: []Credential{{Key: "0123", Name: "0", Weight: 1}, {Key: "1e3", Name: "1", Weight: 1}},
				Models:      []Model{full("1.0", false)},
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", tt.yaml)
			got, err := Load(path, mapEnv(env))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Source = path
			want := tt.want
			want.Vendors = append([]Vendor(nil), tt.want.Vendors...)
			if err := want.Validate(); err != nil { // the defaults are validate_test's business
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	env := map[string]string{"OPENAI_KEY1": "sk-1", "EMPTY": ""}
	const ok = "  - {type: openai, credentials: [k]}\n"
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		// Structure.
		{"syntax error names file and line", "vendors:\n  - type: openai\n    name: a: b\n",
			[]string{"config.yaml:3: mapping values are not allowed in this context"}},
		{"unknown top-level field", "vendors:\n" + ok + "lisen: x\n",
			[]string{"config.yaml:3: lisen: unknown field (want one of listen, vendors, routing, server, media, master_key, database_url, redis_url, limits, usage, prices, cors, trusted_proxies, ip_limits)"}},
		{"unknown vendor field", "vendors:\n  - type: openai\n    bse_url: x\n", []string{"config.yaml:3: vendors[0].bse_url: unknown field"}},
		{"unknown credential field", "vendors: [{type: openai, credentials: [{key: k, wieght: 2}]}]",
			[]string{"vendors[0].credentials[0].wieght: unknown field"}},
		{"unknown model field", "vendors: [{type: openai, credentials: [k], models: [{name: a, tool: true}]}]",
			[]string{"vendors[0].models[0].tool: unknown field"}},
		{"unknown routing field", "vendors:\n" + ok + "routing: {strategey: even}", []string{"routing.strategey: unknown field"}},
		{"unknown server field", "vendors:\n" + ok + "server: {grace: 1s}", []string{"server.grace: unknown field"}},
		{"field given twice", "vendors:\n  - type: openai\n    type: gemini\n", []string{"config.yaml:3: vendors[0].type: field given twice"}},
		{"field given twice, first empty", "vendors:\n  - name:\n    name: x\n", []string{"config.yaml:3: vendors[0].name: field given twice"}},
		{"two documents", "vendors:\n" + ok + "---\nlisten: x\n", []string{"config.yaml:", "more than one YAML document"}},
		{"syntax error in second document", "vendors:\n" + ok + "---\na: b: c\n",
			[]string{"config.yaml:4: mapping values are not allowed in this context"}},
		{"only comments", "# nothing here\n", []string{"config.yaml: vendors: at least one vendor is required"}},
		{"top level is a list", "- a\n", []string{"top level: want a mapping, got a list"}},
		{"vendors is a mapping", "vendors: {type: openai}", []string{"vendors: want a list, got a mapping"}},
		{"vendor is a string", "vendors: [openai]", []string{"vendors[0]: want a mapping, got a string"}},
		{"vendor entry empty", "vendors: [~]", []string{"vendors[0]: empty entry"}},
		{"credentials is a string", "vendors: [{type: openai, credentials: k}]",
			[]string{"vendors[0].credentials: want a list, got a string"}},
		{"models entry is a list", "vendors: [{type: openai, credentials: [k], models: [[a]]}]",
			[]string{"vendors[0].models[0]: want a mapping, got a list"}},
		{"type is a list", "vendors: [{type: [openai]}]", []string{"vendors[0].type: want a string, got a list"}},
		{"flag not a bool", "vendors: [{type: openai, credentials: [k], models: [{name: a, tools: yes}]}]",
			[]string{"vendors[0].models[0].tools: want true or false, got a string"}},

		// Expansion.
		{"missing variable in credential", "vendors: [{type: openai, credentials: [\"${OPENAI_KEY1}\", \"${OPENAI_KEY2}\"]}]",
			[]string{"config.yaml:1: vendors[0].credentials[1]: environment variable OPENAI_KEY2 is not set"}},
		{"missing variable in key field", "vendors: [{type: openai, credentials: [{key: \"${NOPE}\"}]}]",
			[]string{"vendors[0].credentials[0].key: environment variable NOPE is not set"}},
		{"missing variable in base_url", "vendors: [{type: openai, base_url: \"${BASE}\", credentials: [k]}]",
			[]string{"vendors[0].base_url: environment variable BASE is not set"}},
		{"missing variable in listen", "listen: \"${LISTEN}\"\nvendors:\n" + ok, []string{"listen: environment variable LISTEN is not set"}},
		{"unterminated variable", "vendors: [{type: openai, credentials: [\"${X\"]}]",
			[]string{"vendors[0].credentials[0]: unterminated \"${\""}},
		{"empty variable name", "vendors: [{type: \"${}\"}]", []string{"vendors[0].type: invalid variable name"}},

		// Vendors.
		{"empty file", "", []string{"config.yaml: vendors: at least one vendor is required"}},
		{"empty vendor list", "vendors: []", []string{"vendors: at least one vendor is required"}},
		{"unknown type", "vendors:\n" + ok + "  - {type: foo}\n",
			[]string{`config.yaml: vendors[1].type: unknown type "foo" (want openai, gemini, anthropic, azure, openai-compatible or mock)`}},
		{"missing type", "vendors: [{name: x}]", []string{"config.yaml: vendors[0].type: missing (want openai, gemini, anthropic, azure, openai-compatible or mock)"}},
		{"duplicate vendor name", "vendors:\n" + ok + "  - {type: mock}\n  - {type: gemini, name: openai, credentials: [k]}\n",
			[]string{`vendors[2].name: duplicate vendor name "openai" (also vendors[0])`}},
		{"duplicate default vendor name", "vendors:\n" + ok + ok, []string{`vendors[1].name: duplicate vendor name "openai" (also vendors[0])`}},
		{"base_url without scheme", "vendors: [{type: openai, base_url: api.openai.com/v1, credentials: [k]}]",
			[]string{"vendors[0].base_url: must be an http:// or https:// URL with a host"}},
		{"base_url ftp", "vendors: [{type: gemini, base_url: \"ftp://h/x\", credentials: [k]}]", []string{"vendors[0].base_url: must be"}},
		{"base_url without host", "vendors: [{type: openai, base_url: \"https:///v1\", credentials: [k]}]", []string{"vendors[0].base_url: must be"}},
		{"base_url unparsable", "vendors: [{type: openai, base_url: \"http://[::1\", credentials: [k]}]", []string{"vendors[0].base_url: must be"}},

		// Credentials.
		{"openai without credentials", "vendors: [{type: openai}]",
			[]string{"vendors[0].credentials: at least one credential is required for type openai"}},
		{"gemini with empty credential list", "vendors: [{type: gemini, credentials: []}]",
			[]string{"vendors[0].credentials: at least one credential is required for type gemini"}},
		{"empty key after expansion", "vendors: [{type: openai, credentials: [k, \"${EMPTY}\"]}]",
			[]string{"vendors[0].credentials[1]: empty key"}},
		{"empty key field", "vendors: [{type: openai, credentials: [{name: a}]}]", []string{"vendors[0].credentials[0]: empty key"}},
		{"null credential", "vendors: [{type: openai, credentials: [k, ~]}]", []string{"vendors[0].credentials[1]: empty entry"}},
		{"negative weight", "vendors: [{type: openai, credentials: [{key: k, weight: -1}]}]",
			[]string{"vendors[0].credentials[0].weight: must be at least 1"}},
		{"zero weight", "vendors: [{type: openai, credentials: [{key: k, weight: 0}]}]",
			[]string{"vendors[0].credentials[0].weight: must be at least 1"}},
		{"weight not a number", "vendors: [{type: openai, credentials: [{key: k, weight: heavy}]}]",
			[]string{"vendors[0].credentials[0].weight: want a whole number, got a string"}},
		{"weight a float", "vendors: [{type: openai, credentials: [{key: k, weight: 1.5}]}]",
			[]string{"vendors[0].credentials[0].weight: want a whole number, got a number"}},
		{"duplicate credential name", "vendors: [{type: openai, credentials: [{key: a, name: x}, {key: b, name: x}]}]",
			[]string{`vendors[0].credentials[1].name: duplicate credential name "x" (also credentials[0])`}},
		{"explicit name clashes with default", "vendors: [{type: openai, credentials: [{key: a, name: \"1\"}, b]}]",
			[]string{`vendors[0].credentials[1].name: duplicate credential name "1" (also credentials[0])`}},

		// Models.
		{"duplicate model", "vendors: [{type: openai, credentials: [k], models: [a, b, {name: a}]}]",
			[]string{`vendors[0].models[2]: duplicate model "a" (also models[0])`}},
		{"model without name", "vendors: [{type: openai, credentials: [k], models: [{tools: true}]}]",
			[]string{"vendors[0].models[0].name: empty model name"}},

		// Routing and server.
		{"unknown strategy", "vendors:\n" + ok + "routing: {strategy: random}",
			[]string{`config.yaml: routing.strategy: unknown strategy "random" (want one of even, weighted, round_robin, least_busy, least_latency, priority)`}},
		{"unknown unknown_models", "vendors:\n" + ok + "routing: {unknown_models: drop}",
			[]string{`routing.unknown_models: unknown policy "drop" (want pool or reject)`}},
		{"zero max_body_bytes", "vendors:\n" + ok + "server: {max_body_bytes: 0}", []string{"server.max_body_bytes: must be greater than 0"}},
		{"negative max_body_bytes", "vendors:\n" + ok + "server: {max_body_bytes: -5}", []string{"server.max_body_bytes: must be greater than 0"}},
		{"max_body_bytes not a number", "vendors:\n" + ok + "server: {max_body_bytes: 32MiB}",
			[]string{"server.max_body_bytes: want a whole number"}},
		{"bad duration", "vendors:\n" + ok + "server: {shutdown_grace: forever}",
			[]string{`server.shutdown_grace: want a duration like 30s or 1m, got "forever"`}},
		{"duration without unit", "vendors:\n" + ok + "server: {shutdown_grace: 30}",
			[]string{"server.shutdown_grace: want a duration like 30s, got a number"}},
		{"zero duration", "vendors:\n" + ok + "server: {shutdown_grace: 0s}", []string{"server.shutdown_grace: must be greater than 0"}},
		{"unknown engine", "vendors:\n" + ok + "server: {engine: fasthttp}", []string{`server.engine: want lean or net/http, got "fasthttp"`}},
		{"negative gc_headroom_mib", "vendors:\n" + ok + "server: {gc_headroom_mib: -1}", []string{"server.gc_headroom_mib: must be 0 (off) or more"}},
		{"huge gc_headroom_mib", "vendors:\n" + ok + "server: {gc_headroom_mib: 2000000}", []string{"server.gc_headroom_mib: at most 1048576"}},
		{"gc_headroom_mib with a unit", "vendors:\n" + ok + "server: {gc_headroom_mib: 32MiB}", []string{"server.gc_headroom_mib: want a whole number"}},
		{"negative duration", "vendors:\n" + ok + "server: {shutdown_grace: -1s}", []string{"server.shutdown_grace: must be greater than 0"}},
		{"bad listen", "listen: \"8082\"\nvendors:\n" + ok, []string{`config.yaml: listen: want host:port`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", tt.yaml)
			c, err := Load(path, mapEnv(env))
			wantErr(t, err, append(tt.want, path)...)
			if c != nil {
				t.Errorf("got a config with the error: %+v", c)
			}
		})
	}
}

// The GC floor: 32 MiB unless set, an explicit 0 turns it off.
func TestLoadGCHeadroom(t *testing.T) {
	for _, c := range []struct {
		server string
		want   int
	}{
		{"", DefaultGCHeadroomMiB},
		{"server: {gc_headroom_mib: 64}\n", 64},
		{"server: {gc_headroom_mib: 0}\n", GCHeadroomOff},
	} {
		path := writeFile(t, t.TempDir(), "config.yaml", "vendors: [{type: openai, credentials: [k]}]\n"+c.server)
		cfg, err := Load(path, mapEnv(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Server.GCHeadroomMiB != c.want {
			t.Errorf("%q: GCHeadroomMiB = %d, want %d", c.server, cfg.Server.GCHeadroomMiB, c.want)
		}
	}
}

// stream_usage: auto asks OpenAI's own API and Azure for stream usage, not
// other servers; always and never decide for any OpenAI-format vendor.
func TestLoadStreamUsage(t *testing.T) {
	for _, c := range []struct {
		vendor string
		want   bool
	}{
		{"{type: openai, credentials: [k]}", true},
		{"{type: openai, credentials: [k], base_url: 'http://127.0.0.1:8000/v1'}", false},
		{"{type: openai, credentials: [k], base_url: 'http://127.0.0.1:8000/v1', stream_usage: always}", true},
		{"{type: openai, credentials: [k], stream_usage: never}", false},
		{"{type: azure, credentials: [k], base_url: 'https://x.openai.azure.com', models: [gpt-4o]}", true},
		{"{type: azure, credentials: [k], base_url: 'https://x.openai.azure.com', models: [gpt-4o], api_version: 2024-09-01-preview}", true},
		{"{type: azure, credentials: [k], base_url: 'https://x.openai.azure.com', models: [gpt-4o], api_version: 2024-06-01}", false},
		{"{type: azure, credentials: [k], base_url: 'https://x.openai.azure.com', models: [gpt-4o], api_version: preview}", true},
		{"{type: openai-compatible, preset: ollama, models: [llama3]}", false},
		{"{type: openai-compatible, preset: vllm, models: [m], stream_usage: always}", true},
	} {
		path := writeFile(t, t.TempDir(), "config.yaml", "vendors: ["+c.vendor+"]\n")
		cfg, err := Load(path, mapEnv(nil))
		if err != nil {
			t.Fatalf("%s: %v", c.vendor, err)
		}
		if got := cfg.Vendors[0].AsksStreamUsage(); got != c.want {
			t.Errorf("%s: asks for stream usage %v, want %v", c.vendor, got, c.want)
		}
	}
	path := writeFile(t, t.TempDir(), "config.yaml", "vendors: [{type: openai, credentials: [k], stream_usage: sometimes}]\n")
	if _, err := Load(path, mapEnv(nil)); err == nil || !strings.Contains(err.Error(), "vendors[0].stream_usage: unknown value \"sometimes\" (want auto, always or never)") {
		t.Errorf("stream_usage: sometimes: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, mapEnv(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want fs.ErrNotExist", err)
	}
	wantErr(t, err, path)
}

func TestLoadNilEnvUsesProcessEnvironment(t *testing.T) {
	t.Setenv("GENROUTER_TEST_KEY", "from-os")
	path := writeFile(t, t.TempDir(), "config.yaml", "vendors: [{type: openai, credentials: [\"${GENROUTER_TEST_KEY}\"]}]")
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Vendors[0].Credentials[0].Key; got != "from-os" {
		t.Errorf("key = %q, want from-os", got)
	}
}

func TestLoadExampleConfig(t *testing.T) {
	c, err := Load("../../configs/example.yaml", mapEnv(map[string]string{"OPENAI_API_KEY": "o", "GEMINI_API_KEY": "g"}))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no configs/example.yaml")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Vendors) == 0 || c.Mocked() {
		t.Errorf("example config: got %+v", c.Vendors)
	}
}
