package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// A reload that drops a vendor closes its adapter's idle connections;
// streams still running on it finish on the old config, and the
// connections they held must be closed when they end, not parked for 90 s
// in a pool nothing will use again.
func TestReloadClosesARetiredVendorsConnectionsWhenTheirStreamsEnd(t *testing.T) {
	old := fake.Start(t, fake.OpenAI, fake.Options{Chunks: 10, ChunkGap: 20 * time.Millisecond})
	next := fake.Start(t, fake.OpenAI, fake.Options{})
	cfgOld := configOf(config.UnknownModelsPool, vendorOf("old", config.TypeOpenAI, old.URL(), []string{"a"}, "m"))
	cfgNext := configOf(config.UnknownModelsPool, vendorOf("next", config.TypeOpenAI, next.URL(), []string{"a"}, "m"))
	g := startGateway(t, cfgOld)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const streams = 8
	var readers [streams]*bufio.Reader
	for i := range readers {
		req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/chat/completions", strings.NewReader(hiStream))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		readers[i] = bufio.NewReader(resp.Body)
		if _, err := readers[i].ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.srv.Load(cfgNext); err != nil {
		t.Fatal(err)
	}
	for _, br := range readers {
		rest, err := io.ReadAll(br)
		if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
			t.Fatalf("a stream in flight did not finish on the old config: %v\n%s", err, rest)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for n := connsTo(t, old.URL()); n > 0; n = connsTo(t, old.URL()) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to the retired vendor stay open after its last stream ended", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connsTo counts the TCP connections to rawURL's port that are still open
// on either side (from /proc/net/tcp: neither TIME_WAIT nor listening).
func connsTo(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip("no /proc/net/tcp")
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] == "06" || f[3] == "0A" {
			continue
		}
		if _, p, ok := strings.Cut(f[2], ":"); ok && p == fmt.Sprintf("%04X", port) {
			n++
		}
	}
	return n
}
