package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadLegacy(t *testing.T) {
	env := map[string]string{"OPENAI_API_KEY": "sk-env", "GEMINI_API_KEY": "g-env"}
	const (
		openaiURL = "https://api.openai.com/v1"
		geminiURL = "https://generativelanguage.googleapis.com/v1beta/openai"
	)
	bothCreds := `[
		{"platform": "openai", "type": "api-key", "value": "${OPENAI_API_KEY}"},
		{"platform": "gemini", "type": "api-key", "value": "g-1", "comment": "unknown fields are ignored"},
		{"platform": "openai", "type": "api-key", "value": "sk-$$2"}
	]`

	tests := []struct {
		name         string
		creds        string
		models       string
		want         []Vendor
		wantWarnings []string // substrings, one per warning
	}{
		{
			name:  "plain list without config supports everything",
			creds: bothCreds,
			models: `[{"vendor": "gemini", "model": "gemini-2.0-flash"},
				{"vendor": "openai", "model": "gpt-4o"},
				{"vendor": "openai", "model": "text-embedding-3-small", "extra": 1}]`,
			want: []Vendor{
				{Name: "openai", Type: TypeOpenAI, BaseURL: openaiURL,
					Credentials: []Credential{{Key: "sk-env", Name: "0", Weight: 1}, {Key: "sk-$2", Name: "1", Weight: 1}},
					Models:      []Model{full("gpt-4o", false), full("text-embedding-3-small", true)}},
				{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL,
					Credentials: []Credential{{Key: "g-1", Name: "0", Weight: 1}},
					Models:      []Model{full("gemini-2.0-flash", false)}},
			},
		},
		{
			name:  "object form: base URLs and config flags",
			creds: bothCreds,
			models: `{
				"vendors": {"openai": "https://proxy.example/v1/", "gemini": "", "anthropic": "https://x"},
				"models": [
					{"vendor": "openai", "model": "all", "config": {"support_image": true, "support_video": true,
						"support_tools": true, "support_streaming": true}},
					{"vendor": "openai", "model": "none", "config": {}},
					{"vendor": "openai", "model": "null-config", "config": null},
					{"vendor": "gemini", "model": "img-only", "config": {"support_image": true}},
					{"vendor": "gemini", "model": "tools-stream", "config": {"support_tools": true, "support_streaming": true, "x": 1}},
					{"vendor": "gemini", "model": "video", "config": {"support_video": true}},
					{"vendor": "gemini", "model": "my-embedding", "config": {"support_image": false}}
				],
				"note": "ignored"
			}`,
			want: []Vendor{
				{Name: "openai", Type: TypeOpenAI, BaseURL: "https://proxy.example/v1",
					Credentials: []Credential{{Key: "sk-env", Name: "0", Weight: 1}, {Key: "sk-$2", Name: "1", Weight: 1}},
					Models:      []Model{full("all", false), {Name: "none"}, full("null-config", false)}},
				{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL,
					Credentials: []Credential{{Key: "g-1", Name: "0", Weight: 1}},
					Models: []Model{
						{Name: "img-only", Images: true},
						{Name: "tools-stream", Tools: true, Streaming: true},
						{Name: "video", Video: true},
						{Name: "my-embedding", Embedding: true},
					}},
			},
		},
		{
			name:  "models of vendors without keys are skipped with a warning",
			creds: `[{"platform": "gemini", "type": "api-key", "value": "g"}]`,
			models: `[{"vendor": "openai", "model": "gpt-4o"}, {"vendor": "gemini", "model": "m"},
				{"vendor": "anthropic", "model": "claude"}]`,
			want: []Vendor{{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL,
				Credentials: []Credential{{Key: "g", Name: "0", Weight: 1}}, Models: []Model{full("m", false)}}},
			wantWarnings: []string{
				`models.json: [0]: skipping model "gpt-4o": vendor "openai" has no credentials in`,
				`models.json: [2]: skipping model "claude": vendor "anthropic" has no credentials in`,
			},
		},
		{
			name:   "a vendor with keys but no models is dropped with a warning",
			creds:  bothCreds,
			models: `{"models": [{"vendor": "gemini", "model": "m"}]}`,
			want: []Vendor{{Name: "gemini", Type: TypeGemini, BaseURL: geminiURL,
				Credentials: []Credential{{Key: "g-1", Name: "0", Weight: 1}}, Models: []Model{full("m", false)}}},
			wantWarnings: []string{`credentials.json: vendor "openai" has credentials but no models in`},
		},
		{
			name:   "duplicate models are skipped with a warning",
			creds:  `[{"platform": "openai", "type": "api-key", "value": "k"}]`,
			models: `[{"vendor": "openai", "model": "a"}, {"vendor": "openai", "model": "a", "config": {}}]`,
			want: []Vendor{{Name: "openai", Type: TypeOpenAI, BaseURL: openaiURL,
				Credentials: []Credential{{Key: "k", Name: "0", Weight: 1}}, Models: []Model{full("a", false)}}},
			wantWarnings: []string{`models.json: [1]: skipping duplicate model "a" of vendor "openai"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			credsPath := writeFile(t, dir, "credentials.json", tt.creds)
			modelsPath := writeFile(t, dir, "models.json", tt.models)
			c, err := LoadLegacy(credsPath, modelsPath, mapEnv(env))
			if err != nil {
				t.Fatal(err)
			}
			wantCfg := Config{Vendors: append([]Vendor(nil), tt.want...)}
			if err := wantCfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Vendors, wantCfg.Vendors) {
				t.Errorf("vendors:\ngot  %+v\nwant %+v", c.Vendors, tt.want)
			}
			if want := credsPath + "+" + modelsPath; c.Source != want {
				t.Errorf("Source = %q, want %q", c.Source, want)
			}
			// Validate ran: the rest has its defaults.
			if c.Listen != DefaultListen || c.Routing.Strategy != StrategyEven || c.Server.MaxBodyBytes != DefaultMaxBodyBytes {
				t.Errorf("defaults not applied: %+v", c)
			}
			if len(c.Warnings) != len(tt.wantWarnings) {
				t.Fatalf("warnings = %q, want %d", c.Warnings, len(tt.wantWarnings))
			}
			for i, w := range tt.wantWarnings {
				if !strings.Contains(c.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, c.Warnings[i], w)
				}
			}
		})
	}
}

func TestLoadLegacyErrors(t *testing.T) {
	env := map[string]string{"EMPTY": ""}
	const (
		okCreds  = `[{"platform": "openai", "type": "api-key", "value": "k"}]`
		okModels = `[{"vendor": "openai", "model": "m"}]`
	)
	tests := []struct {
		name          string
		creds, models string
		want          []string
	}{
		{"unsupported credential type",
			`[{"platform": "openai", "type": "api-key", "value": "a"}, {"platform": "openai", "type": "oauth", "value": "b"}]`, okModels,
			[]string{`credentials.json: [1].type: unsupported credential type "oauth" (want api-key)`}},
		{"missing credential type", `[{"platform": "openai", "value": "a"}]`, okModels,
			[]string{`credentials.json: [0].type: unsupported credential type ""`}},
		{"unknown platform", `[{"platform": "azure", "type": "api-key", "value": "a"}]`, okModels,
			[]string{`credentials.json: [0].platform: unknown platform "azure" (want openai or gemini)`}},
		{"missing variable", `[{"platform": "openai", "type": "api-key", "value": "${NOPE}"}]`, okModels,
			[]string{"credentials.json: [0].value: environment variable NOPE is not set"}},
		{"empty value", `[{"platform": "openai", "type": "api-key", "value": "${EMPTY}"}]`, okModels,
			[]string{"credentials.json: [0].value: empty key"}},
		{"value not a string", `[{"platform": "openai", "type": "api-key", "value": 12345678901}]`, okModels,
			[]string{"credentials.json: [0].value: want a string, got number"}},
		{"credentials not a list", `{"platform": "openai"}`, okModels,
			[]string{"credentials.json: want a list, got object"}},
		{"credentials syntax error", "[\n  {\"platform\": \"openai\",, }\n]", okModels,
			[]string{"credentials.json: invalid JSON at line 2, column 25"}},
		{"credentials empty file", "", okModels, []string{"credentials.json: invalid JSON at line 1, column 1"}},
		{"models syntax error", okCreds, "[{\"vendor\": \"openai\"", []string{"models.json: invalid JSON at line 1"}},
		{"models not a list or object", okCreds, `"x"`, []string{"models.json: want a list, got string"}},
		{"models object with bad models", okCreds, `{"models": {"vendor": "openai"}}`, []string{"models.json: models: want a list, got object"}},
		{"model without vendor", okCreds, `[{"model": "m"}]`, []string{"models.json: [0].vendor: missing"}},
		{"model without name", okCreds, `{"models": [{"vendor": "openai", "model": "m"}, {"vendor": "openai"}]}`,
			[]string{"models.json: models[1].model: missing"}},
		{"flag not a bool", okCreds, `[{"vendor": "openai", "model": "m", "config": {"support_tools": "yes"}}]`,
			[]string{"models.json: [0].config.support_tools: want true or false, got string"}},
		{"bad base URL", okCreds, `{"vendors": {"openai": "api.openai.com"}, "models": [{"vendor": "openai", "model": "m"}]}`,
			[]string{"models.json: vendors.openai: must be an http:// or https:// URL with a host"}},
		{"nothing remains", okCreds, `[{"vendor": "gemini", "model": "m"}]`, []string{
			"credentials.json+", "models.json: no vendor has both credentials and models (",
			`skipping model "m": vendor "gemini" has no credentials`,
			`vendor "openai" has credentials but no models`}},
		{"no credentials at all", `[]`, okModels, []string{"no vendor has both credentials and models"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := LoadLegacy(writeFile(t, dir, "credentials.json", tt.creds),
				writeFile(t, dir, "models.json", tt.models), mapEnv(env))
			wantErr(t, err, tt.want...)
			if c != nil {
				t.Errorf("got a config with the error: %+v", c)
			}
			if err != nil && strings.Contains(err.Error(), "12345678901") {
				t.Errorf("error quotes a value: %v", err)
			}
		})
	}
}

func TestLoadLegacyMissingFiles(t *testing.T) {
	dir := t.TempDir()
	creds := writeFile(t, dir, "credentials.json", `[{"platform": "openai", "type": "api-key", "value": "k"}]`)
	missing := filepath.Join(dir, "missing.json")
	for _, paths := range [][2]string{{missing, creds}, {creds, missing}} {
		_, err := LoadLegacy(paths[0], paths[1], mapEnv(nil))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LoadLegacy(%q, %q) = %v, want fs.ErrNotExist", paths[0], paths[1], err)
		}
	}
}

func TestLoadLegacyShippedExample(t *testing.T) {
	c, err := LoadLegacy("../../configs/legacy/credentials.json", "../../configs/legacy/models.json",
		mapEnv(map[string]string{"OPENAI_API_KEY": "o", "GEMINI_API_KEY": "g"}))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no configs/legacy")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Vendors) == 0 || len(c.Warnings) != 0 {
		t.Errorf("got vendors %+v, warnings %q", c.Vendors, c.Warnings)
	}
}
