// Package errclass is the closed vocabulary of error classes, and the
// rules that give one to an answer, shared by the router (a circuit's last
// error), metrics, logs, traces, the usage log and the dashboard.
package errclass

import (
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"
)

// Error classes: the one closed vocabulary that metrics, logs, traces, the
// usage log and the dashboard use to say what went wrong and whose fault it
// was. The prefix says whose: client_* the caller's, gateway_* ours,
// vendor_* the upstream vendor's. A successful request has the class "".
//
// Circuits and /health ("last_error") get their vendor_* class from Attempt,
// as the attempts metric does, so both read the same.
const (
	// ClientBadRequest: the request itself is wrong (malformed JSON, a
	// missing or invalid field, invalid tools, an unknown ?vendor= or model,
	// a capability no model has, an unknown path or method).
	ClientBadRequest = "client_bad_request"
	// ClientUnauthorized: a missing, wrong, revoked or expired gateway or
	// admin key, or a key not allowed this model or vendor.
	ClientUnauthorized = "client_unauthorized"
	// ClientRateLimited: the caller's own limits (a virtual key's rpm, tpm
	// or parallel requests) refused the request.
	ClientRateLimited = "client_rate_limited"
	// ClientBudgetExceeded: the caller's daily or monthly budget is spent.
	ClientBudgetExceeded = "client_budget_exceeded"
	// ClientCanceled: the client went away before the answer was complete
	// (logged as status 499).
	ClientCanceled = "client_canceled"
	// ClientTooLarge: the body is over server.max_body_bytes (413).
	ClientTooLarge = "client_too_large"

	// GatewayNoHealthyUpstream: every combination that could serve the
	// request is cooling down or has its circuit open (503).
	GatewayNoHealthyUpstream = "gateway_no_healthy_upstream"
	// GatewayTimeout: the request ran past the gateway's total timeout
	// (routing.timeouts.total, or X-Genrouter-Timeout).
	GatewayTimeout = "gateway_timeout"
	// GatewayOverloaded: shed at server.max_in_flight (503 with Retry-After),
	// or a stream ended by a shutdown whose grace ran out.
	GatewayOverloaded = "gateway_overloaded"
	// GatewayInternal: a bug or a failed dependency of the gateway itself
	// (a panic, an encoding failure, the limiter's Redis when failing closed).
	GatewayInternal = "gateway_internal"

	// VendorRateLimited: the vendor answered 429, or every credential that
	// could serve the request is cooling down after the vendor's 429s.
	VendorRateLimited = "vendor_rate_limited"
	// VendorAuth: the vendor refused the credential (401, 402, 403).
	VendorAuth = "vendor_auth"
	// VendorTimeout: no first byte within routing.timeouts.first_byte, a
	// stream silent past stream_idle, or a vendor's own 408/504.
	VendorTimeout = "vendor_timeout"
	// VendorUnreachable: connecting to the vendor failed (DNS, refused,
	// reset, TLS).
	VendorUnreachable = "vendor_unreachable"
	// VendorServerError: a 5xx from the vendor, or an answer the gateway
	// could not use (malformed, too large).
	VendorServerError = "vendor_server_error"
	// VendorBadRequest: the vendor refused the request as invalid (a 4xx
	// other than 401/402/403/408/429), a content filter included.
	VendorBadRequest = "vendor_bad_request"
	// VendorStreamBroken: the vendor's answer broke off after it started
	// (a cut stream, a truncated body).
	VendorStreamBroken = "vendor_stream_broken"
)

// ErrorClasses lists the whole vocabulary, client_* first, then gateway_*,
// then vendor_*.
var ErrorClasses = [...]string{
	ClientBadRequest, ClientUnauthorized, ClientRateLimited, ClientBudgetExceeded, ClientCanceled, ClientTooLarge,
	GatewayNoHealthyUpstream, GatewayTimeout, GatewayOverloaded, GatewayInternal,
	VendorRateLimited, VendorAuth, VendorTimeout, VendorUnreachable, VendorServerError, VendorBadRequest, VendorStreamBroken,
}

var knownClass = func() map[string]bool {
	m := make(map[string]bool, len(ErrorClasses))
	for _, c := range ErrorClasses {
		m[c] = true
	}
	return m
}()

// IsErrorClass reports whether s is one of ErrorClasses.
func IsErrorClass(s string) bool { return knownClass[s] }

