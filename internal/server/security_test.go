package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// A body nested deeper than any request needs is refused with a 400 in
// OpenAI's (or Anthropic's) shape. Validating it must not recurse once per
// level: at the default max_body_bytes (32 MiB) a body of "[" alone would
// overflow the goroutine stack, a fatal error that takes the whole gateway
// down, not a recoverable panic.
func TestDeeplyNestedBodyIsRefused(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"k"}, "gpt-4o-mini"))
	cfg.Server.MaxBodyBytes = config.DefaultMaxBodyBytes
	g := startGateway(t, cfg)
	deep := bytes.Repeat([]byte("["), 16<<20)
	for _, c := range []struct {
		path, body string
		shape      func(string) bool
	}{
		{"/chat/completions", `{"model":"gpt-4o-mini","messages":` + string(deep), openAIShaped},
		{"/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"x":` +
			strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, openAIShaped},
		{"/messages/count_tokens", `{"model":"gpt-4o-mini","messages":` + string(deep), anthropicShaped},
		{"/messages/count_tokens", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":` +
			strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, anthropicShaped},
	} {
		code, h, body := post(t, g.URL+c.path, c.body)
		if code != http.StatusBadRequest || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || !c.shape(body) {
			t.Errorf("%s, %d bytes nested: %d %s %.300s", c.path, len(c.body), code, h.Get("Content-Type"), body)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d nested requests reached the vendor", n)
	}
	// The gateway is still there, and ordinary nesting still works.
	if code, _, body := post(t, g.URL+"/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"x":`+
		strings.Repeat("[", 500)+strings.Repeat("]", 500)+`}`); code != 200 {
		t.Errorf("after: %d %s", code, body)
	}
}

func openAIShaped(body string) bool {
	_, ok := parseOpenAIError(body)
	return ok && strings.Contains(body, `"param":`) && strings.Contains(body, `"code":`)
}

