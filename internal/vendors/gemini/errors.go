package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
)

// googleError is Google's error model (google.rpc.Status as JSON):
// {"error":{"code","message","status","details"}}.
type googleError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []struct {
		Type       string `json:"@type"`
		Reason     string `json:"reason"`
		RetryDelay string `json:"retryDelay"`
	} `json:"details"`
}

// upstreamError normalises a vendor error body to OpenAI's shape, keeping
// the HTTP status and Google's message. A bad key (400 INVALID_ARGUMENT
// with ErrorInfo reason API_KEY_INVALID, as in FirebaseExtended/vertexai-sdk-test-data
// mock-responses/googleai/unary-failure-api-key.txt) becomes 401
// invalid_api_key; RetryInfo's retryDelay becomes Retry-After when the
// response carried none. The credential never gets through, even if echoed.
func upstreamError(status int, h http.Header, body []byte, key string) *openai.Error {
	var g *googleError
	switch raw := bytes.TrimSpace(body); {
	case len(raw) > 0 && raw[0] == '{':
		var env struct {
			Error *googleError `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil {
			g = env.Error
		}
	case len(raw) > 0 && raw[0] == '[': // the array form some Google front ends use
		var env []struct {
			Error *googleError `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil && len(env) > 0 {
			g = env[0].Error
		}
	}
	var e *openai.Error
	if g != nil {
		e = fromGoogle(status, g)
	} else {
		msg := "the vendor answered HTTP " + strconv.Itoa(status)
		if t := strings.TrimSpace(string(body)); t != "" && len(t) < 300 && !strings.Contains(t, "<") {
			msg += ": " + t
		}
		e = openai.NewError(status, openai.TypeForStatus(status), "", "", msg)
	}
	if h != nil && h.Get("Retry-After") != "" {
		e.RetryAfter = h.Get("Retry-After")
	}
	e.Message = vendors.ScrubKey(e.Message, key)
	return e
}

// fromGoogle converts a parsed Google error answered with HTTP status.
func fromGoogle(status int, g *googleError) *openai.Error {
	code := strings.ToLower(g.Status)
	var retry time.Duration
	for _, d := range g.Details {
		if d.Reason == "API_KEY_INVALID" {
			// Gemini says 400 for a bad key; it is an authentication failure.
			status, code = http.StatusUnauthorized, "invalid_api_key"
		}
		if d.RetryDelay != "" {
			retry, _ = time.ParseDuration(d.RetryDelay)
		}
	}
	if g.Status == "RESOURCE_EXHAUSTED" {
		status = http.StatusTooManyRequests
	}
	msg := g.Message
	if msg == "" {
		msg = "the vendor answered HTTP " + strconv.Itoa(status)
	}
	e := openai.NewError(status, openai.TypeForStatus(status), code, "", msg)
	if retry > 0 {
		e.RetryAfter = strconv.Itoa(int((retry + time.Second - 1) / time.Second))
	}
	return e
}

// streamError converts an error object that arrived inside a stream; its
// own code is the status when it is an HTTP error status.
func streamError(raw json.RawMessage, key string) *openai.Error {
	var g googleError
	if json.Unmarshal(raw, &g) != nil {
		return openai.NewError(http.StatusBadGateway, openai.TypeServer, "stream_error", "", "the vendor's stream reported an error")
	}
	status := g.Code
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	e := fromGoogle(status, &g)
	e.Message = vendors.ScrubKey(e.Message, key)
	return e
}

func badGateway(code, msg string) *openai.Error {
	return openai.NewError(http.StatusBadGateway, openai.TypeServer, code, "", msg)
}
