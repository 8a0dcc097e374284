package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// redisProc is a redis-server of the test's own, so the test can stop it.
type redisProc struct {
	addr string
	cmd  *exec.Cmd
	dir  string
}

func startRedis(t *testing.T, addr string) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("\n*** fleet tests skipped: redis-server is not installed (.ci/run installs it) ***")
	}
	if addr == "" {
		addr = freePort(t)
	}
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &redisProc{addr: addr, cmd: cmd, dir: dir}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisProc) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// Two gateway processes sharing one Redis and one database enforce one
// limit and one budget for the whole fleet, keep serving when Redis dies,
// and share again when it returns.
func TestFleetSharesLimits(t *testing.T) {
	rd := startRedis(t, "")
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	db := os.Getenv("GENROUTER_TEST_DATABASE_URL")
	if db == "" {
		t.Log("GENROUTER_TEST_DATABASE_URL unset: the two gateways share a SQLite file instead of PostgreSQL")
		db = filepath.Join(t.TempDir(), "fleet.db")
	} else {
		db = freshSchema(t, db)
	}
	cfg := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`vendors:
  - type: openai
    base_url: %s
    credentials: [sk-upstream]
    models: [gpt-4o-mini]
database_url: %q
redis_url: redis://%s/0
prices: {gpt-4o-mini: {input: 20000, output: 20000}}
`, up.URL(), db, rd.addr)), 0o600)
	env := []string{"GENROUTER_MASTER_KEY=" + "fleet-master-key-0001"}
	a := startProc(t, env, "--config", cfg)
	b := startProc(t, env, "--config", cfg)

	admin := func(p *proc, body string) (id, secret string) {
		code, _, out := p.postAuth(t, "/admin/keys", "fleet-master-key-0001", body)
		if code != 201 {
			t.Fatalf("create key: %d %s", code, out)
		}
		var k struct{ ID, Key string }
		json.Unmarshal([]byte(out), &k)
		return k.ID, k.Key
	}
	_, key := admin(a, `{"name":"fleet","rpm":100}`)
	const each = 80
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for _, p := range []*proc{a, b} {
		for i := 0; i < each; i++ {
			wg.Add(1)
			go func(p *proc) {
				defer wg.Done()
				code, _, _ := p.postAuth(t, "/v1/chat/completions", key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}(p)
		}
	}
	wg.Wait()
	if codes[200] != 100 || codes[429] != 2*each-100 {
		t.Fatalf("2 × %d requests on a 100 rpm key: %v, want exactly 100 served", each, codes)
	}

	// A $1 daily budget at a price that makes each request cost a good
	// part of it: spend is shared, so the fleet admits requests while the
	// total is under $1, whichever replica gets them, and then none.
	_, bk := admin(b, `{"name":"budget","budget_daily":1}`)
	var got, want []int
	var cost float64
	for i := 0; i < 8; i++ {
		p := []*proc{a, b}[i%2]
		code, h, body := p.postAuth(t, "/v1/chat/completions", bk, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
		got = append(got, code)
		if i == 0 {
			if _, err := fmt.Sscan(h.Get("X-Genrouter-Cost"), &cost); err != nil || cost <= 0.1 || cost >= 1 {
				t.Fatalf("cost header %q: %s", h.Get("X-Genrouter-Cost"), body)
			}
		}
		if float64(i)*cost < 1 {
			want = append(want, 200)
		} else {
			want = append(want, 429)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("budget across replicas at $%.3f a request: %v, want %v", cost, got, want)
	}

	// A key revoked on one replica is refused by the other at once (the
	// revocation is broadcast, not waited out).
	rid, rk := admin(a, `{"name":"revoke-me"}`)
	if code, _, _ := b.postAuth(t, "/v1/chat/completions", rk, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`); code != 200 {
		t.Fatalf("fresh key on the other replica: %d", code)
	}
	req, _ := http.NewRequest("DELETE", "http://"+a.addr+"/admin/keys/"+rid, nil)
	req.Header.Set("Authorization", "Bearer fleet-master-key-0001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	time.Sleep(50 * time.Millisecond) // pub/sub delivery, well under the cache's second
	if code, _, _ := b.postAuth(t, "/v1/chat/completions", rk, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`); code != 401 {
		t.Errorf("revoked key on the other replica: %d", code)
	}

	// Redis dies: both keep serving on local limits (fail open) and say so.
	rd.stop()
	_, fresh := admin(a, `{"name":"outage","rpm":1000}`)
	for _, p := range []*proc{a, b} {
		code, _, body := p.postAuth(t, "/v1/chat/completions", fresh, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
		if code != 200 {
			t.Errorf("with Redis down: %d %s", code, body)
		}
	}
	health := func(p *proc) string {
		_, _, out := p.get(t, "/health")
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(health(a), `"degraded":true`) {
		if time.Now().After(deadline) {
			t.Fatalf("health does not report Redis down: %s", health(a))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Redis returns: the fleet shares limits again.
	rd2 := startRedis(t, rd.addr)
	defer rd2.stop()
	deadline = time.Now().Add(15 * time.Second)
	for strings.Contains(health(a), `"degraded":true`) || strings.Contains(health(b), `"degraded":true`) {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %s", health(a))
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, small := admin(b, `{"name":"after","rpm":10}`)
	served := 0
	for i := 0; i < 10; i++ {
		for _, p := range []*proc{a, b} {
			if code, _, _ := p.postAuth(t, "/v1/chat/completions", small, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`); code == 200 {
				served++
			}
		}
	}
	if served != 10 {
		t.Errorf("after recovery a 10 rpm key served %d of 20 across the fleet", served)
	}
}

// freshSchema gives the test its own PostgreSQL schema, dropped afterwards.
func freshSchema(t *testing.T, url string) string {
	t.Helper()
	schema := fmt.Sprintf("gr_fleet_%d", time.Now().UnixNano())
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	withSchema := url + sep + "search_path=" + schema
	psql := func(sql string) {
		out, err := exec.Command("psql", url, "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v %s", err, out)
		}
	}
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("psql missing")
	}
	psql("CREATE SCHEMA " + schema)
	t.Cleanup(func() { exec.Command("psql", url, "-c", "DROP SCHEMA "+schema+" CASCADE").Run() })
	return withSchema
}

func TestKeysCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"keys"}, append(args, "--database", db)...)...).CombinedOutput()
		return string(out), err
	}
	// Flags go before the positional id for the standard flag package.
	out, err := run("create", "--name", "ci-bot", "--rpm", "60", "--models", "gpt-4o-mini")
	if err != nil || !strings.HasPrefix(out, "sk-gr-") {
		t.Fatalf("create: %v %s", err, out)
	}
	secret := strings.Fields(out)[0]
	list, err := run("list")
	if err != nil || !strings.Contains(list, "ci-bot") || strings.Contains(list, secret) || !strings.Contains(list, "active") {
		t.Fatalf("list: %v %s", err, list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	rev, err := exec.Command(binary, "keys", "revoke", "--database", db, id).CombinedOutput()
	if err != nil || !strings.Contains(string(rev), "revoked") {
		t.Fatalf("revoke: %v %s", err, rev)
	}
	if list, _ = run("list"); !strings.Contains(list, "revoked") {
		t.Errorf("after revoke: %s", list)
	}
}