func anthropicShaped(body string) bool {
	var e struct {
		Type  string `json:"type"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	return json.Unmarshal([]byte(body), &e) == nil && e.Type == "error" && e.Error != nil && e.Error.Message != ""
}

// A virtual key limited to some models cannot reach others through
// routing.fallbacks: a fallback the key may not use is skipped, as if it
// were not configured, on every endpoint that routes.
func TestFallbacksKeepToTheKeysModels(t *testing.T) {
	g, up, _, _ := fleetGateway(t, func(c *config.Config) {
		c.Routing.Fallbacks = map[string][]string{"gpt-4o-mini": {"gpt-4o"}}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	// gpt-4o-mini always fails; gpt-4o (the fallback) would answer.
	failMini := func() {
		up.Reset()
		up.SetFault(func(r *fake.Recorded) *fake.Fault {
			if r.Model == "gpt-4o-mini" {
				return &fake.Fault{Status: 503}
			}
			return nil
		})
	}
	_, narrow := createKey(t, g, `{"name":"mini-only","allowed_models":["gpt-4o-mini"]}`)
	_, both := createKey(t, g, `{"name":"both","allowed_models":["gpt-4o-mini","gpt-4o"]}`)
	mini := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	miniMessages := `{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

	for _, c := range []struct{ path, body string }{{"/chat/completions", mini}, {"/messages", miniMessages}} {
		failMini()
		code, h, body := call(t, "POST", g.URL+c.path, narrow, c.body)
		if code == 200 || h.Get("X-Genrouter-Fallback") != "" {
			t.Errorf("%s: a key allowed only gpt-4o-mini was served by fallback %q: %d %s", c.path, h.Get("X-Genrouter-Fallback"), code, body)
		}
		for _, r := range up.Requests() {
			if r.Model != "gpt-4o-mini" {
				t.Errorf("%s: the vendor was asked for %q on behalf of a key allowed only gpt-4o-mini", c.path, r.Model)
			}
		}
	}
	// A key allowed the fallback still gets it, and so does the master key.
	for _, key := range []string{both, master} {
		if code, h, body := call(t, "POST", g.URL+"/chat/completions", key, mini); code != 200 || h.Get("X-Genrouter-Fallback") != "gpt-4o" {
			t.Errorf("fallback for an allowed key: %d %q %s", code, h.Get("X-Genrouter-Fallback"), body)
		}
	}
}

// image_url.headers are the client's credentials for the image's host:
// README promises they are never logged, and server.log_bodies masks
// "every credential".
func TestLogBodiesMaskImageHeaders(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	v := vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-vendor-0001"}, "gpt-4o-mini")
	v.InlineImages = "never" // the vendor fetches: no download is needed for the test
	cfg := configOf(config.UnknownModelsPool, v)
	cfg.Server.LogBodies = true
	g := startGateway(t, cfg)
	const secret = "Bearer img-host-token-5f1e9c2a"
	for _, part := range []string{
		`{"type":"image_url","image_url":{"url":"https://images.example/a.png","headers":{"Authorization":"` + secret + `"}}}`,
		`{"type":"image_url","image_url":{"url":"https://images.example/b.png","headers":{"X-Token":"` + secret + `","Cookie":"c=` + secret + `"}}}`,
		// A repeated key: encoding/json (and so the gateway) takes the last.
		`{"type":"image_url","image_url":{"url":"https://images.example/c.png","headers":{"X-A":"` + secret + `"},"headers":{"X-B":"` + secret + `"}}}`,
	} {
		body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},` + part + `]}]}`
		if code, _, out := post(t, g.URL+"/chat/completions", body); code != 200 {
			t.Fatalf("%d %s", code, out)
		}
	}
	logs := g.logs.String()
	if !strings.Contains(logs, "what is this") || !strings.Contains(logs, "images.example") {
		t.Fatalf("bodies not logged: %s", logs)
	}
	if strings.Contains(logs, "img-host-token-5f1e9c2a") {
		t.Errorf("an image_url header value reached the log: %s", logs)
	}
	for _, r := range up.Requests() {
		if bytes.Contains(r.Body, []byte("img-host-token")) {
			t.Errorf("an image_url header value reached the vendor: %s", r.Body)
		}
	}
}

// The model list shows a virtual key only what it may use: the models
// outside its allow-lists are neither listed nor found by id.
func TestModelListKeepsToTheKey(t *testing.T) {
	g, _, _, _ := fleetGateway(t, nil) // vendor "oa" (type openai): gpt-4o-mini, gpt-4o
	_, narrow := createKey(t, g, `{"name":"mini-only","allowed_models":["gpt-4o-mini"]}`)
	_, elsewhere := createKey(t, g, `{"name":"gemini-only","allowed_vendors":["gemini"]}`)
	code, _, body := call(t, "GET", g.URL+"/models", narrow, "")
	if code != 200 || !strings.Contains(body, `"gpt-4o-mini"`) || strings.Contains(body, `"gpt-4o"`) {
		t.Errorf("list for a key allowed gpt-4o-mini: %d %s", code, body)
	}
	if code, _, body := call(t, "GET", g.URL+"/models/gpt-4o", narrow, ""); code != 404 || !openAIShaped(body) {
		t.Errorf("a model the key may not use, by id: %d %s", code, body)
	}
	if code, _, body := call(t, "GET", g.URL+"/models/gpt-4o-mini", narrow, ""); code != 200 {
		t.Errorf("a model the key may use, by id: %d %s", code, body)
	}
	if code, _, body := call(t, "GET", g.URL+"/models", elsewhere, ""); code != 200 || strings.Contains(body, "gpt-4o") {
		t.Errorf("list for a key allowed only vendor gemini: %d %s", code, body)
	}
	// The master key sees everything.
	if code, _, body := call(t, "GET", g.URL+"/models", master, ""); code != 200 || !strings.Contains(body, `"gpt-4o"`) {
		t.Errorf("list for the master key: %d %s", code, body)
	}
}
