package openai

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

// upstreamError normalises a vendor's error body to OpenAI's shape, keeping
// the status and message. It understands OpenAI's object, Gemini's array of
// objects and Google's {code, message, status, details} error, and never
// lets the credential through, even if a vendor echoes it.
func upstreamError(status int, h http.Header, body []byte, key string) *openai.Error {
	var e *openai.Error
	var g googleError
	switch raw := bytes.TrimSpace(body); {
	case len(raw) > 0 && raw[0] == '[':
		var arr []struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(raw, &arr) == nil && len(arr) > 0 {
			e, g = parseErrorObject(status, arr[0].Error)
		}
	case len(raw) > 0 && raw[0] == '{':
		var obj struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(raw, &obj) == nil && len(obj.Error) > 0 {
			e, g = parseErrorObject(status, obj.Error)
		}
	}
	if e == nil {
		msg := "the vendor answered HTTP " + strconv.Itoa(status)
		if t := strings.TrimSpace(string(body)); t != "" && len(t) < 300 && !strings.Contains(t, "<") {
			msg += ": " + t
		}
		e = openai.NewError(status, openai.TypeForStatus(status), "", "", msg)
	}
	e.Message = vendors.ScrubKey(e.Message, key)
	if h != nil {
		e.RetryAfter = retryAfter(h)
		if e.RetryAfter == "" && status == http.StatusTooManyRequests {
			e.RetryAfter = resetAfter(h)
		}
	}
	if e.RetryAfter == "" && g.retryDelay > 0 {
		e.RetryAfter = strconv.Itoa(int((g.retryDelay + time.Second - 1) / time.Second))
	}
	return e
}

type googleError struct {
	retryDelay time.Duration
}

// parseErrorObject reads the inner error object. OpenAI's has string type
// and code; Google's has a numeric code, a status name and details.
func parseErrorObject(status int, raw json.RawMessage) (*openai.Error, googleError) {
	var o struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Param   *string         `json:"param"`
		Code    json.RawMessage `json:"code"`
		Status  string          `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			Reason     string `json:"reason"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	}
	var g googleError
	if json.Unmarshal(raw, &o) != nil {
		return nil, g
	}
	e := &openai.Error{Status: status, Message: o.Message, Type: o.Type, Param: o.Param}
	var code string
	if len(o.Code) > 0 && o.Code[0] == '"' {
		json.Unmarshal(o.Code, &code)
	}
	if o.Status != "" { // Google's error model
		code = strings.ToLower(o.Status)
		for _, d := range o.Details {
			if d.Reason == "API_KEY_INVALID" {
				// Gemini says 400 for a bad key; it is an authentication failure.
				e.Status, code = http.StatusUnauthorized, "invalid_api_key"
			}
			if d.RetryDelay != "" {
				g.retryDelay, _ = time.ParseDuration(d.RetryDelay)
			}
		}
	}
	if e.Type == "" {
		e.Type = openai.TypeForStatus(e.Status)
	}
	if code != "" {
		e.Code = &code
	}
	if e.Message == "" {
		e.Message = "the vendor answered HTTP " + strconv.Itoa(status)
	}
	return e, g
}

// retryAfter reads how long the vendor asked us to wait, in whole seconds.
func retryAfter(h http.Header) string {
	if v := h.Get("Retry-After"); v != "" {
		return v
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return strconv.Itoa(int((ms + 999) / 1000))
		}
	}
	return ""
}

// resetAfter reads OpenAI's x-ratelimit-reset-requests/-tokens ("1s",
// "6m0s", "20ms") for a 429 that came without Retry-After: the longer of
// the two exhausted limits decides.
func resetAfter(h http.Header) string {
	var wait time.Duration
	for _, kind := range [...]string{"requests", "tokens"} {
		if h.Get("X-Ratelimit-Remaining-"+kind) != "0" {
			continue
		}
		if d, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-" + kind)); err == nil && d > wait {
			wait = d
		}
	}
	if wait <= 0 {
		return ""
	}
	return strconv.Itoa(int((wait + time.Second - 1) / time.Second))
}
