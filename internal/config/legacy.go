package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Legacy formats, as the replaced project wrote them. Unknown fields are
// ignored: these files are someone else's format.
type (
	legacyCredential struct {
		Platform string `json:"platform"`
		Type     string `json:"type"`
		Value    string `json:"value"`
	}
	legacyModel struct {
		Vendor string             `json:"vendor"`
		Model  string             `json:"model"`
		Config *legacyModelConfig `json:"config"`
	}
	legacyModelConfig struct {
		SupportImage     bool `json:"support_image"`
		SupportVideo     bool `json:"support_video"`
		SupportTools     bool `json:"support_tools"`
		SupportStreaming bool `json:"support_streaming"`
	}
	legacyModels struct {
		Vendors map[string]string `json:"vendors"`
		Models  []json.RawMessage `json:"models"`
	}
)

// LoadLegacy reads the legacy credentials.json + models.json pair. Each
// platform in credentials.json becomes a vendor of that name and type; its
// models come from models.json. Mismatches between the files (models of a
// vendor without keys, keys without models) are skipped with a warning in
// Config.Warnings (the CLI logs them) rather than failing, so existing file
// pairs keep loading.
func LoadLegacy(credentialsPath, modelsPath string, env LookupFunc) (*Config, error) {
	env = env.orOS()
	vendors, err := readLegacyCredentials(credentialsPath, env)
	if err != nil {
		return nil, err
	}
	models, baseURLs, modelsPrefix, err := readLegacyModels(modelsPath)
	if err != nil {
		return nil, err
	}

	c := &Config{Source: credentialsPath + "+" + modelsPath}
	byName := make(map[string]*Vendor, len(vendors))
	for i := range vendors {
		v := &vendors[i]
		byName[v.Name] = v
		if base := baseURLs[v.Name]; base != "" {
			if err := checkBaseURL(base); err != nil {
				return nil, fmt.Errorf("%s: vendors.%s: %w", modelsPath, v.Name, err)
			}
			v.BaseURL = base
		}
	}
	for i, m := range models {
		path := fmt.Sprintf("%s[%d]", modelsPrefix, i)
		v := byName[m.Vendor]
		if v == nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s: skipping model %q: vendor %q has no credentials in %s",
				modelsPath, path, m.Model, m.Vendor, credentialsPath))
			continue
		}
		if slices.ContainsFunc(v.Models, func(x Model) bool { return x.Name == m.Model }) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s: skipping duplicate model %q of vendor %q",
				modelsPath, path, m.Model, m.Vendor))
			continue
		}
		v.Models = append(v.Models, legacyToModel(m))
	}
	for _, v := range vendors {
		if len(v.Models) == 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: vendor %q has credentials but no models in %s; it gets no traffic",
				credentialsPath, v.Name, modelsPath))
			continue
		}
		c.Vendors = append(c.Vendors, v)
	}
	if len(c.Vendors) == 0 {
		err := fmt.Errorf("%s: no vendor has both credentials and models", c.Source)
		if len(c.Warnings) > 0 {
			// The warnings say why; the caller never sees them on error.
			err = fmt.Errorf("%w (%s)", err, strings.Join(c.Warnings, "; "))
		}
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// readLegacyCredentials returns one vendor per platform, in order of first
// appearance, with its keys in file order.
func readLegacyCredentials(file string, env LookupFunc) ([]Vendor, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if err := unmarshalJSON(data, &entries, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var vendors []Vendor
	sec := newSecrets(env)
	for i, raw := range entries {
		path := fmt.Sprintf("[%d]", i)
		var e legacyCredential
		if err := unmarshalJSON(raw, &e, path); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if e.Type != "api-key" {
			return nil, fmt.Errorf("%s: %s.type: unsupported credential type %q (want api-key)", file, path, e.Type)
		}
		if e.Platform != TypeOpenAI && e.Platform != TypeGemini {
			return nil, fmt.Errorf("%s: %s.platform: unknown platform %q (want openai or gemini)", file, path, e.Platform)
		}
		key, err := expand(e.Value, env)
		if err == nil {
			key, err = sec.open(key)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s.value: %w", file, path, err)
		}
		if key == "" {
			return nil, fmt.Errorf("%s: %s.value: empty key", file, path)
		}
		j := slices.IndexFunc(vendors, func(v Vendor) bool { return v.Name == e.Platform })
		if j < 0 {
			vendors = append(vendors, Vendor{Name: e.Platform, Type: e.Platform})
			j = len(vendors) - 1
		}
		vendors[j].Credentials = append(vendors[j].Credentials, Credential{Key: key})
	}
	return vendors, nil
}

// readLegacyModels accepts both shapes of models.json: a plain list of
// entries, or {"vendors": {name: base URL}, "models": [entries]}. prefix is
// how error paths name the list ("" or "models").
func readLegacyModels(file string) (models []legacyModel, baseURLs map[string]string, prefix string, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, "", err
	}
	var raw []json.RawMessage
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var obj legacyModels
		if err := unmarshalJSON(data, &obj, ""); err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", file, err)
		}
		raw, baseURLs, prefix = obj.Models, obj.Vendors, "models"
	} else if err := unmarshalJSON(data, &raw, ""); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", file, err)
	}
	for i, r := range raw {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		var m legacyModel
		if err := unmarshalJSON(r, &m, path); err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", file, err)
		}
		if m.Vendor == "" {
			return nil, nil, "", fmt.Errorf("%s: %s.vendor: missing", file, path)
		}
		if m.Model == "" {
			return nil, nil, "", fmt.Errorf("%s: %s.model: missing", file, path)
		}
		models = append(models, m)
	}
	return models, baseURLs, prefix, nil
}

// legacyToModel keeps the old semantics: no "config" means the model can do
// everything; with one, an absent flag is false (Go's zero value there).
func legacyToModel(m legacyModel) Model {
	if m.Config == nil {
		return defaultModel(m.Model)
	}
	return Model{
		Name:      m.Model,
		Tools:     m.Config.SupportTools,
		Images:    m.Config.SupportImage,
		Streaming: m.Config.SupportStreaming,
		Video:     m.Config.SupportVideo,
		Embedding: isEmbeddingName(m.Model),
	}
}

// unmarshalJSON rewrites encoding/json's errors so they never quote input
// (a syntax error can show a character of a key), say where the problem is,
// and start with path (an entry's, or "" for the whole file).
func unmarshalJSON(data []byte, v any, path string) error {
	err := json.Unmarshal(data, v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntax):
		// Offset counts the offending byte too.
		line, col := position(data, syntax.Offset-1)
		return fmt.Errorf("invalid JSON at line %d, column %d", line, col)
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ") // "number 5" -> "number"
		if typ.Field != "" && path != "" {
			path += "."
		}
		path += typ.Field
		if path != "" {
			path += ": "
		}
		return fmt.Errorf("%swant %s, got %s", path, jsonKind(typ.Type.Kind().String()), got)
	}
	return errors.New("invalid JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return goKind
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}
