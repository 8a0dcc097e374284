// Package tracing sets up OpenTelemetry tracing for the gateway and makes
// its spans: one per client request (kind server, continuing the client's
// W3C traceparent) and one per upstream attempt (kind client, a child of
// the request's), with the GenAI semantic-convention attributes (vendor,
// model, credential name, tokens). Spans never carry keys, prompts or
// completions.
//
// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: spans go over OTLP/HTTP
// (protobuf) through a batch span processor. Otherwise the provider is a
// no-op and every helper here returns at once without allocating.
//
// Wiring, in short:
//
//	tp, shutdown, err := tracing.Setup(ctx, "genrouter", version, os.Getenv)
//	defer shutdown(context.Background()) // flushes spans on exit
//	tr := tracing.NewTracer(tp)
//	// per request:
//	ctx, span := tr.StartRequest(r.Context(), r.Header, r.Method, r.URL.Path, id)
//	defer func() { tracing.EndRequest(span, req, asked) }()
//	// per attempt, inside dispatch's call(actx, c):
//	actx, as := tr.StartAttempt(actx, tracing.Attempt{Vendor: c.Vendor.Name, VendorType: c.Vendor.Type,
//		Credential: c.Credential, Model: c.Model.Name, Number: n})
//	tracing.Inject(actx, upstreamHeader) // traceparent for the vendor
//	tracing.EndAttempt(as, tracing.AttemptEnd{Outcome: metrics.AttemptOutcome(err)})
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/metrics"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Attribute keys. The gen_ai.* ones are the OpenTelemetry GenAI semantic
// conventions'; genrouter.* are the gateway's own.
const (
	AttrOperationName    = attribute.Key("gen_ai.operation.name")
	AttrProviderName     = attribute.Key("gen_ai.provider.name")
	AttrRequestModel     = attribute.Key("gen_ai.request.model")
	AttrResponseModel    = attribute.Key("gen_ai.response.model")
	AttrInputTokens      = attribute.Key("gen_ai.usage.input_tokens")
	AttrOutputTokens     = attribute.Key("gen_ai.usage.output_tokens")
	AttrCacheReadTokens  = attribute.Key("gen_ai.usage.cache_read.input_tokens")
	AttrErrorType        = attribute.Key("error.type")
	AttrHTTPMethod       = attribute.Key("http.request.method")
	AttrHTTPStatus       = attribute.Key("http.response.status_code")
	AttrURLPath          = attribute.Key("url.path")
	AttrRequestID        = attribute.Key("genrouter.request_id")
	AttrVendor           = attribute.Key("genrouter.vendor")
	AttrCredential       = attribute.Key("genrouter.credential") // the credential's name, never its key
	AttrModelAsked       = attribute.Key("genrouter.model_asked")
	AttrAttempt          = attribute.Key("genrouter.attempt")
	AttrAttempts         = attribute.Key("genrouter.attempts")
	AttrStream           = attribute.Key("genrouter.stream")
	AttrFallback         = attribute.Key("genrouter.fallback")
	AttrCostUSD          = attribute.Key("genrouter.cost_usd")
	AttrTimeToFirstByteS = attribute.Key("genrouter.ttfb_seconds")
)

// ScopeName is the instrumentation scope of the gateway's spans.
const ScopeName = "github.com/genrouter/genrouter"

