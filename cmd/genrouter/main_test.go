package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/vendors/fake"
	"go.uber.org/goleak"
)

// binary is the genrouter command built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "genrouter-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "genrouter")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		http.DefaultClient.CloseIdleConnections()
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running genrouter process.
type proc struct {
	cmd  *exec.Cmd
	addr string
	logs *strings.Builder
	done chan error
}

// startProc runs genrouter serve with a clean environment plus env, and
// waits until it answers /health.
func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(binary, append([]string{"serve", "--listen", addr}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir() // the default database lands in ./data
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, logs: &strings.Builder{}, done: make(chan error, 1)}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		for l := range lines {
			p.logs.WriteString(l + "\n")
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("genrouter did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) post(t *testing.T, path, body string) (int, http.Header, string) {
	t.Helper()
	return p.postAuth(t, path, "", body)
}

// postAuth posts with a bearer key (none when key is empty).
func (p *proc) postAuth(t *testing.T, path, key, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+p.addr+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	return readAnswer(t, resp, err)
}

func (p *proc) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	return readAnswer(t, resp, err)
}

// readAnswer reads a whole answer: its status, headers and body.
func readAnswer(t *testing.T, resp *http.Response, err error) (int, http.Header, string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// stop sends SIGTERM and returns the exit error and the logs.
func (p *proc) stop(t *testing.T) (error, string) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err, p.logs.String()
	case <-time.After(15 * time.Second):
		t.Fatal("genrouter did not exit after SIGTERM")
		return nil, ""
	}
}

func TestZeroConfigServesMock(t *testing.T) {
	p := startProc(t, nil)
	status, h, body := p.post(t, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`)
	if status != 200 || !strings.Contains(body, "mock") || !strings.Contains(body, `"model":"gpt-4o-mini"`) {
		t.Fatalf("%d %s", status, body)
	}
	if h.Get("X-Genrouter-Vendor") != "mock" {
		t.Errorf("vendor header %q", h.Get("X-Genrouter-Vendor"))
	}
	err, logs := p.stop(t)
	if err != nil {
		t.Errorf("exit: %v", err)
	}
	if !strings.Contains(logs, "MOCKED") {
		t.Errorf("the log does not say answers are mocked:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Errorf("no request log line:\n%s", logs)
	}
}

func TestEnvKeysAndLegacyFiles(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{Keys: map[string]string{"sk-a-1234567890": "a", "sk-b-1234567890": "b"}})
	t.Run("environment", func(t *testing.T) {
		p := startProc(t, []string{"OPENAI_API_KEY=sk-a-1234567890, sk-b-1234567890", "OPENAI_BASE_URL=" + up.URL()})
		seen := map[string]bool{}
		for i := 0; i < 40; i++ {
			status, h, body := p.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			seen[h.Get("X-Genrouter-Credential")] = true
		}
		if len(seen) != 2 {
			t.Errorf("credentials used: %v, want both", seen)
		}
	})
	t.Run("legacy files", func(t *testing.T) {
		dir := t.TempDir()
		creds := filepath.Join(dir, "credentials.json")
		models := filepath.Join(dir, "models.json")
		os.WriteFile(creds, []byte(`[{"platform":"openai","type":"api-key","value":"sk-a-1234567890"},{"platform":"openai","type":"api-key","value":"${SECOND_KEY}"}]`), 0o600)
		os.WriteFile(models, []byte(`{"vendors":{"openai":"`+up.URL()+`"},"models":[{"vendor":"openai","model":"gpt-4o","config":{"support_tools":true,"support_streaming":true}}]}`), 0o600)
		p := startProc(t, []string{"SECOND_KEY=sk-b-1234567890"}, "--credentials", creds, "--models", models)
		status, h, body := p.post(t, "/v1/chat/completions", `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		if status != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") || h.Get("X-Genrouter-Model") != "gpt-4o" {
			t.Fatalf("%d %v %s", status, h, body)
		}
		// support_image is absent from the config object: images are refused.
		status, _, body = p.post(t, "/v1/chat/completions", `{"model":"x","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`)
		if status != 400 || !strings.Contains(body, "images") {
			t.Errorf("image request: %d %s", status, body)
		}
	})
}

