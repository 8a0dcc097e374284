package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// geminiEmbedBatchLimit is the most inputs Gemini's /embeddings takes in
// one request (it is batchEmbedContents underneath: more get 400 "at most
// 100 requests can be in one batch"), where OpenAI takes 2048;
// geminiEmbedParallel is how many of one client request's batches are in
// flight at once.
const (
	geminiEmbedBatchLimit = 100
	geminiEmbedParallel   = 4
)

// embedBatches sends an embeddings request whose input has more items than
// the vendor takes at once as several requests, and joins their answers
// into one, as OpenAI would have answered: every input's embedding at its
// own index, the usage summed.
func (a *Adapter) embedBatches(ctx context.Context, c *vendors.Call, body []byte, items []gjson.Result, wantBase64 bool) (*vendors.Result, error) {
	data := make([]json.RawMessage, len(items))
	var (
		mu            sync.Mutex
		header        http.Header
		model         string
		prompt, total int64
	)
	err := vendors.Batches(ctx, len(items), geminiEmbedBatchLimit, geminiEmbedParallel, func(ctx context.Context, lo, hi int) error {
		var in bytes.Buffer
		in.WriteByte('[')
		for i, it := range items[lo:hi] {
			if i > 0 {
				in.WriteByte(',')
			}
			in.WriteString(it.Raw)
		}
		in.WriteByte(']')
		part, err := sjson.SetRawBytes(body, "input", in.Bytes())
		if err != nil {
			return fmt.Errorf("encode upstream request: %w", err)
		}
		resp, err := a.post(ctx, a.url("embeddings", c.Model), c, part)
		if err != nil {
			return err
		}
		out, err := vendors.ReadBody(resp)
		if err != nil {
			return err
		}
		got := gjson.GetBytes(out, "data")
		if !got.IsArray() || len(got.Array()) != hi-lo {
			return openai.NewError(http.StatusBadGateway, openai.TypeServer, "upstream_malformed", "",
				fmt.Sprintf("the vendor answered %d embeddings for %d inputs", len(got.Array()), hi-lo))
		}
		for n, d := range got.Array() {
			i := n
			if idx := d.Get("index"); idx.Exists() {
				i = int(idx.Int())
			}
			if i < 0 || i >= hi-lo || data[lo+i] != nil {
				return openai.NewError(http.StatusBadGateway, openai.TypeServer, "upstream_malformed", "",
					"the vendor's embeddings do not have one index per input")
			}
			e, err := sjson.SetRawBytes([]byte(d.Raw), "index", strconv.AppendInt(nil, int64(lo+i), 10))
			if err != nil {
				return err
			}
			data[lo+i] = e
		}
		mu.Lock()
		defer mu.Unlock()
		if lo == 0 {
			header, model = resp.Header, gjson.GetBytes(out, "model").String()
		}
		prompt += gjson.GetBytes(out, "usage.prompt_tokens").Int()
		total += gjson.GetBytes(out, "usage.total_tokens").Int()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if model == "" {
		model = c.Model
	}
	joined := struct {
		Object string            `json:"object"`
		Data   []json.RawMessage `json:"data"`
		Model  string            `json:"model"`
		Usage  struct {
			PromptTokens int64 `json:"prompt_tokens"`
			TotalTokens  int64 `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Data: data, Model: model}
	joined.Usage.PromptTokens, joined.Usage.TotalTokens = prompt, total
	out, err := json.Marshal(joined)
	if err != nil {
		return nil, err
	}
	if wantBase64 {
		out = floatsToBase64(out)
	}
	return &vendors.Result{Body: out, Header: header}, nil
}

// stripBase64 removes encoding_format:"base64" from an embeddings request,
// reporting whether it was there.
func stripBase64(body []byte) ([]byte, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || string(m["encoding_format"]) != `"base64"` {
		return body, false
	}
	delete(m, "encoding_format")
	out, err := json.Marshal(m)
	if err != nil {
		return body, false
	}
	return out, true
}

// floatsToBase64 rewrites each data[i].embedding from a float array to
// base64 of little-endian float32, as OpenAI encodes it.
func floatsToBase64(body []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	var data []map[string]json.RawMessage
	if json.Unmarshal(m["data"], &data) != nil {
		return body
	}
	for _, d := range data {
		var fs []float64
		if json.Unmarshal(d["embedding"], &fs) != nil {
			continue
		}
		buf := make([]byte, 4*len(fs))
		for i, f := range fs {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(f)))
		}
		d["embedding"], _ = json.Marshal(base64.StdEncoding.EncodeToString(buf))
	}
	m["data"], _ = json.Marshal(data)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}
