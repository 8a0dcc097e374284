package errclass

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		status   int
		code     string
		upstream bool
		want     string
	}{
		{200, "", false, ""},
		{200, "", true, ""},
		{499, "", false, ClientCanceled},
		{499, "upstream_timeout", true, ClientCanceled},
		{400, "invalid_json", false, ClientBadRequest},
		{400, "invalid_type", false, ClientBadRequest},
		{400, "missing_required_parameter", false, ClientBadRequest},
		{400, "invalid_value", false, ClientBadRequest},
		{400, "invalid_value", true, VendorBadRequest}, // the vendor said it
		{400, "unknown_vendor", true, ClientBadRequest},
		{400, "unsupported_capability", true, ClientBadRequest},
		{404, "model_not_found", false, ClientBadRequest},
		{404, "model_not_found", true, ClientBadRequest},
		{404, "not_found", false, ClientBadRequest},
		{405, "method_not_allowed", false, ClientBadRequest},
		{413, "request_too_large", false, ClientTooLarge},
		{400, "media_too_large", true, ClientTooLarge},
		{400, "url_refused", true, ClientBadRequest},
		{401, "invalid_api_key", false, ClientUnauthorized},
		{401, "invalid_api_key", true, VendorAuth},
		{403, "admin_forbidden", false, ClientUnauthorized},
		{403, "", true, VendorAuth},
		{402, "", true, VendorAuth},
		{429, "rate_limit_exceeded", false, ClientRateLimited},
		{429, "rate_limit_exceeded", true, VendorRateLimited},
		{429, "budget_exceeded", false, ClientBudgetExceeded},
		{429, "", true, VendorRateLimited},
		{503, "no_healthy_upstream", true, GatewayNoHealthyUpstream},
		{503, "server_overloaded", false, GatewayOverloaded},
		{503, "limiter_unavailable", false, GatewayInternal},
		{504, "request_timeout", true, GatewayTimeout},
		{200, "request_timeout", true, GatewayTimeout}, // in-band on a stream
		{500, "internal_error", false, GatewayInternal},
		{504, "upstream_timeout", true, VendorTimeout},
		{200, "stream_idle_timeout", true, VendorTimeout},
		{502, "upstream_unreachable", true, VendorUnreachable},
		{200, "stream_broken", true, VendorStreamBroken},
		{502, "stream_truncated", true, VendorStreamBroken},
		{502, "upstream_error", true, VendorServerError},
		{502, "malformed_function_call", true, VendorServerError},
		{500, "", true, VendorServerError},
		{529, "overloaded_error", true, VendorServerError},
		{400, "content_filter", true, VendorBadRequest},
		{400, "context_length_exceeded", true, VendorBadRequest},
		{422, "", true, VendorBadRequest},
		{408, "", true, VendorTimeout},
		{200, "something_new", true, VendorStreamBroken},
		{500, "", false, GatewayInternal},
		{504, "", false, GatewayTimeout},
		{418, "", false, ClientBadRequest},
	}
	for _, c := range cases {
		got := Classify(c.status, c.code, c.upstream)
		if got != c.want {
			t.Errorf("Classify(%d, %q, %v) = %q, want %q", c.status, c.code, c.upstream, got, c.want)
		}
	}
	// Every answer is in the vocabulary, whatever the input.
	for s := 0; s < 700; s += 7 {
		for _, code := range []string{"", "x", "rate_limit_exceeded", "stream_broken"} {
			for _, up := range []bool{false, true} {
				if got := Classify(s, code, up); got != "" && !IsErrorClass(got) {
					t.Fatalf("Classify(%d, %q, %v) = %q: not in the vocabulary", s, code, up, got)
				}
			}
		}
	}
}

func TestVocabulary(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range ErrorClasses {
		if seen[c] {
			t.Fatalf("%s listed twice", c)
		}
		seen[c] = true
		if !strings.HasPrefix(c, "client_") && !strings.HasPrefix(c, "gateway_") && !strings.HasPrefix(c, "vendor_") {
			t.Errorf("%s does not say whose fault it is", c)
		}
	}
	for _, c := range fixedCodes {
		if !seen[c] {
			t.Errorf("fixedCodes maps to %q, not in the vocabulary", c)
		}
	}
}
