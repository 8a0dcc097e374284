package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{
			name: "zero values get defaults",
			in: Config{Vendors: []Vendor{
				{Type: TypeOpenAI, Credentials: []Credential{{Key: "a"}, {Key: "b", Weight: 3}}},
				{Type: TypeGemini, BaseURL: "https://g.example/x///", Credentials: []Credential{{Key: "c", Name: "named"}}},
				{Type: TypeMock, Name: "m", BaseURL: "anything/"},
			}},
			want: Config{
				Listen: DefaultListen,
				Vendors: []Vendor{
					{Name: "openai", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1", Priority: 1, InlineImages: InlineAuto, Documents: DocsExtract,
						Credentials: []Credential{{Key: "a", Name: "0", Weight: 1}, {Key: "b", Name: "1", Weight: 3}},
						Models:      []Model{full("gpt-4o-mini", false), full("gpt-4o", false), full("text-embedding-3-small", true)}},
					{Name: "gemini", Type: TypeGemini, BaseURL: "https://g.example/x", Priority: 1, InlineImages: InlineAuto, Documents: DocsExtract,
						Credentials: []Credential{{Key: "c", Name: "named", Weight: 1}},
						Models: []Model{audio(full("gemini-2.0-flash", false)), audio(full("gemini-2.5-flash", false)),
							audio(full("text-embedding-004", true))}},
					{Name: "m", Type: TypeMock, BaseURL: "anything", Priority: 1, InlineImages: InlineAuto, Documents: DocsExtract,
						Credentials: []Credential{{Key: "", Name: "mock", Weight: 1}},
						Models:      []Model{full("mock-model", false), full("mock-embedding", true)}},
				},
				Routing: routingWith(UnknownModelsPool),
				Server:  Server{MaxBodyBytes: DefaultMaxBodyBytes, ShutdownGrace: DefaultShutdownGrace, MaxInFlight: DefaultMaxInFlight, Engine: EngineLean, GCHeadroomMiB: DefaultGCHeadroomMiB},
				Fleet:   Fleet{FailMode: FailOpen, UsageQueue: 10000},
			},
		},
		{
			name: "set values are kept",
			in: Config{
				Source: "s",
				Listen: "[::1]:80",
				Vendors: []Vendor{{Name: "x", Type: TypeMock, Models: []Model{{Name: "only", Tools: true}},
					Credentials: []Credential{{Key: "", Name: "n", Weight: 5}}}},
				Routing: Routing{Strategy: StrategyEven, UnknownModels: UnknownModelsReject},
				Server:  Server{MaxBodyBytes: 1, ShutdownGrace: time.Millisecond, MaxInFlight: DefaultMaxInFlight, Engine: EngineLean, GCHeadroomMiB: DefaultGCHeadroomMiB},
				Fleet:   Fleet{FailMode: FailOpen, UsageQueue: 10000},
			},
			want: Config{
				Source: "s",
				Listen: "[::1]:80",
				Vendors: []Vendor{{Name: "x", Type: TypeMock, Models: []Model{{Name: "only", Tools: true, Weight: 1}}, Priority: 1, InlineImages: InlineAuto, Documents: DocsExtract,
					Credentials: []Credential{{Key: "", Name: "n", Weight: 5}}}},
				Routing: routingWith(UnknownModelsReject),
				Server:  Server{MaxBodyBytes: 1, ShutdownGrace: time.Millisecond, MaxInFlight: DefaultMaxInFlight, Engine: EngineLean, GCHeadroomMiB: DefaultGCHeadroomMiB},
				Fleet:   Fleet{FailMode: FailOpen, UsageQueue: 10000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("got  %+v\nwant %+v", c, tt.want)
			}
			// Idempotent: a second run changes nothing.
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("second Validate changed the config: %+v", c)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	openai := func(mod func(*Vendor)) Config {
		v := Vendor{Type: TypeOpenAI, Credentials: []Credential{{Key: "k"}}}
		mod(&v)
		return Config{Source: "src", Vendors: []Vendor{v}}
	}
	tests := []struct {
		name string
		in   Config
		want string
	}{
		{"no vendors", Config{Source: "src"}, "src: vendors: at least one vendor is required"},
		{"unknown type", openai(func(v *Vendor) { v.Type = "OpenAI" }),
			`src: vendors[0].type: unknown type "OpenAI" (want openai, gemini, anthropic, azure, openai-compatible or mock)`},
		{"missing type", openai(func(v *Vendor) { v.Type = "" }), "src: vendors[0].type: missing"},
		{"bad base URL", openai(func(v *Vendor) { v.BaseURL = "//host/v1" }), "src: vendors[0].base_url: must be"},
		{"base URL only slashes", openai(func(v *Vendor) { v.BaseURL = "///" }), "src: vendors[0].base_url: must be"},
		{"no credentials", openai(func(v *Vendor) { v.Credentials = nil }),
			"src: vendors[0].credentials: at least one credential is required for type openai"},
		{"empty key", openai(func(v *Vendor) { v.Credentials = []Credential{{Key: "a"}, {Key: ""}} }),
			"src: vendors[0].credentials[1]: empty key"},
		{"negative weight", openai(func(v *Vendor) { v.Credentials[0].Weight = -2 }),
			"src: vendors[0].credentials[0].weight: must not be negative"},
		{"duplicate credential names", openai(func(v *Vendor) {
			v.Credentials = []Credential{{Key: "a", Name: "x"}, {Key: "b"}, {Key: "c", Name: "x"}}
		}), `src: vendors[0].credentials[2].name: duplicate credential name "x" (also credentials[0])`},
		{"empty model name", openai(func(v *Vendor) { v.Models = []Model{{Name: "a"}, {}} }),
			"src: vendors[0].models[1].name: empty model name"},
		{"duplicate model", openai(func(v *Vendor) { v.Models = []Model{{Name: "a"}, {Name: "b"}, {Name: "b"}} }),
			`src: vendors[0].models[2]: duplicate model "b" (also models[1])`},
		{"bad listen", func() Config { c := openai(func(*Vendor) {}); c.Listen = "localhost"; return c }(),
			`src: listen: want host:port`},
		{"bad strategy", func() Config { c := openai(func(*Vendor) {}); c.Routing.Strategy = "random"; return c }(),
			`src: routing.strategy: unknown strategy "random" (want one of even, weighted, round_robin, least_busy, least_latency, priority)`},
		{"bad unknown_models", func() Config { c := openai(func(*Vendor) {}); c.Routing.UnknownModels = "Pool"; return c }(),
			`src: routing.unknown_models: unknown policy "Pool" (want pool or reject)`},
		{"negative max body", func() Config { c := openai(func(*Vendor) {}); c.Server.MaxBodyBytes = -1; return c }(),
			"src: server.max_body_bytes: must be greater than 0"},
		{"negative grace", func() Config { c := openai(func(*Vendor) {}); c.Server.ShutdownGrace = -time.Second; return c }(),
			"src: server.shutdown_grace: must be greater than 0"},
		{"duplicate vendors", Config{Source: "src", Vendors: []Vendor{
			{Type: TypeMock}, {Type: TypeMock, Name: "b"}, {Type: TypeGemini, Name: "mock", Credentials: []Credential{{Key: "k"}}},
		}}, `src: vendors[2].name: duplicate vendor name "mock" (also vendors[0])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			wantErr(t, c.Validate(), tt.want)
		})
	}
}

func TestValidateWithoutSource(t *testing.T) {
	err := (&Config{}).Validate()
	if err == nil || strings.HasPrefix(err.Error(), ":") || !strings.HasPrefix(err.Error(), "vendors:") {
		t.Errorf("got %v, want an error starting with the field path", err)
	}
}

// Default models must be fresh per config: a shared slice would let one
// config's edits leak into another's.
func TestDefaultModelsAreNotShared(t *testing.T) {
	a := Config{Vendors: []Vendor{{Type: TypeMock}}}
	b := Config{Vendors: []Vendor{{Type: TypeMock}}}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	a.Vendors[0].Models[0].Name = "changed"
	a.Vendors[0].Credentials[0].Name = "changed"
	if b.Vendors[0].Models[0].Name != "mock-model" || b.Vendors[0].Credentials[0].Name != "mock" {
		t.Errorf("configs share defaults: %+v", b.Vendors[0])
	}
}

func TestDefaultModelCapabilities(t *testing.T) {
	tests := []struct {
		name      string
		embedding bool
	}{
		{"gpt-4o", false},
		{"text-embedding-3-small", true},
		{"Text-EMBEDDING-x", true},
		{"my-embedder", true},
		{"embed", true},
		{"bed", false},
	}
	for _, tt := range tests {
		if got, want := defaultModel(tt.name), full(tt.name, tt.embedding); got != want {
			t.Errorf("defaultModel(%q) = %+v, want %+v", tt.name, got, want)
		}
	}
}

func audio(m Model) Model { m.Audio = true; return m }
