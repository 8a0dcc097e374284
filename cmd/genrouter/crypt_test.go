package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/secret"
)

// cryptEnv is a LookupFunc over vars, so tests never see the real environment.
func cryptEnv(vars ...string) config.LookupFunc {
	m := map[string]string{}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

type cryptResult struct {
	code           int
	stdout, stderr string
}

func runCrypt(t *testing.T, cmd string, env config.LookupFunc, stdin string, args ...string) cryptResult {
	t.Helper()
	var out, errOut bytes.Buffer
	f := encryptCmd
	if cmd == "decrypt" {
		f = decryptCmd
	}
	code := f(args, strings.NewReader(stdin), &out, &errOut, env)
	return cryptResult{code, out.String(), errOut.String()}
}

// noLeak fails if text holds any 8-character piece of a secret.
func noLeak(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(text, s[i:i+8]) {
				t.Fatalf("%s shows part of a secret (%q):\n%s", what, s[i:i+8], text)
			}
		}
	}
}

func TestEncryptDecryptValue(t *testing.T) {
	key := secret.NewKey()
	env := cryptEnv(secret.EnvKey, key)
	const plain = "sk-proj-cli-value-0123456789"

	for name, tc := range map[string]struct {
		stdin string
		args  []string
	}{
		"argument":         {"", []string{plain}},
		"stdin":            {plain + "\n", nil},
		"stdin with -":     {plain + "\r\n", []string{"-"}},
		"after --":         {"", []string{"--", plain}},
		"stdin, no break":  {plain, nil},
		"stdin, two lines": {plain + "\n\n", []string{"-"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCrypt(t, "encrypt", env, tc.stdin, tc.args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, secret.Prefix) || !strings.HasSuffix(r.stdout, "\n") {
				t.Fatalf("encrypt: %+v", r)
			}
			noLeak(t, "encrypt output", r.stdout+r.stderr, plain)
			enc := strings.TrimSpace(r.stdout)
			d := runCrypt(t, "decrypt", env, "", enc)
			if d.code != 0 || d.stdout != plain+"\n" {
				t.Fatalf("decrypt: %+v", d)
			}
			d = runCrypt(t, "decrypt", env, enc+"\n")
			if d.code != 0 || d.stdout != plain+"\n" {
				t.Fatalf("decrypt from stdin: %+v", d)
			}
		})
	}

	t.Run("new key", func(t *testing.T) {
		r := runCrypt(t, "encrypt", cryptEnv(), "", "--new-key")
		if r.code != 0 {
			t.Fatalf("%+v", r)
		}
		if k, err := secret.ParseKey(r.stdout); err != nil || len(k) != secret.KeySize {
			t.Fatalf("--new-key printed an unusable key: %v", err)
		}
	})
}

