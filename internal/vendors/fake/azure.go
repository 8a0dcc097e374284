package fake

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Azure impersonates Azure OpenAI: POST
// /openai/deployments/{deployment}/chat/completions?api-version=…, the key
// in an api-key header, OpenAI's bodies, and a content-filter chunk with
// choices [] and prompt_filter_results at the head of every stream (as
// Azure sends; see the Azure OpenAI reference "Content filtering" and
// recorded streams in Azure/azure-sdk-for-python issues). The deployment
// name stands in for the model in answers and in Recorded.Model.
const Azure Flavor = "azure"

type azureWire struct{ openaiWire }

func (azureWire) prefix() string                { return "" }
func (azureWire) apiKey(r *http.Request) string { return r.Header.Get("Api-Key") }

// deployment parses /openai/deployments/{d}/{op}.
func deployment(path string) (dep, op string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/openai/deployments/")
	if !ok {
		return "", "", false
	}
	dep, op, ok = strings.Cut(rest, "/")
	return dep, op, ok && dep != ""
}

func (azureWire) modelFromPath(r *http.Request) string {
	dep, _, _ := deployment(r.URL.Path)
	return dep
}

func (azureWire) route(s *Server, c *call) bool {
	dep, op, ok := deployment(c.r.URL.Path)
	if !ok || c.r.Method != http.MethodPost {
		return false
	}
	if c.r.URL.Query().Get("api-version") == "" {
		c.fail(failure{kind: failInvalid, param: "api-version", arg: "Missing required query parameter: api-version"})
		return true
	}
	// Azure takes the model from the deployment, whatever the body says.
	c.body = setJSONModel(c.body, dep)
	switch op {
	case "chat/completions":
		s.chat(c)
	case "embeddings":
		s.embeddings(c)
	default:
		return false
	}
	return true
}

func (w azureWire) chatStream(c *call, req *chatRequest, a *answer) []any {
	filter := obj{
		{"choices", []any{}}, {"created", 0}, {"id", ""}, {"model", ""}, {"object", ""},
		{"prompt_filter_results", []any{obj{{"prompt_index", 0}, {"content_filter_results", obj{
			{"hate", obj{{"filtered", false}, {"severity", "safe"}}},
		}}}}},
	}
	return append([]any{filter}, w.openaiWire.chatStream(c, req, a)...)
}

// setJSONModel puts model into a JSON object body (Azure ignores the body's
// model; the fake's shared logic reads it from there).
func setJSONModel(body []byte, model string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return body
	}
	m["model"], _ = json.Marshal(model)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}