// Setup builds the tracer provider from the environment, read through env
// (os.Getenv in production; a map in tests):
//
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
//     OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"): where to send spans,
//     e.g. http://otel-collector:4318. Neither set: a no-op provider.
//   - OTEL_SDK_DISABLED=true: a no-op provider.
//   - OTEL_EXPORTER_OTLP_[TRACES_]HEADERS: k=v,k2=v2 (values URL-encoded).
//   - OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION: gzip.
//   - OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT: milliseconds per export.
//   - OTEL_SERVICE_NAME overrides serviceName; OTEL_RESOURCE_ATTRIBUTES
//     (k=v,…) adds resource attributes.
//   - OTEL_TRACES_SAMPLER (+ _ARG): always_on, always_off, traceidratio,
//     parentbased_always_on (the default), parentbased_always_off,
//     parentbased_traceidratio.
//
// Certificates, the batch processor's OTEL_BSP_* and the like are read by
// the SDK itself from the process environment.
//
// shutdown flushes the spans still queued and stops the exporter; call it
// once on exit. With a no-op provider it does nothing. Setup does not
// touch OpenTelemetry's globals: pass tp to NewTracer (and to
// otel.SetTracerProvider if a library needs it).
func Setup(ctx context.Context, serviceName, version string, env func(string) string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if env == nil {
		env = func(string) string { return "" }
	}
	endpoint, err := tracesEndpoint(env)
	if err != nil {
		return noop.NewTracerProvider(), none, err
	}
	if endpoint == "" || strings.EqualFold(strings.TrimSpace(env("OTEL_SDK_DISABLED")), "true") {
		return noop.NewTracerProvider(), none, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if h := first(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"); h != "" {
		headers, err := parsePairs(h)
		if err != nil {
			return noop.NewTracerProvider(), none, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %w", err)
		}
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	switch c := first(env, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"); c {
	case "gzip":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	case "", "none":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	default:
		return noop.NewTracerProvider(), none, fmt.Errorf("OTEL_EXPORTER_OTLP_COMPRESSION: %q is not gzip or none", c)
	}
	if t := first(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"); t != "" {
		msv, err := strconv.Atoi(t)
		if err != nil || msv <= 0 {
			return noop.NewTracerProvider(), none, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT: %q is not a number of milliseconds", t)
		}
		opts = append(opts, otlptracehttp.WithTimeout(time.Duration(msv)*time.Millisecond))
	}
	sampler, err := samplerFrom(env)
	if err != nil {
		return noop.NewTracerProvider(), none, err
	}
	res, err := resourceFrom(serviceName, version, env)
	if err != nil {
		return noop.NewTracerProvider(), none, err
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return noop.NewTracerProvider(), none, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
	return sdk, sdk.Shutdown, nil
}

// tracesEndpoint is the URL spans are posted to, "" when none is set.
func tracesEndpoint(env func(string) string) (string, error) {
	if u := strings.TrimSpace(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); u != "" {
		if _, err := checkURL(u); err != nil {
			return "", fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: %w", err)
		}
		return u, nil
	}
	base := strings.TrimSpace(env("OTEL_EXPORTER_OTLP_ENDPOINT"))
	if base == "" {
		return "", nil
	}
	u, err := checkURL(base)
	if err != nil {
		return "", fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String(), nil
}

func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL with a host", s)
	}
	return u, nil
}

func first(env func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(env(n)); v != "" {
			return v
		}
	}
	return ""
}

// parsePairs reads k=v,k2=v2 with URL-encoded values, as the OTLP
// exporter variables spell them.
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for i, p := range strings.Split(s, ",") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// Never echo the entry: it may be a token.
			return nil, fmt.Errorf("entry %d is not key=value", i+1)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("the value of %q is not URL-encoded", k)
		}
		out[k] = dv
	}
	return out, nil
}

func samplerFrom(env func(string) string) (sdktrace.Sampler, error) {
	arg := func() (float64, error) {
		a := strings.TrimSpace(env("OTEL_TRACES_SAMPLER_ARG"))
		if a == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(a, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio between 0 and 1", a)
		}
		return f, nil
	}
	switch s := strings.TrimSpace(env("OTEL_TRACES_SAMPLER")); s {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		f, err := arg()
		if err != nil {
			return nil, err
		}
		if s == "traceidratio" {
			return sdktrace.TraceIDRatioBased(f), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(f)), nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not supported", s)
	}
}

func resourceFrom(serviceName, version string, env func(string) string) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if ra := env("OTEL_RESOURCE_ATTRIBUTES"); strings.TrimSpace(ra) != "" {
		pairs, err := parsePairs(ra)
		if err != nil {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
		for k, v := range pairs {
			attrs = append(attrs, attribute.String(k, v))
		}
	}
	if n := strings.TrimSpace(env("OTEL_SERVICE_NAME")); n != "" {
		serviceName = n
	}
	attrs = append(attrs, semconv.ServiceName(serviceName))
	if version != "" {
		attrs = append(attrs, semconv.ServiceVersion(version))
	}
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...), nil
}

// propagator is W3C Trace Context (traceparent, tracestate).
var propagator = propagation.TraceContext{}

// Tracer makes the gateway's spans. A nil *Tracer, or one over a no-op
// provider, makes none and costs nothing.
type Tracer struct {
	t trace.Tracer
}

// NewTracer returns a Tracer over tp; nil when tp is nil or a no-op
// provider, so callers pay nothing when tracing is off.
func NewTracer(tp trace.TracerProvider) *Tracer {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return nil
	}
	return &Tracer{t: tp.Tracer(ScopeName)}
}

// Enabled reports whether the Tracer records spans.
func (t *Tracer) Enabled() bool { return t != nil }

// StartRequest starts the span of one client request: kind server, named
// "METHOD path", continuing the trace of the W3C traceparent in h when
// there is a valid one. id is the request id. When tracing is off it
// returns ctx and a no-op span.
func (t *Tracer) StartRequest(ctx context.Context, h http.Header, method, path, id string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	ctx = propagator.Extract(ctx, propagation.HeaderCarrier(h))
	return t.t.Start(ctx, method+" "+path, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(AttrHTTPMethod.String(method), AttrURLPath.String(path), AttrRequestID.String(id)))
}

