package config

import (
	"sort"
	"strings"
)

// Default protocol versions.
const (
	DefaultAzureAPIVersion  = "2024-10-21"
	DefaultAnthropicVersion = "2023-06-01"
)

// Preset describes a known OpenAI-compatible server.
type Preset struct {
	BaseURL string
	// Keyless servers (local ones) need no credential.
	Keyless bool
}

// Presets are the OpenAI-compatible servers known by name. All take the
// key as "Authorization: Bearer".
var Presets = map[string]Preset{
	"ollama":     {BaseURL: "http://127.0.0.1:11434/v1", Keyless: true},
	"vllm":       {BaseURL: "http://127.0.0.1:8000/v1", Keyless: true},
	"llamacpp":   {BaseURL: "http://127.0.0.1:8080/v1", Keyless: true},
	"lmstudio":   {BaseURL: "http://127.0.0.1:1234/v1", Keyless: true},
	"groq":       {BaseURL: "https://api.groq.com/openai/v1"},
	"mistral":    {BaseURL: "https://api.mistral.ai/v1"},
	"deepseek":   {BaseURL: "https://api.deepseek.com/v1"},
	"openrouter": {BaseURL: "https://openrouter.ai/api/v1"},
	"together":   {BaseURL: "https://api.together.xyz/v1"},
	"xai":        {BaseURL: "https://api.x.ai/v1"},
	"fireworks":  {BaseURL: "https://api.fireworks.ai/inference/v1"},
}

func presetNames() string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