func TestCryptErrors(t *testing.T) {
	key := secret.NewKey()
	other := secret.NewKey()
	const plain = "sk-proj-error-case-0123456789"
	k, _ := secret.ParseKey(key)
	enc, _ := secret.Encrypt(k, plain)
	badKey := "not-a-key-but-a-passphrase"

	tests := []struct {
		name  string
		cmd   string
		env   config.LookupFunc
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"encrypt without key", "encrypt", cryptEnv(), "", []string{plain}, 1, "GENROUTER_SECRET_KEY is not set"},
		{"decrypt without key", "decrypt", cryptEnv(), "", []string{enc}, 1, "GENROUTER_SECRET_KEY is not set"},
		{"encrypt --config without key", "encrypt", cryptEnv(), "", []string{"--config", "x.yaml"}, 1, "GENROUTER_SECRET_KEY is not set"},
		{"invalid key", "encrypt", cryptEnv(secret.EnvKey, badKey), "", []string{plain}, 1, "GENROUTER_SECRET_KEY: "},
		{"wrong key", "decrypt", cryptEnv(secret.EnvKey, other), "", []string{enc}, 1, "wrong GENROUTER_SECRET_KEY or damaged value"},
		{"damaged", "decrypt", cryptEnv(secret.EnvKey, key), "", []string{enc[:len(enc)-8] + "AAAAAAA="}, 1, "damaged value"},
		{"not encrypted", "decrypt", cryptEnv(secret.EnvKey, key), "", []string{plain}, 1, "not an encrypted value"},
		{"empty value", "encrypt", cryptEnv(secret.EnvKey, key), "\n", nil, 1, "nothing to encrypt"},
		{"already encrypted", "encrypt", cryptEnv(secret.EnvKey, key), "", []string{enc}, 1, "already encrypted"},
		{"missing file", "encrypt", cryptEnv(secret.EnvKey, key), "", []string{"--config", "/nonexistent/x.yaml"}, 1, "no such file"},
		{"two values", "encrypt", cryptEnv(secret.EnvKey, key), "", []string{"a", "b"}, 2, "one VALUE at a time"},
		{"value and --config", "encrypt", cryptEnv(secret.EnvKey, key), "", []string{"--config", "x.yaml", "a"}, 2, "not both"},
		{"--new-key with more", "encrypt", cryptEnv(), "", []string{"--new-key", "a"}, 2, "--new-key takes no other argument"},
		{"--headers alone", "encrypt", cryptEnv(secret.EnvKey, key), "", []string{"--headers", "a"}, 2, "--headers goes with --config"},
		{"unknown flag", "encrypt", cryptEnv(secret.EnvKey, key), "", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"decrypt two values", "decrypt", cryptEnv(secret.EnvKey, key), "", []string{"a", "b"}, 2, "one VALUE at a time"},
		{"decrypt value and --config", "decrypt", cryptEnv(secret.EnvKey, key), "", []string{"--config", "x", "a"}, 2, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCrypt(t, tt.cmd, tt.env, tt.stdin, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d (want %d), stderr lacks %q:\n%s", r.code, tt.code, tt.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout on error: %q", r.stdout)
			}
			noLeak(t, "error", r.stderr, plain, strings.TrimPrefix(enc, secret.Prefix), key, other, badKey)
		})
	}
}

const plainConfig = `# genrouter test config
listen: 127.0.0.1:8082

vendors:
  # the main account
  - name: openai   # primary
    type: openai
    credentials:
      - "${OPENAI_API_KEY}"                    # from the environment
      - sk-proj-plain-first-0123456789abcd     # plain
      - {key: 'sk-it''s-quoted-key-0123456789', name: team-a, weight: 2}

      - key: "sk-double-quoted-key-0123456789"
        name: team-b
    headers: {X-Gateway-Auth: Bearer hdr-secret-0123456789, X-Title: my-app}
    models: [gpt-4o, gpt-4o-mini]
  - {name: gem, type: gemini, credentials: [AIza-gemini-key-0123456789], models: [gemini-2.5-flash]}
  - name: claude
    type: anthropic
    credentials:
      - "sk-ant-$$dollar-key-0123456789"   # $$ is a literal $
routing:
  strategy: even
`

// The plaintext keys of plainConfig, in load order (OPENAI_API_KEY first).
var configKeys = []string{
	"sk-env-key-from-process-0123456789",
	"sk-proj-plain-first-0123456789abcd",
	"sk-it's-quoted-key-0123456789",
	"sk-double-quoted-key-0123456789",
	"AIza-gemini-key-0123456789",
	"sk-ant-$dollar-key-0123456789",
}

func loadedKeys(t *testing.T, path string, env config.LookupFunc) ([]string, *config.Config) {
	t.Helper()
	c, err := config.Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, v := range c.Vendors {
		for _, cr := range v.Credentials {
			keys = append(keys, cr.Key)
		}
	}
	return keys, c
}

