package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	const (
		openaiURL = "https://api.openai.com/v1"
		geminiURL = "https://generativelanguage.googleapis.com/v1beta/openai"
	)
	openaiModels := []Model{full("gpt-4o-mini", false), full("gpt-4o", false), full("text-embedding-3-small", true)}
	geminiModels := []Model{full("gemini-2.0-flash", false), full("gemini-2.5-flash", false), full("text-embedding-004", true)}
	mock := Vendor{Name: "mock", Type: TypeMock, Credentials: []Credential{{Key: "", Name: "mock", Weight: 1}},
		Models: []Model{full("mock-model", false), full("mock-embedding", true)}}
	creds := func(keys ...string) []Credential {
		var cs []Credential
		for i, k := range keys {
			cs = append(cs, Credential{Key: k, Name: strconv.Itoa(i), Weight: 1})
		}
		return cs
	}

	tests := []struct {
		name       string
		env        map[string]string
		wantListen string
		want       []Vendor
	}{
		{"nothing set gives mock", nil, DefaultListen, []Vendor{mock}},
		{"empty keys count as unset", map[string]string{"OPENAI_API_KEY": " , ,", "GEMINI_API_KEY": ""}, DefaultListen,
			[]Vendor{mock}},
		{"openai", map[string]string{"OPENAI_API_KEY": "sk-a"}, DefaultListen,
			[]Vendor{{Name: "openai", Type: TypeOpenAI, BaseURL: openaiURL, Credentials: creds("sk-a"), Models: openaiModels}}},
		{"comma-separated keys are trimmed, empties dropped", map[string]string{"OPENAI_API_KEY": " sk-a ,,sk-b,  , sk-c"},
			DefaultListen,
			[]Vendor{{Name: "openai", Type: TypeOpenAI, BaseURL: openaiURL, Credentials: creds("sk-a", "sk-b", "sk-c"),
				Models: openaiModels}}},
		{"OPENAI_BASE_URL overrides", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://localhost:11434/v1/"},
			DefaultListen,
			[]Vendor{{Name: "openai", Type: TypeOpenAI, BaseURL: "http://localhost:11434/v1", Credentials: creds("k"),
				Models: openaiModels}}},
		{"empty OPENAI_BASE_URL is ignored", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": ""}, DefaultListen,
			[]Vendor{{Name: "openai", Type: TypeOpenAI, BaseURL: openaiURL, Credentials: creds("k"), Models: openaiModels}}},
		{"OPENAI_BASE_URL alone changes nothing", map[string]string{"OPENAI_BASE_URL": "http://x"}, DefaultListen,
			[]Vendor{mock}},
		{"gemini", map[string]string{"GEMINI_API_KEY": "g1,g2"}, DefaultListen,
			[]Vendor{{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL, Credentials: creds("g1", "g2"), Models: geminiModels}}},
		{"google key as fallback", map[string]string{"GOOGLE_API_KEY": "gg"}, DefaultListen,
			[]Vendor{{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL, Credentials: creds("gg"), Models: geminiModels}}},
		{"gemini key wins over google key", map[string]string{"GEMINI_API_KEY": "g", "GOOGLE_API_KEY": "gg"}, DefaultListen,
			[]Vendor{{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL, Credentials: creds("g"), Models: geminiModels}}},
		{"empty gemini key falls back to google key", map[string]string{"GEMINI_API_KEY": " ", "GOOGLE_API_KEY": "gg"},
			DefaultListen,
			[]Vendor{{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL, Credentials: creds("gg"), Models: geminiModels}}},
		{"both vendors, openai first", map[string]string{"GEMINI_API_KEY": "g", "OPENAI_API_KEY": "o"}, DefaultListen,
			[]Vendor{
				{Name: "openai", Type: TypeOpenAI, BaseURL: openaiURL, Credentials: creds("o"), Models: openaiModels},
				{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL, Credentials: creds("g"), Models: geminiModels},
			}},
		{"GENROUTER_LISTEN", map[string]string{"GENROUTER_LISTEN": ":9999"}, ":9999", []Vendor{mock}},
		{"empty GENROUTER_LISTEN means default", map[string]string{"GENROUTER_LISTEN": ""}, DefaultListen, []Vendor{mock}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := Config{
				Source:  "environment",
				Listen:  tt.wantListen,
				Vendors: tt.want,
				Routing: Routing{Strategy: StrategyEven, UnknownModels: UnknownModelsPool},
				Server:  Server{MaxBodyBytes: DefaultMaxBodyBytes, ShutdownGrace: DefaultShutdownGrace},
			}
			if err := want.Validate(); err != nil { // the defaults are validate_test's business
				t.Fatal(err)
			}
			if tt.name != "OPENAI_BASE_URL alone changes nothing" && len(c.Warnings) > 0 {
				t.Errorf("unexpected warnings: %q", c.Warnings)
			}
			c.Warnings = nil // TestFromEnvBaseURLWithoutKey checks the one case that warns
			if !reflect.DeepEqual(*c, want) {
				t.Errorf("got  %+v\nwant %+v", *c, want)
			}
		})
	}
}

func TestFromEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad OPENAI_BASE_URL", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "localhost:8080"},
			"environment: OPENAI_BASE_URL: must be an http:// or https:// URL with a host"},
		{"bad GENROUTER_LISTEN", map[string]string{"GENROUTER_LISTEN": "8082"},
			`environment: GENROUTER_LISTEN: want host:port (like 127.0.0.1:8082 or :8082), got "8082"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(mapEnv(tt.env))
			wantErr(t, err, tt.want)
			if c != nil {
				t.Errorf("got a config with the error: %+v", c)
			}
		})
	}
}

func TestFromEnvNilUsesProcessEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-os")
	t.Setenv("GENROUTER_LISTEN", ":1234")
	c, err := FromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":1234" || c.Vendors[0].Credentials[0].Key != "sk-os" {
		t.Errorf("got %+v", c)
	}
}

func TestExpand(t *testing.T) {
	env := mapEnv(map[string]string{"A": "x", "B_2": "y", "EMPTY": "", "DOLLAR": "$${A}"})
	tests := []struct {
		in, want string
		err      string // "" means no error
	}{
		{"", "", ""},
		{"plain", "plain", ""},
		{"${A}", "x", ""},
		{"pre-${A}-${B_2}-post", "pre-x-y-post", ""},
		{"${A}${A}", "xx", ""},
		{"${EMPTY}", "", ""},
		{"${DOLLAR}", "$${A}", ""}, // values are not expanded again
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"$$$${A}", "$${A}", ""},
		{"$$${A}", "$x", ""},
		{"a$b", "a$b", ""},
		{"$A", "$A", ""},
		{"$", "$", ""},
		{"cost: 5$", "cost: 5$", ""},
		{"$ {A}", "$ {A}", ""},
		{"€${A}€", "€x€", ""},
		{"${MISSING}", "", "environment variable MISSING is not set"},
		{"ok ${A} then ${NOPE}", "", "environment variable NOPE is not set"},
		{"${A", "", `unterminated "${"`},
		{"${}", "", "invalid variable name"},
		{"${1A}", "", "invalid variable name"},
		{"${A-B}", "", "invalid variable name"},
		{"${A:-x}", "", "invalid variable name"},
		{"${ A }", "", "invalid variable name"},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, env)
		if tt.err != "" {
			wantErr(t, err, tt.err)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// OPENAI_BASE_URL without OPENAI_API_KEY configures nothing: a user pointing
// it at a local server would silently get mock answers without a warning
// that says what to set.
func TestFromEnvBaseURLWithoutKey(t *testing.T) {
	c, err := FromEnv(mapEnv(map[string]string{"OPENAI_BASE_URL": "http://localhost:11434/v1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Mocked() {
		t.Fatalf("want the mock vendor, got %+v", c.Vendors)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "OPENAI_BASE_URL is ignored") ||
		!strings.Contains(c.Warnings[0], "OPENAI_API_KEY") {
		t.Errorf("want one warning naming OPENAI_BASE_URL and OPENAI_API_KEY, got %q", c.Warnings)
	}
}
