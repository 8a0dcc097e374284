package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
)

// assertOpenAIError checks an error response is OpenAI-shaped JSON.
func assertOpenAIError(t *testing.T, status int, h http.Header, body string, wantStatus int, wantParam string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d, want %d: %s", status, wantStatus, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	env, ok := parseOpenAIError(body)
	if !ok {
		t.Fatalf("not an OpenAI error body: %s", body)
	}
	for _, k := range []string{`"param"`, `"code"`} {
		if !strings.Contains(body, k) {
			t.Errorf("error body lacks %s: %s", k, body)
		}
	}
	if wantParam != "" && (env.Error.Param == nil || *env.Error.Param != wantParam) {
		t.Errorf("param %v, want %q", env.Error.Param, wantParam)
	}
}

// openAIErrorBody is OpenAI's error envelope.
type openAIErrorBody struct {
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// parseOpenAIError reads body as OpenAI's error envelope; ok when it is one
// with a message and a type.
func parseOpenAIError(body string) (env openAIErrorBody, ok bool) {
	err := json.Unmarshal([]byte(body), &env)
	return env, err == nil && env.Error != nil && env.Error.Message != "" && env.Error.Type != ""
}

func TestGatewayErrors(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	cfg := configOf(config.UnknownModelsReject,
		vendorOf("openai", config.TypeOpenAI, up.URL(), []string{"k"}, "gpt-4o"),
		config.Vendor{Name: "plain", Type: config.TypeMock, Credentials: []config.Credential{{Name: "mock", Weight: 1}},
			Models: []config.Model{{Name: "text-only", Streaming: true}}})
	cfg.Server.MaxBodyBytes = 4096
	g := startGateway(t, cfg)
	base := strings.TrimSuffix(g.URL, "/v1")
	chat := g.URL + "/chat/completions"
	user := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, method, url, body string
		status                  int
		param                   string
	}{
		{"malformed json", "POST", chat, `{"model":`, 400, ""},
		{"not an object", "POST", chat, `[1,2]`, 400, ""},
		{"wrong type", "POST", chat, `{"model":5,` + user + `}`, 400, "model"},
		{"empty body", "POST", chat, ``, 400, ""},
		{"missing messages", "POST", chat, `{"model":"gpt-4o"}`, 400, "messages"},
		{"empty messages", "POST", chat, `{"model":"gpt-4o","messages":[]}`, 400, "messages"},
		{"too large", "POST", chat, `{"model":"gpt-4o",` + user + `,"pad":"` + strings.Repeat("x", 5000) + `"}`, 413, ""},
		{"unknown vendor", "POST", chat + "?vendor=azure", `{"model":"gpt-4o",` + user + `}`, 400, "vendor"},
		{"unknown model rejected", "POST", chat, `{"model":"gpt-9",` + user + `}`, 404, "model"},
		{"missing capability", "POST", chat + "?vendor=plain", `{"model":"text-only","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`, 400, ""},
		{"bad tool", "POST", chat, `{"model":"gpt-4o",` + user + `,"tools":[{"type":"function","function":{"name":"bad name"}}]}`, 400, "tools[0].function.name"},
		{"orphan tool message", "POST", chat, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_x","content":"1"}]}`, 400, "messages[1].tool_call_id"},
		{"embeddings without input", "POST", g.URL + "/embeddings", `{"model":"e"}`, 400, "input"},
		{"unknown path", "GET", base + "/v2/things", ``, 404, ""},
		{"wrong method", "GET", chat, ``, 405, ""},
		{"wrong method on models", "POST", g.URL + "/models", `{}`, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, tt.method, tt.url, tt.body)
			assertOpenAIError(t, status, h, body, tt.status, tt.param)
		})
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d invalid requests reached the vendor", n)
	}
}

func TestUpstreamErrorsKeepStatus(t *testing.T) {
	for _, f := range flavors[:2] {
		t.Run(f.name, func(t *testing.T) {
			g, up := oneVendor(t, f.flavor, f.typ, false)
			up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: 429, RetryAfter: "17"} })
			status, h, body := post(t, g.URL+"/chat/completions", `{"model":"a","messages":[{"role":"user","content":"hi"}]}`)
			assertOpenAIError(t, status, h, body, 429, "")
			if h.Get("Retry-After") != "17" {
				t.Errorf("Retry-After = %q", h.Get("Retry-After"))
			}
			// The official SDK sees a typed error.
			_, err := sdk(g).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "a", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Message == "" {
				t.Errorf("sdk error = %v", err)
			}
		})
	}
}

func TestBadVendorKeyIsNormalised(t *testing.T) {
	for _, f := range flavors[:2] {
		t.Run(f.name, func(t *testing.T) {
			up := fake.Start(t, f.flavor, fake.Options{Keys: map[string]string{"right": "r"}})
			g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", f.typ, up.URL(), []string{"sk-wrong-key-123456"}, "m")))
			status, h, body := post(t, g.URL+"/chat/completions", `{"model":"a","messages":[{"role":"user","content":"hi"}]}`)
			assertOpenAIError(t, status, h, body, 401, "")
			if strings.Contains(body, "sk-wrong-key-123456") || strings.Contains(g.logs.String(), "sk-wrong-key-123456") {
				t.Errorf("the credential leaked: %s", body)
			}
		})
	}
}
