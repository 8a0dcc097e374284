package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
)

// The vendor × feature table in docs/vendors.md is produced by probing
// every upstream type through the gateway with the official SDK, so it
// cannot drift: this test fails when the table and reality differ.
// GENROUTER_UPDATE_DOCS=1 rewrites the table instead.
func TestVendorFeatureMatrix(t *testing.T) {
	features := []struct {
		name  string
		probe func(t *testing.T, c *openai.Client) bool
	}{
		{"chat", func(t *testing.T, c *openai.Client) bool {
			r, err := c.Chat.Completions.New(context.Background(), chatParams("ping"))
			return err == nil && strings.Contains(r.Choices[0].Message.Content, "ping")
		}},
		{"stream", func(t *testing.T, c *openai.Client) bool {
			s := c.Chat.Completions.NewStreaming(context.Background(), chatParams("ping"))
			acc := openai.ChatCompletionAccumulator{}
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			return s.Err() == nil && len(acc.Choices) == 1 && strings.Contains(acc.Choices[0].Message.Content, "ping")
		}},
		{"tools", func(t *testing.T, c *openai.Client) bool {
			p := chatParams("weather?")
			p.Tools = weatherTools
			r, err := c.Chat.Completions.New(context.Background(), p)
			return err == nil && r.Choices[0].FinishReason == "tool_calls" && len(r.Choices[0].Message.ToolCalls) == 1
		}},
		{"streamed tools", func(t *testing.T, c *openai.Client) bool {
			p := chatParams("weather and time, in parallel")
			p.Tools = weatherTools
			s := c.Chat.Completions.NewStreaming(context.Background(), p)
			acc := openai.ChatCompletionAccumulator{}
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			return s.Err() == nil && len(acc.Choices) == 1 && len(acc.Choices[0].Message.ToolCalls) == 2 &&
				acc.Choices[0].FinishReason == "tool_calls"
		}},
		{"images", func(t *testing.T, c *openai.Client) bool {
			p := chatParams("")
			p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("look"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: pixel}),
			})}
			r, err := c.Chat.Completions.New(context.Background(), p)
			return err == nil && strings.Contains(r.Choices[0].Message.Content, "(1 images)")
		}},
		{"embeddings", func(t *testing.T, c *openai.Client) bool {
			r, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
				Model: "embed-model", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
			return err == nil && len(r.Data) == 1 && len(r.Data[0].Embedding) > 0
		}},
		{"usage", func(t *testing.T, c *openai.Client) bool {
			r, err := c.Chat.Completions.New(context.Background(), chatParams("ping"))
			if err != nil || r.Usage.TotalTokens == 0 {
				return false
			}
			p := chatParams("ping")
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			s := c.Chat.Completions.NewStreaming(context.Background(), p)
			n := 0
			for s.Next() {
				if ch := s.Current(); ch.Usage.TotalTokens > 0 && len(ch.Choices) == 0 {
					n++
				}
			}
			return s.Err() == nil && n == 1
		}},
		{"reasoning", func(t *testing.T, c *openai.Client) bool {
			p := chatParams("think about it")
			p.ReasoningEffort = "low"
			var raw map[string]any
			_, err := c.Chat.Completions.New(context.Background(), p, optRaw(&raw))
			if err != nil {
				return false
			}
			choices, _ := raw["choices"].([]any)
			if len(choices) == 0 {
				return false
			}
			msg, _ := choices[0].(map[string]any)["message"].(map[string]any)
			rc, _ := msg["reasoning_content"].(string)
			return rc != ""
		}},
	}
	names := []string{"OpenAI", "Gemini (OpenAI-compatible)", "Anthropic", "Gemini (native)", "Azure OpenAI", "OpenAI-compatible"}
	types := []struct {
		flavor fake.Flavor
		typ    string
		api    string
	}{
		{fake.OpenAI, config.TypeOpenAI, ""},
		{fake.GeminiCompat, config.TypeGemini, ""},
		{fake.Anthropic, config.TypeAnthropic, ""},
		{fake.GeminiNative, config.TypeGemini, config.APINative},
		{fake.Azure, config.TypeAzure, ""},
		{fake.OpenAI, config.TypeOpenAICompatible, ""},
	}
	var b strings.Builder
	b.WriteString("| vendor (`type`) |")
	for _, f := range features {
		b.WriteString(" " + f.name + " |")
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(features)) + "\n")
	for i, ty := range types {
		up := fake.Start(t, ty.flavor, fake.Options{})
		v := vendorOf("v", ty.typ, up.URL(), []string{"sk-matrix-key-1"}, "chat-model", "embed-model")
		v.API = ty.api
		g := startGateway(t, configOf(config.UnknownModelsPool, v))
		c := sdk(g)
		label := ty.typ
		if ty.api != "" {
			label += ", api: " + ty.api
		}
		b.WriteString("| " + names[i] + " (`" + label + "`) |")
		for _, f := range features {
			mark := "no"
			if f.probe(t, c) {
				mark = "yes"
			}
			b.WriteString(" " + mark + " |")
		}
		b.WriteString("\n")
	}
	table := b.String()
	path := filepath.Join("..", "..", "docs", "vendors.md")
	doc, _ := os.ReadFile(path)
	const begin, end = "<!-- matrix:begin -->\n", "<!-- matrix:end -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if os.Getenv("GENROUTER_UPDATE_DOCS") != "" {
		if i < 0 || j < 0 {
			t.Fatalf("%s lacks the matrix markers", path)
		}
		out := string(doc[:i+len(begin)]) + table + string(doc[j:])
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if i < 0 || j < 0 || string(doc[i+len(begin):j]) != table {
		t.Errorf("docs/vendors.md is out of date; run GENROUTER_UPDATE_DOCS=1 go test ./internal/server -run Matrix. Measured:\n%s", table)
	}
}

func chatParams(text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "chat-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
}

func optRaw(dst *map[string]any) optionFunc {
	return optResponseBody(dst)
}
