package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
)

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
