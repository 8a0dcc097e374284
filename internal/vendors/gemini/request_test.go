package gemini

import (
	"encoding/json"
	"testing"
)

// Golden translations of OpenAI chat requests (shapes per openai-openapi
// openapi.yaml, CreateChatCompletionRequest) into generateContent requests
// (shapes per the Gemini API reference, models.generateContent, and its
// function-calling guide: contents[{role, parts}], systemInstruction,
// tools[{functionDeclarations}], toolConfig.functionCallingConfig{mode,
// allowedFunctionNames}, generationConfig).
func TestBuildRequest(t *testing.T) {
	sigStd := "CiIBVKhc7vB+vaaq6rA/KC79Ts7iXagIOA4EBOyBFDpl+pxPCmcBVKhc7g==" // from streaming-success-thinking-function-call-thought-summary-signature.txt, shortened
	idStd := withSignature("call_AAAAAAAAAAAAAAAAAAAAAAAA", sigStd)
	idRaw := withSignature("call_BBBBBBBBBBBBBBBBBBBBBBBB", "opaque signature, not base64")
	for _, tc := range []struct {
		name, model, body, want string
	}{
		{"text turns", "gemini-2.5-flash", `{"messages":[
			{"role":"system","content":"Be brief."},
			{"role":"developer","content":[{"type":"text","text":"Answer in French."}]},
			{"role":"user","content":"Hello"},
			{"role":"user","content":[{"type":"text","text":"again"}]},
			{"role":"assistant","content":"Bonjour"},
			{"role":"user","content":"Thanks"}]}`,
			`{"contents":[
				{"role":"user","parts":[{"text":"Hello"},{"text":"again"}]},
				{"role":"model","parts":[{"text":"Bonjour"}]},
				{"role":"user","parts":[{"text":"Thanks"}]}],
			  "systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Answer in French."}]}}`},
		{"media", "gemini-2.5-flash", `{"messages":[{"role":"user","content":[
			{"type":"text","text":"Compare"},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
			{"type":"image_url","image_url":{"url":"https://example.com/a/cat.JPEG?size=2"}},
			{"type":"image_url","image_url":{"url":"https://example.com/render"}},
			{"type":"image_url","image_url":{"url":"data:text/plain,hello%20world"}},
			{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
			{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}]}`,
			`{"contents":[{"role":"user","parts":[
				{"text":"Compare"},
				{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
				{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/a/cat.JPEG?size=2"}},
				{"fileData":{"fileUri":"https://example.com/render"}},
				{"inlineData":{"mimeType":"text/plain","data":"aGVsbG8gd29ybGQ="}},
				{"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}},
				{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}}]}]}`},
		{"generation config", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],
			"temperature":0.2,"top_p":0.9,"max_tokens":10,"max_completion_tokens":20,"stop":["END","STOP"],"n":2,"seed":42,
			"presence_penalty":0.5,"frequency_penalty":-0.5,"response_format":{"type":"json_object"},"user":"u1","logit_bias":{"1":1}}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],
			  "generationConfig":{"temperature":0.2,"topP":0.9,"maxOutputTokens":20,"stopSequences":["END","STOP"],"candidateCount":2,
			    "seed":42,"presencePenalty":0.5,"frequencyPenalty":-0.5,"responseMimeType":"application/json"}}`},
		{"json schema and max_tokens", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"max_tokens":5,"stop":"END",
			"response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":{"type":"object","additionalProperties":false,
			"properties":{"when":{"type":"string","format":"date-time"},"tags":{"type":"array","items":{"$ref":"#/$defs/tag"}}},"required":["when"],
			"$defs":{"tag":{"type":"string","maxLength":20}}}}}}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],
			  "generationConfig":{"maxOutputTokens":5,"stopSequences":["END"],"responseMimeType":"application/json",
			    "responseSchema":{"type":"object","properties":{"when":{"type":"string","format":"date-time"},
			      "tags":{"type":"array","items":{"type":"string","maxLength":20}}},"required":["when"]}}}`},
		{"tools", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"tool_choice":"required","tools":[
			{"type":"function","function":{"name":"get_weather","description":"Weather now","strict":true,"parameters":{
				"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
				"properties":{"city":{"type":"string","format":"uri"},"unit":{"$ref":"#/definitions/unit"},"days":{"type":["integer","null"],"default":"3"}},
				"required":["city"],"definitions":{"unit":{"enum":["c","f"]}}}}},
			{"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{},"additionalProperties":false}}},
			{"type":"function","function":{"name":"ping"}}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],
			  "tools":[{"functionDeclarations":[
				{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{
					"city":{"type":"string","description":"Format: uri."},"unit":{"type":"string","enum":["c","f"]},
					"days":{"type":"integer","nullable":true}},"required":["city"]}},
				{"name":"now"},{"name":"ping"}]}],
			  "toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`},
		{"tool choice named", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],
			"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function","function":{"name":"a"}}}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"}]}],
			  "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["a"]}}}`},
		{"tool choice none", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],
			"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"none"}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"}]}],
			  "toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`},
		{"tool round trip", "gemini-2.5-flash", `{"messages":[
			{"role":"user","content":"Weather and time?"},
			{"role":"assistant","content":"Checking.","tool_calls":[
				{"id":"` + idStd + `","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"n\": 1.50}"}},
				{"id":"call_2","type":"function","function":{"name":"now","arguments":""}}]},
			{"role":"tool","tool_call_id":"` + idStd + `","content":"{\"temp\": 21, \"sky\": \"clear\"}"},
			{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"12:00"}]},
			{"role":"user","content":"And tomorrow?"},
			{"role":"assistant","tool_calls":[{"id":"` + idRaw + `","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"` + idRaw + `","content":"[1,2]"}]}`,
			`{"contents":[
				{"role":"user","parts":[{"text":"Weather and time?"}]},
				{"role":"model","parts":[{"text":"Checking."},
					{"functionCall":{"name":"get_weather","args":{"city":"Paris","n":1.50}},"thoughtSignature":"` + sigStd + `"},
					{"functionCall":{"name":"now","args":{}}}]},
				{"role":"user","parts":[
					{"functionResponse":{"name":"get_weather","response":{"temp":21,"sky":"clear"}}},
					{"functionResponse":{"name":"now","response":{"content":"12:00"}}},
					{"text":"And tomorrow?"}]},
				{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{}},"thoughtSignature":"opaque signature, not base64"}]},
				{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"content":"[1,2]"}}}]}]}`},
		{"calls from elsewhere on gemini 3", "gemini-3-pro-preview", `{"messages":[
			{"role":"user","content":"x"},
			{"role":"assistant","tool_calls":[{"id":"toolu_01","type":"function","function":{"name":"a","arguments":"{}"}},
				{"id":"toolu_02","type":"function","function":{"name":"b","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"toolu_01","content":"1"},{"role":"tool","tool_call_id":"toolu_02","content":"2"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]},
				{"role":"model","parts":[{"functionCall":{"name":"a","args":{}},"thoughtSignature":"skip_thought_signature_validator"},
					{"functionCall":{"name":"b","args":{}}}]},
				{"role":"user","parts":[{"functionResponse":{"name":"a","response":{"content":"1"}}},
					{"functionResponse":{"name":"b","response":{"content":"2"}}}]}]}`},
		{"legacy function role", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"},
			{"role":"function","name":"lookup","content":"{\"ok\":true}"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"},{"functionResponse":{"name":"lookup","response":{"ok":true}}}]}]}`},
		{"reasoning effort, gemini 2.5", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"high"}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":24576}}}`},
		{"reasoning effort none", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"none"}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}`},
		{"reasoning effort, gemini 3", "gemini-3-pro-preview", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"minimal"}`,
			`{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingLevel":"low"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req chatRequest
			if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			g, e := buildRequest(&req, tc.model)
			if e != nil {
				t.Fatal(e)
			}
			jsonEqual(t, g, tc.want)
		})
	}
}

func TestBuildRequestErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, param string }{
		{"arguments not JSON", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`,
			"messages[0].tool_calls[0].function.arguments"},
		{"arguments not an object", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments"},
		{"unknown tool call", `{"messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]}`, "messages[0].tool_call_id"},
		{"bad part", `{"messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}`, "messages[0].content[0].type"},
		{"image part in a system message", `{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`, "messages[0].content[0].type"},
		{"bad image url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"data url without type", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:;base64,AA=="}}]}]}`, "messages[0].content[0].image_url.url"},
		{"bad role", `{"messages":[{"role":"robot","content":"x"}]}`, "messages[0].role"},
		{"bad tool type", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{"bad parameters", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, "tools[0].function.parameters"},
		{"bad tool choice", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"always"}`, "tool_choice"},
		{"bad stop", `{"messages":[{"role":"user","content":"x"}],"stop":7}`, "stop"},
		{"bad response format", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}`, "response_format.type"},
		{"bad effort", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"max"}`, "reasoning_effort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req chatRequest
			if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			_, e := buildRequest(&req, "gemini-2.5-flash")
			if e == nil || e.Status != 400 || e.Param == nil || *e.Param != tc.param {
				t.Fatalf("got %v, want a 400 naming %s", e, tc.param)
			}
		})
	}
}
