package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
)

type embedRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// batchEmbedContents request and answer (Gemini API reference,
// models.batchEmbedContents; BatchEmbedContentsResponse.embeddings are in
// the order of the requests).
type batchEmbedRequest struct {
	Requests []embedContentRequest `json:"requests"`
}

type embedContentRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	OutputDimensionality *int    `json:"outputDimensionality,omitempty"`
}

type batchEmbedResponse struct {
	Embeddings    []embedValues `json:"embeddings"`
	UsageMetadata *struct {
		PromptTokenCount int `json:"promptTokenCount"`
	} `json:"usageMetadata"`
}

type embedValues struct {
	Values []float64 `json:"values"`
}

// embedBatchLimit is the most requests batchEmbedContents takes at once
// (more get 400 "at most 100 requests can be in one batch");
// embedParallel is how many batches of one client request are in flight.
const (
	embedBatchLimit = 100
	embedParallel   = 4
)

type embeddingList struct {
	Object string      `json:"object"`
	Data   []embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

type embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// Embed implements vendors.Adapter.
func (a *Adapter) Embed(ctx context.Context, c *vendors.Call) (*vendors.Result, error) {
	var req embedRequest
	if err := json.Unmarshal(c.Body, &req); err != nil {
		return nil, openai.DecodeError(err)
	}
	texts, e := embedInputs(req.Input)
	if e != nil {
		return nil, e
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, invalid("encoding_format", fmt.Sprintf("invalid encoding_format %q: expected float or base64", req.EncodingFormat))
	}
	reqs := make([]embedContentRequest, len(texts))
	for i, t := range texts {
		reqs[i] = embedContentRequest{Model: resource(c.Model), Content: content{Parts: []part{{Text: strPtr(t)}}},
			OutputDimensionality: req.Dimensions}
	}
	// batchEmbedContents takes at most embedBatchLimit requests, where
	// OpenAI takes 2048 inputs: more are sent as several batches.
	values := make([][]float64, len(texts))
	var header http.Header
	var hmu sync.Mutex
	vendorTokens := 0
	err := vendors.Batches(ctx, len(reqs), embedBatchLimit, embedParallel, func(ctx context.Context, lo, hi int) error {
		r, h, err := a.batchEmbed(ctx, c, batchEmbedRequest{Requests: reqs[lo:hi]})
		if err != nil {
			return err
		}
		for i, e := range r.Embeddings {
			values[lo+i] = e.Values
		}
		hmu.Lock()
		defer hmu.Unlock()
		if lo == 0 {
			header = h
		}
		if r.UsageMetadata != nil {
			vendorTokens += r.UsageMetadata.PromptTokenCount
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := embeddingList{Object: "list", Model: c.Model, Data: make([]embedding, len(texts))}
	for i, v := range values {
		var e any = v
		if req.EncodingFormat == "base64" {
			e = float32Base64(v)
		}
		out.Data[i] = embedding{Object: "embedding", Index: i, Embedding: e}
	}
	// batchEmbedContents reports no token usage, so it is estimated, as a
	// quarter of the characters (at least one token per input); a count
	// from the vendor wins when there is one.
	tokens := 0
	for _, t := range texts {
		tokens += max(1, (utf8.RuneCountInString(t)+3)/4)
	}
	if vendorTokens > 0 {
		tokens = vendorTokens
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = tokens, tokens
	b, err := marshal(out)
	if err != nil {
		return nil, err
	}
	return &vendors.Result{Body: b, Header: header}, nil
}

// batchEmbed sends one batchEmbedContents request and returns the vectors
// in the order of its requests.
func (a *Adapter) batchEmbed(ctx context.Context, c *vendors.Call, br batchEmbedRequest) (*batchEmbedResponse, http.Header, error) {
	body, err := marshal(br)
	if err != nil {
		return nil, nil, fmt.Errorf("encode upstream request: %w", err)
	}
	resp, err := a.post(ctx, a.methodURL(c.Model, "batchEmbedContents"), c, body)
	if err != nil {
		return nil, nil, err
	}
	b, err := vendors.ReadBody(resp)
	if err != nil {
		return nil, nil, err
	}
	var r batchEmbedResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, badGateway("upstream_malformed", "the vendor's answer is not the JSON it should be: "+err.Error())
	}
	if len(r.Embeddings) != len(br.Requests) {
		return nil, nil, badGateway("upstream_malformed", fmt.Sprintf("the vendor answered %d embeddings for %d inputs", len(r.Embeddings), len(br.Requests)))
	}
	return &r, resp.Header, nil
}

// embedInputs reads "input": a string or an array of strings. Token arrays
// cannot be embedded by Gemini, which takes text only.
func embedInputs(raw json.RawMessage) ([]string, *openai.Error) {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var tokens []json.RawMessage
		if json.Unmarshal(raw, &tokens) == nil {
			return nil, invalid("input", "this vendor embeds text only: input must be a string or an array of strings, not tokens")
		}
		return nil, invalid("input", "input must be a string or an array of strings")
	}
	if len(list) == 0 {
		return nil, invalid("input", "input must not be empty")
	}
	return list, nil
}

// float32Base64 is OpenAI's base64 embedding: little-endian float32s.
func float32Base64(v []float64) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(b)
}
