package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
)

// OpenAI takes up to 2048 inputs a request; Gemini embeds at most 100 at a
// time on both its APIs. A client of the gateway must not see the
// difference: every input comes back, in order, indexed as sent.
func TestEmbeddingsBeyondGeminiBatchLimit(t *testing.T) {
	for _, f := range []struct {
		name string
		api  string
		fl   fake.Flavor
	}{{"gemini", "", fake.GeminiCompat}, {"gemini-native", config.APINative, fake.GeminiNative}} {
		t.Run(f.name, func(t *testing.T) {
			up := fake.Start(t, f.fl, fake.Options{})
			v := vendorOf("v", config.TypeGemini, up.URL(), []string{"k"}, "gemini-2.5-flash", "gemini-embedding-001")
			v.API = f.api
			g := startGateway(t, configOf(config.UnknownModelsPool, v))
			inputs := make([]string, 250)
			for i := range inputs {
				inputs[i] = fmt.Sprintf("document %d", i)
			}
			for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
				res, err := sdk(g).Embeddings.New(context.Background(), openai.EmbeddingNewParams{
					Model:          "gemini-embedding-001",
					Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
					Dimensions:     openai.Int(4),
					EncodingFormat: format,
				})
				if err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				if len(res.Data) != len(inputs) || res.Model != "gemini-embedding-001" || res.Usage.PromptTokens <= 0 {
					t.Fatalf("%s: %d embeddings for %d inputs, model %q, usage %+v", format, len(res.Data), len(inputs), res.Model, res.Usage)
				}
				for i, d := range res.Data {
					want := fake.Vector(inputs[i], 4)
					if d.Index != int64(i) || len(d.Embedding) != 4 || float32(d.Embedding[0]) != want[0] || float32(d.Embedding[3]) != want[3] {
						t.Fatalf("%s: data[%d] = index %d %v, want the embedding of %q %v", format, i, d.Index, d.Embedding, inputs[i], want)
					}
				}
			}
		})
	}
}

// A credential's tpm counts what an embeddings request really used, as it
// does for chat: the estimate taken before sending (body/4 plus room for an
// answer) is corrected once the usage is known.
func TestEmbeddingsCorrectCredentialTPM(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{})
	v := vendorOf("v", config.TypeOpenAI, up.URL(), []string{"k"}, "text-embedding-3-small")
	v.Credentials[0].TPM = 1000
	g := startGateway(t, configOf(config.UnknownModelsPool, v))
	// Each request uses 1 token; the estimate is ~265. Ten of them use 10
	// of the 1000 tokens a minute.
	for i := range 10 {
		status, _, body := post(t, g.URL+"/embeddings", `{"model":"text-embedding-3-small","input":"a"}`)
		if status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, status, body)
		}
		var r struct {
			Usage struct {
				TotalTokens int `json:"total_tokens"`
			} `json:"usage"`
		}
		if json.Unmarshal([]byte(body), &r) != nil || r.Usage.TotalTokens != 1 {
			t.Fatalf("request %d: usage %s", i+1, body)
		}
	}
}

// README, Routing: "If the requested model is configured (under the vendor
// filter), only its combinations are eligible ... Chat never routes to
// embedding models and embeddings only route to them." A configured chat
// model asked for embeddings (or an embedding model asked for chat) is an
// error, not an answer from some other model under the asked name.
func TestWrongKindOfModel(t *testing.T) {
	for _, f := range flavors {
		if f.crlf {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			up := fake.Start(t, f.flavor, fake.Options{})
			v := vendorOf("v", f.typ, up.URL(), []string{"k"}, "chat-model", "embed-model")
			v.API = f.api
			g := startGateway(t, configOf(config.UnknownModelsPool, v))
			c := sdk(g)
			var apiErr *openai.Error
			_, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
				Model: "chat-model", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
				t.Errorf("embeddings from the chat model: %v", err)
			}
			p := chatParams("ping")
			p.Model = "embed-model"
			_, err = c.Chat.Completions.New(context.Background(), p)
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
				t.Errorf("chat with the embedding model: %v", err)
			}
			// A model nobody configured still pools over the right kind
			// (Anthropic has no embeddings at all).
			if r, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
				Model: "some-embedder", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}); f.flavor != fake.Anthropic && (err != nil || len(r.Data) != 1) {
				t.Errorf("embeddings from an unknown model: %v", err)
			}
			p.Model = "some-chat"
			if _, err := c.Chat.Completions.New(context.Background(), p); err != nil {
				t.Errorf("chat with an unknown model: %v", err)
			}
		})
	}
}

// README, Endpoints: "encoding_format: base64 works on every vendor". An
// OpenAI-compatible server that answers floats whatever encoding_format
// says (Ollama: ollama/ollama#6934) must not hand a client that asked for
// base64 an array of floats: SDKs that always ask for base64 (OpenAI's .NET
// SDK) cannot read it.
func TestEmbeddingsBase64FromAServerWithoutIt(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{FloatEmbeddings: true})
	v := vendorOf("local", config.TypeOpenAICompatible, up.URL(), []string{"k"}, "nomic-embed-text")
	v.Preset = "ollama"
	g := startGateway(t, configOf(config.UnknownModelsPool, v))
	status, _, body := post(t, g.URL+"/embeddings", `{"model":"nomic-embed-text","input":["a","b"],"encoding_format":"base64","dimensions":4}`)
	var r struct {
		Data []struct {
			Index     int    `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || len(r.Data) != 2 {
		t.Fatalf("%d %s", status, body)
	}
	for i, d := range r.Data {
		raw, err := base64.StdEncoding.DecodeString(d.Embedding)
		want := fake.Vector([]string{"a", "b"}[i], 4)
		if err != nil || d.Index != i || len(raw) != 16 || math.Float32frombits(binary.LittleEndian.Uint32(raw)) != want[0] {
			t.Errorf("data[%d] = %+v, want the base64 of %v", i, d, want)
		}
	}
	// Floats asked, floats answered.
	status, _, body = post(t, g.URL+"/embeddings", `{"model":"nomic-embed-text","input":"a","dimensions":4}`)
	var f struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &f) != nil || len(f.Data) != 1 || len(f.Data[0].Embedding) != 4 {
		t.Errorf("floats: %d %s", status, body)
	}
}
