package server

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
)

// chiSquareCritical is the value a chi-square statistic with df degrees of
// freedom exceeds with probability 1e-4 (Wilson–Hilferty).
func chiSquareCritical(df int) float64 {
	const z = 3.719
	d := float64(df)
	return d * math.Pow(1-2/(9*d)+z*math.Sqrt(2/(9*d)), 3)
}

// Thousands of requests over 8 combinations (2 vendors of different
// flavours, 2 keys, 2 models) spread evenly: checked with a chi-square test.
func TestEvenDistribution(t *testing.T) {
	a := fake.Start(t, fake.OpenAI, fake.Options{})
	b := fake.Start(t, fake.GeminiCompat, fake.Options{})
	g := startGateway(t, configOf(config.UnknownModelsPool,
		vendorOf("oa", config.TypeOpenAI, a.URL(), []string{"a1", "a2"}, "m1", "m2"),
		vendorOf("gm", config.TypeGemini, b.URL(), []string{"b1", "b2"}, "m3", "m4")))
	const n, workers = 4000, 8
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/workers; i++ {
				resp, err := client.Post(g.URL+"/chat/completions", "application/json",
					strings.NewReader(`{"model":"anything","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				h := resp.Header
				key := h.Get("X-Genrouter-Vendor") + "/" + h.Get("X-Genrouter-Credential") + "/" + h.Get("X-Genrouter-Model")
				mu.Lock()
				counts[key]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(counts) != 8 {
		t.Fatalf("served by %d combinations, want 8: %v", len(counts), counts)
	}
	exp := float64(n) / 8
	var x float64
	for _, c := range counts {
		x += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if crit := chiSquareCritical(7); x > crit {
		t.Errorf("chi-square %.1f > %.1f: not even: %v", x, crit, counts)
	}
	if got := len(a.Requests()) + len(b.Requests()); got != n {
		t.Errorf("vendors saw %d requests, want %d", got, n)
	}
}

func TestVendorAndModelNarrowing(t *testing.T) {
	a := fake.Start(t, fake.OpenAI, fake.Options{})
	b := fake.Start(t, fake.GeminiCompat, fake.Options{})
	g := startGateway(t, configOf(config.UnknownModelsPool,
		vendorOf("oa", config.TypeOpenAI, a.URL(), []string{"a1"}, "gpt-4o", "shared"),
		vendorOf("gm", config.TypeGemini, b.URL(), []string{"b1"}, "gemini-2.0-flash", "shared")))
	tests := []struct {
		query, model string
		vendors      string // the set of vendors that may serve
		models       string
	}{
		{"?vendor=gm", "anything", "gm", "gemini-2.0-flash,shared"},
		{"?vendor=gemini", "anything", "gm", "gemini-2.0-flash,shared"}, // by type
		{"", "gpt-4o", "oa", "gpt-4o"},
		{"", "shared", "gm,oa", "shared"},
		{"?vendor=oa", "shared", "oa", "shared"},
	}
	for _, tt := range tests {
		t.Run(tt.query+" "+tt.model, func(t *testing.T) {
			seenV, seenM := map[string]bool{}, map[string]bool{}
			for i := 0; i < 60; i++ {
				status, h, body := post(t, g.URL+"/chat/completions"+tt.query,
					`{"model":"`+tt.model+`","messages":[{"role":"user","content":"hi"}]}`)
				if status != 200 {
					t.Fatalf("%d %s", status, body)
				}
				seenV[h.Get("X-Genrouter-Vendor")] = true
				seenM[h.Get("X-Genrouter-Model")] = true
				var got struct{ Model string }
				if json.Unmarshal([]byte(body), &got); got.Model != tt.model {
					t.Fatalf("response model %q, want the asked %q", got.Model, tt.model)
				}
			}
			if got := keys(seenV); got != tt.vendors {
				t.Errorf("vendors %s, want %s", got, tt.vendors)
			}
			if got := keys(seenM); got != tt.models {
				t.Errorf("models %s, want %s", got, tt.models)
			}
		})
	}
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out { // tiny: insertion sort keeps imports down
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return strings.Join(out, ",")
}

// A client that goes away must cancel the upstream call at once, before
// the first byte and in the middle of a stream.
func TestClientCancelReachesUpstream(t *testing.T) {
	for _, f := range flavors[:2] {
		t.Run(f.name+"/before first byte", func(t *testing.T) {
			g, up := oneVendor(t, f.flavor, f.typ, false)
			up.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Hang: true} })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := sdk(g).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
					Model: "a", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
				done <- err
			}()
			eventually(t, "the request to reach the vendor", func() bool { return len(up.Requests()) == 1 })
			cancel()
			<-done
			eventually(t, "the vendor to see the cancellation", func() bool { return up.Canceled() == 1 })
			// Logged as nginx would, and not as a failure of the gateway or
			// the vendor: status 499 at level INFO.
			eventually(t, "the request's log line", func() bool { return strings.Contains(g.logs.String(), `"status":499`) })
			for _, line := range strings.Split(g.logs.String(), "\n") {
				if strings.Contains(line, `"status":499`) && !strings.Contains(line, `"level":"INFO"`) {
					t.Errorf("a client that left is logged as %s", line)
				}
			}
		})
		t.Run(f.name+"/mid-stream", func(t *testing.T) {
			up := fake.Start(t, f.flavor, fake.Options{Chunks: 1000, ChunkGap: 5 * time.Millisecond})
			g := startGateway(t, configOf(config.UnknownModelsPool, vendorOf("v", f.typ, up.URL(), []string{"k"}, "m")))
			ctx, cancel := context.WithCancel(context.Background())
			stream := sdk(g).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model: "a", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a long answer please")}})
			for i := 0; i < 3 && stream.Next(); i++ {
			}
			cancel()
			stream.Close()
			eventually(t, "the vendor to see the cancellation", func() bool { return up.Canceled() == 1 })
		})
	}
}

// A stream that breaks after it started ends with an error event, never a
// silent truncation and never a fake [DONE].
func TestStreamBreaksLoudly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fake.Fault
	}{
		{"connection cut", fake.Fault{CutAfter: 2}},
		{"in-stream error", fake.Fault{ErrorEventAfter: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, up := oneVendor(t, fake.OpenAI, config.TypeOpenAI, false)
			f := tc.fault
			up.SetFault(func(*fake.Recorded) *fake.Fault { return &f })
			status, _, body := post(t, g.URL+"/chat/completions", `{"model":"a","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			if strings.Contains(body, "[DONE]") {
				t.Errorf("a broken stream ended with [DONE]:\n%s", body)
			}
			events := strings.Split(strings.TrimSpace(body), "\n\n")
			last := events[len(events)-1]
			if !strings.HasPrefix(last, `data: {"error":`) {
				t.Errorf("last event is not an error: %q", last)
			}
			// The SDK surfaces it as an error, not as a clean end.
			stream := sdk(g).Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: "a", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			for stream.Next() {
			}
			if stream.Err() == nil {
				t.Error("the SDK saw a clean end of a broken stream")
			}
		})
	}
}

// The zero-config mock vendor answers chat, streams and tool calls.
func TestMockVendor(t *testing.T) {
	g := startGateway(t, configOf(config.UnknownModelsPool,
		config.Vendor{Name: "mock", Type: config.TypeMock, Credentials: []config.Credential{{Name: "mock", Weight: 1}},
			Models: []config.Model{{Name: "mock-model", Tools: true, Images: true, Streaming: true}, {Name: "mock-embedding", Embedding: true}}}))
	c := sdk(g)
	got, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello mock")}})
	if err != nil || got.Model != "gpt-4o-mini" || !strings.Contains(got.Choices[0].Message.Content, "hello mock") ||
		!strings.Contains(got.Choices[0].Message.Content, "mock") {
		t.Fatalf("chat: %v %+v", err, got)
	}
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
		Tools: weatherTools, StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices[0].Message.ToolCalls) != 1 || acc.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"mock"}` ||
		acc.Usage.TotalTokens == 0 || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("streamed tool call: %+v usage %+v", acc.Choices[0], acc.Usage)
	}
	emb, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
	if err != nil || len(emb.Data) != 1 || len(emb.Data[0].Embedding) == 0 {
		t.Fatalf("embeddings: %v", err)
	}
}
