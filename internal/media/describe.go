package media

import (
	"encoding/json"
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"
)

// DefaultDescribePrompt is the system prompt of POST /v1/images/text.
const DefaultDescribePrompt = "Describe the image in detail. Reproduce any text in it exactly, " +
	"in reading order, keeping its structure (headings, lists, tables) where it has one. " +
	"Then describe everything else that is visible: people, objects, layout, colours, charts and what they show."

// DescribeRequest builds the chat completion body behind the legacy
// POST /v1/images/text endpoint from its body, one image_url content part
// ({"type":"image_url","image_url":{"url","headers"}}). The part goes in
// as given, so Process later fetches it with its headers and strips them.
// prompt "" is DefaultDescribePrompt. Errors are *openai.Error (400).
func DescribeRequest(part []byte, model, prompt string) ([]byte, error) {
	bad := func(code, param, msg string) error {
		return openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, code, param, msg)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(part, &p); err != nil || p == nil {
		return nil, bad("invalid_json", "", `the body must be an image_url content part: {"type":"image_url","image_url":{"url":"…"}}`)
	}
	if t, ok := p["type"]; ok {
		var s string
		if json.Unmarshal(t, &s); s != "image_url" {
			return nil, bad("invalid_value", "type", `type must be "image_url"`)
		}
	}
	raw, ok := p["image_url"]
	if !ok {
		return nil, bad("missing_required_parameter", "image_url", "image_url is missing")
	}
	var img map[string]json.RawMessage
	var u string
	if json.Unmarshal(raw, &u) == nil {
		img = map[string]json.RawMessage{"url": raw}
	} else if json.Unmarshal(raw, &img) != nil || img == nil {
		return nil, bad("invalid_type", "image_url", "image_url must be an object")
	} else {
		json.Unmarshal(img["url"], &u)
	}
	if u == "" {
		return nil, bad("missing_required_parameter", "image_url.url", "image_url.url is missing")
	}
	if _, ok := img["detail"]; !ok {
		// Reading text needs the full resolution.
		img["detail"] = marshal("high")
	}
	if prompt == "" {
		prompt = DefaultDescribePrompt
	}
	return marshal(map[string]any{
		"model": model,
		"messages": []any{
			map[string]any{"role": "system", "content": prompt},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "Describe this image."},
				map[string]any{"type": "image_url", "image_url": img},
			}},
		},
	}), nil
}
