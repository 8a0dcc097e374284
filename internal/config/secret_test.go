package config

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/secret"
)

// Test keys: one in base64, another (wrong) one in hex.
var (
	secretKeyB64 = secret.NewKey()
	wrongKeyHex  = strings.Repeat("ab", secret.KeySize)
)

func mustEncrypt(t *testing.T, keyText, plain string) string {
	t.Helper()
	k, err := secret.ParseKey(keyText)
	if err != nil {
		t.Fatal(err)
	}
	v, err := secret.Encrypt(k, plain)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEncryptedValuesAreDecrypted(t *testing.T) {
	const (
		k1 = "sk-proj-first-0123456789abcdef"
		k2 = "sk-proj-second-0123456789abcdef"
		hv = "Bearer gw-token-0123456789"
		g1 = "AIza-gemini-0123456789abcdef"
	)
	e1, e2, eh, eg := mustEncrypt(t, secretKeyB64, k1), mustEncrypt(t, secretKeyB64, k2),
		mustEncrypt(t, secretKeyB64, hv), mustEncrypt(t, secretKeyB64, g1)
	dir := t.TempDir()

	t.Run("yaml", func(t *testing.T) {
		path := writeFile(t, dir, "config.yaml", `
vendors:
  - type: openai
    credentials:
      - `+e1+`                          # plain scalar
      - {key: "`+e2+`", name: team-b}   # object form, quoted
      - ${THIRD}                        # via the environment
      - sk-plain-key-kept-as-is
    headers: {X-Gateway-Auth: '`+eh+`', X-Title: genrouter}
`)
		c, err := Load(path, mapEnv(map[string]string{secret.EnvKey: secretKeyB64, "THIRD": eg}))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, cr := range c.Vendors[0].Credentials {
			keys = append(keys, cr.Key)
		}
		if want := []string{k1, k2, g1, "sk-plain-key-kept-as-is"}; strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Errorf("keys %q, want %q", keys, want)
		}
		if h := c.Vendors[0].Headers; h["X-Gateway-Auth"] != hv || h["X-Title"] != "genrouter" {
			t.Errorf("headers %q", h)
		}
		if c.Vendors[0].Credentials[1].Name != "team-b" {
			t.Errorf("name lost: %+v", c.Vendors[0].Credentials[1])
		}
	})

	t.Run("yaml without encrypted values needs no key", func(t *testing.T) {
		path := writeFile(t, dir, "plain.yaml", "vendors: [{type: openai, credentials: [sk-x]}]\n")
		if _, err := Load(path, mapEnv(nil)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("legacy", func(t *testing.T) {
		creds := writeFile(t, dir, "credentials.json", `[
			{"platform": "openai", "type": "api-key", "value": "`+e1+`"},
			{"platform": "openai", "type": "api-key", "value": "${SECOND}"},
			{"platform": "gemini", "type": "api-key", "value": "`+eg+`"}]`)
		models := writeFile(t, dir, "models.json", `[{"vendor": "openai", "model": "gpt-4o"}, {"vendor": "gemini", "model": "gemini-2.5-flash"}]`)
		c, err := LoadLegacy(creds, models, mapEnv(map[string]string{secret.EnvKey: secretKeyB64, "SECOND": e2}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Vendors[0].Credentials; got[0].Key != k1 || got[1].Key != k2 {
			t.Errorf("openai keys %+v", got)
		}
		if got := c.Vendors[1].Credentials; got[0].Key != g1 {
			t.Errorf("gemini keys %+v", got)
		}
	})

	t.Run("env", func(t *testing.T) {
		c, err := FromEnv(mapEnv(map[string]string{
			secret.EnvKey:    hexOf(t, secretKeyB64), // the hex form works as well
			"OPENAI_API_KEY": e1 + ", sk-plain-second-key",
			"GOOGLE_API_KEY": eg,
		}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Vendors[0].Credentials; got[0].Key != k1 || got[1].Key != "sk-plain-second-key" {
			t.Errorf("openai keys %+v", got)
		}
		if got := c.Vendors[1].Credentials; got[0].Key != g1 {
			t.Errorf("gemini keys %+v", got)
		}
	})
}

func hexOf(t *testing.T, b64 string) string {
	t.Helper()
	k, err := secret.ParseKey(b64)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(k)
}

func TestEncryptedValueErrors(t *testing.T) {
	const plain = "sk-proj-secret-value-0123456789"
	enc := mustEncrypt(t, secretKeyB64, plain)
	damaged := enc[:len(enc)-6] + "AAAAA="
	if damaged == enc {
		t.Fatal("damage did nothing")
	}
	dir := t.TempDir()
	yamlWith := func(name, value string) string {
		return writeFile(t, dir, name, "vendors:\n  - type: openai\n    credentials:\n      - sk-first-plain\n      - \""+value+"\"\n")
	}
	legacyWith := func(name, value string) (string, string) {
		return writeFile(t, dir, name, `[{"platform":"openai","type":"api-key","value":"sk-first-plain"},{"platform":"openai","type":"api-key","value":"`+value+`"}]`),
			writeFile(t, dir, "models.json", `[{"vendor":"openai","model":"gpt-4o"}]`)
	}
	noKey := map[string]string{}
	wrongKey := map[string]string{secret.EnvKey: wrongKeyHex}
	goodKey := map[string]string{secret.EnvKey: secretKeyB64}
	badKeyText := "this-is-not-a-valid-key-at-all"
	badKey := map[string]string{secret.EnvKey: badKeyText}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	tests := []struct {
		name string
		load func() error
		want []string
	}{
		{"yaml/missing key", func() error {
			_, err := Load(yamlWith("a.yaml", enc), mapEnv(noKey))
			return err
		}, []string{"a.yaml: vendors[0].credentials[1]: ", "GENROUTER_SECRET_KEY is not set"}},
		{"yaml/wrong key", func() error {
			_, err := Load(yamlWith("config.yaml", enc), mapEnv(wrongKey))
			return err
		}, []string{"config.yaml: vendors[0].credentials[1]: cannot decrypt: wrong GENROUTER_SECRET_KEY or damaged value"}},
		{"yaml/damaged value", func() error {
			_, err := Load(yamlWith("c.yaml", damaged), mapEnv(goodKey))
			return err
		}, []string{"c.yaml: vendors[0].credentials[1]: cannot decrypt: wrong GENROUTER_SECRET_KEY or damaged value"}},
		{"yaml/truncated value", func() error {
			_, err := Load(yamlWith("t.yaml", "enc:v1:AAAA"), mapEnv(goodKey))
			return err
		}, []string{"t.yaml: vendors[0].credentials[1]: cannot decrypt: damaged value"}},
		{"yaml/invalid key", func() error {
			_, err := Load(yamlWith("k.yaml", enc), mapEnv(badKey))
			return err
		}, []string{"k.yaml: vendors[0].credentials[1]: cannot decrypt: GENROUTER_SECRET_KEY: ", "base64", "hex"}},
		{"yaml/object form via variable", func() error {
			p := writeFile(t, dir, "o.yaml", "vendors:\n  - type: openai\n    credentials: [{key: \"${K}\"}]\n")
			_, err := Load(p, mapEnv(with(wrongKey, "K", enc)))
			return err
		}, []string{"o.yaml: vendors[0].credentials[0]: cannot decrypt"}},
		{"yaml/header", func() error {
			p := writeFile(t, dir, "h.yaml", "vendors:\n  - type: openai\n    credentials: [sk-x]\n    headers: {Authorization: \""+enc+"\"}\n")
			_, err := Load(p, mapEnv(wrongKey))
			return err
		}, []string{"h.yaml: vendors[0].headers.Authorization: cannot decrypt"}},
		{"legacy/missing key", func() error {
			c, m := legacyWith("credentials.json", enc)
			_, err := LoadLegacy(c, m, mapEnv(noKey))
			return err
		}, []string{"credentials.json: [1].value: ", "GENROUTER_SECRET_KEY is not set"}},
		{"legacy/wrong key", func() error {
			c, m := legacyWith("credentials.json", enc)
			_, err := LoadLegacy(c, m, mapEnv(wrongKey))
			return err
		}, []string{"credentials.json: [1].value: cannot decrypt: wrong GENROUTER_SECRET_KEY or damaged value"}},
		{"legacy/damaged", func() error {
			c, m := legacyWith("credentials.json", damaged)
			_, err := LoadLegacy(c, m, mapEnv(goodKey))
			return err
		}, []string{"credentials.json: [1].value: cannot decrypt"}},
		{"env/missing key", func() error {
			_, err := FromEnv(mapEnv(map[string]string{"OPENAI_API_KEY": enc}))
			return err
		}, []string{"environment: OPENAI_API_KEY: ", "GENROUTER_SECRET_KEY is not set"}},
		{"env/wrong key, second of a list", func() error {
			_, err := FromEnv(mapEnv(with(wrongKey, "OPENAI_API_KEY", "sk-plain-one,"+enc)))
			return err
		}, []string{"environment: OPENAI_API_KEY[1]: cannot decrypt: wrong GENROUTER_SECRET_KEY"}},
		{"env/gemini", func() error {
			_, err := FromEnv(mapEnv(with(wrongKey, "GEMINI_API_KEY", enc)))
			return err
		}, []string{"environment: GEMINI_API_KEY: cannot decrypt"}},
		{"env/google", func() error {
			_, err := FromEnv(mapEnv(with(badKey, "GOOGLE_API_KEY", enc)))
			return err
		}, []string{"environment: GOOGLE_API_KEY: cannot decrypt: GENROUTER_SECRET_KEY: "}},
		{"validate/still encrypted", func() error {
			c := &Config{Source: "hand-built", Vendors: []Vendor{{Type: TypeOpenAI, Credentials: []Credential{{Key: enc}}}}}
			return c.Validate()
		}, []string{"hand-built: vendors[0].credentials[0]: still encrypted"}},
		{"validate/encrypted twice", func() error {
			twice := mustEncrypt(t, secretKeyB64, enc)
			p := writeFile(t, dir, "twice.yaml", "vendors: [{type: openai, credentials: [\""+twice+"\"]}]\n")
			_, err := Load(p, mapEnv(goodKey))
			return err
		}, []string{"twice.yaml: vendors[0].credentials[0]: still encrypted after loading (encrypted twice?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			wantErr(t, err, tt.want...)
			// Neither the plaintext, nor the ciphertext, nor any key.
			for _, s := range []string{plain, strings.TrimPrefix(enc, secret.Prefix), strings.TrimPrefix(damaged, secret.Prefix),
				secretKeyB64, wrongKeyHex, badKeyText} {
				checkNoSecret(t, err, s)
			}
		})
	}
}