// SIGTERM lets a stream in flight finish, then exits 0.
func TestGracefulShutdown(t *testing.T) {
	p, rest, err := streamThenSIGTERM(t, fake.Options{Chunks: 20, ChunkGap: 25 * time.Millisecond}, "")
	if err != nil || !strings.HasSuffix(rest, "data: [DONE]\n\n") {
		t.Fatalf("stream cut by shutdown: %v\n%s", err, rest)
	}
	p.exitsCleanly(t)
	// New connections are refused once it has stopped.
	if _, err := http.Get("http://" + p.addr + "/health"); err == nil {
		t.Error("still accepting after shutdown")
	}
}

// streamThenSIGTERM starts a gateway (config extra appended) in front of a
// fake OpenAI vendor, opens a stream, sends SIGTERM once the stream has
// started, and returns what the stream still said and how its read ended.
func streamThenSIGTERM(t *testing.T, opts fake.Options, extra string) (p *proc, rest string, err error) {
	t.Helper()
	up := fake.Start(t, fake.OpenAI, opts)
	cfg := filepath.Join(t.TempDir(), "genrouter.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("vendors:\n  - type: openai\n    base_url: %s\n    credentials: [sk-x]\n    models: [gpt-4o]\n%s", up.URL(), extra)), 0o600)
	p = startProc(t, nil, "--config", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+p.addr+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil { // the stream has started
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	b, err := io.ReadAll(br)
	return p, string(b), err
}

// exitsCleanly waits for the process to exit, and wants exit code 0.
func (p *proc) exitsCleanly(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after shutdown")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("vendors:\n  - type: openai\n    credentials: [\"${K}\", {key: sk-proj-second-abcd1234, name: team-b}]\n    models: [gpt-4o, gpt-4o-mini]\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("vendors:\n  - type: openai\n    credentials: [\"${MISSING_VAR}\"]\n"), 0o600)

	cmd := exec.Command(binary, "check", "--config", good)
	cmd.Env = []string{"K=sk-proj-first-wxyz9876"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check good: %v\n%s", err, out)
	}
	for _, want := range []string{"gpt-4o-mini", "team-b", "4 combinations", "sk-…9876"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"sk-proj-first-wxyz9876", "sk-proj-second-abcd1234"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("check printed a key:\n%s", out)
		}
	}
	out, err = exec.Command(binary, "check", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "MISSING_VAR") || !strings.Contains(string(out), "bad.yaml") {
		t.Errorf("check bad: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "genrouter ") {
		t.Errorf("version: %v %s", err, out)
	}
}

// SIGHUP and a change of the file reload the config; an invalid one is
// refused and the old one keeps serving.
func TestReload(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	cfg := filepath.Join(t.TempDir(), "genrouter.yaml")
	write := func(model string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf("vendors:\n  - type: openai\n    base_url: %s\n    credentials: [sk-x]\n    models: [%s]\nrouting: {unknown_models: reject}\n", up.URL(), model)), 0o600)
	}
	write("model-a")
	p := startProc(t, nil, "--config", cfg)
	ask := func(model string) int {
		status, _, _ := p.post(t, "/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		return status
	}
	if ask("model-a") != 200 || ask("model-b") != 404 {
		t.Fatal("initial config not in force")
	}
	write("model-b")
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for ask("model-b") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile(cfg, []byte("vendors: [{type: nonsense}]\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if ask("model-b") != 200 {
		t.Error("an invalid config replaced the good one")
	}
	write("model-c") // the file watcher picks this up without a signal
	deadline = time.Now().Add(10 * time.Second)
	for ask("model-c") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the file change was not picked up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, logs := p.stop(t)
	if !strings.Contains(logs, "config reload refused") || !strings.Contains(logs, "config reloaded") {
		t.Errorf("reload logs missing:\n%s", logs)
	}
}

// The help text lists every command a user is told about, bench included,
// and serve's logging flags.
func TestUsageListsEveryCommand(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"help"}, &out, &errb); code != 0 {
		t.Fatalf("help: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"genrouter serve", "genrouter check", "genrouter keys", "genrouter encrypt",
		"genrouter decrypt", "genrouter bench", "genrouter version", "--log-format", "--log-level"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not mention %q:\n%s", want, out.String())
		}
	}
}

// A --listen without a port is refused up front with the same advice as a
// config's listen, not with net.Listen's "missing port in address".
func TestServeListenWithoutHost(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--listen", "8082")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve --listen 8082 succeeded:\n%s", out)
	}
	if want := `--listen: want host:port (like 127.0.0.1:8082 or :8082), got "8082"`; !strings.Contains(string(out), want) {
		t.Errorf("want %q in:\n%s", want, out)
	}
}