func TestEncryptConfigInPlace(t *testing.T) {
	key := secret.NewKey()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(plainConfig), 0o640); err != nil {
		t.Fatal(err)
	}
	env := cryptEnv(secret.EnvKey, key, "OPENAI_API_KEY", configKeys[0])
	before, _ := loadedKeys(t, path, env)
	if strings.Join(before, "\n") != strings.Join(configKeys, "\n") {
		t.Fatalf("test config loads as %q", before)
	}

	r := runCrypt(t, "encrypt", env, "", "--config", path, "--headers")
	if r.code != 0 {
		t.Fatalf("encrypt --config: %+v", r)
	}
	// Progress: one line per credential with its masked key, and a summary.
	for _, want := range []string{
		"vendors[0].credentials[0]", "comes from the environment",
		"vendors[0].credentials[1] ", "sk-…abcd", "vendors[0].credentials[2].key", "vendors[0].headers.X-Gateway-Auth",
		"vendors[1].credentials[0]", "AIz…6789", "vendors[2].credentials[0]",
		"7 encrypted, 0 already encrypted, 1 skipped", "config.yaml.bak",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	noLeak(t, "encrypt output", r.stdout+r.stderr, append(configKeys, key, "hdr-secret-0123456789")...)

	// The backup is the original, readable by the owner only.
	bak, err := os.ReadFile(path + ".bak")
	if err != nil || string(bak) != plainConfig {
		t.Fatalf("backup: %v\n%s", err, bak)
	}
	if fi, _ := os.Stat(path + ".bak"); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("file mode changed to %v", fi.Mode().Perm())
	}

	// Layout kept: every comment and blank line, ${VAR}, the other fields.
	data, _ := os.ReadFile(path)
	got := string(data)
	noLeak(t, "encrypted file", got, append(configKeys[1:], "hdr-secret-0123456789")...)
	origLines, gotLines := strings.Split(plainConfig, "\n"), strings.Split(got, "\n")
	if len(origLines) != len(gotLines) {
		t.Fatalf("line count changed: %d -> %d\n%s", len(origLines), len(gotLines), got)
	}
	for i, l := range origLines {
		if c := strings.Index(l, "#"); c >= 0 && !strings.HasSuffix(gotLines[i], l[c:]) {
			t.Errorf("line %d lost its comment: %q", i+1, gotLines[i])
		}
		if !strings.Contains(l, "sk-") && !strings.Contains(l, "AIza") && !strings.Contains(l, "headers") && l != gotLines[i] {
			t.Errorf("line %d changed: %q -> %q", i+1, l, gotLines[i])
		}
	}
	for _, want := range []string{`- "${OPENAI_API_KEY}"`, "{key: 'enc:v1:", "name: team-a, weight: 2}", `- key: "enc:v1:`, "X-Title: enc:v1:"} {
		if !strings.Contains(got, want) {
			t.Errorf("encrypted file lacks %q:\n%s", want, got)
		}
	}

	// It loads with the key and gives the original keys and headers.
	after, c := loadedKeys(t, path, env)
	if strings.Join(after, "\n") != strings.Join(configKeys, "\n") {
		t.Errorf("encrypted config loads as %q", after)
	}
	if h := c.Vendors[0].Headers; h["X-Gateway-Auth"] != "Bearer hdr-secret-0123456789" || h["X-Title"] != "my-app" {
		t.Errorf("headers %q", h)
	}
	// Without the key it does not, and says why.
	_, err = config.Load(path, cryptEnv("OPENAI_API_KEY", configKeys[0]))
	if err == nil || !strings.Contains(err.Error(), "vendors[0].credentials[1]: value is encrypted but GENROUTER_SECRET_KEY is not set") {
		t.Errorf("load without key: %v", err)
	}

	// Again: nothing left to do, nothing written.
	os.Remove(path + ".bak")
	r = runCrypt(t, "encrypt", env, "", "--config", path, "--headers")
	if r.code != 0 || !strings.Contains(r.stdout, "0 encrypted, 7 already encrypted, 1 skipped; nothing to do") {
		t.Errorf("second run: %+v", r)
	}
	if again, _ := os.ReadFile(path); string(again) != got {
		t.Error("second run changed the file")
	}
	if _, err := os.Stat(path + ".bak"); err == nil {
		t.Error("second run wrote a backup")
	}

	// With another key, encrypted values are an error and nothing changes.
	os.WriteFile(path, []byte(strings.Replace(got, "routing:", "  - {name: extra, type: openai, credentials: [sk-new-plain-key-0123456789]}\nrouting:", 1)), 0o640)
	r = runCrypt(t, "encrypt", cryptEnv(secret.EnvKey, secret.NewKey()), "", "--config", path)
	if r.code != 1 || !strings.Contains(r.stdout, "does not decrypt with this GENROUTER_SECRET_KEY") || !strings.Contains(r.stderr, "the file is unchanged") {
		t.Errorf("other key: %+v", r)
	}
	if _, err := os.Stat(path + ".bak"); err == nil {
		t.Error("failed run wrote a backup")
	}

	// decrypt --config prints the plaintext config and leaves the file alone.
	os.WriteFile(path, []byte(got), 0o640)
	d := runCrypt(t, "decrypt", env, "", "--config", path)
	if d.code != 0 {
		t.Fatalf("decrypt --config: %+v", d)
	}
	if d.stdout != strings.Replace(plainConfig, "X-Gateway-Auth: Bearer hdr-secret-0123456789", `X-Gateway-Auth: "Bearer hdr-secret-0123456789"`, 1) {
		t.Errorf("decrypt --config is not the original:\n%s", d.stdout)
	}
	if now, _ := os.ReadFile(path); string(now) != got {
		t.Error("decrypt --config changed the file")
	}
	d = runCrypt(t, "decrypt", cryptEnv(secret.EnvKey, secret.NewKey()), "", "--config", path)
	if d.code != 1 || !strings.Contains(d.stderr, "config.yaml:10: vendors[0].credentials[1]: wrong GENROUTER_SECRET_KEY") || d.stdout != "" {
		t.Errorf("decrypt --config, wrong key: %+v", d)
	}
}

