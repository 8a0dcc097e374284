package gemini

import (
	"net/http"
	"strings"
	"testing"
)

func TestUpstreamError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantCode   string
		wantMsg    string
		wantRetry  string
	}{
		// FirebaseExtended/vertexai-sdk-test-data mock-responses/googleai/unary-failure-api-key.txt,
		// with the key of the DebugInfo detail echoed into the message too.
		{"bad key", 400, nil, `{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key. (AIzaSecret-1)", "status": "INVALID_ARGUMENT",
			"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": {"service": "generativelanguage.googleapis.com"}}, {"@type": "type.googleapis.com/google.rpc.LocalizedMessage",
			"locale": "en-US", "message": "API key not valid. Please pass a valid API key."}, {"@type": "type.googleapis.com/google.rpc.DebugInfo",
			"detail": "Invalid API key: AIzaSecret-1"}]}}`,
			401, "authentication_error", "invalid_api_key", "API key not valid. Please pass a valid API key. ([credential])", ""},
		// google.rpc.RetryInfo; the retryDelay is a Duration, rounded up.
		{"quota with RetryInfo", 429, nil, `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
			"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38.5s"}]}}`,
			429, "rate_limit_error", "resource_exhausted", "You exceeded your current quota.", "39"},
		{"Retry-After header wins", 429, http.Header{"Retry-After": {"5"}}, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED",
			"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}`,
			429, "rate_limit_error", "resource_exhausted", "slow down", "5"},
		// mock-responses/googleai/unary-failure-unknown-model.txt (details abridged)
		{"unknown model", 404, nil, `{"error": {"code": 404, "message": "models/gemini-5.0-flash is not found for API version v1, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", "status": "NOT_FOUND"}}`,
			404, "not_found_error", "not_found", "models/gemini-5.0-flash is not found", ""},
		{"overloaded", 503, nil, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			503, "service_unavailable", "unavailable", "The model is overloaded. Please try again later.", ""},
		{"array form", 500, nil, `[{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}]`,
			500, "server_error", "internal", "An internal error has occurred.", ""},
		{"plain text", 502, nil, `upstream connect error`, 502, "server_error", "", "HTTP 502: upstream connect error", ""},
		{"html", 404, nil, `<html><body>Not Found</body></html>`, 404, "not_found_error", "", "the vendor answered HTTP 404", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := upstreamError(tc.status, tc.header, []byte(tc.body), "AIzaSecret-1")
			code := ""
			if e.Code != nil {
				code = *e.Code
			}
			if e.Status != tc.wantStatus || e.Type != tc.wantType || code != tc.wantCode || !strings.Contains(e.Message, tc.wantMsg) || e.RetryAfter != tc.wantRetry {
				t.Fatalf("got %d %q %q %q retry %q", e.Status, e.Type, code, e.Message, e.RetryAfter)
			}
			if strings.Contains(e.Message, "AIzaSecret-1") {
				t.Fatal("the key leaked")
			}
		})
	}
}

func TestStreamErrorStatus(t *testing.T) {
	if e := streamError([]byte(`{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}`), "k"); e.Status != 429 || e.RetryAfter != "2" {
		t.Errorf("got %v retry %q", e, e.RetryAfter)
	}
	if e := streamError([]byte(`{"code":0,"message":"m"}`), "k"); e.Status != 502 {
		t.Errorf("got %v", e)
	}
	if e := streamError([]byte(`"oops"`), "k"); e.Status != 502 {
		t.Errorf("got %v", e)
	}
}
