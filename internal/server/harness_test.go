package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/http1"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type gateway struct {
	URL  string // base URL with /v1
	srv  *Server
	logs *syncBuffer
}

// startGateway serves cfg on a loopback port for the length of the test.
func startGateway(t testing.TB, cfg *config.Config) *gateway {
	t.Helper()
	srv, err := New(cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return startGatewayWith(t, srv)
}

// startGatewayWith serves a server built by the test; its log goes to the
// gateway's logs buffer.
func startGatewayWith(t testing.TB, srv *Server) *gateway {
	t.Helper()
	logs := &syncBuffer{}
	srv.log = slog.New(slog.NewJSONHandler(logs, nil))
	url, closeServer := serveHTTP(t, srv.Handler())
	t.Cleanup(func() {
		closeServer()
		srv.Close()
	})
	return &gateway{URL: url + "/v1", srv: srv, logs: logs}
}

// serveHTTP serves h on a loopback port the way `genrouter serve` does:
// through the lean HTTP/1.1 server, or net/http when GENROUTER_TEST_ENGINE
// is net/http (CI runs the suite both ways).
func serveHTTP(t testing.TB, h http.Handler) (url string, closeServer func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("GENROUTER_TEST_ENGINE") == "net/http" {
		hs := httptest.NewUnstartedServer(h)
		hs.Listener.Close()
		hs.Listener = ln
		hs.Start()
		return hs.URL, hs.Close
	}
	hs := &http1.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() { hs.Close() }
}

func vendorOf(name, typ, baseURL string, keys []string, models ...string) config.Vendor {
	v := config.Vendor{Name: name, Type: typ, BaseURL: baseURL}
	for i, k := range keys {
		v.Credentials = append(v.Credentials, config.Credential{Key: k, Name: "k" + string(rune('0'+i)), Weight: 1})
	}
	for _, m := range models {
		v.Models = append(v.Models, config.Model{Name: m, Tools: true, Images: true, Streaming: true,
			Embedding: strings.Contains(m, "embed")})
	}
	return v
}

// configOf builds a validated config; the routing defaults apply unless
// a test sets them before starting the gateway (call Validate again then).
func configOf(unknown string, vs ...config.Vendor) *config.Config {
	c := &config.Config{
		Source:  "test",
		Listen:  "127.0.0.1:0",
		Vendors: vs,
		Routing: config.Routing{Strategy: config.StrategyEven, UnknownModels: unknown},
		Server:  config.Server{MaxBodyBytes: 1 << 20, ShutdownGrace: time.Second},
	}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

func sdk(g *gateway, opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(g.URL), option.WithAPIKey("client-key"), option.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

// post sends a raw JSON body and returns status, headers and body.
func post(t *testing.T, url, body string) (int, http.Header, string) {
	t.Helper()
	return do(t, http.MethodPost, url, body)
}

func do(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func optResponse(dst **http.Response) option.RequestOption { return option.WithResponseInto(dst) }

type optionFunc = option.RequestOption

func optResponseBody(dst any) option.RequestOption { return option.WithResponseBodyInto(dst) }
