package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/media"

	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/stats"
	"github.com/genrouter/genrouter/internal/tracing"
)

// logExchange writes the one line each request gets. The logger's handler
// is expected to be asynchronous (see cmd/genrouter), so this never waits
// on a disk or a pipe.
func (s *Server) logExchange(r *http.Request, x *exchange) {
	// One status and one duration for the usage row, the metrics and the
	// log line: 499 when the client closed the request, as nginx logs it.
	status, d := x.status, time.Since(x.start)
	if x.clientGone {
		status = 499
	}
	// One error class too, from the closed vocabulary: the usage row, the
	// metrics, the dashboard and the span all name the failure alike.
	class := x.errorClass(status)
	s.settle(r, x, status, d, class)
	s.observe(x, status, d, class)
	level := slog.LevelInfo
	if x.errCode != "" && status >= 500 { // a client leaving (499) is no fault of ours
		level = slog.LevelWarn
	}
	if !s.log.Enabled(context.Background(), level) {
		return // build nothing for a line nobody will read
	}
	attrs := []slog.Attr{
		slog.String("request_id", x.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("model", x.asked),
		slog.Bool("stream", x.stream),
		slog.Float64("latency_ms", ms(d)),
	}
	if c := x.combo; c != nil {
		attrs = append(attrs,
			slog.String("vendor", c.Vendor.Name),
			slog.String("served_model", c.Model.Name),
			slog.String("credential", c.Credential))
	}
	if x.ttfb > 0 {
		attrs = append(attrs, slog.Float64("ttfb_ms", ms(x.ttfb)))
	}
	if x.promptTok > 0 || x.complTok > 0 {
		attrs = append(attrs, slog.Int64("prompt_tokens", x.promptTok), slog.Int64("completion_tokens", x.complTok))
		if x.cachedTok > 0 {
			attrs = append(attrs, slog.Int64("cached_tokens", x.cachedTok))
		}
		attrs = append(attrs, slog.Float64("cost_usd", x.cost))
	}
	if x.attempts > 1 {
		attrs = append(attrs, slog.Int("attempts", x.attempts))
	}
	if c := x.caller; c != nil && c.key != nil {
		attrs = append(attrs, slog.String("key_id", c.key.ID))
	}
	if x.reqBody != nil || x.respBody != nil {
		mask := s.masker(r)
		// image_url.headers and the like are the client's credentials for
		// other hosts: never logged.
		attrs = append(attrs, slog.String("request_body", mask(media.RedactHeaders(x.reqBody))), slog.String("response_body", mask(x.respBody)))
	}
	if x.errCode != "" {
		attrs = append(attrs, slog.String("error", x.errCode))
	}
	if class != "" {
		attrs = append(attrs, slog.String("error_class", class))
	}
	s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// errorClass is the request's class (errclass): "" on success.
func (x *exchange) errorClass(status int) string {
	if x.errCode != "" || status >= 400 {
		return errclass.Classify(status, x.errCode, x.fromDispatch)
	}
	return ""
}

// observe feeds metrics, the dashboard's live stats and the request span.
func (s *Server) observe(x *exchange, status int, d time.Duration, class string) {
	q := metrics.Request{Operation: x.op, Model: x.asked, Status: status, Duration: d, TTFB: x.ttfb,
		Overhead: max(0, d-x.upstream), PromptTokens: x.promptTok, CompletionTokens: x.complTok,
		CachedTokens: x.cachedTok, Cost: x.cost, Attempts: x.attempts, Stream: x.stream, Fallback: x.fallback}
	if c := x.combo; c != nil {
		q.Vendor, q.Credential, q.Model = c.Vendor.Name, c.Credential, c.Model.Name
	}
	q.ErrorClass = class
	s.metrics.Request(q)
	s.stats.Add(stats.Entry{Request: q, Time: x.start, ID: x.id, ModelAsked: x.asked})
	x.endServingAttempt(class)
	if x.caller != nil && x.caller.span != nil {
		tracing.EndRequest(x.caller.span, q, x.asked)
	}
}

// masker hides every configured credential and the caller's own key in a
// logged body (bodies can echo keys: a user pasting one into a prompt).
// Long bodies are cut.
func (s *Server) masker(r *http.Request) func([]byte) string {
	var secrets []string
	for _, v := range s.state.Load().cfg.Vendors {
		for _, c := range v.Credentials {
			if len(c.Key) >= 8 {
				secrets = append(secrets, c.Key)
			}
		}
		for _, h := range v.Headers {
			if len(h) >= 8 {
				secrets = append(secrets, h)
			}
		}
	}
	if k := apiKey(r); len(k) >= 8 {
		secrets = append(secrets, k)
	}
	if len(s.opts.MasterKey) >= 8 {
		secrets = append(secrets, s.opts.MasterKey)
	}
	return func(b []byte) string {
		const limit = 64 << 10
		out := string(b)
		for _, k := range secrets { // before cutting: a cut must not split a key
			out = strings.ReplaceAll(out, k, config.Mask(k))
		}
		if len(out) > limit {
			out = out[:limit] + "…[truncated]"
		}
		return out
	}
}
