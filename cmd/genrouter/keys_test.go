package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/store"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

func runKeys(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = keysCmd(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// A negative --expires-in is refused, as the admin API refuses it, instead
// of creating a key that never expires.
func TestKeysCreateRefusesNegativeExpiry(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	code, out, errOut := runKeys("create", "--database", db, "--name", "brief", "--expires-in", "-1h")
	if code == 0 {
		t.Errorf("create --expires-in -1h: exit 0, %s", out)
	}
	if !strings.Contains(errOut, "--expires-in") {
		t.Errorf("stderr does not name the flag: %q", errOut)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if keys, _ := st.ListKeys(context.Background()); len(keys) != 0 {
		t.Errorf("a key was created: %+v", keys[0])
	}
}

// `genrouter keys revoke ID --config FILE`, as the usage text puts the
// common flags after the command, works: flags may follow the id.
func TestKeysRevokeWithFlagsAfterTheID(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := st.CreateKey(ctx, store.KeyParams{Name: "ci"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runKeys("revoke", k.ID, "--database", db); code != 0 || !strings.Contains(out, "revoked "+k.ID) {
		t.Fatalf("revoke ID --database DB: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := runKeys("rotate", k.ID, "--database", db); code != 1 || !strings.Contains(errOut, "revoked") {
		t.Errorf("rotate of the revoked key: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runKeys("revoke", k.ID, "other", "--database", db); code != 2 || !strings.Contains(errOut, "give the key's id") {
		t.Errorf("two ids: exit %d %q", code, errOut)
	}
}

// `genrouter keys revoke` and `rotate` against a fleet with Redis take
// effect at once on a running gateway, as the admin API's do (and as the
// command says), not when the gateway's cached copy of the key expires.
func TestKeysCLIChangesReachRunningGatewaysThroughRedis(t *testing.T) {
	rd := startRedis(t, "")
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	db := filepath.Join(t.TempDir(), "fleet.db")
	cfg := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`vendors:
  - type: openai
    base_url: %s
    credentials: [sk-upstream]
    models: [gpt-4o-mini]
database_url: %q
redis_url: redis://%s/0
`, up.URL(), db, rd.addr)), 0o600)
	const masterKey = "fleet-master-key-0002"
	gw := startProc(t, []string{"GENROUTER_MASTER_KEY=" + masterKey}, "--config", cfg)
	const chat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

	for _, sub := range []string{"revoke", "rotate"} {
		t.Run(sub, func(t *testing.T) {
			code, _, out := gw.postAuth(t, "/admin/keys", masterKey, `{"name":"cli-`+sub+`"}`)
			var k struct{ ID, Key string }
			json.Unmarshal([]byte(out), &k)
			if code != 201 || k.Key == "" {
				t.Fatalf("create: %d %s", code, out)
			}
			if code, _, out := gw.postAuth(t, "/v1/chat/completions", k.Key, chat); code != 200 {
				t.Fatalf("first use: %d %s", code, out)
			}
			used := time.Now() // the gateway now holds the key for a second
			if code, out, errOut := runKeys(sub, k.ID, "--config", cfg); code != 0 {
				t.Fatalf("keys %s: exit %d %q %q", sub, code, out, errOut)
			}
			// Well before the cached copy expires, the old secret is refused.
			for {
				code, _, out := gw.postAuth(t, "/v1/chat/completions", k.Key, chat)
				if code == 401 {
					break
				}
				if time.Since(used) > 800*time.Millisecond {
					t.Fatalf("after keys %s the old secret still works: %d %.120s", sub, code, out)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
