package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/tracing"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A request through the gateway makes a request span and an attempt span
// per upstream try, continues the client's traceparent, and passes it on
// to the vendor.
func TestTracesThroughTheGateway(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(t.Context())
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	n := 0
	up.SetFault(func(*fake.Recorded) *fake.Fault {
		if n++; n == 1 {
			return &fake.Fault{Status: 503} // one failed attempt, then a good one
		}
		return nil
	})
	cfg := configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"sk-trace-secret-1", "sk-trace-secret-2"}, "gpt-4o-mini"))
	srv, err := New(cfg, Options{Tracer: tracing.NewTracer(tp)})
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayWith(t, srv)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", g.URL+"/chat/completions", strings.NewReader(hi))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	spans := exp.GetSpans()
	var request, attempts int
	for _, s := range spans {
		if s.SpanContext.TraceID().String() != traceID {
			t.Errorf("span %q is not in the client's trace", s.Name)
		}
		switch s.SpanKind {
		case trace.SpanKindServer:
			request++
		case trace.SpanKindClient:
			attempts++
			found := false
			for _, a := range s.Attributes {
				found = found || (string(a.Key) == "gen_ai.request.model" && a.Value.AsString() == "gpt-4o-mini")
				if strings.Contains(a.Value.Emit(), "sk-trace-secret") {
					t.Errorf("a key in span attribute %s", a.Key)
				}
			}
			if !found {
				t.Errorf("attempt span lacks the model: %v", s.Attributes)
			}
		}
	}
	if request != 1 || attempts != 2 {
		t.Errorf("%d request and %d attempt spans, want 1 and 2 (%d spans)", request, attempts, len(spans))
	}
	for i, r := range up.Requests() {
		if tp := r.Header.Get("Traceparent"); !strings.Contains(tp, traceID) {
			t.Errorf("upstream request %d traceparent %q", i, tp)
		}
	}
}

// The attempt that served carries the tokens (docs/observability.md:
// "tokens on the attempt that served"), for plain answers and streams,
// and a failed attempt none.
func TestServingAttemptSpanHasTokens(t *testing.T) {
	for _, body := range []string{hi, `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`} {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		up := fake.Start(t, fake.OpenAI, fake.Options{})
		n := 0
		up.SetFault(func(*fake.Recorded) *fake.Fault {
			if n++; n == 1 {
				return &fake.Fault{Status: 503}
			}
			return nil
		})
		srv, err := New(configOf(config.UnknownModelsPool, vendorOf("oa", config.TypeOpenAI, up.URL(), []string{"a", "b"}, "m")),
			Options{Tracer: tracing.NewTracer(tp)})
		if err != nil {
			t.Fatal(err)
		}
		g := startGatewayWith(t, srv)
		req, _ := http.NewRequest("POST", g.URL+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			k, err := resp.Body.Read(buf)
			sb.Write(buf[:k])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		eventually(t, "the request span", func() bool {
			for _, s := range exp.GetSpans() {
				if s.SpanKind == trace.SpanKindServer {
					return true
				}
			}
			return false
		})
		var withTokens, failed, attempts int
		for _, s := range exp.GetSpans() {
			if s.SpanKind != trace.SpanKindClient {
				continue
			}
			attempts++
			tok, errType := false, false
			for _, a := range s.Attributes {
				tok = tok || (a.Key == tracing.AttrInputTokens && a.Value.AsInt64() > 0)
				errType = errType || a.Key == tracing.AttrErrorType
			}
			if tok {
				withTokens++
			}
			if errType {
				failed++
				if tok {
					t.Errorf("a failed attempt carries tokens")
				}
			}
		}
		if attempts != 2 || failed != 1 || withTokens != 1 {
			t.Errorf("stream=%v: %d attempt spans, %d failed, %d with tokens; want 2, 1, 1", strings.Contains(body, "stream"), attempts, failed, withTokens)
		}
		tp.Shutdown(t.Context())
	}
}