// fixedCodes are error codes only the gateway produces (its router, pool,
// media layer, adapters and server), so they mean the same wherever they
// come from.
var fixedCodes = map[string]string{
	"unknown_vendor":           ClientBadRequest,
	"unsupported_capability":   ClientBadRequest,
	"url_refused":              ClientBadRequest,
	"invalid_content_part":     ClientBadRequest,
	"too_many_images":          ClientBadRequest,
	"media_download_failed":    ClientBadRequest,
	"unsupported_image_type":   ClientBadRequest,
	"invalid_image":            ClientBadRequest,
	"invalid_audio":            ClientBadRequest,
	"invalid_file":             ClientBadRequest,
	"unsupported_file_type":    ClientBadRequest,
	"audio_not_supported":      ClientBadRequest,
	"unsupported_audio_format": ClientBadRequest,
	"media_too_large":          ClientTooLarge,
	"admin_forbidden":          ClientUnauthorized,
	"budget_exceeded":          ClientBudgetExceeded,

	"no_healthy_upstream":  GatewayNoHealthyUpstream,
	"request_timeout":      GatewayTimeout,
	"server_overloaded":    GatewayOverloaded,
	"server_shutting_down": GatewayOverloaded,
	"internal_error":       GatewayInternal,
	"limiter_unavailable":  GatewayInternal,
	"not_ready":            GatewayInternal,
	"reload_unavailable":   GatewayInternal,
	"invalid_config":       GatewayInternal,

	"upstream_timeout":          VendorTimeout,
	"stream_idle_timeout":       VendorTimeout,
	"upstream_unreachable":      VendorUnreachable,
	"bad_upstream_url":          VendorUnreachable,
	"stream_broken":             VendorStreamBroken,
	"stream_truncated":          VendorStreamBroken,
	"stream_error":              VendorStreamBroken,
	"upstream_read_failed":      VendorStreamBroken,
	"upstream_error":            VendorServerError,
	"upstream_too_large":        VendorServerError,
	"upstream_invalid_response": VendorServerError,
	"malformed_function_call":   VendorServerError,
	"content_filter":            VendorBadRequest,
}

// requestCodes are the gateway's own validation codes. Vendors use some of
// the same names, so they mean the client's fault only when the gateway
// refused the request itself (upstream false).
var requestCodes = map[string]string{
	"invalid_json":               ClientBadRequest,
	"invalid_type":               ClientBadRequest,
	"missing_required_parameter": ClientBadRequest,
	"invalid_value":              ClientBadRequest,
	"not_found":                  ClientBadRequest,
	"method_not_allowed":         ClientBadRequest,
	"body_read_failed":           ClientBadRequest,
	"request_too_large":          ClientTooLarge,
	"invalid_api_key":            ClientUnauthorized,
	"rate_limit_exceeded":        ClientRateLimited,
}

// Classify maps what the gateway answered to an error class: the HTTP
// status as answered (499 when the client left), the OpenAI-style error
// code ("" if none), and upstream: whether the error came back from
// dispatching to vendors (router.Do: a vendor's answer, or the router's
// verdict that every combination is cooling down) rather than from the
// gateway refusing the request before dispatch (validation, the caller's
// keys and limits, load shedding). In the server, upstream is true for
// errors dispatch returned and false for the others.
//
// It returns "" for a success: a status below 400 with no code. A stream
// that broke after its 200 header has status 200 and the code of its
// in-band error, so it still gets a class. Status 499 is always
// ClientCanceled. The answer is always "" or one of ErrorClasses.
//
// Some cases need the upstream flag: rate_limit_exceeded is the caller's
// own limit before dispatch (ClientRateLimited) but every credential
// cooling down after the vendor's 429s from the router
// (VendorRateLimited); invalid_api_key is the caller's key before dispatch
// (ClientUnauthorized) but the vendor refusing a credential after it
// (VendorAuth). model_not_found is ClientBadRequest either way: the pool
// answers it for a model nobody serves, and a vendor for a model it does
// not have.
func Classify(status int, code string, upstream bool) string {
	if status == 499 {
		return ClientCanceled
	}
	if code != "" {
		if c, ok := fixedCodes[code]; ok {
			return c
		}
		if code == "model_not_found" {
			return ClientBadRequest
		}
		if !upstream {
			if c, ok := requestCodes[code]; ok {
				return c
			}
		} else if code == "rate_limit_exceeded" {
			return VendorRateLimited
		}
	}
	return byStatus(status, code != "", upstream)
}

// byStatus classifies by HTTP status alone.
func byStatus(status int, hasCode, upstream bool) string {
	if status < 400 {
		if !hasCode {
			return ""
		}
		// An unknown in-band error after a 200: the answer broke.
		if upstream {
			return VendorStreamBroken
		}
		return GatewayInternal
	}
	if upstream {
		switch {
		case status == http.StatusTooManyRequests:
			return VendorRateLimited
		case status == 401 || status == 402 || status == 403:
			return VendorAuth
		case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
			return VendorTimeout
		case status >= 500:
			return VendorServerError
		}
		return VendorBadRequest
	}
	switch {
	case status == 401 || status == 403:
		return ClientUnauthorized
	case status == 402:
		return ClientBudgetExceeded
	case status == http.StatusRequestEntityTooLarge:
		return ClientTooLarge
	case status == http.StatusTooManyRequests:
		return ClientRateLimited
	case status == http.StatusServiceUnavailable:
		return GatewayOverloaded
	case status == http.StatusGatewayTimeout:
		return GatewayTimeout
	case status >= 500:
		return GatewayInternal
	}
	return ClientBadRequest
}

// Attempt is the class of an upstream attempt's error: every error is the
// vendor's (a 404 for a model is VendorBadRequest here, where Classify says
// the client's), except the client leaving and the request's own faults
// found before anything was sent (media refused), which keep their client_*
// class.
func Attempt(e *openai.Error) string {
	code := ""
	if e.Code != nil {
		code = *e.Code
	}
	if e.Status != 499 && code == "model_not_found" {
		return byStatus(e.Status, true, true)
	}
	return Classify(e.Status, code, true)
}