// EndRequest sets what the request's record knows at its end on its span
// and ends it: the operation, the model asked (modelAsked) and served, the
// vendor and credential name, status, error class, tokens, cost and
// attempts. A request with an error class gets status Error.
func EndRequest(span trace.Span, r metrics.Request, modelAsked string) {
	if !span.IsRecording() {
		span.End()
		return
	}
	op := r.Operation
	if op == "" {
		op = metrics.OpChat
	}
	attrs := []attribute.KeyValue{
		AttrOperationName.String(op),
		AttrRequestModel.String(modelAsked),
		AttrModelAsked.String(modelAsked),
		AttrHTTPStatus.Int(r.Status),
		AttrStream.Bool(r.Stream),
		AttrAttempts.Int(r.Attempts),
	}
	if r.Vendor != "" {
		attrs = append(attrs, AttrVendor.String(r.Vendor), AttrCredential.String(r.Credential),
			AttrResponseModel.String(r.Model))
	}
	if r.PromptTokens > 0 || r.CompletionTokens > 0 {
		attrs = append(attrs, AttrInputTokens.Int64(r.PromptTokens), AttrOutputTokens.Int64(r.CompletionTokens))
	}
	if r.CachedTokens > 0 {
		attrs = append(attrs, AttrCacheReadTokens.Int64(r.CachedTokens))
	}
	if r.Cost > 0 {
		attrs = append(attrs, AttrCostUSD.Float64(r.Cost))
	}
	if r.Fallback {
		attrs = append(attrs, AttrFallback.Bool(true))
	}
	if r.TTFB > 0 {
		attrs = append(attrs, AttrTimeToFirstByteS.Float64(r.TTFB.Seconds()))
	}
	if r.ErrorClass != "" {
		attrs = append(attrs, AttrErrorType.String(r.ErrorClass))
		span.SetStatus(codes.Error, r.ErrorClass)
	}
	span.SetAttributes(attrs...)
	span.End()
}

// Attempt names one upstream attempt.
type Attempt struct {
	// Operation is metrics.OpChat (when empty) or metrics.OpEmbeddings.
	Operation string
	// Vendor is the vendor's configured name, VendorType its type (for
	// gen_ai.provider.name), Credential the credential's name (never its
	// key), Model the model sent upstream.
	Vendor, VendorType, Credential, Model string
	// Number counts the request's attempts from 1.
	Number int
}

// StartAttempt starts the span of one upstream attempt, a child of the
// request span in ctx: kind client, named "{operation} {model}" as the
// GenAI conventions name inference spans. When tracing is off it returns
// ctx and a no-op span.
func (t *Tracer) StartAttempt(ctx context.Context, a Attempt) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	op := a.Operation
	if op == "" {
		op = metrics.OpChat
	}
	return t.t.Start(ctx, op+" "+a.Model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		AttrOperationName.String(op),
		AttrProviderName.String(metrics.ProviderName(a.VendorType)),
		AttrRequestModel.String(a.Model),
		AttrVendor.String(a.Vendor),
		AttrCredential.String(a.Credential),
		AttrAttempt.Int(a.Number),
	))
}

// AttemptEnd is how an attempt ended.
type AttemptEnd struct {
	// Outcome is metrics.OutcomeSuccess or an error class
	// (metrics.AttemptOutcome(err) gives either).
	Outcome string
	// Status is the vendor's HTTP status, 0 if none came.
	Status int
	// Token counts, for the successful attempt once its answer is
	// delivered (a stream's usage comes at its end).
	PromptTokens, CompletionTokens, CachedTokens int64
	// ResponseModel is the model the vendor said served, if known.
	ResponseModel string
}

// EndAttempt sets how an attempt ended on its span and ends it. A failed
// attempt gets status Error with its class as error.type.
func EndAttempt(span trace.Span, e AttemptEnd) {
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	if e.Status > 0 {
		attrs = append(attrs, AttrHTTPStatus.Int(e.Status))
	}
	if e.PromptTokens > 0 || e.CompletionTokens > 0 {
		attrs = append(attrs, AttrInputTokens.Int64(e.PromptTokens), AttrOutputTokens.Int64(e.CompletionTokens))
	}
	if e.CachedTokens > 0 {
		attrs = append(attrs, AttrCacheReadTokens.Int64(e.CachedTokens))
	}
	if e.ResponseModel != "" {
		attrs = append(attrs, AttrResponseModel.String(e.ResponseModel))
	}
	if e.Outcome != "" && e.Outcome != metrics.OutcomeSuccess {
		attrs = append(attrs, AttrErrorType.String(e.Outcome))
		span.SetStatus(codes.Error, e.Outcome)
	}
	span.SetAttributes(attrs...)
	span.End()
}

// Inject writes the W3C traceparent (and tracestate) of the span in ctx
// into h, for the request to the vendor. It does nothing when ctx holds no
// valid span context (tracing off). An unsampled span is propagated as
// unsampled, as the client asked.
func Inject(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}
