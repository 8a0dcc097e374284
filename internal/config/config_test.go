package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mapEnv is a LookupFunc over a fixed map, so tests never see the real
// environment.
func mapEnv(m map[string]string) LookupFunc {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// full is a model that can do everything, as plain names get.
func full(name string, embedding bool) Model {
	return Model{Name: name, Tools: true, Images: true, Streaming: true, Video: true, Embedding: embedding, Weight: 1}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "…a"},
		{"ab", "…ab"},
		{"abcdef", "…ef"},
		{"123456789012", "…12"}, // 12: still short
		{"1234567890123", "123…0123"},
		{"sk-proj-abcdefghijklmnopabcd", "sk-…abcd"},
		{"AIzaSyA-1234567890_abcdefghijklmnopqrs", "AIz…pqrs"},
		{"ключ-ключ-ключ-ключ", "клю…ключ"}, // runes, not bytes
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMocked(t *testing.T) {
	tests := []struct {
		name  string
		types []string
		want  bool
	}{
		{"no vendors", nil, false},
		{"one mock", []string{TypeMock}, true},
		{"two mocks", []string{TypeMock, TypeMock}, true},
		{"mock and openai", []string{TypeMock, TypeOpenAI}, false},
		{"gemini only", []string{TypeGemini}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{}
			for _, typ := range tt.types {
				c.Vendors = append(c.Vendors, Vendor{Type: typ})
			}
			if got := c.Mocked(); got != tt.want {
				t.Errorf("Mocked() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestErrorsNeverShowSecrets feeds every loader broken input that carries a
// key and checks the key (or a telling part of it) is not in the error.
func TestErrorsNeverShowSecrets(t *testing.T) {
	const secret = "sk-SECRETsecret0123456789"
	env := mapEnv(map[string]string{"KEY": secret, "EMPTY": ""})

	yamlCases := map[string]string{
		"credentials is a string":    "vendors: [{type: openai, credentials: " + secret + "}]",
		"credentials is a mapping":   "vendors: [{type: openai, credentials: {key: " + secret + "}}]",
		"key as a field name":        "vendors: [{type: openai, credentials: [{" + secret + ": 1}]}]",
		"key wrapped in ${}":         "vendors: [{type: openai, credentials: [\"${" + secret + "}\"]}]",
		"unterminated ${":            "vendors: [{type: openai, credentials: [\"" + secret + "${X\"]}]",
		"bad weight next to key":     "vendors: [{type: openai, credentials: [{key: " + secret + ", weight: heavy}]}]",
		"zero weight":                "vendors: [{type: openai, credentials: [{key: " + secret + ", weight: 0}]}]",
		"key is a list":              "vendors: [{type: openai, credentials: [{key: [" + secret + "]}]}]",
		"key in base_url":            "vendors: [{type: openai, base_url: \"" + secret + "\", credentials: [k]}]",
		"key in base_url query":      "vendors: [{type: openai, base_url: \"ftp://x/?k=" + secret + "\", credentials: [k]}]",
		"expanded key elsewhere bad": "vendors: [{type: foo, credentials: [\"${KEY}\"]}]",
		"duplicate credential name": "vendors: [{type: openai, credentials: [{key: " + secret + ", name: a}, {key: " +
			secret + ", name: a}]}]",
		"syntax error after key": "vendors: [{type: openai, credentials: [" + secret + "]}]]\n",
		"tab after key":          "vendors:\n  - type: openai\n    credentials: [" + secret + "]\n\t\tbad: x",
		"unknown field in creds": "vendors: [{type: openai, credentials: [{key: " + secret + ", nme: x}]}]",
		"credential null":        "vendors: [{type: openai, credentials: [" + secret + ", ~]}]",
	}
	for name, y := range yamlCases {
		t.Run("yaml/"+name, func(t *testing.T) {
			_, err := Load(writeFile(t, t.TempDir(), "config.yaml", y), env)
			checkNoSecret(t, err, secret)
		})
	}

	legacyCases := map[string]struct{ creds, models string }{
		"bad type":     {`[{"platform": "openai", "type": "oauth", "value": "` + secret + `"}]`, `[]`},
		"bad platform": {`[{"platform": "azure", "type": "api-key", "value": "` + secret + `"}]`, `[]`},
		"syntax error in value": {`[{"platform": "openai", "type": "api-key", "value": "` + secret + "\n" + `"}]`,
			`[]`},
		"garbage after value": {`[{"platform": "openai", "type": "api-key", "value": "x"` + secret + `}]`, `[]`},
		"value is a number":   {`[{"platform": "openai", "type": "api-key", "value": 123456789012345}]`, `[]`},
		"value is a list":     {`[{"platform": "openai", "type": "api-key", "value": ["` + secret + `"]}]`, `[]`},
		"wrapped in ${}":      {`[{"platform": "openai", "type": "api-key", "value": "${` + secret + `}"}]`, `[]`},
		"no models":           {`[{"platform": "openai", "type": "api-key", "value": "` + secret + `"}]`, `[]`},
		"bad base url": {`[{"platform": "openai", "type": "api-key", "value": "x"}]`,
			`{"vendors": {"openai": "` + secret + `"}, "models": [{"vendor": "openai", "model": "m"}]}`},
	}
	for name, tt := range legacyCases {
		t.Run("legacy/"+name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := LoadLegacy(writeFile(t, dir, "credentials.json", tt.creds),
				writeFile(t, dir, "models.json", tt.models), env)
			checkNoSecret(t, err, secret)
		})
	}

	t.Run("env/bad base url", func(t *testing.T) {
		_, err := FromEnv(mapEnv(map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": secret}))
		checkNoSecret(t, err, secret)
	})
}

func checkNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want one")
	}
	// Any run of 8 characters from the key would already say too much.
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(err.Error(), secret[i:i+8]) {
			t.Fatalf("error shows part of the secret %q: %v", secret[i:i+8], err)
		}
	}
}

// routingWith is the default routing with the given unknown-models policy.
func routingWith(unknown string) Routing {
	return Routing{Strategy: StrategyEven, UnknownModels: unknown, Attempts: DefaultAttempts,
		BackoffBase: DefaultBackoffBase, BackoffCap: DefaultBackoffCap,
		Circuit: Circuit{Failures: 5, FailureRate: 0.5, MinRequests: 20, Window: time.Minute, Cooldown: 30 * time.Second,
			MaxCooldown: 5 * time.Minute, AuthCooldown: 5 * time.Minute, RateLimitCooldown: 10 * time.Second},
		Timeouts: Timeouts{Connect: 10 * time.Second, FirstByte: 120 * time.Second, StreamIdle: 60 * time.Second, Total: 10 * time.Minute}}
}
