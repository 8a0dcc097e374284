package tracing

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/metrics"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

const secret = "sk-test-SUPERSECRET-0123456789abcdef"

// receiver is an in-process OTLP/HTTP trace receiver.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	res     []*commonpb.KeyValue
	headers http.Header
	raw     []byte
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.Error(w, "not here", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		rc.mu.Lock()
		rc.headers = r.Header.Clone()
		rc.raw = append(rc.raw, b...)
		for _, rs := range req.ResourceSpans {
			rc.res = append(rc.res, rs.GetResource().GetAttributes()...)
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	rc.srv.Listener = l
	rc.srv.Start()
	t.Cleanup(rc.srv.Close)
	return rc
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = v.BoolValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = v.DoubleValue
		}
	}
	return m
}

func TestSpansReachAnOTLPReceiver(t *testing.T) {
	rc := newReceiver(t)
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    rc.srv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":     "authorization=Bearer%20collector-token,x-tenant=t1",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
		"OTEL_RESOURCE_ATTRIBUTES":       "deployment.environment=test",
	}
	ctx := context.Background()
	tp, shutdown, err := Setup(ctx, "genrouter", "v1.2.3", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracer(tp)
	if !tr.Enabled() {
		t.Fatal("tracing should be on")
	}

	// The client's own trace.
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const clientSpan = "00f067aa0ba902b7"
	in := http.Header{}
	in.Set("Traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	rctx, rspan := tr.StartRequest(ctx, in, "POST", "/v1/chat/completions", "req_abc")

	// A failed attempt, then a successful one.
	a1ctx, a1 := tr.StartAttempt(rctx, Attempt{Vendor: "openai", VendorType: "openai", Credential: "team-a", Model: "gpt-4o", Number: 1})
	_ = a1ctx
	EndAttempt(a1, AttemptEnd{Outcome: errclass.VendorRateLimited, Status: 429})
	a2ctx, a2 := tr.StartAttempt(rctx, Attempt{Vendor: "gem", VendorType: "gemini", Credential: "0", Model: "gemini-2.5-flash", Number: 2})
	out := http.Header{}
	Inject(a2ctx, out)
	EndAttempt(a2, AttemptEnd{Outcome: metrics.OutcomeSuccess, Status: 200, PromptTokens: 12, CompletionTokens: 34, CachedTokens: 5})
	EndRequest(rspan, metrics.Request{Vendor: "gem", Credential: "0", Model: "gemini-2.5-flash", Status: 200,
		PromptTokens: 12, CompletionTokens: 34, CachedTokens: 5, Attempts: 2, Stream: true, Cost: 0.002,
		TTFB: 150 * time.Millisecond}, "gpt-4o")

	// The traceparent sent upstream continues the client's trace from the
	// attempt span.
	tp2 := out.Get("Traceparent")
	parts := strings.Split(tp2, "-")
	if len(parts) != 4 || parts[1] != clientTrace || parts[3] != "01" {
		t.Fatalf("upstream traceparent %q does not continue trace %s", tp2, clientTrace)
	}

	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.spans) != 3 {
		t.Fatalf("receiver got %d spans, want 3", len(rc.spans))
	}
	if rc.headers.Get("Authorization") != "Bearer collector-token" || rc.headers.Get("X-Tenant") != "t1" {
		t.Errorf("export headers %v", rc.headers)
	}
	res := attrs(rc.res)
	if res["service.name"] != "genrouter" || res["service.version"] != "v1.2.3" || res["deployment.environment"] != "test" {
		t.Errorf("resource %v", res)
	}
	var req *tracepb.Span
	var atts []*tracepb.Span
	for _, s := range rc.spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			req = s
		} else {
			atts = append(atts, s)
		}
	}
	if req == nil || len(atts) != 2 {
		t.Fatalf("spans: %v", rc.spans)
	}
	if got := hex.EncodeToString(req.TraceId); got != clientTrace {
		t.Errorf("request span trace %s, want the client's %s", got, clientTrace)
	}
	if got := hex.EncodeToString(req.ParentSpanId); got != clientSpan {
		t.Errorf("request span parent %s, want the client's span %s", got, clientSpan)
	}
	if req.Name != "POST /v1/chat/completions" {
		t.Errorf("request span name %q", req.Name)
	}
	ra := attrs(req.Attributes)
	for k, want := range map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gemini-2.5-flash",
		"genrouter.vendor": "gem", "genrouter.credential": "0", "gen_ai.usage.input_tokens": int64(12),
		"gen_ai.usage.output_tokens": int64(34), "gen_ai.usage.cache_read.input_tokens": int64(5),
		"http.response.status_code": int64(200), "genrouter.attempts": int64(2), "genrouter.request_id": "req_abc",
		"http.request.method": "POST", "url.path": "/v1/chat/completions", "genrouter.stream": true,
	} {
		if ra[k] != want {
			t.Errorf("request span %s = %v (%T), want %v", k, ra[k], ra[k], want)
		}
	}
	for _, a := range atts {
		if hex.EncodeToString(a.TraceId) != clientTrace || string(a.ParentSpanId) != string(req.SpanId) {
			t.Errorf("attempt %q is not a child of the request span", a.Name)
		}
		if a.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("attempt %q kind %v", a.Name, a.Kind)
		}
	}
	byName := map[string]*tracepb.Span{}
	for _, a := range atts {
		byName[a.Name] = a
	}
	first, second := byName["chat gpt-4o"], byName["chat gemini-2.5-flash"]
	if first == nil || second == nil {
		t.Fatalf("attempt names: %v", byName)
	}
	fa := attrs(first.Attributes)
	for k, want := range map[string]any{
		"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "genrouter.vendor": "openai",
		"genrouter.credential": "team-a", "genrouter.attempt": int64(1), "error.type": "vendor_rate_limited",
		"http.response.status_code": int64(429),
	} {
		if fa[k] != want {
			t.Errorf("first attempt %s = %v, want %v", k, fa[k], want)
		}
	}
	if first.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("first attempt status %v", first.Status)
	}
	sa := attrs(second.Attributes)
	for k, want := range map[string]any{
		"gen_ai.provider.name": "gcp.gemini", "gen_ai.usage.input_tokens": int64(12), "gen_ai.usage.output_tokens": int64(34),
		"genrouter.credential": "0", "genrouter.attempt": int64(2),
	} {
		if sa[k] != want {
			t.Errorf("second attempt %s = %v, want %v", k, sa[k], want)
		}
	}
	if _, ok := sa["error.type"]; ok {
		t.Error("a successful attempt has error.type")
	}
	if parts[2] != hex.EncodeToString(second.SpanId) {
		t.Errorf("upstream traceparent names span %s, want the attempt's %s", parts[2], hex.EncodeToString(second.SpanId))
	}
}