// Credentials only unless --headers; values that cannot be edited safely
// are reported and left alone; anchors and tags are kept.
func TestEncryptConfigEdgeCases(t *testing.T) {
	key := secret.NewKey()
	env := cryptEnv(secret.EnvKey, key)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	src := "vendors:\n" +
		"  - name: é-vendor   # non-ASCII before the values\n" +
		"    type: openai\n" +
		"    headers: {X-Auth: hdr-secret-0123456789}\n" +
		"    credentials: [ünïcode-key-0123456789, &shared !!str sk-anchored-0123456789]\n" +
		"  - type: gemini\n" +
		"    credentials:\n" +
		"      - |\n" +
		"        sk-block-scalar-0123456789\n" +
		"      - 12345678901234\n"
	os.WriteFile(path, []byte(src), 0o600)
	r := runCrypt(t, "encrypt", env, "", "--config", path)
	if r.code != 0 || !strings.Contains(r.stdout, "3 encrypted, 0 already encrypted, 1 skipped") ||
		!strings.Contains(r.stdout, "vendors[1].credentials[0]") || !strings.Contains(r.stdout, "block scalar") {
		t.Fatalf("%+v", r)
	}
	data, _ := os.ReadFile(path)
	got := string(data)
	for _, want := range []string{"X-Auth: hdr-secret-0123456789", "&shared !!str enc:v1:", "sk-block-scalar-0123456789", "# non-ASCII before the values"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	c, err := config.Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Vendors[0].Credentials; k[0].Key != "ünïcode-key-0123456789" || k[1].Key != "sk-anchored-0123456789" {
		t.Errorf("keys %+v", k)
	}
	if k := c.Vendors[1].Credentials; k[0].Key != "sk-block-scalar-0123456789\n" || k[1].Key != "12345678901234" {
		t.Errorf("keys %+v", k)
	}
	d := runCrypt(t, "decrypt", env, "", "--config", path)
	if d.code != 0 || !strings.Contains(d.stdout, `credentials: [ünïcode-key-0123456789, &shared !!str sk-anchored-0123456789]`) ||
		!strings.Contains(d.stdout, `- "12345678901234"`) {
		t.Errorf("decrypt --config: %+v", d)
	}
}

func TestEncryptLegacyCredentialsInPlace(t *testing.T) {
	key := secret.NewKey()
	env := cryptEnv(secret.EnvKey, key, "SECOND", "sk-second-from-env-0123456789")
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.json")
	models := filepath.Join(dir, "models.json")
	os.WriteFile(creds, []byte(`[
  {"platform": "openai", "type": "api-key", "value": "sk-legacy-first-0123456789"},
  {"platform": "openai", "type": "api-key", "value": "${SECOND}"}
]
`), 0o600)
	os.WriteFile(models, []byte(`[{"vendor": "openai", "model": "gpt-4o"}]`), 0o600)
	r := runCrypt(t, "encrypt", env, "", "--config", creds)
	if r.code != 0 || !strings.Contains(r.stdout, "[0].value") || !strings.Contains(r.stdout, "1 encrypted, 0 already encrypted, 1 skipped") {
		t.Fatalf("%+v", r)
	}
	data, _ := os.ReadFile(creds)
	if strings.Contains(string(data), "sk-legacy-first") || !strings.Contains(string(data), `"value": "enc:v1:`) {
		t.Fatalf("legacy file:\n%s", data)
	}
	c, err := config.LoadLegacy(creds, models, env)
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Vendors[0].Credentials; k[0].Key != "sk-legacy-first-0123456789" || k[1].Key != "sk-second-from-env-0123456789" {
		t.Errorf("keys %+v", k)
	}
}

// The binary end to end: a value through stdin, a config encrypted in
// place, and `genrouter check` on it showing masked keys only.
func TestCryptBinary(t *testing.T) {
	key := secret.NewKey()
	dir := t.TempDir()
	path := filepath.Join(dir, "genrouter.yaml")
	os.WriteFile(path, []byte(plainConfig), 0o600)
	run := func(stdin string, env []string, args ...string) (string, string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}
	withKey := []string{secret.EnvKey + "=" + key, "OPENAI_API_KEY=" + configKeys[0]}

	out, errOut, code := run("sk-from-stdin-0123456789\n", withKey, "encrypt")
	if code != 0 || !strings.HasPrefix(out, secret.Prefix) {
		t.Fatalf("encrypt from stdin: %d %s %s", code, out, errOut)
	}
	if plain, _, code := run(out, withKey, "decrypt", "-"); code != 0 || plain != "sk-from-stdin-0123456789\n" {
		t.Errorf("decrypt: %d %q", code, plain)
	}
	if _, errOut, code := run("x\n", nil, "encrypt"); code != 1 || !strings.Contains(errOut, "GENROUTER_SECRET_KEY is not set") {
		t.Errorf("no key: %d %s", code, errOut)
	}
	if _, _, code := run("", withKey, "encrypt", "a", "b"); code != 2 {
		t.Errorf("usage error exits %d, want 2", code)
	}

	if out, errOut, code := run("", withKey, "encrypt", "--config", path); code != 0 {
		t.Fatalf("encrypt --config: %d %s %s", code, out, errOut)
	}
	out, errOut, code = run("", withKey, "check", "--config", path)
	if code != 0 {
		t.Fatalf("check: %d %s %s", code, out, errOut)
	}
	for _, want := range []string{"sk-…6789", "sk-…abcd", "AIz…6789", "team-a", "OK, 3 vendors"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	data, _ := os.ReadFile(path)
	var ciphertexts []string
	for _, f := range strings.Fields(string(data)) {
		if i := strings.Index(f, secret.Prefix); i >= 0 {
			ciphertexts = append(ciphertexts, strings.Trim(f[i+len(secret.Prefix):], `"',}]`))
		}
	}
	if len(ciphertexts) != 5 {
		t.Fatalf("found %d encrypted values, want 5:\n%s", len(ciphertexts), data)
	}
	noLeak(t, "check output", out+errOut, append(append(ciphertexts, key), configKeys...)...)

	_, errOut, code = run("", []string{secret.EnvKey + "=" + secret.NewKey(), "OPENAI_API_KEY=x"}, "check", "--config", path)
	if code != 1 || !strings.Contains(errOut, "vendors[0].credentials[1]: cannot decrypt: wrong GENROUTER_SECRET_KEY or damaged value") {
		t.Errorf("check with the wrong key: %d %s", code, errOut)
	}
	noLeak(t, "check error", errOut, append(append(ciphertexts, key), configKeys...)...)
}
