package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// A stream still running when server.shutdown_grace runs out is cut by the
// shutdown; it must end with an in-band error event, never look complete
// and never end without a word, on both engines, and the process exits 0.
func TestShutdownGraceCutsStreamsWithAnError(t *testing.T) {
	for _, engine := range []string{"lean", "net/http"} {
		t.Run(strings.ReplaceAll(engine, "/", "_"), func(t *testing.T) {
			up := fake.Start(t, fake.OpenAI, fake.Options{Chunks: 200, ChunkGap: 50 * time.Millisecond})
			cfg := filepath.Join(t.TempDir(), "genrouter.yaml")
			os.WriteFile(cfg, []byte(fmt.Sprintf("vendors:\n  - type: openai\n    base_url: %s\n    credentials: [sk-x]\n    models: [gpt-4o]\nserver: {shutdown_grace: 300ms, engine: %s}\n", up.URL(), engine)), 0o600)
			p := startProc(t, nil, "--config", cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+p.addr+"/v1/chat/completions",
				strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			p.cmd.Process.Signal(syscall.SIGTERM)
			rest, rerr := io.ReadAll(br)
			t.Logf("read ended after %v: err=%v, tail=%q", time.Since(start), rerr, tail(string(rest)))
			if strings.Contains(string(rest), "[DONE]") {
				t.Fatalf("a stream cut by shutdown looks complete")
			}
			if !strings.Contains(string(rest), `data: {"error"`) {
				t.Errorf("a stream cut by shutdown ends without an in-band error (read error %v)", rerr)
			}
			select {
			case err := <-p.done:
				p.done <- err
				if err != nil {
					t.Errorf("exit: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no exit after the grace period")
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return s[len(s)-300:]
	}
	return s
}
