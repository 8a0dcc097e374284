package config

import (
	"testing"
)

func TestVendorTypes(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		check   func(t *testing.T, v Vendor)
		wantErr string
	}{
		{name: "anthropic defaults", yaml: "vendors: [{type: anthropic, credentials: [k]}]", check: func(t *testing.T, v Vendor) {
			if v.BaseURL != "https://api.anthropic.com/v1" || v.APIVersion != DefaultAnthropicVersion || len(v.Models) == 0 {
				t.Errorf("%+v", v)
			}
		}},
		{name: "gemini native", yaml: "vendors: [{type: gemini, api: native, credentials: [k]}]", check: func(t *testing.T, v Vendor) {
			if v.BaseURL != "https://generativelanguage.googleapis.com/v1beta" {
				t.Errorf("base %q", v.BaseURL)
			}
		}},
		{name: "azure", yaml: "vendors: [{type: azure, base_url: 'https://r.openai.azure.com', credentials: [k], models: [gpt-4o], deployments: {gpt-4o: prod-4o}}]",
			check: func(t *testing.T, v Vendor) {
				if v.APIVersion != DefaultAzureAPIVersion || v.Deployments["gpt-4o"] != "prod-4o" {
					t.Errorf("%+v", v)
				}
			}},
		{name: "azure needs a base url", yaml: "vendors: [{type: azure, credentials: [k], models: [m]}]", wantErr: "vendors[0].base_url: required for type azure"},
		{name: "azure needs models", yaml: "vendors: [{type: azure, base_url: 'https://r.openai.azure.com', credentials: [k]}]", wantErr: "vendors[0].models: at least one model"},
		{name: "ollama preset is keyless", yaml: "vendors: [{type: openai-compatible, preset: ollama, models: [llama3]}]", check: func(t *testing.T, v Vendor) {
			if v.BaseURL != "http://127.0.0.1:11434/v1" || len(v.Credentials) != 1 || v.Credentials[0].Key != "" {
				t.Errorf("%+v", v)
			}
		}},
		{name: "groq preset needs a key", yaml: "vendors: [{type: openai-compatible, preset: groq, models: [m]}]", wantErr: "credentials: at least one credential"},
		{name: "unknown preset", yaml: "vendors: [{type: openai-compatible, preset: nope, models: [m]}]", wantErr: `unknown preset "nope"`},
		{name: "api only on gemini", yaml: "vendors: [{type: openai, api: native, credentials: [k]}]", wantErr: "only type gemini"},
		{name: "bad gemini api", yaml: "vendors: [{type: gemini, api: grpc, credentials: [k]}]", wantErr: `unknown API "grpc"`},
		{name: "headers", yaml: "vendors: [{type: openai, credentials: [k], headers: {OpenAI-Organization: '${ORG}'}}]", check: func(t *testing.T, v Vendor) {
			if v.Headers["OpenAI-Organization"] != "org-1" {
				t.Errorf("%+v", v.Headers)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", tt.yaml)
			c, err := Load(path, mapEnv(map[string]string{"ORG": "org-1"}))
			if tt.wantErr != "" {
				wantErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c.Vendors[0])
		})
	}
}
