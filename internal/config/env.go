package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// LookupFunc is os.LookupEnv's shape; tests pass a map-backed one. A nil
// LookupFunc means os.LookupEnv.
type LookupFunc func(string) (string, bool)

func (env LookupFunc) orOS() LookupFunc {
	if env == nil {
		return os.LookupEnv
	}
	return env
}

// get returns a variable's value, treating unset and empty alike: an
// exported-but-empty key is as good as no key.
func (env LookupFunc) get(name string) string {
	v, _ := env(name)
	return v
}

// FromEnv builds the zero-config configuration from environment variables:
// OPENAI_API_KEY (with OPENAI_BASE_URL), GEMINI_API_KEY or else
// GOOGLE_API_KEY, GENROUTER_LISTEN. Keys may be comma-separated lists.
// Without any key it returns a mock-only config, so a bare `genrouter serve`
// still answers.
func FromEnv(env LookupFunc) (*Config, error) {
	env = env.orOS()
	c := &Config{Source: "environment", Listen: env.get("GENROUTER_LISTEN")}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return nil, fmt.Errorf("environment: GENROUTER_LISTEN: want host:port (like %s or :8082), got %q", DefaultListen, c.Listen)
		}
	}

	sec := newSecrets(env)
	if keys := splitKeys(env.get("OPENAI_API_KEY")); len(keys) > 0 {
		if err := sec.openEnvKeys(keys, "OPENAI_API_KEY"); err != nil {
			return nil, fmt.Errorf("environment: %w", err)
		}
		v := Vendor{Name: TypeOpenAI, Type: TypeOpenAI, Credentials: keys}
		if base := env.get("OPENAI_BASE_URL"); base != "" {
			// Checked here so the error names the variable, not vendors[0].
			if err := checkBaseURL(base); err != nil {
				return nil, fmt.Errorf("environment: OPENAI_BASE_URL: %w", err)
			}
			v.BaseURL = base
		}
		c.Vendors = append(c.Vendors, v)
	}

	keys, keysVar := splitKeys(env.get("GEMINI_API_KEY")), "GEMINI_API_KEY"
	if len(keys) == 0 {
		keys, keysVar = splitKeys(env.get("GOOGLE_API_KEY")), "GOOGLE_API_KEY"
	}
	if err := sec.openEnvKeys(keys, keysVar); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	if len(keys) > 0 {
		c.Vendors = append(c.Vendors, Vendor{Name: TypeGemini, Type: TypeGemini, Credentials: keys})
	}

	if env.get("OPENAI_BASE_URL") != "" && len(splitKeys(env.get("OPENAI_API_KEY"))) == 0 {
		// Easy to set alone for a local key-less server; say why it does nothing.
		c.Warnings = append(c.Warnings, "OPENAI_BASE_URL is ignored because OPENAI_API_KEY is not set: "+
			"set OPENAI_API_KEY too (any value for a server that needs no key), or use --config with type: openai-compatible")
	}
	if len(c.Vendors) == 0 {
		c.Vendors = []Vendor{{Name: TypeMock, Type: TypeMock}}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// splitKeys turns "k1, k2,,k3" into credentials; names and weights are left
// to Validate.
func splitKeys(s string) []Credential {
	var creds []Credential
	for k := range strings.SplitSeq(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			creds = append(creds, Credential{Key: k})
		}
	}
	return creds
}

// expand replaces ${VAR} with its value from env and $$ with $; any other $
// stays as is. Values are not expanded again, so a key containing "$" is
// safe. Errors never quote s: it may be a key.
func expand(s string, env LookupFunc) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New(`unterminated "${" (write "$$" for a literal "$")`)
			}
			name := s[i+2 : i+2+end]
			if !isVarName(name) {
				// Not echoed: someone may have wrapped a key itself in ${}.
				return "", errors.New(`invalid variable name in "${...}" (want letters, digits and _)`)
			}
			v, ok := env(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

func isVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