func TestNewTraceWithoutTraceparent(t *testing.T) {
	rc := newReceiver(t)
	env := map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rc.srv.URL + "/v1/traces"}
	tp, shutdown, err := Setup(context.Background(), "genrouter", "", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracer(tp)
	in := http.Header{}
	in.Set("Traceparent", "garbage")
	_, span := tr.StartRequest(context.Background(), in, "POST", "/v1/embeddings", "r1")
	EndRequest(span, metrics.Request{Operation: metrics.OpEmbeddings, Status: 400, ErrorClass: errclass.ClientBadRequest}, "x")
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.spans) != 1 {
		t.Fatalf("%d spans", len(rc.spans))
	}
	s := rc.spans[0]
	if len(s.ParentSpanId) != 0 {
		t.Error("a garbage traceparent was continued")
	}
	a := attrs(s.Attributes)
	if a["error.type"] != "client_bad_request" || a["gen_ai.operation.name"] != "embeddings" || s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("span %v status %v", a, s.Status)
	}
	if _, ok := a["genrouter.vendor"]; ok {
		t.Error("an unrouted request names a vendor")
	}
}

func TestNoEndpointIsANoOp(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"unset":    {},
		"disabled": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
	} {
		t.Run(name, func(t *testing.T) {
			tp, shutdown, err := Setup(context.Background(), "genrouter", "v0", func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			tr := NewTracer(tp)
			if tr.Enabled() {
				t.Fatal("tracing should be off")
			}
			in := http.Header{}
			in.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			out := http.Header{}
			ctx := context.Background()
			allocs := testing.AllocsPerRun(100, func() {
				rctx, rs := tr.StartRequest(ctx, in, "POST", "/v1/chat/completions", "id")
				actx, as := tr.StartAttempt(rctx, Attempt{Vendor: "v", Credential: "c", Model: "m", Number: 1})
				Inject(actx, out)
				EndAttempt(as, AttemptEnd{Outcome: metrics.OutcomeSuccess})
				EndRequest(rs, metrics.Request{Status: 200}, "m")
			})
			if allocs != 0 {
				t.Errorf("a no-op trace allocates %v times", allocs)
			}
			if len(out) != 0 {
				t.Errorf("no-op tracing injected %v", out)
			}
		})
	}
}

func TestSetupErrors(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"bad endpoint":    {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		"bad sampler":     {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "sometimes"},
		"bad ratio":       {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
		"bad headers":     {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_HEADERS": secret},
		"bad compression": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
	} {
		t.Run(name, func(t *testing.T) {
			tp, shutdown, err := Setup(context.Background(), "genrouter", "", func(k string) string { return env[k] })
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "SUPERSECRET") {
				t.Fatalf("the error shows a header value: %v", err)
			}
			if NewTracer(tp).Enabled() || shutdown(context.Background()) != nil {
				t.Error("a failed Setup should leave a no-op provider")
			}
		})
	}
}

func TestEndpointPath(t *testing.T) {
	for base, want := range map[string]string{
		"http://c:4318":      "http://c:4318/v1/traces",
		"http://c:4318/":     "http://c:4318/v1/traces",
		"https://c/otlp":     "https://c/otlp/v1/traces",
		"https://c/otlp/":    "https://c/otlp/v1/traces",
		"  http://c:4318   ": "http://c:4318/v1/traces",
	} {
		got, err := tracesEndpoint(func(k string) string {
			if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
				return base
			}
			return ""
		})
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", base, got, err, want)
		}
	}
}

func TestUnsampledParentIsNotExported(t *testing.T) {
	rc := newReceiver(t)
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rc.srv.URL}
	tp, shutdown, err := Setup(context.Background(), "genrouter", "", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracer(tp)
	in := http.Header{}
	in.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	rctx, rs := tr.StartRequest(context.Background(), in, "POST", "/v1/chat/completions", "id")
	out := http.Header{}
	Inject(rctx, out)
	EndRequest(rs, metrics.Request{Status: 200}, "m")
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.spans) != 0 {
		t.Errorf("%d spans exported for a trace the client did not sample", len(rc.spans))
	}
	if !strings.HasPrefix(out.Get("Traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(out.Get("Traceparent"), "-00") {
		t.Errorf("upstream traceparent %q", out.Get("Traceparent"))
	}
}
