package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/store"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// errorOf reads an OpenAI-shaped error body.
func errorOf(t *testing.T, body string) (code, param string) {
	t.Helper()
	var e struct {
		Error struct {
			Code  string  `json:"code"`
			Param *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an OpenAI-shaped error: %s", body)
	}
	if e.Error.Param != nil {
		param = *e.Error.Param
	}
	return e.Error.Code, param
}

// A filter of /admin/requests that is not understood is refused: dropping
// it would answer every row, the ones the operator asked to leave out too.
func TestAdminRequestsRefusesBadFilters(t *testing.T) {
	g, _, _, usage := fleetGateway(t, nil)
	root := strings.TrimSuffix(g.URL, "/v1")
	call(t, "POST", g.URL+"/chat/completions", master, hi)
	call(t, "POST", g.URL+"/chat/completions", master, `{"model":"gpt-4o","messages":[]}`) // 400
	eventually(t, "usage written", func() bool { return usage.Stats().Written >= 2 })

	for q, param := range map[string]string{
		"status=5xx":  "status",
		"status=abc":  "status",
		"status=42":   "status",
		"limit=ten":   "limit",
		"limit=-1":    "limit",
		"limit=0":     "limit",
		"errors=yes":  "errors",
		"errors=only": "errors",
	} {
		code, _, body := call(t, "GET", root+"/admin/requests?"+q, master, "")
		if code != 400 {
			t.Errorf("?%s: %d %.120s, want 400", q, code, body)
			continue
		}
		if c, p := errorOf(t, body); c != "invalid_value" || p != param {
			t.Errorf("?%s: code %q param %q, want invalid_value %q", q, c, p, param)
		}
	}
	// What is understood still works; a huge limit is the most there is.
	for q, want := range map[string]int{"status=200": 1, "errors=true": 1, "errors=false": 2, "limit=1": 1,
		"limit=99999999999999999999": 2} {
		code, _, body := call(t, "GET", root+"/admin/requests?"+q, master, "")
		var out struct{ Data []store.Usage }
		json.Unmarshal([]byte(body), &out)
		if code != 200 || len(out.Data) != want {
			t.Errorf("?%s: %d, %d rows, want 200 and %d: %s", q, code, len(out.Data), want, body)
		}
	}
}

// A key created already expired would have its secret handed out and then
// refused on first use: creating it is refused instead. A PATCH may still
// end a key's life now.
func TestCreateKeyRefusesExpiryInThePast(t *testing.T) {
	g, _, st, _ := fleetGateway(t, nil)
	root := strings.TrimSuffix(g.URL, "/v1")
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	code, _, body := call(t, "POST", root+"/admin/keys", master, `{"name":"typo","expires_at":"`+past+`"}`)
	if code != 400 {
		t.Fatalf("create with expires_at in the past: %d %s", code, body)
	}
	if c, p := errorOf(t, body); c != "invalid_value" || p != "expires_at" {
		t.Errorf("code %q param %q", c, p)
	}
	if keys, _ := st.ListKeys(context.Background()); len(keys) != 0 {
		t.Errorf("a key was stored: %+v", keys)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	id, secret := createKey(t, g, `{"name":"ok","expires_at":"`+future+`"}`)
	if code, _, body := call(t, "PATCH", root+"/admin/keys/"+id, master, `{"expires_at":"`+past+`"}`); code != 200 {
		t.Fatalf("patch to the past: %d %s", code, body)
	}
	if code, _, body := call(t, "POST", g.URL+"/chat/completions", secret, hi); code != 401 || !strings.Contains(body, "key_expired") {
		t.Errorf("after patch to the past: %d %s", code, body)
	}
}

// An admin body over its 1 MiB limit is 413 request_too_large, as the
// README's error table has it, not a JSON syntax complaint.
func TestAdminBodyTooLarge(t *testing.T) {
	g, _, _, _ := fleetGateway(t, nil)
	root := strings.TrimSuffix(g.URL, "/v1")
	body := `{"name":"big","metadata":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	code, _, out := call(t, "POST", root+"/admin/keys", master, body)
	if code != 413 {
		t.Fatalf("2 MiB body: %d %.200s", code, out)
	}
	if c, _ := errorOf(t, out); c != "request_too_large" {
		t.Errorf("code %q", c)
	}
}

// slowLookups is a store whose KeyByHash, once armed, reads the database
// and then waits before answering: a lookup in flight while the key is
// revoked or rotated.
type slowLookups struct {
	store.Store
	mu      sync.Mutex
	hash    string
	read    chan struct{} // closed once the armed lookup has read
	release chan struct{}
}

func (s *slowLookups) arm(hash string) {
	s.mu.Lock()
	s.hash, s.read, s.release = hash, make(chan struct{}), make(chan struct{})
	s.mu.Unlock()
}

func (s *slowLookups) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	k, err := s.Store.KeyByHash(ctx, hash)
	s.mu.Lock()
	armed := s.hash != "" && s.hash == hash
	read, release := s.read, s.release
	if armed {
		s.hash = ""
	}
	s.mu.Unlock()
	if armed {
		close(read)
		<-release
	}
	return k, err
}

// Revocation, rotation and changes take effect at once, even when a
// request was reading the key from the database at that moment: what it
// read is not cached for the next second.
func TestKeyChangeDuringLookupIsNotUndone(t *testing.T) {
	for _, change := range []string{"revoke", "rotate", "patch"} {
		t.Run(change, func(t *testing.T) {
			st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gr.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			slow := &slowLookups{Store: st}
			up := fake.Start(t, fake.OpenAI, fake.Options{})
			cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"k"}, "gpt-4o-mini", "gpt-4o"))
			srv, err := New(cfg, Options{Store: slow, MasterKey: master, Version: "test"})
			if err != nil {
				t.Fatal(err)
			}
			g := serve(t, srv)
			root := strings.TrimSuffix(g.URL, "/v1")

			id, secret := createKey(t, g, `{"name":"victim"}`)
			slow.arm(store.HashSecret(secret))
			done := make(chan int)
			go func() {
				code, _, _ := call(t, "POST", g.URL+"/chat/completions", secret, hi)
				done <- code
			}()
			<-slow.read // the request has read the key as it was
			var code int
			var body string
			switch change {
			case "revoke":
				code, _, body = call(t, "DELETE", root+"/admin/keys/"+id, master, "")
			case "rotate":
				code, _, body = call(t, "POST", root+"/admin/keys/"+id+"/rotate", master, "")
			case "patch":
				code, _, body = call(t, "PATCH", root+"/admin/keys/"+id, master, `{"allowed_models":["gpt-4o"]}`)
			}
			if code != 200 {
				t.Fatalf("%s: %d %s", change, code, body)
			}
			close(slow.release)
			<-done // in flight before the change: either answer is fine
			code, _, body = call(t, "POST", g.URL+"/chat/completions", secret, hi)
			if code == 200 {
				t.Errorf("after %s the old key still works: %d %.120s", change, code, body)
			}
		})
	}
}
